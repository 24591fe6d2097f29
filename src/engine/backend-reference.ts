import { floatToHalf, halfToFloat } from './half.js';
import type { BlockQuant, Kernels } from './kernels.js';

/**
 * The reference backend: every kernel as plain loops. This file is the specification the
 * native C kernels are tested against, and the fallback when the addon is not built.
 *
 * The functions accept Float64Array as well as Float32Array (`FA`) so gradient checks can
 * run them in double precision against finite differences.
 */
export type FA = Float32Array | Float64Array;

const GELU_K = Math.sqrt(2 / Math.PI);

export function matmul(a: FA, b: FA, c: FA, M: number, K: number, N: number, transA: boolean, transB: boolean, accumulate: boolean): void {
  // Strides let one loop serve all four layouts: op(A)[i,k] = a[i*sai + k*sak].
  const sai = transA ? 1 : K;
  const sak = transA ? M : 1;
  const sbk = transB ? 1 : N;
  const sbj = transB ? K : 1;
  const row = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    row.fill(0);
    for (let k = 0; k < K; k++) {
      const aik = a[i * sai + k * sak];
      if (aik === 0) continue;
      const bo = k * sbk;
      for (let j = 0; j < N; j++) row[j] += aik * b[bo + j * sbj];
    }
    const co = i * N;
    if (accumulate) for (let j = 0; j < N; j++) c[co + j] += row[j];
    else for (let j = 0; j < N; j++) c[co + j] = row[j];
  }
}

/** IEEE half bits → number (subnormals included). */
function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Row n of a block matrix [N,K] as floats: Q8_0 x = q·d, Q4_0 x = (q − 8)·d (low nibbles hold weights 0–15, high ones 16–31). */
function dequantRow(w: Uint8Array, n: number, K: number, type: BlockQuant, out: FA): void {
  const bs = type === 'q8_0' ? 34 : 18;
  const nb = K / 32;
  for (let b = 0; b < nb; b++) {
    const o = (n * nb + b) * bs;
    const d = Math.fround(half(w[o] | (w[o + 1] << 8)));
    for (let j = 0; j < 32; j++) {
      let q: number;
      if (type === 'q8_0') q = (w[o + 2 + j] << 24) >> 24;
      else q = (j < 16 ? w[o + 2 + j] & 15 : w[o + 2 + j - 16] >> 4) - 8;
      out[b * 32 + j] = q * d;
    }
  }
}

export function qdequantize(w: Uint8Array, out: FA, N: number, K: number, type: BlockQuant): void {
  const row = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    dequantRow(w, n, K, type, row);
    for (let k = 0; k < K; k++) out[n * K + k] = row[k];
  }
}

export function qmatmul(x: FA, w: Uint8Array, y: FA, M: number, K: number, N: number, type: BlockQuant, accumulate: boolean): void {
  const row = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    dequantRow(w, n, K, type, row);
    for (let m = 0; m < M; m++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * row[k];
      y[m * N + n] = accumulate ? y[m * N + n] + s : s;
    }
  }
}

/** x rounded to the nearest integer, ties to even (C's rint, the SIMD conversions' default). */
function rintEven(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  return r > 0.5 || (r === 0.5 && (f & 1) !== 0) ? f + 1 : f;
}

/**
 * The activation side of ggml's integer matmul: each row of x [M, K] per block of 32 as Q8_0 —
 * d = max|x|/127, id = 127/max|x|, q = rint(x·id) (round half to even) in fp32, and the
 * block's scale stored as fp16 (ggml-cpu quants.c quantize_row_q8_0, its x86 SIMD path). q: [M·K]
 * int8, d: [M·K/32] the fp16 scales widened to fp32 (what ggml_vec_dot_q8_0_q8_0 multiplies by).
 */
