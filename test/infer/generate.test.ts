import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { noGrad } from '../../src/engine/tensor.js';
import { Rng } from '../../src/engine/rng.js';
import { argmax, filteredProbs, sampleToken } from '../../src/infer/sampler.js';
import { generateText } from '../../src/infer/generate.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

const tok = trainTokenizer(['the quick brown fox jumps over the lazy dog. '.repeat(40)], { vocabSize: 300 });
const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 2, nHead: 2, nEmbd: 32 }), { seed: 4 });

test('greedy decoding on the KV cache equals argmax of a full forward at every step', () => {
  const prompt = tok.encodeOrdinary('the quick');
  const res = generateText(model, tok, prompt, { maxTokens: 12, temperature: 0 });
  const seq = [...prompt];
  for (const id of res.ids) {
    const logits = noGrad(() => model.forward(Int32Array.from(seq), 1, seq.length)).data;
    const V = tok.vocabSize;
    assert.equal(id, argmax(logits.subarray((seq.length - 1) * V, seq.length * V)));
    seq.push(id);
  }
  assert.equal(res.ids.length, 12);
  assert.equal(res.finishReason, 'length');
});

test('sampler: top-k 1 is greedy; top-p keeps the smallest set reaching p; seeded sampling repeats; frequencies follow softmax', () => {
  const logits = Float32Array.from([2, 1, 0.5, -1, 3]);
  const rng = new Rng(1);
  for (let i = 0; i < 20; i++) assert.equal(sampleToken(logits, { topK: 1 }, rng), 4);
  const p = filteredProbs(logits, { topP: 0.8 });
  // softmax ≈ [0.23, 0.085, 0.05, 0.007, 0.63]: the two largest reach 0.86 ≥ 0.8
  assert.deepEqual(
    Array.from(p, (x) => (x > 0 ? 1 : 0)),
    [1, 0, 0, 0, 1],
  );
  assert.ok(Math.abs(p[0] + p[4] - 1) < 1e-12);
  const a = Array.from(
    { length: 50 },
    (
      (r) => () =>
        sampleToken(logits, {}, r)
    )(new Rng(9)),
  );
  const b = Array.from(
    { length: 50 },
    (
      (r) => () =>
        sampleToken(logits, {}, r)
    )(new Rng(9)),
  );
  assert.deepEqual(a, b);
  const counts = new Array(5).fill(0);
  const r = new Rng(3);
  const N = 20000;
  for (let i = 0; i < N; i++) counts[sampleToken(logits, { temperature: 1 }, r)]++;
  const soft = filteredProbs(logits, {});
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(counts[i] / N - soft[i]) < 0.015, `token ${i}: ${counts[i] / N} vs ${soft[i]}`);
});

test('stop sequences stop generation and are never emitted, even split across tokens', () => {
  const prompt = tok.encodeOrdinary('the');
  const free = generateText(model, tok, prompt, { maxTokens: 30, temperature: 0 });
  assert.ok(free.text.length > 4);
  const stop = free.text.slice(2, 5); // a stop string inside the greedy continuation
  let streamed = '';
  const res = generateText(model, tok, prompt, { maxTokens: 30, temperature: 0, stop: [stop], onText: (d) => (streamed += d) });
  assert.equal(res.finishReason, 'stop');
  assert.equal(res.matchedStop, stop);
  assert.equal(res.text, free.text.slice(0, free.text.indexOf(stop)));
  assert.equal(streamed, res.text);
});

test('a prompt longer than the context is truncated from the left with a warning, or rejected with strict', () => {
  const long = tok.encodeOrdinary('the lazy dog jumps. '.repeat(20));
  assert.ok(long.length > 48);
  const res = generateText(model, tok, long, { maxTokens: 5, temperature: 0 });
  assert.match(res.warning ?? '', /truncated from the left/);
  assert.throws(() => generateText(model, tok, long, { maxTokens: 5, temperature: 0, strict: true }), /exceeds the context of 48/);
});

