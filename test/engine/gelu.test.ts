import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels } from '../../src/engine/backend-native.js';

/**
 * GELU (tanh approximation) on every kernel path this CPU runs (the avx2 path has its own
 * 8-lane intrinsics, native/gelu_avx2.h) against a float64 evaluation of the same formula:
 * the whole range where the function bends, the saturated tails, the exp's clamp, +∞ and NaN,
 * every length 1–19 (the masked last vector), and the same bits at 1 and 2 threads.
 */
const loaded = loadNativeKernels();
const native = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;

const K = Math.sqrt(2 / Math.PI);
function gelu64(x: number): number {
  return 0.5 * x * (1 + Math.tanh(K * (x + 0.044715 * x * x * x)));
}
function geluGrad64(x: number): number {
  const th = Math.tanh(K * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * K * (1 + 3 * 0.044715 * x * x);
}
/**
 * |got − want| ≤ 5e-6 + 1e-5·|want|: float32 roundings. Measured worst cases over [−12, 12]:
 * forward 4–5e-7 absolute on both x86 paths; backward 2e-6 absolute (the scalar path's
 * 0.5x(1 − th²) cancels as th → ±1).
 */
function near(what: string, got: number, want: number): void {
  if (Number.isNaN(want)) {
    assert.ok(Number.isNaN(got), `${what}: expected NaN, got ${got}`);
    return;
  }
  if (!Number.isFinite(want)) {
    assert.equal(got, want, what);
    return;
  }
  assert.ok(Math.abs(got - want) <= 5e-6 + 1e-5 * Math.abs(want), `${what}: got ${got}, want ${want} (diff ${got - want})`);
}

function inputs(): Float32Array {
  const xs: number[] = [];
  for (let i = 0; i <= 24000; i++) xs.push(-12 + i * 0.001); // the bend and both tails
  xs.push(-100, -60, -44.5, -30, -9.5, -1e-30, -0, 0, 1e-30, 1e-3, 30, 44.5, 60, 100, Number.POSITIVE_INFINITY, Number.NaN);
  return Float32Array.from(xs);
}

test('geluForward/geluBackward on every path match float64, tails and lengths 1–19 included', { skip }, () => {
  const k = native!;
  const before = k.isa;
  const x = inputs();
  const n = x.length;
  const dy = Float32Array.from({ length: n }, (_, i) => Math.cos(0.7 * i));
  try {
    for (const s of k.isas().filter((v) => v.supported)) {
      k.setIsa(s.name);
      k.setThreads?.(1);
      const out = new Float32Array(n);
      k.geluForward(x, out, n);
      for (let i = 0; i < n; i++) near(`${s.name} gelu(${x[i]})`, out[i], gelu64(x[i]));
      const dx = Float32Array.from({ length: n }, (_, i) => 0.25 * Math.sin(i)); // accumulates
      k.geluBackward(x, dy, dx, n);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(x[i])) continue; // +∞: ∞·0 in the derivative, NaN either way
        const want = Math.fround(0.25 * Math.sin(i)) + dy[i] * geluGrad64(x[i]);
        near(`${s.name} gelu'(${x[i]})`, dx[i], want);
      }
      // every short length: the masked last vector must neither skip nor overrun elements
      for (let len = 1; len <= 19; len++) {
        const xs = x.slice(11990, 11990 + len);
        const o = new Float32Array(len + 3).fill(7);
        k.geluForward(xs, o.subarray(0, len), len);
        for (let i = 0; i < len; i++) near(`${s.name} len ${len} gelu[${i}]`, o[i], gelu64(xs[i]));
        assert.deepEqual([...o.subarray(len)], [7, 7, 7], `${s.name} len ${len}: wrote past n`);
        const d = new Float32Array(len + 3).fill(7);
        k.geluBackward(xs, dy.subarray(0, len), d.subarray(0, len), len);
        for (let i = 0; i < len; i++) near(`${s.name} len ${len} gelu'[${i}]`, d[i], Math.fround(7) + dy[i] * geluGrad64(xs[i]));
        assert.deepEqual([...d.subarray(len)], [7, 7, 7], `${s.name} len ${len}: dx written past n`);
      }
    }
  } finally {
    k.setIsa(before);
    k.setThreads?.(1);
  }
});

