import { getKernels } from './backend.js';
import { Tensor, record, numel, opOutput, allocBuffer, isGradEnabled, releaseBuffer } from './tensor.js';

/**
 * The op set. Each op validates its inputs (errors name the op and the shapes), runs the
 * forward kernel, and records its backward right beside it. Ops are coarse and fused
 * (llm.c style): attention and cross-entropy are single ops with hand-written backward.
 */

const k = getKernels;

function shapeStr(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

function fail(op: string, msg: string): never {
  throw new Error(`${op}: ${msg}`);
}

/** Output of a kernel that overwrites every element (no zero-fill needed). */
function output(shape: readonly number[]): Tensor {
  return opOutput(shape);
}

// ---------------------------------------------------------------------------------------------
// matmul and linear

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * op(A)·op(B). Without transA, A may have leading batch dims (treated as rows × K).
 * B is 2-D: [K, N], or [N, K] with transB.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  if (b.ndim !== 2) fail('matmul', `B must be 2-D, got ${shapeStr(b)}`);
  if (transA && a.ndim !== 2) fail('matmul', `A must be 2-D when transA, got ${shapeStr(a)}`);
  if (a.ndim < 1) fail('matmul', `A must have at least 1 dimension, got ${shapeStr(a)}`);
  const K = transA ? a.shape[0] : a.lastDim;
  const M = transA ? a.shape[1] : a.rows;
  const KB = transB ? b.shape[1] : b.shape[0];
  const N = transB ? b.shape[0] : b.shape[1];
  if (K !== KB) fail('matmul', `inner dimensions differ: A ${shapeStr(a)}${transA ? 'ᵀ' : ''} · B ${shapeStr(b)}${transB ? 'ᵀ' : ''} (${K} vs ${KB})`);
  const outShape = transA ? [M, N] : [...a.shape.slice(0, -1), N];
  const out = output(outShape);
  k().matmul(a.data, b.data, out.data, M, K, N, transA, transB, false);
  out.requiresGrad = record(
    [a, b],
    () => {
      const dC = out.grad;
      if (!dC) return;
      if (a.requiresGrad) {
        const dA = a.gradBuffer();
        if (!transA && !transB) k().matmul(dC, b.data, dA, M, N, K, false, true, true);
        else if (!transA && transB) k().matmul(dC, b.data, dA, M, N, K, false, false, true);
        else if (transA && !transB) k().matmul(b.data, dC, dA, K, N, M, false, true, true);
        else k().matmul(b.data, dC, dA, K, N, M, true, true, true);
      }
      if (b.requiresGrad) {
        const dB = b.gradBuffer();
        if (!transA && !transB) k().matmul(a.data, dC, dB, K, M, N, true, false, true);
        else if (!transA && transB) k().matmul(dC, a.data, dB, N, M, K, true, false, true);
        else if (transA && !transB) k().matmul(a.data, dC, dB, K, M, N, false, false, true);
        else k().matmul(dC, a.data, dB, N, M, K, true, true, true);
      }
    },
    out,
  );
  return out;
}

/** y = x·W + b with W stored [in, out] (Hugging Face GPT-2's Conv1D layout). */
/**
 * x.grad (+)= dy·Wᵀ, dy [rows, outF], W [inF, outF]: written when it is x's first gradient
 * (takeFreshGrad: no zero fill, and sgemm's C = 0 + Σ and C = Σ are the same bits), else added.
 */
function gradMatmul(x: Tensor, dy: Float32Array, w: Float32Array, rows: number, outF: number, inF: number): void {
  const fresh = x.takeFreshGrad();
  k().matmul(dy, w, x.grad!, rows, outF, inF, false, true, !fresh);
}

/** a.grad (+)= g: a copy when it is a's first gradient (no zero fill), else axpy. */
function gradAdd(a: Tensor, g: Float32Array): void {
  if (a.takeFreshGrad()) a.grad!.set(g);
  else k().axpy(1, g, a.grad!, a.size);
}

/**
 * a.grad (+)= out.grad where out's backward is the last reader of out.grad (an op's own output,
 * recorded with `out`): when it is a's first gradient, a takes out's buffer over instead of
 * copying it (out.grad becomes null, so the tape does not hand it back to the arena; a's own
 * release does). Only when a's gradient is released the same way (a pooled op output) or out's
 * buffer is not the arena's: a parameter must never hold an arena buffer across a reset. The
 * same values as the copy, so the same bits; saves a residual add's [B, T, C] copy each way.
 */
function gradTakeOver(a: Tensor, out: Tensor): void {
  const g = out.grad!;
  if (!a.grad && (a.pooled || !out.pooled) && a.size === g.length) {
    a.grad = g;
    out.grad = null;
  } else gradAdd(a, g);
}

