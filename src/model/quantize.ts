import { GptforgeError } from '../util/errors.js';
import { QK8_0, floatToHalf, halfToFloat, quantizeQ8_0, dequantizeQ8_0 } from './export/ggml-quants.js';

/**
 * Block quantization of frozen weights in ggml's layouts, byte for byte (ggml-common.h
 * block_q8_0 / block_q4_0; ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref):
 *
 * - **Q8_0**: 32 weights a block, 34 bytes: fp16 d = max|x|/127, then 32 int8 q = roundf(x/d);
 *   x ≈ q·d.
 * - **Q4_0**: 32 weights a block, 18 bytes: fp16 d = m/−8 where m is the value of largest
 *   magnitude *with its sign* (so the extreme lands on q = 0, the one end the 4-bit range
 *   reaches: −8·d = m), then 16 bytes of nibbles: byte j holds weight j in its low nibble and
 *   weight j+16 in its high one, q = min(15, trunc(x/d + 8.5)); x ≈ (q − 8)·d.
 *
 * Arithmetic is float32 at every step as in C (Math.fround), so the bytes equal ggml's for
 * the same input (test/model/quantize.test.ts checks vectors made by ggml's own library).
 * A weight matrix is quantized along its rows in ggml's orientation [out, in]: each row of
 * `in` weights is a run of whole blocks (see {@link quantizeLinear}).
 */

/** A base precision's quantized kinds. */
export type QuantType = 'q8_0' | 'q4_0';
/** Every precision a frozen base may be held in. */
export type BasePrecision = 'f32' | QuantType;
export const BASE_PRECISIONS: readonly BasePrecision[] = ['f32', 'q8_0', 'q4_0'];

export const QK4_0 = 32;
/** Weights per block (both types). */
export const QK = 32;

/** Bytes one block of 32 weights takes. */
export function blockBytes(type: QuantType): number {
  return type === 'q8_0' ? 34 : 18;
}

/** Bytes a row-major tensor of n weights (n a multiple of 32) takes. */
export function quantizedBytes(type: QuantType, n: number): number {
  return (n / QK) * blockBytes(type);
}

/** Parse a precision name ('f32', 'q8_0', 'q4_0'); anything else is a GptforgeError naming the valid ones. */
export function parseBasePrecision(s: string, field = 'basePrecision'): BasePrecision {
  const v = s.trim().toLowerCase();
  if ((BASE_PRECISIONS as readonly string[]).includes(v)) return v as BasePrecision;
  throw new GptforgeError(`unknown precision "${s}"; valid: ${BASE_PRECISIONS.join(', ')}`, { field });
}

/** x·(1/d) rounded as C's (int8_t)(v + 8.5f) then min(15, ·): truncation toward zero. */
function q4(v: number): number {
  const t = Math.trunc(Math.fround(v + 8.5));
  // (int8_t) of a value in [0.5, 16.5] never wraps; NaN (a NaN weight) casts to 0 in practice
  return Math.min(15, Number.isNaN(t) ? 0 : t);
}

/**
 * Quantize a row-major tensor (length a multiple of 32) to Q4_0 blocks, 18 bytes per 32 weights,
 * as ggml-quants.c quantize_row_q4_0_ref.
 * @throws Error when the length is not a multiple of 32.
 */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  if (x.length % QK4_0 !== 0) throw new Error(`Q4_0 needs a multiple of ${QK4_0} values, got ${x.length}`);
  const nb = x.length / QK4_0;
  const out = new Uint8Array(nb * 18);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const base = b * QK4_0;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK4_0; j++) {
      const v = x[base + j];
      // strictly greater: the first of equal magnitudes wins, sign kept
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    dv.setUint16(b * 18, floatToHalf(d), true);
    for (let j = 0; j < QK4_0 / 2; j++) {
      const x0 = Math.fround(x[base + j] * id);
      const x1 = Math.fround(x[base + QK4_0 / 2 + j] * id);
      out[b * 18 + 2 + j] = q4(x0) | (q4(x1) << 4);
    }
  }
  return out;
}

