import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The NEON kernels, verified on an x86-64 machine: native/test/crosscheck.c and the kernel
 * sources are cross-compiled for AArch64 (Debian's gcc-aarch64-linux-gnu, a static binary)
 * and run under qemu-user, where every kernel's NEON path is compared with its scalar path
 * on the same random inputs. (Compiled natively, the same harness checks an x86-64 CPU's
 * AVX2/AVX-512 paths against scalar: see its header.)
 *
 * `.ci/run` installs the cross toolchain and qemu-user; a machine without them gets a
 * skipped case that names the packages to install.
 */
const SOURCES = ['native/test/crosscheck.c', 'native/pool.c', 'native/isa.c', 'native/sgemm.c', 'native/ops.c', 'native/attention.c', 'native/qmatmul.c', 'native/qmatmul_q8.c', 'native/sample.c'];
// the flags binding.gyp builds the addon with, so the harness tests the code the addon runs
const CFLAGS = ['-std=gnu11', '-O3', '-fno-math-errno', '-fno-trapping-math', '-fopenmp-simd', '-funroll-loops', '-Wall', '-Wno-unused-parameter', '-pthread'];

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;

function runHarness(cc: string, run: string[], extra: string[]): { out: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'gptforge-xc-'));
  try {
    const bin = join(dir, 'crosscheck');
    const c = spawnSync(cc, [...CFLAGS, ...extra, '-o', bin, ...SOURCES, '-lm'], { encoding: 'utf8' });
    assert.equal(c.status, 0, `${cc} failed:\n${c.stderr}`);
    assert.equal(c.stderr.trim(), '', `${cc} warned:\n${c.stderr}`);
    const r = spawnSync(run[0]!, [...run.slice(1), bin, '2'], { encoding: 'utf8', timeout: 300_000 });
    return { out: r.stdout + r.stderr, status: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertAllOk(out: string, path: string): void {
  const lines = out.trim().split('\n');
  const fails = lines.filter((l) => l.startsWith('FAIL'));
  assert.deepEqual(fails, [], out);
  assert.ok(lines.includes(`paths scalar ${path}`), out);
  assert.ok(lines.includes(`sgemm path ${path}`), out);
  // every kernel family was compared, not just some
  for (const k of [
    'sgemm ',
    'sgemm_serial',
    'sgemm_rows_exact',
    'layernorm_bwd dx',
    'rmsnorm_bwd dx',
    'gelu_bwd',
    'silu_bwd',
    'softmax_bwd',
    'cross_entropy_bwd',
    'cross_entropy_fused dlogits',
    'cross_entropy_fused=separate dlogits',
    'adamw',
    'sum_squares',
    'attention_fwd',
    'sgemm_bias=separate',
    'sgemm_bias_gelu=separate act',
    'sgemm_bias_gelu ',
    'attention_bwd',
    'attention_decode',
    'qmatmul_q8 ',
    'qmatmul_q8_exact',
    'qmatmul_q8_rows_exact',
    'qmatmul_q8_ws_exact',
    'temp_exp_exact',
  ]) {
    assert.ok(
      lines.some((l) => l.startsWith(`ok ${path} ${k}`)),
      `no check of ${k}:\n${out}`,
    );
  }
  assert.equal(lines.at(-1), 'all ok');
}

const cross = has('aarch64-linux-gnu-gcc') && has('qemu-aarch64');
test('NEON kernels equal the scalar ones (AArch64 cross-build under qemu-user)', { skip: cross ? false : 'needs gcc-aarch64-linux-gnu and qemu-user (apt-get install gcc-aarch64-linux-gnu qemu-user; .ci/run does)' }, () => {
  const r = runHarness('aarch64-linux-gnu-gcc', ['qemu-aarch64'], ['-static']);
  assert.equal(r.status, 0, r.out);
  assertAllOk(r.out, 'neon');
});
