import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import type { GPT } from '../../src/model/gpt.js';
import { loadCheckpoint } from '../../src/model/checkpoint.js';
import { checkpointToGguf } from '../../src/model/export/gguf.js';
import { floatToHalf, halfToFloat } from '../../src/model/export/ggml-quants.js';
import { setInferencePrecision } from '../../src/model/inference-precision.js';
import { dequantize, quantize } from '../../src/model/quantize.js';
import { getKernels } from '../../src/engine/backend.js';
import { trainTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';
import { mobyDick, multilingualText } from '../tokenizer/corpus.js';
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
  // F32 KV cache: llama.cpp's default F16 cache would round keys and values; and no flash
  // attention (node-llama-cpp's "auto" turns it on on the CPU, and it casts K and V to fp16
  // whatever the cache type). One thread: ggml's spinning thread pool collapses on an
  // oversubscribed machine (1–2 tokens/s).
  const ctx = await m.createContext({ contextSize: blockSize, sequences: 1, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
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

/** llama.cpp's ids equal ours, or fail at the first difference, showing both and the text there. */
function assertSameIds(tok: { decode(ids: number[]): string }, ours: number[], theirs: number[]): void {
  let i = 0;
  while (i < ours.length && theirs[i] === ours[i]) i++;
  assert.ok(i === ours.length && theirs.length === ours.length, `first difference at token ${i}: ours ${JSON.stringify(ours.slice(i, i + 5))} theirs ${JSON.stringify(theirs.slice(i, i + 5))} near ${JSON.stringify(tok.decode(ours.slice(Math.max(0, i - 5), i + 5)))}`);
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

/** ggml's CPU GELU (ggml-cpu/vec.h, GGML_GELU_FP16 defined unconditionally): the input rounded to
 * fp16, looked up in a table of fp16(gelu_tanh(h)) — so llama.cpp's F32 GELU is fp16-exact only. */
function ggmlGeluF16(x: Float32Array, out: Float32Array, n: number): void {
  const k = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (v <= -10) out[i] = 0;
    else if (v >= 10) out[i] = v;
    else {
      const h = halfToFloat(floatToHalf(v));
      out[i] = halfToFloat(floatToHalf(Math.fround(0.5 * h * (1 + Math.tanh(k * h * (1 + 0.044715 * h * h))))));
    }
  }
}

/** Our next-token log-probabilities at every position of `ids`, decoding one token at a time. */
function ourLogProbs(model: GPT, ids: number[]): Float64Array[] {
  const cache = model.createCache(1);
  return ids.map((t) => {
    const lg = model.nextLogits(Int32Array.of(t), cache);
    let mx = -Infinity;
    for (const v of lg) mx = Math.max(mx, v);
    let s = 0;
    for (const v of lg) s += Math.exp(v - mx);
    return Float64Array.from(lg, (v) => v - mx - Math.log(s));
  });
}

/*
 * Integer decoding against llama.cpp's, teacher-forced (every position's next-token
 * distribution on one fixed sequence: no greedy trajectory to part from). Same blocks on both
 * sides (the GGUF's are setInferencePrecision's, the embeddings pre-rounded to the block grid so
 * the lookup agrees too). Two float steps of llama.cpp are not ours and are matched here so the
 * comparison isolates the integer matmuls: flash attention is turned off (node-llama-cpp's
 * default "auto" turns it on on the CPU, and ggml's flash attention casts K and V to fp16
 * whatever the cache type), and our GELU is replaced, in this test only, by ggml's fp16-table
 * GELU. Those are 0.003-sized at F32, but every integer matmul downstream re-rounds its input to
 * int8, which turns them into 0.1–0.2 of log-probability (docs/interop.md). Measured with them
 * matched (every log-prob above 1e-4 at each of 31 positions, 2000–2700 a configuration): at
 * most 1e-5, on the avx2 and scalar paths and the reference backend. The check bites: with the
 * activation scale kept in fp32 (our former scheme) 0.21–0.24 in all four configurations; with
 * id = 1/d instead of ggml's x86 127/max|x|, 0.13 in one.
 */
for (const [position, type] of [
  ['rope', 'Q8_0'],
  ['learned', 'Q8_0'],
  ['rope', 'Q4_0'],
  ['learned', 'Q4_0'],
] as const) {
  test(`teacher-forced next-token log-probs of gptforge's ${type} integer decoding = llama.cpp's within 0.02 (${position === 'rope' ? 'gptneox' : 'gpt2'})`, async (t) => {
    const prec = type === 'Q8_0' ? 'q8_0' : 'q4_0';
    const tok = smallTokenizer('gpt4-digits');
    const build = (): GPT => {
      const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 64, position }, 11);
      for (const [name, t] of model.params) if (/wte|wpe/.test(name)) t.data.set(dequantize(prec, quantize(prec, t.data), t.data.length));
      return model;
    };
    const path = join(tempDir(), `model-${type}.gguf`);
    checkpointToGguf(loadCheckpoint(saveTemp(build(), tok)), path, { type });
    const ids = [tok.specialId('<|bos|>'), ...tok.encode('Call me Ishmael. Some years ago, never mind how long precisely, having little money', { disallowedSpecial: 'plain' })].slice(0, 31);
    const m = await (await llama()).loadModel({ modelPath: path, gpuLayers: 0 });
    let theirs: Map<number, number>[];
    try {
      const ctx = await m.createContext({ contextSize: 64, sequences: 1, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
      try {
        const res = await ctx.getSequence().controlledEvaluate(ids.map((t) => [t as never, { generateNext: { probabilities: true } }]));
        theirs = res.map((r, i) => {
          const p = r?.next?.probabilities;
          if (!p) assert.fail(`no probabilities from llama.cpp at position ${i}`);
          return p as Map<number, number>;
        });
      } finally {
        await ctx.dispose();
      }
    } finally {
      await m.dispose();
    }
    const model = build();
    setInferencePrecision(model, prec);
    const k = getKernels();
    const gelu = k.geluForward;
    k.geluForward = ggmlGeluF16;
    let ours: Float64Array[];
    try {
      ours = ourLogProbs(model, ids);
    } finally {
      k.geluForward = gelu;
    }
    let worst = 0;
    let where = '';
    let compared = 0;
    for (let i = 0; i < ids.length; i++)
      for (const [v, p] of theirs[i]) {
        if (p < 1e-4) continue;
        compared++;
        const d = Math.abs(Math.log(p) - ours[i][v]);
        if (d > worst) [worst, where] = [d, `position ${i}, token ${v}: llama.cpp ${Math.log(p).toFixed(4)}, gptforge ${ours[i][v].toFixed(4)}`];
      }
    assert.ok(compared > 20 * ids.length, `only ${compared} log-probs above 1e-4 compared`);
    t.diagnostic(`${compared} log-probs compared, largest |Δ| ${worst.toFixed(5)}`);
    assert.ok(worst <= 0.02, `largest |Δ log p| ${worst.toFixed(4)} at ${where}`);
  });
}

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
    // qwen2 does not clean spaces: llama.cpp's text of our ids is ours, spaces before punctuation kept
    assert.equal(m.detokenize(tok.encode(SPACED, { disallowedSpecial: 'plain' }) as never[]), SPACED);
  } finally {
    await m.dispose();
  }
});