export function quantizeQ8Rows(x: FA, M: number, K: number): { q: Int8Array; d: Float32Array } {
  const q = new Int8Array(M * K);
  const d = new Float32Array((M * K) / 32);
  for (let r = 0; r < (M * K) / 32; r++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[r * 32 + i]));
    const db = Math.fround(amax / 127);
    // ggml's x86 quantize_row_q8_0: id = 127/max|x| (1/d differs in the last bit for some max|x|)
    const id = amax !== 0 ? Math.fround(127 / amax) : 0;
    // ggml keeps the block scale as fp16 (block_q8_0.d) and its dot products read that back;
    // q is rounded against the fp32 db, as in ggml's quantize_row_q8_0
    d[r] = halfToFloat(floatToHalf(db));
    for (let i = 0; i < 32; i++) q[r * 32 + i] = rintEven(Math.fround(x[r * 32 + i] * id));
  }
  return { q, d };
}

/** Block levels of row n of W (Q8_0 q; Q4_0 q − 8) and their scales. */
function levelsRow(w: Uint8Array, n: number, K: number, type: BlockQuant, lv: Int32Array, ds: Float32Array): void {
  const bs = type === 'q8_0' ? 34 : 18;
  for (let b = 0; b < K / 32; b++) {
    const o = (n * (K / 32) + b) * bs;
    ds[b] = half(w[o] | (w[o + 1] << 8));
    for (let j = 0; j < 32; j++) lv[b * 32 + j] = type === 'q8_0' ? (w[o + 2 + j] << 24) >> 24 : (j < 16 ? w[o + 2 + j] & 15 : w[o + 2 + j - 16] >> 4) - 8;
  }
}

/** Kernels.qmatmulQ8: x quantized by quantizeQ8Rows, exact integer block sums, then y = Σ_b fp32((d_w·d_x)·Σ) in fp32 in block order (native/qmatmul_q8.c's scalar path). */
export function qmatmulQ8(x: FA, w: Uint8Array, y: FA, M: number, K: number, N: number, type: BlockQuant, accumulate: boolean, scales?: FA | null): void {
  const { q, d } = quantizeQ8Rows(x, M, K);
  const nb = K / 32;
  const lv = new Int32Array(K);
  const ds = new Float32Array(nb);
  for (let n = 0; n < N; n++) {
    levelsRow(w, n, K, type, lv, ds);
    if (scales) ds.set(scales.subarray(n * nb, (n + 1) * nb));
    for (let m = 0; m < M; m++) {
      let sum = 0;
      for (let b = 0; b < nb; b++) {
        let si = 0;
        for (let i = 0; i < 32; i++) si += lv[b * 32 + i] * q[m * K + b * 32 + i];
        sum = Math.fround(sum + Math.fround(Math.fround(ds[b] * d[m * nb + b]) * si));
      }
      y[m * N + n] = accumulate ? Math.fround(y[m * N + n] + sum) : sum;
    }
  }
}

export function qmatmulBackward(dy: FA, w: Uint8Array, dx: FA, M: number, K: number, N: number, type: BlockQuant): void {
  const row = new Float64Array(K);
  const acc = new Float64Array(M * K);
  for (let n = 0; n < N; n++) {
    dequantRow(w, n, K, type, row);
    for (let m = 0; m < M; m++) {
      const g = dy[m * N + n];
      if (g === 0) continue;
      for (let k = 0; k < K; k++) acc[m * K + k] += g * row[k];
    }
  }
  for (let i = 0; i < M * K; i++) dx[i] += acc[i];
}

export function addBias(out: FA, bias: FA, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[r * cols + j] += bias[j];
}

export function biasGrad(dout: FA, dbias: FA, rows: number, cols: number): void {
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += dout[r * cols + j];
    dbias[j] += s;
  }
}