export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2) fail('linear', `weight must be 2-D [in, out], got ${shapeStr(weight)}`);
  const [inF, outF] = weight.shape;
  if (x.lastDim !== inF) fail('linear', `input ${shapeStr(x)} does not match weight ${shapeStr(weight)} (last dim ${x.lastDim} vs ${inF})`);
  if (bias && (bias.ndim !== 1 || bias.size !== outF)) fail('linear', `bias ${shapeStr(bias)} does not match weight ${shapeStr(weight)}`);
  const rows = x.rows;
  const out = output([...x.shape.slice(0, -1), outF]);
  // with a bias, one kernel: the product and the bias added to each tile while it is in cache
  if (bias) k().matmulBias(x.data, weight.data, out.data, rows, inF, outF, false, bias.data, null);
  else k().matmul(x.data, weight.data, out.data, rows, inF, outF, false, false, false);
  out.requiresGrad = record(
    [x, weight, bias],
    () => {
      const dy = out.grad;
      if (!dy) return;
      if (x.requiresGrad) gradMatmul(x, dy, weight.data, rows, outF, inF);
      if (weight.requiresGrad) k().matmul(x.data, dy, weight.gradBuffer(), inF, rows, outF, true, false, true);
      if (bias && bias.requiresGrad) k().biasGrad(dy, bias.gradBuffer(), rows, outF);
    },
    out,
  );
  return out;
}

/**
 * GELU(x·W + b): GPT-2's MLP up-projection and its activation in one op (llm.c's
 * `matmul_forward` + `gelu_forward` pair). x [..., in], W [in, out], b [out] → [..., out].
 * The bias and GELU run as one pass over the product (`biasGeluForward`), and backward as one
 * pass that writes the pre-activation's gradient and sums the bias gradient from it
 * (`biasGeluBackward`), instead of addBias, GELU, GELU's backward into a zero-filled buffer
 * and biasGrad (two reads and writes of the [rows, out] activations fewer each way). The same
 * values as gelu(linear(x, W, b)), bit for bit. Without a bias it is that composition.
 */
