import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import type { GPT } from '../../src/model/gpt.js';
import { loadCheckpoint } from '../../src/model/checkpoint.js';
import { checkpointToGguf } from '../../src/model/export/gguf.js';
import type { Tokenizer } from '../../src/tokenizer/index.js';
import { multilingualText } from '../tokenizer/corpus.js';
import { randomModel, saveTemp, smallTokenizer, tempDir } from './fixtures.js';

/*
 * The other side's own code: llama.cpp (node-llama-cpp 3.21.1's prebuilt CPU binaries, no
 * build, no download) loads our GGUF and must tokenize like us and decode greedily like us.
 */

const PROMPTS = [
  'Call me Ishmael.',
  'Some years ago',
  'The whale',
  'It is a way I have of driving off the spleen',
  '12 + 34 = ',
  'def main():\n    return 42',
  'naïve café',
  '   indented\n\n\tlines',
  'Whenever I find myself',
  'There now is your insular city',
  'Circumambulate the city of a dreamy Sabbath afternoon.',
  '3.14159',
  'I',
  'Queequeg',
  'Привет, мир',
  '中文',
  'if (x) { y(); }',
  'sea and sky',
  "Let's go!",
  'the the the the',
];
const NEW_TOKENS = 20;

let llamaPromise: Promise<Llama> | null = null;
function llama(): Promise<Llama> {
  // build: 'never' — only the prebuilt binaries shipped in @node-llama-cpp/<platform>
  llamaPromise ??= getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: 'error' as never });
  return llamaPromise;
}

function ourGreedy(model: GPT, prompt: number[], n: number): { ids: number[]; minGap: number } {
  const cache = model.createCache(1);
  let logits = model.nextLogits(Int32Array.from(prompt), cache);
  const ids: number[] = [];
  let minGap = Infinity;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    let second = -Infinity;
    for (let v = 0; v < logits.length; v++) if (v !== best && logits[v] > second) second = logits[v];
    minGap = Math.min(minGap, logits[best] - second);
    ids.push(best);
    if (i < n - 1) logits = model.nextLogits(Int32Array.of(best), cache);
  }
  return { ids, minGap };
}

async function theirGreedy(m: LlamaModel, prompt: number[], n: number, blockSize: number): Promise<number[]> {
  // F32 KV cache: llama.cpp's default F16 cache would round keys and values. One thread:
  // ggml's spinning thread pool collapses on an oversubscribed machine (1–2 tokens/s).
  const ctx = await m.createContext({ contextSize: blockSize, sequences: 1, threads: 1, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
  try {
    const seq = ctx.getSequence();
    const out: number[] = [];
    for await (const t of seq.evaluate(prompt as never[], { temperature: 0 })) {
      out.push(t as number);
      if (out.length >= n) break;
    }
    return out;
  } finally {
    await ctx.dispose();
  }
}

async function exportAndLoad(model: GPT, tok: Tokenizer): Promise<LlamaModel> {
  const ck = loadCheckpoint(saveTemp(model, tok));
  const path = join(tempDir(), 'model-f32.gguf');
  checkpointToGguf(ck, path, { type: 'F32' });
  return (await llama()).loadModel({ modelPath: path, gpuLayers: 0 });
}

for (const position of ['rope', 'learned'] as const) {
  test(`llama.cpp (node-llama-cpp) greedy continuations of ${PROMPTS.length} prompts = gptforge's at F32 (${position === 'rope' ? 'gptneox' : 'gpt2'})`, async () => {
    const tok = smallTokenizer('gpt4-digits');
    const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 64, position }, 11);
    const m = await exportAndLoad(model, tok);
    try {
      const bos = tok.specialId('<|bos|>');
      for (const p of PROMPTS) {
        const prompt = [bos, ...tok.encode(p, { disallowedSpecial: 'plain' })];
        const ours = ourGreedy(model, prompt, NEW_TOKENS);
        const theirs = await theirGreedy(m, prompt, NEW_TOKENS, 64);
        assert.deepEqual(theirs, ours.ids, `prompt ${JSON.stringify(p)} (smallest top-2 logit gap on our side ${ours.minGap.toFixed(4)})`);
      }
    } finally {
      await m.dispose();
    }
  });
}

test('llama.cpp loads our Q4_0 GGUF (ggml type 2 blocks, file type MOSTLY_Q4_0) and decodes from it', async () => {
  const tok = smallTokenizer('gpt4-digits');
  const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 64, position: 'rope' }, 11);
  const path = join(tempDir(), 'model-q4_0.gguf');
  checkpointToGguf(loadCheckpoint(saveTemp(model, tok)), path, { type: 'Q4_0' });
  const m = await (await llama()).loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    assert.equal(m.fileInfo.metadata.general.file_type, 2);
    const prompt = [tok.specialId('<|bos|>'), ...tok.encode('Call me Ishmael.', { disallowedSpecial: 'plain' })];
    const out = await theirGreedy(m, prompt, 8, 64);
    assert.equal(out.length, 8);
    assert.ok(out.every((t) => Number.isInteger(t) && t >= 0 && t < tok.vocabSize));
  } finally {
    await m.dispose();
  }
});

test('llama.cpp tokenizes 1 MB of mixed text (code, Unicode, digits, whitespace runs) exactly as gptforge', async () => {
  const tok = smallTokenizer('gpt4-digits');
  const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' });
  const m = await exportAndLoad(model, tok);
  try {
    const text = multilingualText(1_050_000, 5);
    const ours = tok.encode(text, { disallowedSpecial: 'plain' });
    const theirs = m.tokenize(text, false) as number[];
    if (theirs.length !== ours.length || theirs.some((t, i) => t !== ours[i])) {
      let i = 0;
      while (i < ours.length && theirs[i] === ours[i]) i++;
      const ctx = tok.decode(ours.slice(Math.max(0, i - 5), i + 5));
      assert.fail(`first difference at token ${i} (of ${ours.length} ours, ${theirs.length} theirs): ours ${JSON.stringify(ours.slice(i, i + 5))} theirs ${JSON.stringify(theirs.slice(i, i + 5))} near ${JSON.stringify(ctx)}`);
    }
  } finally {
    await m.dispose();
  }
});

for (const pattern of ['cl100k', 'gpt2'] as const) {
  test(`llama.cpp tokenizes like gptforge with the ${pattern} pattern too (its tokenizer.ggml.pre mapping), 200 KB`, async () => {
    const tok = smallTokenizer(pattern);
    const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32, position: 'learned' });
    const m = await exportAndLoad(model, tok);
    try {
      // chatglm-bpe clears llama.cpp's default BOS; the file's bos_token_id must still win
      assert.equal(m.tokens.bos, tok.specialId('<|bos|>'));
      assert.equal(m.tokens.eos, tok.specialId('<|assistant_end|>'));
      const text = multilingualText(200_000, 9);
      const ours = tok.encode(text, { disallowedSpecial: 'plain' });
      const theirs = m.tokenize(text, false) as number[];
      let i = 0;
      while (i < ours.length && theirs[i] === ours[i]) i++;
      assert.ok(i === ours.length && theirs.length === ours.length, `first difference at token ${i}: ours ${JSON.stringify(ours.slice(i, i + 5))} theirs ${JSON.stringify(theirs.slice(i, i + 5))} near ${JSON.stringify(tok.decode(ours.slice(Math.max(0, i - 5), i + 5)))}`);
    } finally {
      await m.dispose();
    }
  });
}
