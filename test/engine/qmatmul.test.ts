import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels, type NativeInfo } from '../../src/engine/backend-native.js';
import { referenceKernels as ref } from '../../src/engine/backend-reference.js';
import { Rng } from '../../src/engine/rng.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { quantize, dequantize } from '../../src/model/quantize.js';

/**
 * The dequantize-and-multiply kernels (native/qmatmul.c) against the TypeScript oracle: the
 * reference backend's qmatmul, itself checked against src/model/quantize.ts's dequantize and a
 * plain float64 product. Every kernel path this CPU runs is tried in one process (setIsa), and
 * .ci/run runs the file again under each GPTFORGE_ISA. M ≤ 8 takes the streaming decode kernel,
 * M > 8 the dequantize-then-sgemm path; both are covered, with and without accumulation.
 */
const loaded = loadNativeKernels();
const native: (Kernels & NativeInfo) | null = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;
const rng = new Rng(11);
const rand = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * s);
const TYPES = ['q8_0', 'q4_0'] as const;
const SHAPES: [number, number][] = [
  [32, 1],
  [64, 5],
  [96, 17],
  [768, 100],
  [256, 768],
];

function close(got: Float32Array, want: Float32Array, K: number, what: string): void {
  for (let i = 0; i < want.length; i++) {
    const tol = 1e-5 + 1e-4 * Math.abs(want[i]) + 2e-6 * K;
    if (!(Math.abs(got[i] - want[i]) <= tol)) assert.fail(`${what}: element ${i}: ${got[i]} vs ${want[i]}`);
  }
}

test('reference qmatmul equals quantize.ts dequantize + a float64 product, forward and backward', () => {
  for (const type of TYPES) {
    const [K, N, M] = [96, 7, 3];
    const w = quantize(type, rand(N * K, 0.1));
    const W = dequantize(type, w, N * K);
    const x = rand(M * K);
    const y = new Float32Array(M * N);
    ref.qmatmul(x, w, y, M, K, N, type, false);
    const dy = rand(M * N);
    const dx = rand(M * K);
    const dx0 = dx.slice();
    ref.qmatmulBackward(dy, w, dx, M, K, N, type);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[m * K + k] * W[n * K + k];
        assert.equal(y[m * N + n], Math.fround(s), `${type} y[${m},${n}]`);
      }
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += dy[m * N + n] * W[n * K + k];
        assert.equal(dx[m * K + k], Math.fround(dx0[m * K + k] + s), `${type} dx[${m},${k}]`);
      }
    }
    const out = new Float32Array(N * K);
    ref.qdequantize(w, out, N, K, type);
    assert.deepEqual(out, W);
  }
});

for (const threads of [1, 2]) {
  test(`native qmatmul, qmatmulBackward and qdequantize equal the reference on every kernel path (${threads} thread${threads > 1 ? 's' : ''})`, { skip }, (t) => {
    const k = native!;
    const before = k.isa;
    k.setThreads!(threads);
    try {
      for (const s of k.isas().filter((x) => x.supported)) {
        k.setIsa(s.name);
        for (const type of TYPES) {
          for (const [K, N] of SHAPES) {
            const w = quantize(type, rand(N * K, 0.05));
            const deq = new Float32Array(N * K);
            k.qdequantize(w, deq, N, K, type);
            // q·d is exact in fp32: every path dequantizes to the same floats as quantize.ts
            assert.deepEqual(deq, dequantize(type, w, N * K), `${s.name} ${type} dequantize K=${K} N=${N}`);
            for (const M of [1, 2, 3, 4, 5, 7, 8, 9, 33]) {
              const what = `${s.name} ${type} K=${K} N=${N} M=${M}`;
              const x = rand(M * K);
              for (const acc of [false, true]) {
                const y0 = rand(M * N);
                const got = y0.slice();
                const want = y0.slice();
                k.qmatmul(x, w, got, M, K, N, type, acc);
                ref.qmatmul(x, w, want, M, K, N, type, acc);
                close(got, want, K, `${what} forward acc=${acc}`);
              }
              const dy = rand(M * N);
              const dx0 = rand(M * K);
              const got = dx0.slice();
              const want = dx0.slice();
              k.qmatmulBackward(dy, w, got, M, K, N, type);
              ref.qmatmulBackward(dy, w, want, M, K, N, type);
              close(got, want, N, `${what} backward`);
            }
          }
        }
        t.diagnostic(`${s.name}: checked`);
      }
    } finally {
      k.setIsa(before);
    }
  });
}

test('native qmatmul gives the same bits for 1 and 2 threads (each output reduced by one thread in a fixed order)', { skip }, () => {
  const k = native!;
  for (const type of TYPES) {
    const [K, N] = [768, 2304];
    const w = quantize(type, rand(N * K, 0.05));
    for (const M of [1, 4, 8, 12]) {
      const x = rand(M * K);
      const a = new Float32Array(M * N);
      const b = new Float32Array(M * N);
      k.setThreads!(1);
      k.qmatmul(x, w, a, M, K, N, type, false);
      k.setThreads!(2);
      k.qmatmul(x, w, b, M, K, N, type, false);
      assert.deepEqual(a, b, `${type} M=${M}`);
      const dy = rand(M * N);
      const da = new Float32Array(M * K);
      const db = new Float32Array(M * K);
      k.setThreads!(1);
      k.qmatmulBackward(dy, w, da, M, K, N, type);
      k.setThreads!(2);
      k.qmatmulBackward(dy, w, db, M, K, N, type);
      assert.deepEqual(da, db, `${type} backward M=${M}`);
    }
  }
});

test('the native block kernels refuse a K that is not whole blocks, too few bytes, or an unknown type', { skip }, () => {
  const k = native!;
  assert.throws(() => k.qmatmul(new Float32Array(48), new Uint8Array(100), new Float32Array(2), 1, 48, 2, 'q8_0', false), /qmatmul: K must be a multiple of 32/);
  assert.throws(() => k.qmatmul(new Float32Array(64), new Uint8Array(10), new Float32Array(2), 1, 64, 2, 'q4_0', false), /qmatmul: W has 10 elements, needs at least 72/);
  assert.throws(() => k.qmatmulBackward(new Float32Array(2), new Uint8Array(72), new Float32Array(64), 1, 64, 2, 'nf4' as 'q4_0'), /type must be "q8_0" or "q4_0"/);
});
