import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels, type NativeInfo } from '../../src/engine/backend-native.js';
import { referenceKernels as ref } from '../../src/engine/backend-reference.js';
import { Rng } from '../../src/engine/rng.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { quantize, dequantize } from '../../src/model/quantize.js';
import { floatToHalf, halfToFloat } from '../../src/model/export/ggml-quants.js';

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

/**
 * The integer decode kernel (native/qmatmul_q8.c): x quantized to Q8_0 rows, exact integer
 * block sums. Oracles: the reference backend's qmatmulQ8 (quantizeQ8Rows + the same sums), and
 * the float product of the dequantized weights with the unquantized x within the bound that
 * rounding x to Q8_0 allows: |Δy| ≤ Σ_b (max_b|x|/254 + max(max_b|x|·2⁻¹¹, 127·2⁻²⁵)) ·
 * Σ_{k∈b}|W[n,k]| (+ fp32 slack) — half a step, plus the block scale's rounding to fp16 (ggml's
 * block_q8_0.d) times at most 127 levels.
 */
/** Round half to even (the SIMD conversions' default). */
function rne(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  return (r > 0.5 || (r === 0.5 && (f & 1) !== 0) ? f + 1 : f) || 0;
}

function q8Bound(x: Float32Array, W: Float32Array, m: number, n: number, K: number): number {
  let bound = 0;
  let mag = 0;
  for (let b = 0; b < K / 32; b++) {
    let amax = 0;
    let wsum = 0;
    for (let i = 0; i < 32; i++) {
      amax = Math.max(amax, Math.abs(x[m * K + b * 32 + i]));
      wsum += Math.abs(W[n * K + b * 32 + i]);
    }
    bound += (amax / 254 + Math.max(amax * 2 ** -11, 127 * 2 ** -25)) * wsum;
    mag += amax * wsum;
  }
  return bound + 1e-6 * mag;
}

test('reference qmatmulQ8: exact integer sums of the Q8_0 activations, and within the activation-rounding bound of the float product', async () => {
  const { quantizeQ8Rows } = await import('../../src/engine/backend-reference.js');
  for (const type of TYPES) {
    const [K, N, M] = [128, 9, 3];
    const w = quantize(type, rand(N * K, 0.1));
    const W = dequantize(type, w, N * K);
    const x = rand(M * K);
    const { q, d } = quantizeQ8Rows(x, M, K);
    for (let r = 0; r < (M * K) / 32; r++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[r * 32 + i]));
      const d32 = Math.fround(amax / 127);
      // the scale is kept as ggml's fp16 block_q8_0.d: the nearest half to max|x|/127
      assert.equal(d[r], halfToFloat(floatToHalf(d32)));
      assert.ok(Math.abs(d[r] - d32) <= d32 * 2 ** -11);
      for (let i = 0; i < 32; i++) {
        assert.ok(Math.abs(q[r * 32 + i]) <= 127);
        // rounding to nearest against the fp32 scale (as ggml): within half a step of x/d
        assert.ok(Math.abs(q[r * 32 + i] * d32 - x[r * 32 + i]) <= d32 * (0.5 + 1e-5), `q[${r * 32 + i}]`);
        assert.equal(q[r * 32 + i], rne(Math.fround(x[r * 32 + i] * Math.fround(127 / amax))), `q[${r * 32 + i}]: ggml's id = 127/max|x|`);
      }
    }
    const y = new Float32Array(M * N);
    ref.qmatmulQ8(x, w, y, M, K, N, type, false);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        // the same sum in float64 from the integer levels: fp32 rounding apart, equal
        let exact = 0;
        let mag = 0;
        let yf = 0;
        for (let b = 0; b < K / 32; b++) {
          // Σ q_x·W = d_w·Σ q_x·level, exact in float64 (W is level·d_w exactly)
          let si = 0;
          for (let i = 0; i < 32; i++) si += q[m * K + b * 32 + i] * W[n * K + b * 32 + i];
          exact += si * d[m * (K / 32) + b];
          mag += Math.abs(si * d[m * (K / 32) + b]);
        }
        for (let k = 0; k < K; k++) yf += x[m * K + k] * W[n * K + k];
        assert.ok(Math.abs(y[m * N + n] - exact) <= 1e-6 * mag + 1e-30, `${type} y[${m},${n}] ${y[m * N + n]} vs ${exact}`);
        assert.ok(Math.abs(y[m * N + n] - yf) <= q8Bound(x, W, m, n, K), `${type} y[${m},${n}] ${y[m * N + n]} vs float ${yf}`);
      }
  }
});

