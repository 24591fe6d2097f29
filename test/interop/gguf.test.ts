import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { Rng } from '../../src/engine/rng.js';
import { loadCheckpoint } from '../../src/model/checkpoint.js';
import { dequantizeQ4_0, quantizeQ4_0 } from '../../src/model/quantize.js';
import { checkpointToGguf, floatToHalf, halfToFloat, llamaCppPreFor, quantizeQ8_0, dequantizeQ8_0, readGguf, type GgufType } from '../../src/model/export/gguf.js';
import { loadMixtureConfig } from '../../src/data/mixture.js';
import { presetsDir } from '../../src/run/presets.js';
import { resolvePattern } from '../../src/tokenizer/patterns.js';
import { GptforgeError } from '../../src/util/errors.js';
import { randomModel, saveTemp, smallTokenizer, tempDir } from './fixtures.js';

test('floatToHalf rounds to the nearest half, ties to even, like GGML_FP32_TO_FP16', () => {
  const rng = new Rng(3);
  const f32 = new Float32Array(1);
  for (let i = 0; i < 20000; i++) {
    f32[0] = rng.normal() * Math.pow(2, rng.int(40) - 25);
    const x = f32[0];
    const h = floatToHalf(x);
    const err = Math.abs(halfToFloat(h) - x);
    // neither neighbour is closer (same sign, magnitude ±1 ulp)
    for (const n of [h - 1, h + 1]) {
      if ((n & 0x7fff) >= 0x7c00 || (n & 0x8000) !== (h & 0x8000)) continue;
      const e2 = Math.abs(halfToFloat(n) - x);
      assert.ok(err < e2 || (err === e2 && (h & 1) === 0), `${x}: ${h.toString(16)} vs ${n.toString(16)}`);
    }
  }
  assert.equal(floatToHalf(65520), 0x7c00, 'rounds to +Inf past the largest half');
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'tie → even');
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02, 'tie → even (up)');
  assert.equal(floatToHalf(2 ** -24), 0x0001, 'smallest subnormal');
});

test('Q8_0: ggml block layout — fp16 d = max|x|/127, qs = roundf(x/d), 34 bytes per 32 weights', () => {
  const x = Float32Array.from({ length: 64 }, (_, i) => (i < 32 ? (i - 16) * 0.25 : i === 40 ? -3.5 : 0.5 * Math.sin(i)));
  const q = quantizeQ8_0(x);
  assert.equal(q.length, 68);
  const dv = new DataView(q.buffer);
  // block 0: max |x| = 4 (i = 0) → d = 4/127
  assert.equal(dv.getUint16(0, true), floatToHalf(Math.fround(4 / 127)));
  assert.equal(dv.getInt8(2 + 0), -127);
  assert.equal(dv.getInt8(2 + 16), 0);
  assert.equal(dv.getInt8(2 + 18), Math.floor((0.5 * 127) / 4 + 0.5)); // 0.5 → 15.875 → 16
  // halves round away from zero (C roundf): x = −d·2.5 → −3
  const d = Math.fround(2 / 127);
  const y = new Float32Array(32);
  y[0] = 2;
  y[1] = -2.5 * d;
  y[2] = 2.5 * d;
  const qy = new DataView(quantizeQ8_0(y).buffer);
  assert.equal(qy.getInt8(2 + 1), Math.sign(Math.fround(y[1] * Math.fround(1 / d))) * Math.floor(Math.abs(Math.fround(y[1] * Math.fround(1 / d))) + 0.5));
  assert.equal(qy.getInt8(2 + 1), -qy.getInt8(2 + 2));
  const back = dequantizeQ8_0(q, 64);
  for (let i = 0; i < 64; i++) assert.ok(Math.abs(back[i] - x[i]) <= (i < 32 ? 4 : 3.5) / 127 / 2 + 1e-3, `${i}`);
  // an all-zero block has d = 0 and zero weights
  assert.deepEqual([...dequantizeQ8_0(quantizeQ8_0(new Float32Array(32)), 32)], new Array(32).fill(0));
});

