// Shared packing in the 2-thread sgemm (native/sgemm.c, struct team): the two tasks each pack
// half of every block of the operand their split does not divide. The first task waits only
// briefly for the second, so on a busy machine the team may not form; "wait" makes it wait up to
// a second, so these products run as a team. Read by the addon at its first eligible product.
process.env.GPTFORGE_SGEMM_TEAM = 'wait';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels } from '../../src/engine/backend-native.js';
import { referenceKernels as ref } from '../../src/engine/backend-reference.js';
import { Rng } from '../../src/engine/rng.js';
import type { Kernels } from '../../src/engine/kernels.js';

const loaded = loadNativeKernels();
const native: Kernels | null = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;

const rng = new Rng(77);
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
const LAYOUTS = [false, true].flatMap((tA) => [false, true].flatMap((tB) => [false, true].map((acc) => ({ tA, tB, acc }))));

test('sgemm with shared packing: the same bits at 1 and 2 threads, and close to the reference (NN, TT)', { skip }, () => {
  // ≥ 5e7 flops, two tasks: [504, 256, 300] split over M (B's blocks shared), [300, 256, 416]
  // over N (A's blocks shared); [301, 700, 333]: partial tiles, K not a multiple of KC, a
  // transposed A's panels; [120, 200, 3300]: N split into 2 NC blocks a task (avx2) — with A
  // transposed, k is not split here (K < 2·max(M, N))
  const shapes: [number, number, number][] = [
    [504, 256, 300],
    [300, 256, 416],
    [301, 700, 333],
    [120, 200, 3300],
  ];
  for (const [M, K, N] of shapes) {
    const a = rand(M * K),
      b = rand(K * N),
      c0 = rand(M * N);
    for (const { tA, tB, acc } of LAYOUTS) {
      native!.setThreads!(1);
      const one = Float32Array.from(c0);
      native!.matmul(a, b, one, M, K, N, tA, tB, acc);
      native!.setThreads!(2);
      // a few times: which task packs which half, and who waits, varies from call to call
      for (let rep = 0; rep < 2; rep++) {
        const two = Float32Array.from(c0);
        native!.matmul(a, b, two, M, K, N, tA, tB, acc);
        const bad = one.findIndex((x, i) => !Object.is(x, two[i]));
        assert.equal(bad, -1, `matmul M${M} K${K} N${N} tA${tA} tB${tB} acc${acc}: element ${bad} differs between 1 and 2 threads`);
      }
      if (tA !== tB) continue; // the reference (slow in JS) for half the layouts: NN and TT
      const want = Float32Array.from(c0);
      ref.matmul(a, b, want, M, K, N, tA, tB, acc);
      const tol = 2e-4 * Math.sqrt(K);
      const far = one.findIndex((x, i) => Math.abs(x - want[i]) > tol + 1e-4 * Math.abs(want[i]));
      assert.equal(far, -1, `matmul M${M} K${K} N${N} tA${tA} tB${tB} acc${acc}: element ${far} is ${one[far]}, reference ${want[far]}`);
    }
  }
});