export function linearGelu(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (!bias) return gelu(linear(x, weight));
  if (weight.ndim !== 2) fail('linearGelu', `weight must be 2-D [in, out], got ${shapeStr(weight)}`);
  const [inF, outF] = weight.shape;
  if (x.lastDim !== inF) fail('linearGelu', `input ${shapeStr(x)} does not match weight ${shapeStr(weight)} (last dim ${x.lastDim} vs ${inF})`);
  if (bias.ndim !== 1 || bias.size !== outF) fail('linearGelu', `bias ${shapeStr(bias)} does not match weight ${shapeStr(weight)}`);
  const rows = x.rows;
  const n = rows * outF;
  // the pre-activation x·W + b, kept for backward (as linear's output tensor was)
  const pre = allocBuffer(n, false);
  k().matmul(x.data, weight.data, pre, rows, inF, outF, false, false, false);
  const out = output([...x.shape.slice(0, -1), outF]);
  // one pass after the product, not matmulBias's per-tile epilogue: with GELU that ran 10–14%
  // more CPU (its act rows are written a tile at a time, six cold lines each; engine17)
  k().biasGeluForward(pre, bias.data, out.data, rows, outF);
  out.requiresGrad = record(
    [x, weight, bias],
    () => {
      const dy = out.grad;
      if (!dy) return;
      const dpre = allocBuffer(n, false);
      k().biasGeluBackward(pre, dy, dpre, bias.requiresGrad ? bias.gradBuffer() : null, rows, outF);
      if (x.requiresGrad) gradMatmul(x, dpre, weight.data, rows, outF, inF);
      if (weight.requiresGrad) k().matmul(x.data, dpre, weight.gradBuffer(), inF, rows, outF, true, false, true);
      releaseBuffer(dpre);
    },
    out,
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// elementwise

/** a + b. b has a's shape, or is 1-D of a's last dim (broadcast over rows, like a bias). */
export function add(a: Tensor, b: Tensor): Tensor {
  const out = output(a.shape);
  // a bias broadcast over rows (checked first: with one row, bias and input have the same size)
  const isBias = b.ndim === 1 && a.ndim > 1 && b.size === a.lastDim;
  if (b.size === a.size && !isBias) {
    if (!sameShape(a, b) && !(b.ndim === 1 && a.ndim === 1)) fail('add', `shapes differ: ${shapeStr(a)} + ${shapeStr(b)}`);
    k().add(a.data, b.data, out.data, a.size);
    out.requiresGrad = record(
      [a, b],
      () => {
        if (!out.grad) return;
        // b first: a may take out's gradient buffer over (a residual stream's x + f(x))
        if (b.requiresGrad) gradAdd(b, out.grad);
        if (a.requiresGrad) gradTakeOver(a, out);
      },
      out,
    );
    return out;
  }
  if (isBias) {
    out.data.set(a.data);
    k().addBias(out.data, b.data, a.rows, a.lastDim);
    out.requiresGrad = record(
      [a, b],
      () => {
        if (!out.grad) return;
        if (b.requiresGrad) k().biasGrad(out.grad, b.gradBuffer(), a.rows, a.lastDim);
        if (a.requiresGrad) gradTakeOver(a, out);
      },
      out,
    );
    return out;
  }
  fail('add', `cannot broadcast ${shapeStr(b)} to ${shapeStr(a)}`);
}

/** a ⊙ b, same shape. */
export function mul(a: Tensor, b: Tensor): Tensor {
  if (!sameShape(a, b)) fail('mul', `shapes differ: ${shapeStr(a)} * ${shapeStr(b)}`);
  const out = output(a.shape);
  k().mul(a.data, b.data, out.data, a.size);
  out.requiresGrad = record(
    [a, b],
    () => {
      const g = out.grad;
      if (!g) return;
      const tmp = allocBuffer(a.size, false);
      if (a.requiresGrad) {
        k().mul(g, b.data, tmp, a.size);
        k().axpy(1, tmp, a.gradBuffer(), a.size);
      }
      if (b.requiresGrad) {
        k().mul(g, a.data, tmp, a.size);
        k().axpy(1, tmp, b.gradBuffer(), b.size);
      }
    },
    out,
  );
  return out;
}

/** s · a. */
export function scale(a: Tensor, s: number): Tensor {
  const out = output(a.shape);
  k().scale(a.data, s, out.data, a.size);
  out.requiresGrad = record(
    [a],
    () => {
      if (out.grad && a.requiresGrad) k().axpy(s, out.grad, a.gradBuffer(), a.size);
    },
    out,
  );
  return out;
}

export function gelu(x: Tensor): Tensor {
  const out = output(x.shape);
  k().geluForward(x.data, out.data, x.size);
  out.requiresGrad = record(
    [x],
    () => {
      if (out.grad && x.requiresGrad) k().geluBackward(x.data, out.grad, x.gradBuffer(), x.size);
    },
    out,
  );
  return out;
}

export function silu(x: Tensor): Tensor {
  const out = output(x.shape);
  k().siluForward(x.data, out.data, x.size);
  out.requiresGrad = record(
    [x],
    () => {
      if (out.grad && x.requiresGrad) k().siluBackward(x.data, out.grad, x.gradBuffer(), x.size);
    },
    out,
  );
  return out;
}

/** Softmax over the last dimension. */
export function softmax(x: Tensor): Tensor {
  const out = output(x.shape);
  k().softmaxForward(x.data, out.data, x.rows, x.lastDim);
  out.requiresGrad = record(
    [x],
    () => {
      if (out.grad && x.requiresGrad) k().softmaxBackward(out.data, out.grad, x.gradBuffer(), x.rows, x.lastDim);
    },
    out,
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// normalisation

export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const C = x.lastDim;
  if (weight && weight.size !== C) fail('layerNorm', `weight ${shapeStr(weight)} does not match input ${shapeStr(x)}`);
  if (bias && bias.size !== C) fail('layerNorm', `bias ${shapeStr(bias)} does not match input ${shapeStr(x)}`);
  const rows = x.rows;
  const out = output(x.shape);
  const mean = allocBuffer(rows, false);
  const rstd = allocBuffer(rows, false);
  k().layerNormForward(x.data, weight?.data ?? null, bias?.data ?? null, out.data, mean, rstd, rows, C, eps);
  out.requiresGrad = record(
    [x, weight, bias],
    () => {
      if (!out.grad) return;
      k().layerNormBackward(out.grad, x.data, weight?.data ?? null, mean, rstd, x.requiresGrad ? x.gradBuffer() : allocBuffer(x.size, true), weight && weight.requiresGrad ? weight.gradBuffer() : null, bias && bias.requiresGrad ? bias.gradBuffer() : null, rows, C);
    },
    out,
  );
  return out;
}

export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
  const C = x.lastDim;
  if (weight && weight.size !== C) fail('rmsNorm', `weight ${shapeStr(weight)} does not match input ${shapeStr(x)}`);
  const rows = x.rows;
  const out = output(x.shape);
  const rstd = allocBuffer(rows, false);
  k().rmsNormForward(x.data, weight?.data ?? null, out.data, rstd, rows, C, eps);
  out.requiresGrad = record(
    [x, weight],
    () => {
      if (!out.grad) return;
      k().rmsNormBackward(out.grad, x.data, weight?.data ?? null, rstd, x.requiresGrad ? x.gradBuffer() : allocBuffer(x.size, true), weight && weight.requiresGrad ? weight.gradBuffer() : null, rows, C);
    },
    out,
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// attention

/** Fused causal self-attention: qkv [B, T, 3C] → [B, T, C] with nHead heads (C = nHead·D). */
export function causalSelfAttention(qkv: Tensor, nHead: number): Tensor {
  if (qkv.ndim !== 3) fail('causalSelfAttention', `qkv must be [B, T, 3C], got ${shapeStr(qkv)}`);
  const [B, T, C3] = qkv.shape;
  if (C3 % 3 !== 0 || (C3 / 3) % nHead !== 0) fail('causalSelfAttention', `last dim ${C3} is not 3·nHead·D for nHead=${nHead} (qkv ${shapeStr(qkv)})`);
  const C = C3 / 3;
  const D = C / nHead;
  const out = output([B, T, C]);
  const lse = allocBuffer(B * nHead * T, false);
  k().attentionForward(qkv.data, out.data, lse, B, T, nHead, D);
  out.requiresGrad = record(
    [qkv],
    () => {
      if (!out.grad || !qkv.requiresGrad) return;
      // qkv's first gradient (c_attn's output, or rope's) is written, not added to zeros
      const fresh = qkv.takeFreshGrad();
      k().attentionBackward(qkv.data, out.data, lse, out.grad, qkv.grad!, B, T, nHead, D, !fresh);
    },
    out,
  );
  return out;
}

/**
 * Rotary position embedding applied in place-free fashion to the q and k parts of packed
 * qkv [B, T, 3C], positions pos0..pos0+T−1. Rotates pairs (2i, 2i+1) of each head.
 * `pos0` may be one start per batch row (Int32Array of B): rows of a continuous batch sit at
 * different positions. `positions` (B·T position ids, e.g. randomized positions, Ruoss et al.
 * 2023) replaces them: token (b, t) is rotated by the angle of its id instead of its index
 * (ids 0..T−1 give the same bits as pos0 = 0).
 */
export function rope(qkv: Tensor, nHead: number, pos0: number | Int32Array = 0, base = 10000, positions?: Int32Array): Tensor {
  if (qkv.ndim !== 3) fail('rope', `qkv must be [B, T, 3C], got ${shapeStr(qkv)}`);
  const [B, T, C3] = qkv.shape;
  const C = C3 / 3;
  const D = C / nHead;
  if (!Number.isInteger(D) || D % 2 !== 0) fail('rope', `head size must be even, got C=${C}, nHead=${nHead}`);
  if (typeof pos0 !== 'number' && pos0.length !== B) fail('rope', `pos0 has ${pos0.length} entries for a batch of ${B}`);
  if (positions && positions.length !== B * T) fail('rope', `positions has ${positions.length} ids for B·T = ${B}·${T}`);
  // one table for the whole batch, or one per row (each row rotated as a batch of 1)
  const parts = positions
    ? Array.from({ length: B }, (_, b) => ({ off: b * T * C3, n: 1, ...idTables(positions.subarray(b * T, (b + 1) * T), D, base) }))
    : typeof pos0 === 'number'
      ? [{ off: 0, n: B, ...ropeTables(T, D, pos0, base) }]
      : Array.from(pos0, (p, b) => ({ off: b * T * C3, n: 1, ...ropeTables(T, D, p, base) }));
  const out = opOutput(qkv.shape, true);
  for (const { off, n, cos, sin } of parts) k().rope(qkv.data.subarray(off, off + n * T * C3), out.data.subarray(off, off + n * T * C3), cos, sin, n, T, nHead, D, 1);
  out.requiresGrad = record(
    [qkv],
    () => {
      // The rotation is orthogonal: its transpose (rotation by −θ) carries the gradient back.
      if (!out.grad || !qkv.requiresGrad) return;
      const g = qkv.gradBuffer();
      for (const { off, n, cos, sin } of parts) k().rope(out.grad.subarray(off, off + n * T * C3), g.subarray(off, off + n * T * C3), cos, sin, n, T, nHead, D, -1);
    },
    out,
  );
  return out;
}

/** cos/sin of every (position, frequency) pair, cached: training asks for the same T and pos0 every step. */
const ropeCache = new Map<string, { cos: Float32Array; sin: Float32Array }>();
function ropeTables(T: number, D: number, pos0: number, base: number): { cos: Float32Array; sin: Float32Array } {
  const key = `${T},${D},${pos0},${base}`;
  const hit = ropeCache.get(key);
  if (hit) return hit;
  const half = D / 2;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const ang = (pos0 + t) / Math.pow(base, (2 * i) / D);
      cos[t * half + i] = Math.cos(ang);
      sin[t * half + i] = Math.sin(ang);
    }
  }
  // decoding asks for a new pos0 every token: keep the cache small
  if (ropeCache.size > 256) ropeCache.clear();
  ropeCache.set(key, { cos, sin });
  return { cos, sin };
}

/** cos/sin of every (token, frequency) pair for one row's position ids (not cached: ids differ every call). */
function idTables(ids: Int32Array, D: number, base: number): { cos: Float32Array; sin: Float32Array } {
  const half = D / 2;
  const cos = new Float32Array(ids.length * half);
  const sin = new Float32Array(ids.length * half);
  for (let t = 0; t < ids.length; t++) {
    for (let i = 0; i < half; i++) {
      const ang = ids[t] / Math.pow(base, (2 * i) / D); // the same expression as ropeTables': ids 0..T−1 give its bits
      cos[t * half + i] = Math.cos(ang);
      sin[t * half + i] = Math.sin(ang);
    }
  }
  return { cos, sin };
}

// ---------------------------------------------------------------------------------------------
// embedding and losses

/** Rows of table [V, C] selected by ids; output shape [...idsShape, C]. */
export function embedding(ids: Int32Array, idsShape: readonly number[], table: Tensor): Tensor {
  if (table.ndim !== 2) fail('embedding', `table must be 2-D [V, C], got ${shapeStr(table)}`);
  const n = numel(idsShape);
  if (ids.length !== n) fail('embedding', `ids length ${ids.length} does not match shape [${idsShape.join(', ')}]`);
  const [V, C] = table.shape;
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    if (id < 0 || id >= V) fail('embedding', `id ${id} at position ${i} is out of range for table ${shapeStr(table)} (valid 0..${V - 1})`);
  }
  const out = output([...idsShape, C]);
  k().embeddingForward(ids, table.data, out.data, n, C);
  out.requiresGrad = record(
    [table],
    () => {
      if (out.grad && table.requiresGrad) k().embeddingBackward(ids, out.grad, table.gradBuffer(), n, C);
    },
    out,
  );
  return out;
}

/** Rows of a table that train on their own: ids [n] into it and their values [n, C] (PEFT's TrainableTokens). */
export interface TableRows {
  readonly indices: Int32Array;
  readonly rows: Tensor;
}

/** Position of each id of `indices` in a table of V rows, −1 elsewhere. */
function rowSlots(indices: Int32Array, V: number, opName: string): Int32Array {
  const slot = new Int32Array(V).fill(-1);
  for (let j = 0; j < indices.length; j++) {
    const id = indices[j];
    if (!(id >= 0 && id < V) || slot[id] >= 0) fail(opName, `row index ${id} is out of range for ${V} rows or repeated`);
    slot[id] = j;
  }
  return slot;
}

/**
 * Route the gradient of an embedding lookup x [..., C] = table[ids] to trainable rows
 * [n, C] that the table holds at `indices` (the caller keeps them written into the table, so
 * the forward value is already right): d rows[j] += Σ over positions p with ids[p] = indices[j]
 * of dx[p]. Records on x beside the lookup's own backward (which the frozen table skips).
 * Anchor: PEFT's TrainableTokensLayer (the rows index_copy'd into the embedding).
 */
export function embeddingRowsGrad(x: Tensor, ids: Int32Array, indices: Int32Array, rows: Tensor): void {
  const C = x.lastDim;
  if (rows.ndim !== 2 || rows.shape[0] !== indices.length || rows.shape[1] !== C) fail('embeddingRowsGrad', `rows ${shapeStr(rows)} do not match ${indices.length} indices × ${C}`);
  let maxId = 0;
  for (let j = 0; j < indices.length; j++) maxId = Math.max(maxId, indices[j]);
  const slot = rowSlots(indices, maxId + 1, 'embeddingRowsGrad');
  const rec = record([rows], () => {
    if (!x.grad) return;
    const g = rows.gradBuffer();
    for (let p = 0; p < ids.length; p++) {
      const j = ids[p] <= maxId ? slot[ids[p]] : -1;
      if (j >= 0) k().axpy(1, x.grad.subarray(p * C, (p + 1) * C), g.subarray(j * C, (j + 1) * C), C);
    }
  });
  x.requiresGrad = x.requiresGrad || rec;
}

/** dR [n, C] += dlogits[:, indices]ᵀ · h for a chunk: dlogits (m, V), h (m, C). */
function headRowsInto(dlogits: Float32Array, h: Float32Array, m: number, V: number, C: number, indices: Int32Array, dR: Float32Array, scale: number): void {
  const n = indices.length;
  const cols = new Float32Array(m * n);
  for (let r = 0; r < m; r++) for (let j = 0; j < n; j++) cols[r * n + j] = dlogits[r * V + indices[j]] * scale;
  k().matmul(cols, h, dR, n, m, C, true, false, true);
}

/**
 * Route the gradient of a tied head's logits [..., V] = hidden·tableᵀ to trainable rows
 * [n, C] held at `indices` of the table: d rows[j] += Σ_r dlogits[r, indices[j]]·hidden[r]
 * (the columns of the head's weight gradient that belong to those rows, without the rest).
 */
export function headRowsGrad(logits: Tensor, hidden: Tensor, indices: Int32Array, rows: Tensor): void {
  const V = logits.lastDim;
  const C = hidden.lastDim;
  if (rows.ndim !== 2 || rows.shape[0] !== indices.length || rows.shape[1] !== C) fail('headRowsGrad', `rows ${shapeStr(rows)} do not match ${indices.length} indices × ${C}`);
  rowSlots(indices, V, 'headRowsGrad');
  const rec = record([rows], () => {
    if (logits.grad) headRowsInto(logits.grad, hidden.data, logits.rows, V, C, indices, rows.gradBuffer(), 1);
  });
  logits.requiresGrad = logits.requiresGrad || rec;
}

export interface CrossEntropyOptions {
  /** Per-row weights (e.g. the SFT loss mask); rows with weight 0 contribute nothing. */
  weights?: Float32Array;
  /** Target value meaning "no loss here" (default −1). */
  ignoreIndex?: number;
  /** 'mean' (weighted mean over counted rows, default), 'sum' (weighted), or 'none' (raw per-row losses [rows], 0 on ignored rows; weights unused). */
  reduction?: 'mean' | 'sum' | 'none';
}

/** Fused log-softmax + negative log-likelihood of logits [..., V] against integer targets. */
export function crossEntropy(logits: Tensor, targets: Int32Array, opts: CrossEntropyOptions = {}): Tensor {
  const V = logits.lastDim;
  const rows = logits.rows;
  const ignore = opts.ignoreIndex ?? -1;
  const reduction = opts.reduction ?? 'mean';
  if (targets.length !== rows) fail('crossEntropy', `targets length ${targets.length} does not match logits ${shapeStr(logits)} (${rows} rows)`);
  const w = opts.weights;
  if (w && w.length !== rows) fail('crossEntropy', `weights length ${w.length} does not match ${rows} rows`);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t !== ignore && (t < 0 || t >= V)) fail('crossEntropy', `target ${t} at row ${r} is out of range for ${V} classes (logits ${shapeStr(logits)})`);
  }
  const losses = new Float32Array(rows);
  k().crossEntropyForward(logits.data, targets, losses, rows, V, ignore);
  // Row weights: 0 on ignored rows, else w[r] (or 1).
  const rw = new Float32Array(rows);
  let denom = 0;
  for (let r = 0; r < rows; r++) {
    rw[r] = targets[r] === ignore ? 0 : w ? w[r] : 1;
    denom += rw[r];
  }
  let out: Tensor;
  let dscale: number;
  if (reduction === 'none') {
    out = new Tensor(losses, [rows]);
    dscale = 1;
  } else {
    let s = 0;
    for (let r = 0; r < rows; r++) s += rw[r] * losses[r];
    dscale = reduction === 'mean' ? (denom > 0 ? 1 / denom : 0) : 1;
    out = new Tensor(Float32Array.of(s * dscale), []);
  }
  out.requiresGrad = record(
    [logits],
    () => {
      if (!out.grad || !logits.requiresGrad) return;
      const dloss = allocBuffer(rows, false);
      if (reduction === 'none') for (let r = 0; r < rows; r++) dloss[r] = out.grad[r];
      else for (let r = 0; r < rows; r++) dloss[r] = out.grad[0] * rw[r] * dscale;
      k().crossEntropyBackward(logits.data, targets, dloss, logits.gradBuffer(), rows, V, ignore);
    },
    out,
  );
  return out;
}