for (const position of ['rope', 'learned'] as const) {
  for (const type of ['F32', 'F16', 'Q8_0', 'Q4_0'] as GgufType[]) {
    test(`GGUF ${type} (${position}): @huggingface/gguf reads our header; tensors hold our weights in ggml layout`, async () => {
      const tok = smallTokenizer('gpt4-digits');
      const model = randomModel({ vocabSize: tok.vocabSize + 3, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 64, position });
      const ck = loadCheckpoint(saveTemp(model, tok));
      const path = join(tempDir(), `m-${type}.gguf`);
      const res = checkpointToGguf(ck, path, { type });
      const arch = position === 'rope' ? 'gptneox' : 'gpt2';
      assert.equal(res.arch, arch);
      assert.equal(res.pre, 'qwen2');
      const parsed = await gguf(path, { allowLocalFile: true });
      const md = parsed.metadata as unknown as Record<string, unknown>;
      assert.equal(md['general.architecture'], arch);
      assert.equal(Number(md[`${arch}.block_count`]), 2);
      assert.equal(Number(md[`${arch}.embedding_length`]), 64);
      assert.equal(Number(md[`${arch}.context_length`]), 32);
      assert.equal(md['tokenizer.ggml.model'], 'gpt2');
      assert.equal(md['tokenizer.ggml.pre'], 'qwen2');
      const tokens = md['tokenizer.ggml.tokens'] as string[];
      assert.equal(tokens.length, model.config.vocabSize);
      assert.equal(tokens[tok.specialId('<|bos|>')], '<|bos|>');
      assert.equal(Number(md['tokenizer.ggml.bos_token_id']), tok.specialId('<|bos|>'));
      assert.equal(Number(md['tokenizer.ggml.eos_token_id']), tok.specialId('<|assistant_end|>'));
      if (arch === 'gptneox') assert.equal(md['gptneox.use_parallel_residual'], false);
      const qkvInfo = parsed.tensorInfos.find((t) => t.name === 'blk.0.attn_qkv.weight')!;
      assert.deepEqual(qkvInfo.shape.map(Number), [64, 192]);
      assert.equal(qkvInfo.dtype, { F32: 0, F16: 1, Q8_0: 8, Q4_0: 2 }[type]);
      assert.equal(parsed.tensorInfos.find((t) => t.name === 'blk.1.attn_norm.bias')!.dtype, 0, 'norms stay F32');

      // our reader (used for verification) agrees with @huggingface/gguf on where data starts
      const mine = readGguf(path);
      assert.equal(mine.dataStart, Number(parsed.tensorDataOffset));
      // ffn_down = mlp.c_proj transposed to [out=C][in=H]; v rows of qkv are never permuted
      const down = mine.read('blk.1.ffn_down.weight');
      const cproj = model.params.get('transformer.h.1.mlp.c_proj.weight')!.data; // [H=256, C=64]
      const qkv = mine.read('blk.0.attn_qkv.weight');
      const cattn = model.params.get('transformer.h.0.attn.c_attn.weight')!.data; // [64, 192]
      if (type === 'Q4_0') {
        // exactly ggml's Q4_0 rounding of each ggml row (quantizeQ4_0 is checked against ggml's own vectors in test/model)
        for (let o = 0; o < 64; o += 7) {
          const row = Float32Array.from({ length: 256 }, (_, i) => cproj[i * 64 + o]);
          assert.deepEqual([...down.subarray(o * 256, o * 256 + 256)], [...dequantizeQ4_0(quantizeQ4_0(row), 256)]);
        }
        assert.equal(parsed.tensorInfos.find((t) => t.name === 'blk.0.ffn_down.weight')!.dtype, 2);
        return;
      }
      const tol = type === 'F32' ? 0 : type === 'F16' ? 2e-3 : 0.02;
      for (let o = 0; o < 64; o += 7) {
        for (let i = 0; i < 256; i += 13) assert.ok(Math.abs(down[o * 256 + i] - cproj[i * 64 + o]) <= tol * Math.max(1, Math.abs(cproj[i * 64 + o])) + (type === 'Q8_0' ? 0.01 : 0));
        for (let i = 0; i < 64; i += 5) assert.ok(Math.abs(qkv[(128 + o) * 64 + i] - cattn[i * 192 + 128 + o]) <= tol + (type === 'Q8_0' ? 0.01 : 0));
      }
    });
  }
}

