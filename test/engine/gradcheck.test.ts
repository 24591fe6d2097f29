import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/rng.js';
import { Tensor, randn, noGrad, tapeLength } from '../../src/engine/tensor.js';
import * as op from '../../src/engine/ops.js';
import * as ref from '../../src/engine/backend-reference.js';

/**
 * Every op's backward against central finite differences. Op-level checks run the real
 * autograd in fp32 on the reference backend (tolerances sized for fp32); the kernel-level
 * checks run the reference kernels in float64, where the match must be tight.
 */
setBackend('reference');

function weightedSum(y: Tensor, r: Float32Array): Tensor {
  return op.sum(op.mul(y, new Tensor(r, y.shape)));
}

/** Compare autograd gradients of f w.r.t. inputs to central differences at up to `samples` elements each. */
function checkOpGrad(name: string, f: () => Tensor, inputs: Tensor[], opts: { eps?: number; rtol?: number; atol?: number; samples?: number } = {}): void {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const atol = opts.atol ?? 2e-3;
  for (const x of inputs) x.grad = null;
  const loss = f();
  loss.backward();
  assert.equal(tapeLength(), 0, `${name}: tape not cleared after backward`);
  const rng = new Rng(7);
  inputs.forEach((x, xi) => {
    const g = x.grad;
    assert.ok(g, `${name}: input ${xi} received no gradient`);
    const n = Math.min(opts.samples ?? 12, x.size);
    for (let s = 0; s < n; s++) {
      const i = x.size <= (opts.samples ?? 12) ? s : rng.int(x.size);
      const orig = x.data[i];
      x.data[i] = orig + eps;
      const fp = noGrad(f).item();
      x.data[i] = orig - eps;
      const fm = noGrad(f).item();
      x.data[i] = orig;
      const num = (fp - fm) / (2 * eps);
      const diff = Math.abs(num - g![i]);
      assert.ok(diff <= atol + rtol * Math.abs(num), `${name}: input ${xi} element ${i}: autograd ${g![i]} vs numeric ${num}`);
    }
  });
}

const rng = new Rng(42);
const rnd = (shape: number[], std = 1) => randn(shape, rng, std, true);
const rvec = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

test('matmul: all four transpose layouts, batched A', () => {
  for (const [tA, tB] of [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ] as const) {
    const M = 5,
      K = 7,
      N = 3;
    const a = rnd(tA ? [K, M] : [M, K]);
    const b = rnd(tB ? [N, K] : [K, N]);
    const r = rvec(M * N);
    checkOpGrad(`matmul tA=${tA} tB=${tB}`, () => weightedSum(op.matmul(a, b, { transA: tA, transB: tB }), r), [a, b]);
  }
  const a3 = rnd([2, 3, 4]);
  const b = rnd([4, 5]);
  const r = rvec(2 * 3 * 5);
  checkOpGrad('matmul batched', () => weightedSum(op.matmul(a3, b), r), [a3, b]);
});

test('linear with and without bias', () => {
  const x = rnd([2, 3, 6]);
  const w = rnd([6, 4]);
  const b = rnd([4]);
  const r = rvec(2 * 3 * 4);
  checkOpGrad('linear', () => weightedSum(op.linear(x, w, b), r), [x, w, b]);
  checkOpGrad('linear no bias', () => weightedSum(op.linear(x, w), r), [x, w]);
  checkOpGrad('linearGelu', () => weightedSum(op.linearGelu(x, w, b), r), [x, w, b]);
  checkOpGrad('linearGelu no bias', () => weightedSum(op.linearGelu(x, w), r), [x, w]);
});

test('elementwise: add (same shape and broadcast), mul, scale, gelu, silu, softmax', () => {
  const a = rnd([3, 5]);
  const b = rnd([3, 5]);
  const bias = rnd([5]);
  const r = rvec(15);
  checkOpGrad('add', () => weightedSum(op.add(a, b), r), [a, b]);
  checkOpGrad('add broadcast', () => weightedSum(op.add(a, bias), r), [a, bias]);
  checkOpGrad('mul', () => weightedSum(op.mul(a, b), r), [a, b]);
  checkOpGrad('mul self', () => weightedSum(op.mul(a, a), r), [a]);
  checkOpGrad('scale', () => weightedSum(op.scale(a, -1.7), r), [a]);
  checkOpGrad('gelu', () => weightedSum(op.gelu(a), r), [a]);
  checkOpGrad('silu', () => weightedSum(op.silu(a), r), [a]);
  checkOpGrad('softmax', () => weightedSum(op.softmax(a), r), [a]);
});

