import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { arch } from 'node:os';
import { loadNativeKernels } from '../../src/engine/backend-native.js';
import { ISA_NAMES, bestIsa, cpuModel, resolveIsa, type IsaSupport } from '../../src/engine/isa.js';
import { referenceKernels as ref } from '../../src/engine/backend-reference.js';
import { GptforgeError } from '../../src/util/errors.js';

/**
 * GPTFORGE_ISA: every kernel path this CPU runs is accepted (and then reported), every one
 * it lacks is refused by name — judged both for made-up machines (resolveIsa) and for this
 * one (a child process per name, the way a user sets the variable).
 */
const sup = (...names: string[]): IsaSupport[] => ['scalar', 'avx2', 'avx512', 'neon'].map((name) => ({ name, supported: names.includes(name) }));

test('resolveIsa: unset means the default; supported paths pass; the rest are refused naming the value, the CPU and what it lacks', () => {
  const zen3 = sup('scalar', 'avx2');
  const x86 = { arch: 'x64', model: 'AMD EPYC 7B13' };
  assert.equal(resolveIsa(undefined, zen3, x86), null);
  assert.equal(resolveIsa('', zen3, x86), null);
  assert.equal(resolveIsa('avx2', zen3, x86), 'avx2');
  assert.equal(resolveIsa(' Scalar ', zen3, x86), 'scalar');
  assert.equal(resolveIsa('avx512', sup('scalar', 'avx2', 'avx512'), x86), 'avx512');
  assert.throws(
    () => resolveIsa('avx512', zen3, x86),
    (e: Error) => e instanceof GptforgeError && e.message === 'GPTFORGE_ISA=avx512: this CPU (AMD EPYC 7B13) has no AVX-512F; paths this CPU runs: avx2, scalar',
  );
  assert.throws(() => resolveIsa('avx2', sup('scalar'), x86), /GPTFORGE_ISA=avx2: this CPU \(AMD EPYC 7B13\) has no AVX2 and FMA; paths this CPU runs: scalar/);
  assert.throws(() => resolveIsa('sse4', zen3, x86), /GPTFORGE_ISA=sse4: unknown instruction set; valid values are avx512, avx2, scalar \(x86-64\) and neon \(ARM64 only\)/);
  assert.throws(() => resolveIsa('neon', zen3, x86), /GPTFORGE_ISA=neon: NEON is valid only on ARM64; this CPU \(AMD EPYC 7B13\) is x64/);
  const m1 = { arch: 'arm64', model: 'Apple M1' };
  assert.throws(() => resolveIsa('avx2', sup('scalar'), m1), /GPTFORGE_ISA=avx2: an x86-64 instruction set; this CPU \(Apple M1\) is arm64/);
  assert.throws(() => resolveIsa('neon', sup('scalar'), m1), /GPTFORGE_ISA=neon: this build of the addon has no NEON kernels/);
  assert.equal(resolveIsa('neon', sup('scalar', 'neon'), m1), 'neon');
  assert.throws(() => resolveIsa('avx9', zen3, { ...x86, label: 'setIsa' }), /^GptforgeError: setIsa=avx9: unknown/);
  assert.equal(bestIsa(zen3), 'avx2');
  assert.equal(bestIsa(sup('scalar', 'avx2', 'avx512')), 'avx512');
  assert.equal(bestIsa(sup('scalar')), 'scalar');
});

const loaded = loadNativeKernels();
const native = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Loads the engine in a fresh process with GPTFORGE_ISA = value: its summary line, or its error. */
function child(value: string): { ok: boolean; out: string } {
  const script = `import('${join(root, 'dist/src/engine/backend.js')}').then((m) => { try { m.getKernels(); console.log(m.engineSummary()); } catch (e) { console.log(String(e)); process.exit(3); } });`;
  const env: NodeJS.ProcessEnv = { ...process.env, GPTFORGE_ISA: value };
  delete env.GPTFORGE_BACKEND;
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.stdout + r.stderr).trim() };
}

test('GPTFORGE_ISA on this machine: each path the CPU runs is used and reported; each it lacks (avx512 on AVX2-only CPUs) is refused by name', { skip }, () => {
  const support = native!.isas();
  assert.deepEqual(support.map((s) => s.name).sort(), [...ISA_NAMES].sort());
  assert.ok(support.find((s) => s.name === 'scalar')!.supported, 'the scalar path runs everywhere');
  for (const name of ISA_NAMES) {
    const supported = support.find((s) => s.name === name)!.supported;
    const r = child(name);
    if (supported) {
      assert.ok(r.ok, `${name}: ${r.out}`);
      assert.match(r.out, new RegExp(`^native backend, ${name} kernels, \\d+ threads?, CPU `));
    } else {
      assert.ok(!r.ok, `${name} is not supported here, yet it was accepted: ${r.out}`);
      assert.match(r.out, new RegExp(`GptforgeError: GPTFORGE_ISA=${name}: .*(${cpuModel().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|no NEON kernels)`));
    }
  }
  if (arch() === 'x64') assert.equal(support.find((s) => s.name === 'neon')!.supported, false);
  const bad = child('avx3');
  assert.ok(!bad.ok);
  assert.match(bad.out, /GPTFORGE_ISA=avx3: unknown instruction set; valid values are avx512, avx2, scalar/);
});

test('setIsa switches every kernel in one process; each path gives the reference result', { skip }, () => {
  const k = native!;
  const before = k.isa;
  try {
    for (const s of k.isas().filter((x) => x.supported)) {
      k.setIsa(s.name);
      assert.equal(k.isa, s.name);
      // one sgemm (microkernel + packing), one row kernel and attention (small-tile path)
      const M = 37,
        K = 29,
        N = 41;
      const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i));
      const b = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i));
      const cn = new Float32Array(M * N),
        cr = new Float32Array(M * N);
      k.matmul(a, b, cn, M, K, N, false, true, false);
      ref.matmul(a, b, cr, M, K, N, false, true, false);
      for (let i = 0; i < cr.length; i++) assert.ok(Math.abs(cn[i] - cr[i]) < 1e-4, `${s.name} matmul[${i}]`);
      const gn = new Float32Array(M * K),
        gr = new Float32Array(M * K);
      k.geluForward(a, gn, M * K);
      ref.geluForward(a, gr, M * K);
      for (let i = 0; i < gr.length; i++) assert.ok(Math.abs(gn[i] - gr[i]) < 1e-5, `${s.name} gelu[${i}]`);
      const T = 9,
        H = 2,
        D = 8,
        qkv = Float32Array.from({ length: T * 3 * H * D }, (_, i) => Math.sin(0.37 * i));
      const on = new Float32Array(T * H * D),
        or = new Float32Array(T * H * D);
      k.attentionForward(qkv, on, new Float32Array(H * T), 1, T, H, D);
      ref.attentionForward(qkv, or, new Float32Array(H * T), 1, T, H, D);
      for (let i = 0; i < or.length; i++) assert.ok(Math.abs(on[i] - or[i]) < 1e-5, `${s.name} attention[${i}]`);
    }
    for (const s of k.isas().filter((x) => !x.supported)) assert.throws(() => k.setIsa(s.name), new RegExp(`setIsa=${s.name}: `));
    assert.throws(() => k.setIsa('mmx'), /setIsa=mmx: unknown instruction set/);
  } finally {
    k.setIsa(before);
  }
});
