/**
 * ggml's number formats, as the GGUF writer and reader need them: IEEE half precision
 * (round to nearest even, like GGML_FP32_TO_FP16 / F16C) and Q8_0 blocks (ggml-quants.c
 * quantize_row_q8_0_ref: 32 weights, fp16 d = max|x|/127, int8 qs = roundf(x/d), 34 bytes).
 */

import { floatToHalf, halfToFloat } from '../../engine/half.js';

// the half-precision conversions live in the engine (its block quants' scales use them)
export { floatToHalf, halfToFloat };

export const QK8_0 = 32;

/** C's roundf: halves away from zero (Math.round rounds −2.5 to −2). */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** Quantize one row-major tensor (length a multiple of 32) to Q8_0 blocks: 34 bytes per 32 weights. */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % QK8_0 !== 0) throw new Error(`Q8_0 needs a multiple of ${QK8_0} values, got ${x.length}`);
  const nb = x.length / QK8_0;
  const out = new Uint8Array(nb * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[b * QK8_0 + j]));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    dv.setUint16(b * 34, floatToHalf(d), true);
    for (let j = 0; j < QK8_0; j++) dv.setInt8(b * 34 + 2 + j, roundf(Math.fround(x[b * QK8_0 + j] * id)));
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / QK8_0);
    out[i] = halfToFloat(dv.getUint16(b * 34, true)) * dv.getInt8(b * 34 + 2 + (i % QK8_0));
  }
  return out;
}