test('layerNorm and rmsNorm (with and without affine)', () => {
  const x = rnd([4, 8]);
  const w = rnd([8]);
  const b = rnd([8]);
  const r = rvec(32);
  checkOpGrad('layerNorm', () => weightedSum(op.layerNorm(x, w, b), r), [x, w, b]);
  checkOpGrad('layerNorm plain', () => weightedSum(op.layerNorm(x, null, null), r), [x]);
  checkOpGrad('rmsNorm', () => weightedSum(op.rmsNorm(x, w), r), [x, w]);
});

test('causalSelfAttention and rope', () => {
  const B = 2,
    T = 5,
    H = 2,
    D = 4,
    C = H * D;
  const qkv = rnd([B, T, 3 * C]);
  const r = rvec(B * T * C);
  checkOpGrad('attention', () => weightedSum(op.causalSelfAttention(qkv, H), r), [qkv], { samples: 30 });
  const r3 = rvec(B * T * 3 * C);
  checkOpGrad('rope', () => weightedSum(op.rope(qkv, H, 3), r3), [qkv], { samples: 30 });
  // per-token position ids (randomized positions): each token rotated by its id's angle
  const ids = Int32Array.from([4, 9, 10, 40, 77, 0, 3, 250, 251, 900]);
  checkOpGrad('rope ids', () => weightedSum(op.rope(qkv, H, 0, 10000, ids), r3), [qkv], { samples: 30 });
});

test('linearCrossEntropy: gradients of hidden and weight, over several chunks', () => {
  const hidden = rnd([7, 4]);
  const weight = rnd([5, 4]);
  const targets = Int32Array.from([3, -1, 0, 4, 2, 1, 1]);
  const weights = Float32Array.from([1, 1, 0.5, 0, 2, 0, 0]);
  // 10 floats a chunk at V = 5: two rows a chunk, and the last chunk (rows 5–6) weighs 0
  const f = (o: op.LinearCrossEntropyOptions) => () => op.linearCrossEntropy(hidden, weight, targets, { chunkFloats: 10, ...o });
  checkOpGrad('linearCrossEntropy mean', f({}), [hidden, weight]);
  checkOpGrad('linearCrossEntropy weighted', f({ weights }), [hidden, weight]);
  checkOpGrad('linearCrossEntropy sum', f({ reduction: 'sum' }), [hidden, weight]);
  // the loss scaled afterwards: backward scales the gradient taken in the forward pass
  checkOpGrad('linearCrossEntropy scaled', () => op.scale(f({ weights })(), -3), [hidden, weight]);
});

test('embedding, crossEntropy (mask weights, ignore index, reductions)', () => {
  const table = rnd([6, 4]);
  const ids = Int32Array.from([1, 5, 1, 0]);
  const r = rvec(16);
  checkOpGrad('embedding (repeated id)', () => weightedSum(op.embedding(ids, [2, 2], table), r), [table]);
  const logits = rnd([5, 7]);
  const targets = Int32Array.from([3, -1, 0, 6, 2]);
  const weights = Float32Array.from([1, 1, 0.5, 0, 2]);
  checkOpGrad('crossEntropy mean', () => op.crossEntropy(logits, targets), [logits]);
  checkOpGrad('crossEntropy weighted', () => op.crossEntropy(logits, targets, { weights }), [logits]);
  checkOpGrad('crossEntropy sum', () => op.crossEntropy(logits, targets, { reduction: 'sum' }), [logits]);
  const rr = rvec(5);
  checkOpGrad('crossEntropy none', () => weightedSum(op.crossEntropy(logits, targets, { reduction: 'none' }), rr), [logits]);
  // weighted mean is Σ w·l / Σ w over non-ignored rows
  const per = op.crossEntropy(logits, targets, { reduction: 'none' }).data;
  const mean = op.crossEntropy(logits, targets, { weights }).item();
  const expect = (per[0] * 1 + per[2] * 0.5 + per[3] * 0 + per[4] * 2) / (1 + 0.5 + 0 + 2);
  assert.ok(Math.abs(mean - expect) < 1e-5);
  assert.equal(per[1], 0);
});

test('reductions and shape ops: sum, mean, reshape, concat, slice, gatherRows', () => {
  const a = rnd([2, 3, 4]);
  const b = rnd([2, 2, 4]);
  checkOpGrad('sum', () => op.sum(op.mul(a, a)), [a]);
  checkOpGrad('mean', () => op.mean(op.mul(a, a)), [a]);
  const r24 = rvec(24);
  checkOpGrad('reshape', () => weightedSum(op.reshape(op.gelu(a), [6, 4]), r24), [a]);
  const r40 = rvec(40);
  checkOpGrad('concat axis 1', () => weightedSum(op.concat([a, b], 1), r40), [a, b]);
  const r16 = rvec(16);
  checkOpGrad('slice axis 1', () => weightedSum(op.slice(a, 1, 1, 3), r16), [a]);
  const r12 = rvec(12);
  checkOpGrad('gatherRows', () => weightedSum(op.gatherRows(a, Int32Array.from([5, 0, 5])), r12), [a]);
});