export interface LinearCrossEntropyOptions {
  /** Per-row weights (e.g. the SFT loss mask); rows with weight 0 contribute nothing. */
  weights?: Float32Array;
  /** Target value meaning "no loss here" (default −1). */
  ignoreIndex?: number;
  /** 'mean' (weighted mean over counted rows, default) or 'sum' (weighted). */
  reduction?: 'mean' | 'sum';
  /** Logits held at once, in floats (default 2²², 16 MiB): rows per chunk = max(1, ⌊chunk / V⌋). */
  chunkFloats?: number;
  /** Trainable rows of `weight` (a tied head's token rows; see headRowsGrad): their gradient is taken too. */
  rows?: readonly TableRows[];
}

/**
 * crossEntropy(hidden·weightᵀ, targets) without the [rows, V] logits: the LM head and the loss
 * run over chunks of rows, and while a chunk's logits exist its gradient is taken too — dhidden
 * for the chunk's rows, and dweight summed over the chunks when the weight trains — as if the
 * loss's own gradient were 1. The backward pass only scales those by the real one. So at most
 * one chunk of logits and one of their gradient exist at a time, and no matmul is repeated: the
 * same three head matmuls as matmul + crossEntropy. At GPT-2's vocabulary (50257) and 4×128
 * tokens that drops 2 × 103 MB of logits and gradient from a step's peak memory. The maths is
 * the unfused pair's; the sums differ in rounding only (dweight is summed chunk by chunk).
 * Anchor: Liger Kernel's fused linear cross-entropy (Hsu et al. 2024), chunked the same way.
 *
 * hidden [..., C]; weight [V, C] (the tied embedding or the LM head); targets [rows];
 * weights [rows] optional. Returns a scalar. Chunks whose rows all weigh 0 (an SFT prompt) are
 * skipped. Errors name the op and the shapes.
 */
