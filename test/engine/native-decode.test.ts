import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels } from '../../src/engine/backend-native.js';
import { referenceKernels as ref } from '../../src/engine/backend-reference.js';
import { Rng } from '../../src/engine/rng.js';
import type { Kernels } from '../../src/engine/kernels.js';

/**
 * sgemm's decode path (M ≤ 8 rows, A not transposed: every linear layer while sampling on the
 * KV cache, and with B transposed the logits head h·wteᵀ) reads B in place with register
 * tiles of up to 4 rows (row groups past 4), or transposes 16-column blocks of a transposed
 * B, instead of packing all of B. It must reduce in the general path's order, so each row's
 * result is bit-for-bit the row of a larger product (M = 16 takes the general path): a row
 * decoded alone equals the same row decoded in any batch. Runs on every kernel path through
 * .ci/run (GPTFORGE_ISA).
 */
const loaded = loadNativeKernels();
const native: Kernels | null = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;
const rng = new Rng(7);
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

for (const threads of [1, 2]) {
  test(`sgemm with 1–8 rows equals the same rows of a 16-row product bit for bit, and the reference to fp32 (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, () => {
    native!.setThreads!(threads);
    // K past the 256/512 KC blocks, N odd and past the thread split, and the model's shapes
    for (const [K, N] of [
      [7, 5],
      [256, 768],
      [300, 77],
      [513, 1030],
      [1024, 256],
      [2048, 64],
      [256, 4096],
      [96, 40],
      [64, 72],
    ]) {
      const A = rand(16 * K);
      const B = rand(K * N);
      for (const [acc, tB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        const C0 = rand(16 * N);
        const big = C0.slice();
        native!.matmul(A, B, big, 16, K, N, false, tB, acc);
        for (const M of [1, 2, 3, 4, 5, 6, 7, 8]) {
          const small = C0.slice(0, M * N);
          native!.matmul(A.subarray(0, M * K), B, small, M, K, N, false, tB, acc);
          for (let i = 0; i < M * N; i++) if (small[i] !== big[i]) assert.fail(`K=${K} N=${N} M=${M} acc=${acc} transB=${tB}: element ${i}: ${small[i]} (decode path) vs ${big[i]} (general path)`);
          const want = C0.slice(0, M * N);
          ref.matmul(A.subarray(0, M * K), B, want, M, K, N, false, tB, acc);
          for (let i = 0; i < M * N; i++) assert.ok(Math.abs(small[i] - want[i]) <= 1e-5 + 1e-4 * Math.abs(want[i]) + 2e-6 * K, `K=${K} N=${N} M=${M}: element ${i}: ${small[i]} vs reference ${want[i]}`);
        }
      }
    }
  });
}