test('native qmatmulQ8 equals the reference on every kernel path, bit for bit on inputs where every float step is exact', { skip }, (t) => {
  const k = native!;
  const before = k.isa;
  k.setThreads!(2);
  try {
    for (const s of k.isas().filter((x) => x.supported)) {
      k.setIsa(s.name);
      for (const type of TYPES) {
        for (const [K, N] of [...SHAPES, [96, 40] as [number, number]]) {
          const w = quantize(type, rand(N * K, 0.05));
          const W = dequantize(type, w, N * K);
          for (const M of [1, 2, 3, 4, 5, 7, 8, 9, 33]) {
            const what = `${s.name} ${type} K=${K} N=${N} M=${M}`;
            const x = rand(M * K);
            for (const acc of [false, true]) {
              const y0 = rand(M * N);
              const got = y0.slice();
              const want = y0.slice();
              k.qmatmulQ8(x, w, got, M, K, N, type, acc);
              ref.qmatmulQ8(x, w, want, M, K, N, type, acc);
              // summation order only (per-lane partial sums, two accumulators): ≤ 1e-6 of the magnitude
              for (let i = 0; i < want.length; i++) {
                const m = Math.floor(i / N);
                const n = i % N;
                let mag = Math.abs(y0[i]);
                for (let kk = 0; kk < K; kk++) mag += Math.abs(x[m * K + kk] * W[n * K + kk]);
                if (!(Math.abs(got[i] - want[i]) <= 1e-6 * mag)) assert.fail(`${what} acc=${acc} element ${i}: ${got[i]} vs ${want[i]}`);
                if (!acc) {
                  let yf = 0;
                  for (let kk = 0; kk < K; kk++) yf += x[m * K + kk] * W[n * K + kk];
                  if (!(Math.abs(got[i] - yf) <= q8Bound(x, W, m, n, K))) assert.fail(`${what} element ${i}: ${got[i]} vs float ${yf}, beyond the activation-rounding bound`);
                }
              }
            }
          }
          // exact inputs: weight scales 2^-8 (each block's extreme planted), activation scales 2^-3
          const M = 5;
          const xe = rand(M * K);
          for (let r = 0; r < (M * K) / 32; r++) xe[r * 32 + (r % 32)] = r & 1 ? 127 / 8 : -127 / 8;
          const we = rand(N * K, 0.005); // |w| < 2^-5 (6σ): the planted extreme sets every block's scale
          for (let r = 0; r < (N * K) / 32; r++) we[r * 32 + ((r * 7) % 32)] = type === 'q8_0' ? 127 / 256 : -8 / 256;
          const wq = quantize(type, we);
          const got = new Float32Array(M * N);
          const want = new Float32Array(M * N);
          k.qmatmulQ8(xe, wq, got, M, K, N, type, false);
          ref.qmatmulQ8(xe, wq, want, M, K, N, type, false);
          assert.deepEqual(got, want, `${s.name} ${type} K=${K} N=${N} exact inputs`);
        }
      }
      t.diagnostic(`${s.name}: checked`);
    }
  } finally {
    k.setIsa(before);
  }
});