test('geluForward/geluBackward give the same bits at 1 and 2 threads on every path', { skip }, () => {
  const k = native!;
  const before = k.isa;
  const n = 300007; // big enough for the pool to split, not a multiple of 8
  const x = Float32Array.from({ length: n }, (_, i) => 4 * Math.sin(0.013 * i));
  const dy = Float32Array.from({ length: n }, (_, i) => Math.cos(0.7 * i));
  try {
    for (const s of k.isas().filter((v) => v.supported)) {
      k.setIsa(s.name);
      const runs = [1, 2].map((t) => {
        k.setThreads?.(t);
        const out = new Float32Array(n);
        k.geluForward(x, out, n);
        const dx = new Float32Array(n).fill(0.5);
        k.geluBackward(x, dy, dx, n);
        return { out, dx };
      });
      assert.deepEqual(runs[1].out, runs[0].out, `${s.name}: forward differs between 1 and 2 threads`);
      assert.deepEqual(runs[1].dx, runs[0].dx, `${s.name}: backward differs between 1 and 2 threads`);
    }
  } finally {
    k.setIsa(before);
    k.setThreads?.(1);
  }
});

/**
 * The fused bias + GELU of the MLP's c_fc (biasGeluForward / biasGeluBackward) against the
 * separate kernels it replaces, on every path this CPU runs, at 1 and 2 threads: addBias then
 * geluForward; geluBackward into zeros then biasGrad. Bit for bit (the fused loops run the
 * same per-element code); column counts that are not a multiple of 8 check the masked lanes
 * and that nothing is written past a row. The reference backend's version is checked against
 * the same composition by test/engine/native.test.ts's fused-op case through linearGelu.
 */
test('biasGeluForward/Backward equal addBias + GELU and GELU backward + biasGrad, bit for bit', { skip }, () => {
  const k = native!;
  const before = k.isa;
  try {
    for (const s of k.isas().filter((v) => v.supported)) {
      k.setIsa(s.name);
      for (const [rows, cols] of [
        [3, 5],
        [7, 19],
        [64, 1536],
        [301, 77],
      ]) {
        const n = rows * cols;
        const mm = Float32Array.from({ length: n }, (_, i) => 3 * Math.sin(0.37 * i + 0.1));
        const bias = Float32Array.from({ length: cols }, (_, j) => 0.5 * Math.cos(1.3 * j));
        const dy = Float32Array.from({ length: n }, (_, i) => Math.cos(0.7 * i));
        // the separate kernels, one thread
        k.setThreads?.(1);
        const pre0 = mm.slice();
        k.addBias(pre0, bias, rows, cols);
        const act0 = new Float32Array(n);
        k.geluForward(pre0, act0, n);
        const dpre0 = new Float32Array(n);
        k.geluBackward(pre0, dy, dpre0, n);
        const db0 = Float32Array.from({ length: cols }, (_, j) => 0.01 * j);
        k.biasGrad(dpre0, db0, rows, cols);
        for (const t of [1, 2]) {
          k.setThreads?.(t);
          const pre = new Float32Array(n + 2).fill(9);
          pre.set(mm);
          const act = new Float32Array(n + 2).fill(9);
          k.biasGeluForward(pre.subarray(0, n), bias, act.subarray(0, n), rows, cols);
          const what = `${s.name} ${rows}×${cols} ${t} thread(s)`;
          assert.deepEqual(pre.subarray(0, n), pre0, `${what}: pre`);
          assert.deepEqual(act.subarray(0, n), act0, `${what}: act`);
          assert.deepEqual([...pre.subarray(n), ...act.subarray(n)], [9, 9, 9, 9], `${what}: wrote past the end`);
          const dpre = new Float32Array(n + 2).fill(9); // written, not added to
          const db = Float32Array.from({ length: cols }, (_, j) => 0.01 * j);
          k.biasGeluBackward(pre0, dy, dpre.subarray(0, n), db, rows, cols);
          assert.deepEqual(dpre.subarray(0, n), dpre0, `${what}: dpre`);
          assert.deepEqual(db, db0, `${what}: dbias`);
          assert.deepEqual([...dpre.subarray(n)], [9, 9], `${what}: dpre written past the end`);
          const dpre2 = new Float32Array(n);
          k.biasGeluBackward(pre0, dy, dpre2, null, rows, cols); // no bias gradient wanted
          assert.deepEqual(dpre2, dpre0, `${what}: dpre without dbias`);
        }
      }
    }
  } finally {
    k.setIsa(before);
    k.setThreads?.(1);
  }
});