test('GGUF refuses a tokenizer whose pre-split pattern llama.cpp does not implement (our default gpt4), naming it', () => {
  const tok = smallTokenizer('gpt4');
  const ck = loadCheckpoint(saveTemp(randomModel({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' }), tok));
  assert.throws(
    () => checkpointToGguf(ck, join(tempDir(), 'x.gguf')),
    (e: unknown) => e instanceof GptforgeError && /"gpt4" is not one llama\.cpp implements/.test(e.message) && e.message.includes('tokenizer.json'),
  );
});

test('a truncated GGUF → error naming the file and the byte offset', () => {
  const tok = smallTokenizer('gpt4-digits');
  const ck = loadCheckpoint(saveTemp(randomModel({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' }), tok));
  const path = join(tempDir(), 'full.gguf');
  checkpointToGguf(ck, path);
  const full = readFileSync(path);
  for (const cut of [3, 20, 5000, full.length - 100]) {
    const p = join(tempDir(), `cut-${cut}.gguf`);
    writeFileSync(p, full.subarray(0, cut));
    assert.throws(
      () => readGguf(p),
      (e: unknown) => e instanceof GptforgeError && e.message.includes(p) && (cut === 3 ? /truncated GGUF: magic/.test(e.message) : new RegExp(`file ends at byte ${cut}`).test(e.message)) && /byte offset \d+|bytes \d+\.\.\d+/.test(e.message),
      `cut at ${cut}`,
    );
  }
});

test('GGUF to a directory is refused before any work, naming the file to give instead; nothing is left beside it', () => {
  const tok = smallTokenizer('gpt4-digits');
  const ck = loadCheckpoint(saveTemp(randomModel({ vocabSize: tok.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' }), tok));
  const parent = tempDir();
  const dir = join(parent, 'outdir');
  mkdirSync(dir);
  assert.throws(
    () => checkpointToGguf(ck, dir, { type: 'Q8_0' }),
    // the path once, in the detail, at the option's field (the CLI prints it as "--out: …outdir is a directory")
    (e: unknown) => e instanceof GptforgeError && e.field === 'out' && e.file === undefined && new RegExp(`^field "out": ${dir} is a directory; GGUF is one file: name it, e\\.g\\. .*outdir/model-q8_0\\.gguf$`).test(e.message),
  );
  assert.deepEqual(readdirSync(parent), ['outdir']);
});

test("examples/gguf/mixture.tiny.json: the tiny preset's mixture with a pattern llama.cpp implements, and otherwise the same", () => {
  // docs/interop.md's GGUF recipe runs `pipeline --preset tiny --mixture examples/gguf/mixture.tiny.json`:
  // the example must keep a GGUF-ready pattern and must not drift from the preset it stands in for.
  const example = loadMixtureConfig(join(presetsDir(), '..', 'examples', 'gguf', 'mixture.tiny.json'));
  const preset = loadMixtureConfig(join(presetsDir(), 'mixture.tiny.json'));
  const { tokenizer: te, ...restExample } = example;
  const { tokenizer: tp, ...restPreset } = preset;
  assert.ok(te && tp, 'both name a tokenizer');
  assert.equal(llamaCppPreFor(resolvePattern(te.pattern), 'example'), 'qwen2');
  assert.throws(() => llamaCppPreFor(resolvePattern(tp.pattern), 'preset'), /not one llama\.cpp implements/);
  assert.deepEqual(restExample, restPreset);
  assert.deepEqual({ ...te, pattern: tp.pattern, digitPairs: tp.digitPairs }, tp);
});