export function layerNormForward(x: FA, weight: FA | null, bias: FA | null, out: FA, mean: FA, rstd: FA, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = 0;
    for (let j = 0; j < cols; j++) m += x[o + j];
    m /= cols;
    let v = 0;
    for (let j = 0; j < cols; j++) {
      const d = x[o + j] - m;
      v += d * d;
    }
    v /= cols;
    const s = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < cols; j++) {
      const n = (x[o + j] - m) * s;
      out[o + j] = n * (weight ? weight[j] : 1) + (bias ? bias[j] : 0);
    }
    mean[r] = m;
    rstd[r] = s;
  }
}

export function layerNormBackward(dout: FA, x: FA, weight: FA | null, mean: FA, rstd: FA, dx: FA, dweight: FA | null, dbias: FA | null, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const m = mean[r];
    const s = rstd[r];
    // dnorm = dout*w; dx = s * (dnorm - mean(dnorm) - norm*mean(dnorm*norm))
    let dnormMean = 0;
    let dnormNormMean = 0;
    for (let j = 0; j < cols; j++) {
      const norm = (x[o + j] - m) * s;
      const dn = dout[o + j] * (weight ? weight[j] : 1);
      dnormMean += dn;
      dnormNormMean += dn * norm;
    }
    dnormMean /= cols;
    dnormNormMean /= cols;
    for (let j = 0; j < cols; j++) {
      const norm = (x[o + j] - m) * s;
      const dn = dout[o + j] * (weight ? weight[j] : 1);
      if (dbias) dbias[j] += dout[o + j];
      if (dweight) dweight[j] += norm * dout[o + j];
      dx[o + j] += s * (dn - dnormMean - norm * dnormNormMean);
    }
  }
}

export function rmsNormForward(x: FA, weight: FA | null, out: FA, rstd: FA, rows: number, cols: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[o + j] * x[o + j];
    const s = 1 / Math.sqrt(ss / cols + eps);
    for (let j = 0; j < cols; j++) out[o + j] = x[o + j] * s * (weight ? weight[j] : 1);
    rstd[r] = s;
  }
}

export function rmsNormBackward(dout: FA, x: FA, weight: FA | null, rstd: FA, dx: FA, dweight: FA | null, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const s = rstd[r];
    // y = x*s*w, s = (mean(x²)+eps)^-1/2; dx = s*(dn - norm*mean(dn*norm)) with norm = x*s, dn = dout*w
    let dnNorm = 0;
    for (let j = 0; j < cols; j++) dnNorm += dout[o + j] * (weight ? weight[j] : 1) * x[o + j] * s;
    dnNorm /= cols;
    for (let j = 0; j < cols; j++) {
      const norm = x[o + j] * s;
      const dn = dout[o + j] * (weight ? weight[j] : 1);
      if (dweight) dweight[j] += dout[o + j] * norm;
      dx[o + j] += s * (dn - norm * dnNorm);
    }
  }
}

export function rope(src: FA, dst: FA, cos: FA, sin: FA, B: number, T: number, H: number, D: number, sign: number): void {
  const C = H * D;
  const C3 = 3 * C;
  const half = D / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * C3;
      for (let part = 0; part < 2; part++) {
        for (let h = 0; h < H; h++) {
          const o = row + part * C + h * D;
          for (let i = 0; i < half; i++) {
            const c = cos[t * half + i];
            const s = sin[t * half + i] * sign;
            const x0 = src[o + 2 * i];
            const x1 = src[o + 2 * i + 1];
            dst[o + 2 * i] += x0 * c - x1 * s;
            dst[o + 2 * i + 1] += x0 * s + x1 * c;
          }
        }
      }
      // v passes through unchanged
      for (let j = 2 * C; j < C3; j++) dst[row + j] += src[row + j];
    }
  }
}

export function geluForward(x: FA, out: FA, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = 0.5 * v * (1 + Math.tanh(GELU_K * (v + 0.044715 * v * v * v)));
  }
}

