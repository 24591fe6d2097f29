import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels } from '../../src/engine/backend-native.js';
import { referenceKernels } from '../../src/engine/backend-reference.js';

/**
 * matmulBias (a linear layer's forward: the product with its bias, and optionally GELU, applied
 * to each sgemm tile while it is in cache) against the kernels it replaces — matmul, then
 * addBias or biasGeluForward — bit for bit, on every path this CPU runs, at 1 and 2 threads.
 * The shapes reach every way through native/sgemm.c: the decode rows (M ≤ 8), the prefill rows
 * (M ≤ 32), and the tiled path with partial tiles in M and N, more than one KC block (K > 256),
 * more than one MC block (M > 144), more than one NC block (N > 1536), both layouts of B, and
 * K = 0. Nothing may be written past C or act.
 */
const loaded = loadNativeKernels();
const native = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;

const shapes: [number, number, number][] = [
  [1, 5, 7],
  [5, 64, 40],
  [20, 33, 19],
  [50, 300, 37],
  [300, 40, 50],
  [61, 17, 1600],
  [150, 600, 70],
  [3, 0, 4],
];

function fill(n: number, f: (i: number) => number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => f(i));
}

test('matmulBias equals matmul then addBias / biasGeluForward, bit for bit, every path, 1 and 2 threads', { skip }, () => {
  const k = native!;
  const before = k.isa;
  try {
    for (const s of k.isas().filter((v) => v.supported)) {
      k.setIsa(s.name);
      for (const [M, K, N] of shapes) {
        const a = fill(M * K, (i) => Math.sin(0.37 * i + 0.1));
        const b = fill(K * N, (i) => 0.3 * Math.cos(0.11 * i));
        const bias = fill(N, (j) => 0.5 * Math.cos(1.3 * j));
        for (const transB of [false, true]) {
          k.setThreads?.(1);
          const c0 = new Float32Array(M * N);
          k.matmul(a, b, c0, M, K, N, false, transB, false);
          const pre0 = c0.slice();
          const act0 = new Float32Array(M * N);
          k.biasGeluForward(pre0, bias, act0, M, N);
          k.addBias(c0, bias, M, N);
          for (const t of [1, 2]) {
            k.setThreads?.(t);
            const what = `${s.name} ${M}×${K}×${N}${transB ? ' transB' : ''} ${t} thread(s)`;
            const c = new Float32Array(M * N + 2).fill(Number.NaN); // written, not added to
            c[M * N] = c[M * N + 1] = 9;
            k.matmulBias(a, b, c.subarray(0, M * N), M, K, N, transB, bias, null);
            assert.deepEqual(c.subarray(0, M * N), c0, `${what}: C + bias`);
            assert.deepEqual([...c.subarray(M * N)], [9, 9], `${what}: wrote past C`);
            const pre = new Float32Array(M * N + 2).fill(Number.NaN);
            pre[M * N] = pre[M * N + 1] = 9;
            const act = new Float32Array(M * N + 2).fill(9);
            k.matmulBias(a, b, pre.subarray(0, M * N), M, K, N, transB, bias, act.subarray(0, M * N));
            assert.deepEqual(pre.subarray(0, M * N), pre0, `${what}: pre-activation`);
            assert.deepEqual(act.subarray(0, M * N), act0, `${what}: GELU`);
            assert.deepEqual([...pre.subarray(M * N), ...act.subarray(M * N)], [9, 9, 9, 9], `${what}: wrote past pre or act`);
          }
        }
      }
    }
  } finally {
    k.setIsa(before);
    k.setThreads?.(1);
  }
});

test('matmulBias on the reference backend is matmul then addBias / biasGeluForward', () => {
  const r = referenceKernels;
  const [M, K, N] = [7, 9, 5];
  const a = fill(M * K, (i) => Math.sin(0.37 * i + 0.1));
  const b = fill(K * N, (i) => 0.3 * Math.cos(0.11 * i));
  const bias = fill(N, (j) => 0.5 * Math.cos(1.3 * j));
  const c0 = new Float32Array(M * N);
  r.matmul(a, b, c0, M, K, N, false, false, false);
  const pre0 = c0.slice();
  const act0 = new Float32Array(M * N);
  r.biasGeluForward(pre0, bias, act0, M, N);
  r.addBias(c0, bias, M, N);
  const c = new Float32Array(M * N).fill(Number.NaN);
  r.matmulBias(a, b, c, M, K, N, false, bias, null);
  assert.deepEqual(c, c0);
  const pre = new Float32Array(M * N).fill(Number.NaN);
  const act = new Float32Array(M * N);
  r.matmulBias(a, b, pre, M, K, N, false, bias, act);
  assert.deepEqual(pre, pre0);
  assert.deepEqual(act, act0);
});