test('native qmatmulQ8: a row alone equals it batched, and 1 thread equals 2', { skip }, () => {
  const k = native!;
  for (const type of TYPES) {
    const [K, N] = [768, 2304];
    const w = quantize(type, rand(N * K, 0.05));
    const x = rand(9 * K);
    const all = new Float32Array(9 * N);
    k.setThreads!(2);
    k.qmatmulQ8(x, w, all, 9, K, N, type, false);
    k.setThreads!(1);
    const one = new Float32Array(N);
    for (let m = 0; m < 9; m++) {
      k.qmatmulQ8(x.subarray(m * K, (m + 1) * K), w, one, 1, K, N, type, false);
      assert.deepEqual(one, all.subarray(m * N, (m + 1) * N), `${type} row ${m}`);
    }
    const all1 = new Float32Array(9 * N);
    k.qmatmulQ8(x, w, all1, 9, K, N, type, false);
    assert.deepEqual(all1, all, `${type} threads`);
  }
});

test('qmatmulQ8 with the scales passed as fp32 gives the same bits as reading them from the blocks (native every path, reference)', { skip }, async () => {
  const { blockScales } = await import('../../src/model/quantize.js');
  const k = native!;
  const before = k.isa;
  try {
    for (const s of k.isas().filter((x) => x.supported)) {
      k.setIsa(s.name);
      for (const type of TYPES) {
        const [K, N] = [160, 45];
        const w = quantize(type, rand(N * K, 0.05));
        const scales = blockScales({ type, rows: N, cols: K, data: w });
        for (const M of [1, 2, 3, 8]) {
          const x = rand(M * K);
          for (const kern of [k, ref]) {
            const a = new Float32Array(M * N);
            const b = new Float32Array(M * N);
            kern.qmatmulQ8(x, w, a, M, K, N, type, false);
            kern.qmatmulQ8(x, w, b, M, K, N, type, false, scales);
            assert.deepEqual(b, a, `${kern.name} ${s.name} ${type} M=${M}`);
          }
        }
      }
    }
  } finally {
    k.setIsa(before);
  }
  assert.throws(() => k.qmatmulQ8(new Float32Array(64), new Uint8Array(68), new Float32Array(1), 1, 64, 1, 'q8_0', false, new Float32Array(1)), /scales/);
});

test('native qmatmulQ8 multiplies by the activation scale as fp16 (ggml block_q8_0.d) on every kernel path, subnormal halves included', { skip }, (t) => {
  const k = native!;
  const before = k.isa;
  try {
    for (const s of k.isas().filter((x) => x.supported)) {
      k.setIsa(s.name);
      // one weight level (127 at index 5, scale 2^-8) picks one activation: y = fp32(d_w·d_x)·127·q_x
      const K = 64;
      const we = new Float32Array(K);
      we[5] = 127 / 256;
      const w = quantize('q8_0', we);
      // amax values whose /127 is not a half: normal (0.3, 5.1) and fp16-subnormal (1e-3, 3e-6) scales
      for (const amax of [0.3, 5.1, 1e-3, 3e-6]) {
        const x = new Float32Array(K);
        x[5] = Math.fround(amax * 0.77);
        x[17] = Math.fround(-amax);
        const d32 = Math.fround(Math.fround(amax) / 127);
        const d16 = halfToFloat(floatToHalf(d32));
        assert.notEqual(d16, d32, `${amax}: the fp16 scale should differ from the fp32 one for this check to bite`);
        const qx = Math.round(Math.fround(x[5] * Math.fround(127 / Math.fround(amax))));
        const want = Math.fround(Math.fround((1 / 256) * d16) * (127 * qx));
        const got = new Float32Array(1);
        const gotRef = new Float32Array(1);
        k.qmatmulQ8(x, w, got, 1, K, 1, 'q8_0', false);
        ref.qmatmulQ8(x, w, gotRef, 1, K, 1, 'q8_0', false);
        assert.equal(got[0], want, `${s.name} amax ${amax}`);
        assert.equal(gotRef[0], want, `reference amax ${amax}`);
      }
      t.diagnostic(`${s.name}: checked`);
    }
  } finally {
    k.setIsa(before);
  }
});