export function linearCrossEntropy(hidden: Tensor, weight: Tensor, targets: Int32Array, opts: LinearCrossEntropyOptions = {}): Tensor {
  if (weight.ndim !== 2) fail('linearCrossEntropy', `weight must be 2-D [V, C], got ${shapeStr(weight)}`);
  const [V, C] = weight.shape;
  if (hidden.lastDim !== C) fail('linearCrossEntropy', `hidden ${shapeStr(hidden)} does not match weight ${shapeStr(weight)} (last dim ${hidden.lastDim} vs ${C})`);
  const rows = hidden.rows;
  const ignore = opts.ignoreIndex ?? -1;
  if (targets.length !== rows) fail('linearCrossEntropy', `targets length ${targets.length} does not match hidden ${shapeStr(hidden)} (${rows} rows)`);
  const w = opts.weights;
  if (w && w.length !== rows) fail('linearCrossEntropy', `weights length ${w.length} does not match ${rows} rows`);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t !== ignore && (t < 0 || t >= V)) fail('linearCrossEntropy', `target ${t} at row ${r} is out of range for ${V} classes (weight ${shapeStr(weight)})`);
  }
  // Row weights: 0 on ignored rows, else w[r] (or 1).
  const rw = new Float32Array(rows);
  let denom = 0;
  for (let r = 0; r < rows; r++) {
    rw[r] = targets[r] === ignore ? 0 : w ? w[r] : 1;
    denom += rw[r];
  }
  const dscale = (opts.reduction ?? 'mean') === 'sum' ? 1 : denom > 0 ? 1 / denom : 0;
  const wantH = isGradEnabled() && hidden.requiresGrad;
  const wantW = isGradEnabled() && weight.requiresGrad;
  const trows = isGradEnabled() ? (opts.rows ?? []).filter((r) => r.rows.requiresGrad) : [];
  for (const r of trows) {
    if (r.rows.ndim !== 2 || r.rows.shape[0] !== r.indices.length || r.rows.shape[1] !== C) fail('linearCrossEntropy', `rows ${shapeStr(r.rows)} do not match ${r.indices.length} indices × ${C}`);
    rowSlots(r.indices, V, 'linearCrossEntropy');
  }
  const drows = trows.map((r) => new Float32Array(r.rows.size)); // at a loss gradient of 1
  const R = Math.max(1, Math.min(rows, Math.floor((opts.chunkFloats ?? 1 << 22) / V)));
  const h = hidden.data;
  const logits = allocBuffer(R * V, false); // one chunk's (R, V), reused
  const dlogits = wantH || wantW || trows.length > 0 ? allocBuffer(R * V, false) : null;
  const dh = wantH ? allocBuffer(rows * C, true) : null; // (rows, C), at a loss gradient of 1
  const dw = wantW ? allocBuffer(V * C, true) : null; // (V, C), likewise
  const losses = new Float32Array(rows);
  const dloss = new Float32Array(rows);
  for (let r = 0; r < rows; r++) dloss[r] = rw[r] * dscale;
  for (let r0 = 0; r0 < rows; r0 += R) {
    const n = Math.min(R, rows - r0);
    let live = false;
    for (let r = r0; r < r0 + n; r++) live ||= rw[r] !== 0;
    if (!live) continue;
    const hc = h.subarray(r0 * C, (r0 + n) * C);
    const lc = logits.subarray(0, n * V);
    const tc = targets.subarray(r0, r0 + n);
    k().matmul(hc, weight.data, lc, n, C, V, false, true, false); // (n, V)
    if (!dlogits) {
      k().crossEntropyForward(lc, tc, losses.subarray(r0, r0 + n), n, V, ignore);
      continue;
    }
    const dc = dlogits.subarray(0, n * V);
    k().crossEntropyFused(lc, tc, dloss.subarray(r0, r0 + n), losses.subarray(r0, r0 + n), dc, n, V, ignore); // losses and dlogits in one sweep
    if (dh) k().matmul(dc, weight.data, dh.subarray(r0 * C, (r0 + n) * C), n, V, C, false, false, true); // (n, C)
    if (dw) k().matmul(dc, hc, dw, V, n, C, true, false, true); // (V, C)
    for (let i = 0; i < trows.length; i++) headRowsInto(dc, hc, n, V, C, trows[i].indices, drows[i], 1); // (n_rows, C)
  }
  let s = 0;
  for (let r = 0; r < rows; r++) s += rw[r] * losses[r];
  const out = new Tensor(Float32Array.of(s * dscale), []);
  out.requiresGrad = record(
    [hidden, weight, ...trows.map((r) => r.rows)],
    () => {
      if (!out.grad) return;
      const g = out.grad[0];
      if (dh && hidden.requiresGrad) k().axpy(g, dh, hidden.gradBuffer(), dh.length);
      if (dw && weight.requiresGrad) k().axpy(g, dw, weight.gradBuffer(), dw.length);
      for (let i = 0; i < trows.length; i++) k().axpy(g, drows[i], trows[i].rows.gradBuffer(), drows[i].length);
    },
    out,
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// reductions and shape ops

export function sum(x: Tensor): Tensor {
  let s = 0;
  for (let i = 0; i < x.size; i++) s += x.data[i];
  const out = new Tensor(Float32Array.of(s), []);
  out.requiresGrad = record(
    [x],
    () => {
      if (!out.grad || !x.requiresGrad) return;
      const g = x.gradBuffer();
      const d = out.grad[0];
      for (let i = 0; i < g.length; i++) g[i] += d;
    },
    out,
  );
  return out;
}

export function mean(x: Tensor): Tensor {
  if (x.size === 0) fail('mean', 'empty tensor');
  return scale(sum(x), 1 / x.size);
}

/** Same data, new shape (no copy). The gradient buffer is shared too. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== x.size) fail('reshape', `cannot reshape ${shapeStr(x)} (${x.size} elements) to [${shape.join(', ')}]`);
  const out = new Tensor(x.data, shape);
  out.requiresGrad = record([x], () => {});
  if (out.requiresGrad) out.grad = x.gradBuffer();
  return out;
}

function axisSizes(shape: readonly number[], axis: number): { outer: number; dim: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, dim: shape[axis], inner };
}

function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) fail(op, `axis ${axis} out of range for ${ndim} dimensions`);
  return a;
}

/** Concatenate along an axis; all other dims must match. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) fail('concat', 'no tensors');
  const ndim = tensors[0].ndim;
  const ax = normAxis('concat', axis, ndim);
  for (const t of tensors) {
    if (t.ndim !== ndim || t.shape.some((d, i) => i !== ax && d !== tensors[0].shape[i])) {
      fail('concat', `shapes do not match along non-concat axes: ${tensors.map(shapeStr).join(', ')} (axis ${axis})`);
    }
  }
  const shape = [...tensors[0].shape];
  shape[ax] = tensors.reduce((s, t) => s + t.shape[ax], 0);
  const out = output(shape);
  const { outer, inner } = axisSizes(shape, ax);
  const outRow = shape[ax] * inner;
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    const seg = t.shape[ax] * inner;
    for (let o = 0; o < outer; o++) out.data.set(t.data.subarray(o * seg, (o + 1) * seg), o * outRow + offset);
    offset += seg;
  }
  out.requiresGrad = record(
    tensors,
    () => {
      if (!out.grad) return;
      tensors.forEach((t, i) => {
        if (!t.requiresGrad) return;
        const seg = t.shape[ax] * inner;
        const g = t.gradBuffer();
        for (let o = 0; o < outer; o++) {
          const src = out.grad!.subarray(o * outRow + offsets[i], o * outRow + offsets[i] + seg);
          for (let j = 0; j < seg; j++) g[o * seg + j] += src[j];
        }
      });
    },
    out,
  );
  return out;
}

/** Elements start..end−1 along an axis (a copy). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normAxis('slice', axis, x.ndim);
  const d = x.shape[ax];
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= d)) {
    fail('slice', `range ${start}..${end} is invalid for axis ${axis} of ${shapeStr(x)}`);
  }
  const shape = [...x.shape];
  shape[ax] = end - start;
  const out = output(shape);
  const { outer, inner } = axisSizes(x.shape, ax);
  const inRow = d * inner;
  const seg = (end - start) * inner;
  for (let o = 0; o < outer; o++) out.data.set(x.data.subarray(o * inRow + start * inner, o * inRow + start * inner + seg), o * seg);
  out.requiresGrad = record(
    [x],
    () => {
      if (!out.grad || !x.requiresGrad) return;
      const g = x.gradBuffer();
      for (let o = 0; o < outer; o++) {
        const base = o * inRow + start * inner;
        for (let j = 0; j < seg; j++) g[base + j] += out.grad[o * seg + j];
      }
    },
    out,
  );
  return out;
}

/** Rows of x viewed as [rows, C], picked by index: → [idx.length, C]. Used by the scalar head. */
export function gatherRows(x: Tensor, idx: Int32Array): Tensor {
  const C = x.lastDim;
  const rows = x.rows;
  for (let i = 0; i < idx.length; i++) if (idx[i] < 0 || idx[i] >= rows) fail('gatherRows', `row ${idx[i]} out of range for ${shapeStr(x)} (${rows} rows)`);
  const out = output([idx.length, C]);
  for (let i = 0; i < idx.length; i++) out.data.set(x.data.subarray(idx[i] * C, idx[i] * C + C), i * C);
  out.requiresGrad = record(
    [x],
    () => {
      if (!out.grad || !x.requiresGrad) return;
      const g = x.gradBuffer();
      for (let i = 0; i < idx.length; i++) {
        const base = idx[i] * C;
        for (let j = 0; j < C; j++) g[base + j] += out.grad[i * C + j];
      }
    },
    out,
  );
  return out;
}

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.ndim === b.ndim && a.shape.every((d, i) => d === b.shape[i]);
}