test('generateText and generate() stop at <|assistant_end|> / <|eos|> by default; stopIds [] goes through', async () => {
  const { PolicyModel, peak } = await import('./scripted.js');
  const { generate } = await import('../../src/infer/pipeline.js');
  const end = tok.specialId('<|assistant_end|>');
  const word = tok.encodeOrdinary('the')[0];
  // a chat model's turn: two words, then the end of its turn, then on into the next turn
  const chat = new PolicyModel(tok.vocabSize, (h) => peak(tok.vocabSize, h.length === 3 ? end : word));
  const prompt = tok.encodeOrdinary('the');
  const r = generateText(chat, tok, prompt, { maxTokens: 10, temperature: 0 });
  // the deprecated GenerateResult.stopReason's mapping, tested here while it exists: 'eos' (an end token) and 'max_tokens'
  assert.equal(r.stopReason, 'eos');
  assert.equal(r.finishReason, 'stop');
  assert.equal(r.matchedStop, end);
  assert.deepEqual(r.ids, [word, word]);
  assert.doesNotMatch(r.text, /<\|/);
  const through = generateText(chat, tok, prompt, { maxTokens: 10, temperature: 0, stopIds: [] });
  assert.equal(through.stopReason, 'max_tokens');
  assert.equal(through.finishReason, 'length');
  assert.equal(through.matchedStop, undefined);
  assert.equal(through.ids.length, 10);
  let n = 0;
  const it = generate(chat, tok, [{ prompt, maxTokens: 10, temperature: 0 }]);
  let res = await it.next();
  while (!res.done) {
    if (res.value.type === 'token') n++;
    res = await it.next();
  }
  assert.equal(res.value[0].finishReason, 'stop');
  assert.equal(n, 3); // two words and the end token
  const eos = tok.specialId('<|eos|>');
  const base = new PolicyModel(tok.vocabSize, (h) => peak(tok.vocabSize, h.length === 2 ? eos : word));
  assert.equal(generateText(base, tok, prompt, { maxTokens: 10, temperature: 0 }).matchedStop, eos);
});

test('bad generation options are a GptforgeError naming the option (generateText, ChatEngine), not an empty completion', async () => {
  const { GptforgeError } = await import('../../src/util/errors.js');
  const { ChatEngine } = await import('../../src/infer/engine.js');
  const { checkGenerationOptions } = await import('../../src/infer/processors.js');
  const prompt = tok.encodeOrdinary('the quick');
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{ maxTokens: -1 }, 'maxTokens', /maxTokens: expects an integer ≥ 0, got -1/],
    [{ maxTokens: 'x' }, 'maxTokens', /maxTokens: expects an integer ≥ 0, got "x"/],
    [{ maxTokens: 2.5 }, 'maxTokens', /maxTokens: expects .*, got 2\.5/],
    [{ maxTokens: 4, temperature: -0.5 }, 'temperature', /temperature: expects a number ≥ 0, got -0\.5/],
    [{ maxTokens: 4, topK: 1.5 }, 'topK', /topK: expects .*, got 1\.5/],
    [{ maxTokens: 4, topP: -0.1 }, 'topP', /topP: expects a number in \[0, 1\].*, got -0.1/],
    [{ maxTokens: 4, minP: 2 }, 'minP', /minP: expects .*, got 2/],
    [{ maxTokens: 4, presencePenalty: 3 }, 'presencePenalty', /presencePenalty: expects a number in \[-2, 2\].*, got 3/],
    [{ maxTokens: 4, seed: Number.NaN }, 'seed', /seed: expects an integer, got NaN/],
  ];
  for (const [opts, field, re] of bad) {
    const named = (e: unknown) => e instanceof GptforgeError && e.field === field && re.test(e.message);
    assert.throws(() => generateText(model, tok, prompt, opts as never), named, JSON.stringify(opts));
    assert.throws(() => checkGenerationOptions(opts as never), named);
  }
  const engine = new ChatEngine(model, tok);
  assert.throws(
    () => engine.reply({ messages: [{ role: 'user', content: 'hi' }] }, { maxTokens: -1 }),
    (e: unknown) => e instanceof GptforgeError && e.field === 'maxTokens',
  );
  // 0 new tokens is allowed: an empty completion, cut at the limit
  const none = generateText(model, tok, prompt, { maxTokens: 0 });
  assert.deepEqual([none.text, none.finishReason], ['', 'length']);
});
