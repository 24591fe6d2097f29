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
 * B, instead of packing all of B; up to 32 rows with B not transposed (a short prompt's
 * prefill) go through it 8 rows at a time. It must reduce in the general path's order, so each
 * row's result is bit-for-bit the row of a larger product (M = 40 takes the general path): a
 * row decoded alone equals the same row decoded in any batch. Runs on every kernel path
 * through .ci/run (GPTFORGE_ISA).
 */
const loaded = loadNativeKernels();
const native: Kernels | null = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;
const rng = new Rng(7);
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

for (const threads of [1, 2]) {
  test(`sgemm with 1–32 rows equals the same rows of a 40-row product bit for bit, and the reference to fp32 (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, () => {
    native!.setThreads!(threads);
    // K past the 256/512 KC blocks, N odd and past the thread split, the model's shapes, and N a multiple of 1024
    for (const [K, N] of [
      [7, 5],
      [256, 768],
      [300, 77],
      [513, 1030],
      [1024, 256],
      [2048, 64],
      [256, 4096],
      [515, 1024], // rows 4 KiB apart (short k sub-blocks), k ending in a partial one
      [96, 40],
      [64, 72],
    ]) {
      const A = rand(40 * K);
      const B = rand(K * N);
      for (const [acc, tB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        const C0 = rand(40 * N);
        const big = C0.slice();
        native!.matmul(A, B, big, 40, K, N, false, tB, acc);
        // the reference computes each row on its own, so its first M rows of a 32-row product
        // are its M-row product: one reference call per shape (it costs most of this test)
        const want = C0.slice(0, 32 * N);
        ref.matmul(A.subarray(0, 32 * K), B, want, 32, K, N, false, tB, acc);
        for (const M of [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 17, 24, 32]) {
          const small = C0.slice(0, M * N);
          native!.matmul(A.subarray(0, M * K), B, small, M, K, N, false, tB, acc);
          for (let i = 0; i < M * N; i++) if (small[i] !== big[i]) assert.fail(`K=${K} N=${N} M=${M} acc=${acc} transB=${tB}: element ${i}: ${small[i]} (decode path) vs ${big[i]} (general path)`);
          // (the message built only on failure: a template per element cost seconds)
          for (let i = 0; i < M * N; i++) if (!(Math.abs(small[i] - want[i]) <= 1e-5 + 1e-4 * Math.abs(want[i]) + 2e-6 * K)) assert.fail(`K=${K} N=${N} M=${M}: element ${i}: ${small[i]} vs reference ${want[i]}`);
        }
      }
    }
  });
}

/**
 * attentionDecodeQkv (GPT's KV-cache step: the new keys/values written and attended in one
 * call, queries read in place from c_attn's output) must be attentionDecode after the same
 * cache writes bit for bit, on every kernel path; and the reference's version to fp32.
 * Rows: a subset of the cache's, out of order, at different lengths, one left-padded.
 */
for (const threads of [1, 2]) {
  test(`attentionDecodeQkv equals the cache writes + attentionDecode bit for bit, and the reference (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, () => {
    native!.setThreads!(threads);
    for (const [H, D, Tq] of [
      [4, 64, 1],
      [3, 32, 1],
      [2, 48, 3],
    ]) {
      const C = H * D;
      const R = 5;
      const Tmax = 40;
      const rows = Int32Array.of(3, 0, 4);
      const B = rows.length;
      const lengths = Int32Array.of(9, 0, 17, 30, 5);
      const starts = Int32Array.of(0, 0, 0, 4, 0);
      const kc0 = rand(R * Tmax * C);
      const vc0 = rand(R * Tmax * C);
      const qkv = rand(B * Tq * 3 * C);
      // the old way: copy q out, write k/v, attend
      const kc = kc0.slice();
      const vc = vc0.slice();
      const q = new Float32Array(B * Tq * C);
      for (let b = 0; b < B; b++)
        for (let i = 0; i < Tq; i++) {
          const src = (b * Tq + i) * 3 * C;
          const dst = (rows[b] * Tmax + lengths[rows[b]] + i) * C;
          q.set(qkv.subarray(src, src + C), (b * Tq + i) * C);
          kc.set(qkv.subarray(src + C, src + 2 * C), dst);
          vc.set(qkv.subarray(src + 2 * C, src + 3 * C), dst);
        }
      const want = new Float32Array(B * Tq * C);
      native!.attentionDecode(q, kc, vc, want, B, Tq, 0, Tmax, H, D, starts, lengths, rows);
      const kc2 = kc0.slice();
      const vc2 = vc0.slice();
      const got = new Float32Array(B * Tq * C).fill(NaN);
      native!.attentionDecodeQkv(qkv, kc2, vc2, got, B, Tq, Tmax, H, D, starts, lengths, rows);
      for (let i = 0; i < kc.length; i++) if (kc2[i] !== kc[i] || vc2[i] !== vc[i]) assert.fail(`H=${H} D=${D} Tq=${Tq}: cache element ${i} differs`);
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) assert.fail(`H=${H} D=${D} Tq=${Tq}: out element ${i}: ${got[i]} (fused) vs ${want[i]} (attentionDecode)`);
      assert.deepEqual(Array.from(lengths), [9, 0, 17, 30, 5], 'lengths are not advanced');
      const kc3 = kc0.slice();
      const vc3 = vc0.slice();
      const refOut = new Float32Array(B * Tq * C);
      ref.attentionDecodeQkv(qkv, kc3, vc3, refOut, B, Tq, Tmax, H, D, starts, lengths, rows);
      assert.deepEqual(kc3, kc);
      assert.deepEqual(vc3, vc);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(refOut[i] - got[i]) <= 1e-5 + 1e-4 * Math.abs(refOut[i]), `H=${H} D=${D} Tq=${Tq}: element ${i}: ${got[i]} vs reference ${refOut[i]}`);
    }
    // rows must be distinct (tasks write the cache in parallel) and fit
    const z = new Float32Array(2 * 8 * 3 * 4);
    assert.throws(() => native!.attentionDecodeQkv(z, new Float32Array(2 * 8 * 4), new Float32Array(2 * 8 * 4), new Float32Array(2 * 4), 2, 1, 8, 1, 4, new Int32Array(2), new Int32Array(2), Int32Array.of(1, 1)), /distinct row/);
    assert.throws(() => native!.attentionDecodeQkv(z, new Float32Array(2 * 8 * 4), new Float32Array(2 * 8 * 4), new Float32Array(2 * 4), 2, 1, 8, 1, 4, new Int32Array(2), Int32Array.of(8, 0), Int32Array.of(0, 1)), /capacity/);
  });
}