/**
 * Text that llama.cpp's detokenizer changes where its pre type sets `clean_spaces`
 * (src/llama-vocab.cpp: Hugging Face's clean_up_tokenization_spaces), as chatglm-bpe and gpt-2
 * do and qwen2 and gpt-4o do not: a space goes before ? ! . , and before 's 'm 're 've, and a lone
 * ' loses both of its spaces; 't 'd 'll keep theirs.
 */
const SPACED = "Hello , world . Is it ? Yes ! Ahab 's leg , I 'm sure ; they 're here , we 've won , it 'll do , don 't , a ' b";
const SPACED_CLEANED = "Hello, world. Is it? Yes! Ahab's leg, I'm sure ; they're here, we've won, it 'll do, don 't, a'b";

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
      assertSameIds(tok, ours, theirs);
      // the same ids, but llama.cpp's detokenizer cleans spaces for this pre type (docs/interop.md): its text differs from ours
      const ids = tok.encode(SPACED, { disallowedSpecial: 'plain' });
      assert.equal(tok.decode(ids), SPACED);
      assert.equal(m.detokenize(ids as never[]), SPACED_CLEANED);
    } finally {
      await m.dispose();
    }
  });
}

/**
 * o200k → "gpt-4o": the text is where o200k's regex splits unlike cl100k's (contractions kept
 * on their word, "don't"; a capital starting a new chunk inside a word, "HelloWorld"), and the
 * tokenizer is trained on it so that its merges cross cl100k's boundaries ("n't"): a pre type
 * with cl100k's regex (chatglm-bpe, llama-bpe) gives other ids here, Moby-Dick alone does not
 * tell the two apart at a small vocabulary.
 */
test("llama.cpp tokenizes like gptforge with the o200k pattern (tokenizer.ggml.pre gpt-4o), on text where o200k's splits differ from cl100k's", async () => {
  const words = ["don't", "can't", "won't", "isn't", "didn't", "I'll", "you're", "whale's", 'HelloWorld', 'JSONParser', 'McDonald', 'iPhone', 'a/b//c', 'CAPSlock'];
  const lines = Array.from({ length: 3000 }, (_, i) => `${words[i % words.length]} ${words[(i * 7 + 3) % words.length]} ${words[(i * 5 + 1) % words.length]}.`);
  const tok = trainTokenizer([mobyDick().slice(0, 100_000), lines.join('\n')], { vocabSize: 500, pattern: 'o200k' });
  const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32, position: 'learned' });
  const m = await exportAndLoad(model, tok);
  try {
    const text = `${lines.slice(0, 400).join('\n')}\n${multilingualText(50_000, 11)}`;
    const ours = tok.encode(text, { disallowedSpecial: 'plain' });
    const theirs = m.tokenize(text, false) as number[];
    assertSameIds(tok, ours, theirs);
    // gpt-4o does not clean spaces either: llama.cpp's text of our ids is ours
    assert.equal(m.detokenize(tok.encode(SPACED, { disallowedSpecial: 'plain' }) as never[]), SPACED);
  } finally {
    await m.dispose();
  }
});