export function geluBackward(x: FA, dout: FA, dx: FA, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    const u = GELU_K * (v + 0.044715 * v * v * v);
    const th = Math.tanh(u);
    const sech2 = 1 - th * th;
    const du = GELU_K * (1 + 3 * 0.044715 * v * v);
    dx[i] += dout[i] * (0.5 * (1 + th) + 0.5 * v * sech2 * du);
  }
}

/** matmul, then addBias or biasGeluForward (the native kernel applies them per product tile) */
export function matmulBias(a: FA, b: FA, c: FA, M: number, K: number, N: number, transB: boolean, bias: FA, act: FA | null): void {
  matmul(a, b, c, M, K, N, false, transB, false);
  if (act) biasGeluForward(c, bias, act, M, N);
  else addBias(c, bias, M, N);
}

/** addBias then geluForward (the native kernel fuses the two passes) */
export function biasGeluForward(pre: FA, bias: FA, act: FA, rows: number, cols: number): void {
  addBias(pre, bias, rows, cols);
  geluForward(pre, act, rows * cols);
}

/** geluBackward into zeros then biasGrad (the native kernel fuses the two passes) */
export function biasGeluBackward(pre: FA, dout: FA, dpre: FA, dbias: FA | null, rows: number, cols: number): void {
  dpre.fill(0, 0, rows * cols);
  geluBackward(pre, dout, dpre, rows * cols);
  if (dbias) biasGrad(dpre, dbias, rows, cols);
}

function siluForward(x: FA, out: FA, n: number): void {
  for (let i = 0; i < n; i++) out[i] = x[i] / (1 + Math.exp(-x[i]));
}

function siluBackward(x: FA, dout: FA, dx: FA, n: number): void {
  for (let i = 0; i < n; i++) {
    const sg = 1 / (1 + Math.exp(-x[i]));
    dx[i] += dout[i] * sg * (1 + x[i] * (1 - sg));
  }
}

export function softmaxForward(x: FA, out: FA, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mx = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > mx) mx = x[o + j];
    let s = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(x[o + j] - mx);
      out[o + j] = e;
      s += e;
    }
    for (let j = 0; j < cols; j++) out[o + j] /= s;
  }
}

export function softmaxBackward(out: FA, dout: FA, dx: FA, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dout[o + j] * out[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] += out[o + j] * (dout[o + j] - dot);
  }
}

/**
 * Causal attention for one (b, h) pair at a time, one query row at a time: scores for keys
 * 0..t, softmax, weighted sum of values. Only a [T] row buffer exists, never [T,T].
 */
export function attentionForward(qkv: FA, out: FA, lse: FA, B: number, T: number, H: number, D: number): void {
  const C = H * D;
  const C3 = 3 * C;
  const scale = 1 / Math.sqrt(D);
  const p = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * C3 + h * D;
        let mx = -Infinity;
        for (let s = 0; s <= t; s++) {
          const ko = (b * T + s) * C3 + C + h * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qkv[qo + d] * qkv[ko + d];
          p[s] = dot * scale;
          if (p[s] > mx) mx = p[s];
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) {
          p[s] = Math.exp(p[s] - mx);
          sum += p[s];
        }
        const oo = (b * T + t) * C + h * D;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let s = 0; s <= t; s++) acc += p[s] * qkv[(b * T + s) * C3 + 2 * C + h * D + d];
          out[oo + d] = acc / sum;
        }
        lse[(b * H + h) * T + t] = mx + Math.log(sum);
      }
    }
  }
}

/**
 * Backward of attention, recomputing P = exp(S − lse) row by row.
 * dS = P ⊙ (dP − Σ_s P·dP) with dP = dout·Vᵀ, and Σ_s P·dP = dout·out (the FlashAttention trick).
 */