/** Q4_0 blocks back to n floats: x = (q − 8)·d. */
export function dequantizeQ4_0(bytes: Uint8Array, n: number): Float32Array {
  if (n % QK4_0 !== 0) throw new Error(`Q4_0 holds a multiple of ${QK4_0} values, asked for ${n}`);
  if (bytes.length < (n / QK4_0) * 18) throw new Error(`Q4_0: ${bytes.length} bytes hold fewer than ${n} values`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / QK4_0; b++) {
    const d = halfToFloat(dv.getUint16(b * 18, true));
    for (let j = 0; j < QK4_0 / 2; j++) {
      const byte = bytes[b * 18 + 2 + j];
      out[b * QK4_0 + j] = ((byte & 15) - 8) * d;
      out[b * QK4_0 + j + 16] = ((byte >> 4) - 8) * d;
    }
  }
  return out;
}

/** Quantize n = x.length weights (a multiple of 32) to `type` blocks. */
export function quantize(type: QuantType, x: Float32Array): Uint8Array {
  return type === 'q8_0' ? quantizeQ8_0(x) : quantizeQ4_0(x);
}

/** Dequantize n weights from `type` blocks. */
export function dequantize(type: QuantType, bytes: Uint8Array, n: number): Float32Array {
  return type === 'q8_0' ? dequantizeQ8_0(bytes, n) : dequantizeQ4_0(bytes, n);
}

/** A frozen weight matrix held as ggml blocks in ggml's orientation: `rows` = out features, each a run of `cols` / 32 blocks. */
export interface QuantizedMatrix {
  readonly type: QuantType;
  /** Output features N. */
  readonly rows: number;
  /** Input features K (a multiple of 32). */
  readonly cols: number;
  /** rows · cols/32 · blockBytes(type) bytes. */
  readonly data: Uint8Array;
}

/**
 * Quantize a linear layer's weight stored [in, out] (our GPT-2 Conv1D layout) as a
 * [out, in] block matrix: row n holds W[:, n], so y = x·W becomes y = x·Qᵀ over blocks of the
 * input dimension, ggml's orientation for mul_mat.
 * @throws Error when `in` is not a multiple of 32.
 */
export function quantizeLinear(type: QuantType, weight: Float32Array, inF: number, outF: number): QuantizedMatrix {
  if (inF % QK !== 0) throw new Error(`quantizeLinear: ${type} needs the input dimension to be a multiple of ${QK}, got ${inF}`);
  if (weight.length !== inF * outF) throw new Error(`quantizeLinear: weight has ${weight.length} values, [${inF}, ${outF}] needs ${inF * outF}`);
  const t = new Float32Array(inF * outF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) t[o * inF + i] = weight[i * outF + o];
  return { type, rows: outF, cols: inF, data: quantize(type, t) };
}

/** Each block's scale d as fp32 ([rows, cols/32], exact: an fp16 widens exactly), for Kernels.qmatmulQ8's `scales`. */
export function blockScales(q: QuantizedMatrix): Float32Array {
  const n = (q.rows * q.cols) / QK;
  const bs = blockBytes(q.type);
  const out = new Float32Array(n);
  for (let b = 0; b < n; b++) out[b] = halfToFloat(q.data[b * bs] | (q.data[b * bs + 1] << 8));
  return out;
}

/** The [in, out] float weight a quantized linear layer stands for (what merging and export read). */
export function dequantizeLinear(q: QuantizedMatrix): Float32Array {
  const t = dequantize(q.type, q.data, q.rows * q.cols);
  const w = new Float32Array(q.rows * q.cols);
  for (let o = 0; o < q.rows; o++) for (let i = 0; i < q.cols; i++) w[i * q.rows + o] = t[o * q.cols + i];
  return w;
}

export { QK8_0 };