// ---- float64 kernel checks -------------------------------------------------------------------

function rand64(n: number, r: Rng): Float64Array {
  return Float64Array.from({ length: n }, () => r.normal());
}

/** Numeric gradient of scalar f at x (float64), all elements. */
function numeric64(f: () => number, x: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const o = x[i];
    x[i] = o + eps;
    const fp = f();
    x[i] = o - eps;
    const fm = f();
    x[i] = o;
    g[i] = (fp - fm) / (2 * eps);
  }
  return g;
}

function assertClose64(name: string, got: Float64Array, want: Float64Array, tol = 1e-6): void {
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])), `${name}[${i}]: analytic ${got[i]} vs numeric ${want[i]}`);
  }
}

const dot64 = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);

test('float64: attention kernel backward matches finite differences', () => {
  const r = new Rng(3);
  const B = 2,
    T = 6,
    H = 3,
    D = 2,
    C = H * D;
  const qkv = rand64(B * T * 3 * C, r);
  const w = rand64(B * T * C, r);
  const out = new Float64Array(B * T * C);
  const lse = new Float64Array(B * H * T);
  const f = () => {
    ref.attentionForward(qkv, out, lse, B, T, H, D);
    return dot64(out, w);
  };
  f();
  const dqkv = new Float64Array(qkv.length);
  ref.attentionBackward(qkv, out, lse, w, dqkv, B, T, H, D);
  assertClose64('dqkv', dqkv, numeric64(f, qkv));
});

test('float64: layerNorm, rmsNorm, gelu, crossEntropy kernels match finite differences', () => {
  const r = new Rng(5);
  const rows = 3,
    C = 7;
  const x = rand64(rows * C, r),
    wt = rand64(C, r),
    bs = rand64(C, r),
    w = rand64(rows * C, r);
  const out = new Float64Array(rows * C),
    mean = new Float64Array(rows),
    rstd = new Float64Array(rows);
  const fLn = () => {
    ref.layerNormForward(x, wt, bs, out, mean, rstd, rows, C, 1e-5);
    return dot64(out, w);
  };
  fLn();
  const dx = new Float64Array(x.length),
    dw = new Float64Array(C),
    db = new Float64Array(C);
  ref.layerNormBackward(w, x, wt, mean, rstd, dx, dw, db, rows, C);
  assertClose64('layerNorm dx', dx, numeric64(fLn, x));
  assertClose64('layerNorm dw', dw, numeric64(fLn, wt));
  assertClose64('layerNorm db', db, numeric64(fLn, bs));

  const fRms = () => {
    ref.rmsNormForward(x, wt, out, rstd, rows, C, 1e-6);
    return dot64(out, w);
  };
  fRms();
  const dx2 = new Float64Array(x.length),
    dw2 = new Float64Array(C);
  ref.rmsNormBackward(w, x, wt, rstd, dx2, dw2, rows, C);
  assertClose64('rmsNorm dx', dx2, numeric64(fRms, x));
  assertClose64('rmsNorm dw', dw2, numeric64(fRms, wt));

  const fG = () => {
    ref.geluForward(x, out, x.length);
    return dot64(out, w);
  };
  const dx3 = new Float64Array(x.length);
  ref.geluBackward(x, w, dx3, x.length);
  assertClose64('gelu dx', dx3, numeric64(fG, x));

  const V = 5;
  const logits = rand64(4 * V, r);
  const targets = Int32Array.from([0, 4, -1, 2]);
  const losses = new Float64Array(4);
  const lw = rand64(4, r);
  const fCe = () => {
    ref.crossEntropyForward(logits, targets, losses, 4, V, -1);
    return dot64(losses, lw);
  };
  const dl = new Float64Array(logits.length);
  ref.crossEntropyBackward(logits, targets, lw, dl, 4, V, -1);
  assertClose64('crossEntropy dlogits', dl, numeric64(fCe, logits));
});

test('bad input: shape mismatches, out-of-range ids, backward without grad name the op', () => {
  const a = randn([2, 3], rng);
  const b = randn([4, 5], rng);
  assert.throws(() => op.matmul(a, b), /matmul: inner dimensions differ: A \[2, 3\] · B \[4, 5\]/);
  assert.throws(() => op.add(a, b), /add: cannot broadcast \[4, 5\] to \[2, 3\]/);
  assert.throws(() => op.embedding(Int32Array.from([0, 9]), [2], randn([4, 3], rng)), /embedding: id 9 at position 1 is out of range/);
  assert.throws(() => op.crossEntropy(a, Int32Array.from([0, 3])), /crossEntropy: target 3 at row 1 is out of range for 3 classes/);
  assert.throws(() => op.sum(a).backward(), /does not require grad/);
  assert.throws(() => op.causalSelfAttention(randn([1, 2, 10], rng), 2), /causalSelfAttention/);
});