export function attentionBackward(qkv: FA, out: FA, lse: FA, dout: FA, dqkv: FA, B: number, T: number, H: number, D: number, accumulate = true): void {
  if (!accumulate) dqkv.fill(0);
  const C = H * D;
  const C3 = 3 * C;
  const scale = 1 / Math.sqrt(D);
  const p = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * C3 + h * D;
        const oo = (b * T + t) * C + h * D;
        const l = lse[(b * H + h) * T + t];
        let dOut = 0;
        for (let d = 0; d < D; d++) dOut += dout[oo + d] * out[oo + d];
        for (let s = 0; s <= t; s++) {
          const ko = (b * T + s) * C3 + C + h * D;
          const vo = ko + C;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qkv[qo + d] * qkv[ko + d];
          p[s] = Math.exp(dot * scale - l);
          let dp = 0;
          for (let d = 0; d < D; d++) dp += dout[oo + d] * qkv[vo + d];
          const ds = p[s] * (dp - dOut) * scale;
          for (let d = 0; d < D; d++) {
            dqkv[qo + d] += ds * qkv[ko + d];
            dqkv[ko + d] += ds * qkv[qo + d];
            dqkv[vo + d] += p[s] * dout[oo + d];
          }
        }
      }
    }
  }
}

export function attentionDecode(q: FA, kCache: FA, vCache: FA, out: FA, B: number, Tq: number, pos0: number, Tmax: number, H: number, D: number, starts?: Int32Array, lengths?: Int32Array, rows?: Int32Array): void {
  const C = H * D;
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    const r = rows ? rows[b] : b;
    const first = starts ? starts[r] : 0;
    const p0 = lengths ? lengths[r] : pos0;
    const p = new Float64Array(p0 + Tq);
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Tq; i++) {
        const qo = (b * Tq + i) * C + h * D;
        const last = p0 + i;
        if (first > last) {
          // a padding query: nothing to attend to
          for (let d = 0; d < D; d++) out[qo + d] = 0;
          continue;
        }
        let mx = -Infinity;
        for (let s = first; s <= last; s++) {
          const ko = (r * Tmax + s) * C + h * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d] * kCache[ko + d];
          p[s] = dot * scale;
          if (p[s] > mx) mx = p[s];
        }
        let sum = 0;
        for (let s = first; s <= last; s++) {
          p[s] = Math.exp(p[s] - mx);
          sum += p[s];
        }
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let s = first; s <= last; s++) acc += p[s] * vCache[(r * Tmax + s) * C + h * D + d];
          out[qo + d] = acc / sum;
        }
      }
    }
  }
}

/** Kernels.attentionDecodeQkv: the cache writes, then attentionDecode on a copy of the queries. */
export function attentionDecodeQkv(qkv: FA, kCache: FA, vCache: FA, out: FA, B: number, Tq: number, Tmax: number, H: number, D: number, starts: Int32Array, lengths: Int32Array, rows: Int32Array): void {
  const C = H * D;
  const q = new Float32Array(B * Tq * C);
  for (let b = 0; b < B; b++) {
    const r = rows[b];
    for (let i = 0; i < Tq; i++) {
      const src = (b * Tq + i) * 3 * C;
      const dst = (r * Tmax + lengths[r] + i) * C;
      for (let c = 0; c < C; c++) {
        q[(b * Tq + i) * C + c] = qkv[src + c];
        kCache[dst + c] = qkv[src + C + c];
        vCache[dst + c] = qkv[src + 2 * C + c];
      }
    }
  }
  attentionDecode(q, kCache, vCache, out, B, Tq, 0, Tmax, H, D, starts, lengths, rows);
}

export function crossEntropyForward(logits: FA, targets: Int32Array, losses: FA, rows: number, V: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t === ignoreIndex) {
      losses[r] = 0;
      continue;
    }
    const o = r * V;
    let mx = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j] > mx) mx = logits[o + j];
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[o + j] - mx);
    losses[r] = mx + Math.log(s) - logits[o + t];
  }
}

