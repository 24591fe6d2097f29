import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadNativeKernels } from '../../src/engine/backend-native.js';
import { Rng } from '../../src/engine/rng.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { otherThreadsCpu } from './threads.js';

/**
 * A decode-size product (M ≤ 8 rows, B not transposed) split over the pool
 * (native/sgemm.c's small_m with pool_run_rescue, native/pool.c): each task's columns are
 * summed in the thread's own buffer and written by the first thread to finish them, the
 * caller computing a task too when the worker has not finished it after the caller's own
 * (a worker preempted mid-task on a shared machine). Whoever computes it, a row's bits must
 * be those of the same row computed on one thread — so a row decoded alone still equals the
 * same row batched — and after a burst of such products the worker must fall asleep (its
 * short spin), not hold the core the server's other work needs.
 */
const loaded = loadNativeKernels();
const native: Kernels | null = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;

/**
 * In a child process whose threshold splits every decode-size product (GPTFORGE_SMALL_M_PAR_FLOPS=1),
 * with GPTFORGE_SPLIT_CHAOS=1 (the thread computing a product's last task stops 300 µs before
 * committing it, every other product, as a preempted worker would: the caller's rescue
 * commits first) and a busy worker_thread competing for the cores: products of 1–8 rows at 2
 * threads, repeated, with and without accumulating into C, against 1 thread.
 */
const CHILD = `
import { loadNativeKernels } from ${JSON.stringify(new URL('../../src/engine/backend-native.js', import.meta.url).href)};
import { Worker } from 'node:worker_threads';
const k = loadNativeKernels().kernels;
const busy = new Worker('for (;;) {}', { eval: true });
let s = 1;
const rand = (n) => Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5);
let bad = 0, runs = 0;
for (const [K, N] of [[256, 768], [1024, 256], [256, 1024], [300, 77], [513, 1030]]) {
  const A = rand(8 * K), B = rand(K * N), C0 = rand(8 * N);
  for (const acc of [false, true]) {
    for (let M = 1; M <= 8; M++) {
      k.setThreads(1);
      const one = C0.slice(0, M * N);
      k.matmul(A.subarray(0, M * K), B, one, M, K, N, false, false, acc);
      k.setThreads(2);
      for (let r = 0; r < 60; r++) {
        const two = C0.slice(0, M * N);
        k.matmul(A.subarray(0, M * K), B, two, M, K, N, false, false, acc);
        runs++;
        for (let i = 0; i < M * N; i++) if (two[i] !== one[i]) { bad++; break; }
      }
    }
  }
}
console.log(JSON.stringify({ bad, runs }));
await busy.terminate();
`;

test('split decode products give the bits of one thread, with the worker preempted or not', { skip }, () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, GPTFORGE_SMALL_M_PAR_FLOPS: '1', GPTFORGE_THREADS: '2', GPTFORGE_SPLIT_CHAOS: '1' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const { bad, runs } = JSON.parse(out.trim().split('\n').pop()!) as { bad: number; runs: number };
  assert.equal(runs, 5 * 2 * 8 * 60);
  assert.equal(bad, 0, `${bad} of ${runs} split products differed from one thread's`);
});

test('between bursts of split decode products the worker sleeps (short spin)', { skip: skip || (existsSync('/proc/self/task') ? false : 'needs Linux /proc') }, () => {
  native!.setThreads!(2);
  const rng = new Rng(5);
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
  // 8 rows × 256 × 1024: 4.2 MFLOP, split at the default threshold (a prefill chunk's c_fc)
  const A = rand(8 * 256);
  const B = rand(256 * 1024);
  const C = new Float32Array(8 * 1024);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  // 100 bursts of 4 products, each followed by 3 ms asleep: a worker spinning ~1 ms after each
  // job would run through a third of every gap; one spinning ~150 µs, a twentieth
  const others0 = otherThreadsCpu();
  const t0 = performance.now();
  for (let b = 0; b < 100; b++) {
    for (let i = 0; i < 4; i++) native!.matmul(A, B, C, 8, 256, 1024, false, false, false);
    Atomics.wait(pause, 0, 0, 3);
  }
  const wallMs = performance.now() - t0;
  const othersMs = (otherThreadsCpu() - others0) * 1000;
  assert.ok(othersMs <= 0.2 * wallMs + 20, `the other threads used ${othersMs.toFixed(0)} ms of CPU in ${wallMs.toFixed(0)} ms: the worker kept spinning between bursts`);
});
