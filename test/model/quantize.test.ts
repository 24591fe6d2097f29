import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeQ4_0, dequantizeQ4_0, quantize, dequantize, quantizeLinear, dequantizeLinear, parseBasePrecision, blockBytes } from '../../src/model/quantize.js';
import { halfToFloat } from '../../src/model/export/ggml-quants.js';
import { Rng } from '../../src/engine/rng.js';
import { inputF32Hex, q8_0Hex, q4_0Hex } from './ggml-quant-vectors.js';

const fromHex = (h: string): Uint8Array => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const input = new Float32Array(fromHex(inputF32Hex).buffer);

/** Names the first differing block so a failure says which edge case broke. */
function sameBlocks(got: Uint8Array, want: Uint8Array, bs: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: byte length`);
  for (let b = 0; b < want.length / bs; b++) {
    const g = toHex(got.subarray(b * bs, (b + 1) * bs));
    const w = toHex(want.subarray(b * bs, (b + 1) * bs));
    assert.equal(g, w, `${what}: block ${b} differs from ggml's`);
  }
}

test("Q8_0 blocks are byte-identical to ggml's quantize_row_q8_0_ref (vectors made by libggml)", () => {
  sameBlocks(quantize('q8_0', input), fromHex(q8_0Hex), 34, 'Q8_0');
});

test("Q4_0 blocks are byte-identical to ggml's quantize_row_q4_0_ref, incl. the signed-max trick", () => {
  const got = quantizeQ4_0(input);
  sameBlocks(got, fromHex(q4_0Hex), 18, 'Q4_0');
  // block 6's extreme is −4 at j = 3: d = −4/−8 = 0.5 > 0 and it lands on q = 0
  const dv = new DataView(got.buffer);
  assert.equal(halfToFloat(dv.getUint16(6 * 18, true)), 0.5);
  assert.equal(got[6 * 18 + 2 + 3] & 15, 0);
  // block 7's extreme is +4 at j = 20: d = −0.5, and +4 lands on q = 0 too (high nibble of byte 4)
  assert.equal(halfToFloat(dv.getUint16(7 * 18, true)), -0.5);
  assert.equal(got[7 * 18 + 2 + 4] >> 4, 0);
});

test('dequantize: Q4_0 x = (q − 8)·d, Q8_0 x = q·d; errors within half a step of each block', () => {
  for (const type of ['q8_0', 'q4_0'] as const) {
    const q = quantize(type, input);
    const x = dequantize(type, q, input.length);
    const dv = new DataView(q.buffer);
    // blocks 0..8 and 10–11 (block 9's d overflows fp16 in Q4_0, where ggml stores inf)
    for (const b of [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11]) {
      const d = Math.abs(halfToFloat(dv.getUint16(b * blockBytes(type), true)));
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j;
        // a half step (a whole one for Q4_0's clamp at q = 15), plus d's fp16 rounding (relative 2^-11, or 2^-25 absolute where d is subnormal) times |q| ≤ 127
        const fp16 = Math.abs(input[i]) * 2 ** -10 + 127 * 2 ** -25;
        const tol = (type === 'q8_0' ? d * 0.5 : d) + fp16;
        assert.ok(Math.abs(x[i] - input[i]) <= tol + 1e-30, `${type} block ${b}[${j}]: ${x[i]} vs ${input[i]} (d=${d})`);
      }
    }
  }
  assert.ok(
    dequantizeQ4_0(quantizeQ4_0(new Float32Array(32)), 32).every((v) => v === 0),
    'a zero block dequantizes to zeros',
  );
});

test('quantizeLinear holds [in, out] weights as [out, in] rows and dequantizeLinear gives them back', () => {
  const rng = new Rng(3);
  const inF = 64;
  const outF = 5;
  const w = Float32Array.from({ length: inF * outF }, () => rng.normal() * 0.02);
  for (const type of ['q8_0', 'q4_0'] as const) {
    const q = quantizeLinear(type, w, inF, outF);
    assert.equal(q.data.length, outF * (inF / 32) * blockBytes(type));
    // row n of the block matrix is column n of w
    const col = new Float32Array(inF);
    for (let i = 0; i < inF; i++) col[i] = w[i * outF + 2];
    assert.equal(toHex(q.data.subarray(2 * 2 * blockBytes(type), 3 * 2 * blockBytes(type))), toHex(quantize(type, col)));
    const back = dequantizeLinear(q);
    let err = 0;
    for (let i = 0; i < w.length; i++) err = Math.max(err, Math.abs(back[i] - w[i]));
    assert.ok(err < (type === 'q8_0' ? 0.0005 : 0.01), `${type}: max error ${err}`);
  }
  assert.throws(() => quantizeLinear('q4_0', new Float32Array(48 * 2), 48, 2), /multiple of 32/);
});

test('parseBasePrecision accepts f32, q8_0, q4_0 and names the valid ones otherwise', () => {
  assert.equal(parseBasePrecision('Q4_0'), 'q4_0');
  assert.throws(() => parseBasePrecision('nf4'), /unknown precision "nf4"; valid: f32, q8_0, q4_0/);
});