export function crossEntropyBackward(logits: FA, targets: Int32Array, dloss: FA, dlogits: FA, rows: number, V: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t === ignoreIndex) continue;
    const o = r * V;
    let mx = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j] > mx) mx = logits[o + j];
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[o + j] - mx);
    const g = dloss[r];
    for (let j = 0; j < V; j++) dlogits[o + j] += g * (Math.exp(logits[o + j] - mx) / s - (j === t ? 1 : 0));
  }
}

/** The specification of the fused kernel: the forward, then the backward into zeroed dlogits. */
export function crossEntropyFused(logits: FA, targets: Int32Array, dloss: FA, losses: FA, dlogits: FA, rows: number, V: number, ignoreIndex: number): void {
  crossEntropyForward(logits, targets, losses, rows, V, ignoreIndex);
  dlogits.fill(0, 0, rows * V);
  crossEntropyBackward(logits, targets, dloss, dlogits, rows, V, ignoreIndex);
}

export function embeddingForward(ids: Int32Array, table: FA, out: FA, n: number, C: number): void {
  for (let i = 0; i < n; i++) {
    const src = ids[i] * C;
    for (let j = 0; j < C; j++) out[i * C + j] = table[src + j];
  }
}

export function embeddingBackward(ids: Int32Array, dout: FA, dtable: FA, n: number, C: number): void {
  for (let i = 0; i < n; i++) {
    const dst = ids[i] * C;
    for (let j = 0; j < C; j++) dtable[dst + j] += dout[i * C + j];
  }
}

export function add(a: FA, b: FA, out: FA, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}
export function mul(a: FA, b: FA, out: FA, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
}
export function scale(a: FA, s: number, out: FA, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] * s;
}
export function axpy(s: number, x: FA, y: FA, n: number): void {
  for (let i = 0; i < n; i++) y[i] += s * x[i];
}
export function sumSquares(x: FA, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i] * x[i];
  return s;
}

/** Kernels.tempExp: the JavaScript the native kernel is bit-identical to (its specification). */
export function tempExp(l: Float32Array, mx: number, T: number, e: Float64Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    e[i] = Math.exp((l[i] - mx) / T);
    sum += e[i];
  }
  return sum;
}

/** Kernels.shiftExp. */
export function shiftExp(s: Float64Array, mx: number, e: Float64Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    e[i] = Math.exp(s[i] - mx);
    sum += e[i];
  }
  return sum;
}

/** Kernels.walkCdf. */
export function walkCdf(e: Float64Array, sum: number, n: number, u: number): number {
  for (let i = 0; i < n; i++) {
    u -= e[i] / sum;
    if (u < 0) return i;
  }
  for (let i = n - 1; i >= 0; i--) if (e[i] / sum > 0) return i;
  return 0;
}

export function adamw(param: FA, grad: FA, m: FA, v: FA, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, gradScale: number): void {
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  for (let i = 0; i < n; i++) {
    const g = grad[i] * gradScale;
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    const mh = m[i] / bc1;
    const vh = v[i] / bc2;
    param[i] -= lr * (mh / (Math.sqrt(vh) + eps) + weightDecay * param[i]);
  }
}

export const referenceKernels: Kernels = {
  name: 'reference',
  threads: 1,
  matmul,
  matmulBias,
  qmatmul,
  qmatmulQ8,
  qmatmulBackward,
  qdequantize,
  addBias,
  biasGrad,
  layerNormForward,
  layerNormBackward,
  rmsNormForward,
  rmsNormBackward,
  rope,
  geluForward,
  geluBackward,
  biasGeluForward,
  biasGeluBackward,
  siluForward,
  siluBackward,
  softmaxForward,
  softmaxBackward,
  attentionForward,
  attentionBackward,
  attentionDecode,
  attentionDecodeQkv,
  crossEntropyForward,
  crossEntropyBackward,
  crossEntropyFused,
  embeddingForward,
  embeddingBackward,
  add,
  mul,
  scale,
  axpy,
  sumSquares,
  tempExp,
  shiftExp,
  walkCdf,
  adamw,
};
