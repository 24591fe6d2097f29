import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { ChatEngine, type ChatOptions } from '../../src/infer/engine.js';
import { decode, type RowController, type RowRequest } from '../../src/infer/pipeline.js';
import type { Conversation } from '../../src/data/conversation.js';
import { PolicyModel } from './scripted.js';

const tok = trainTokenizer(['the quick brown fox jumps over the lazy dog. 0123456789 '.repeat(40)], { vocabSize: 320 });
const V = tok.vocabSize;
const eos = tok.specialId('<|eos|>');
const A = 40;
const B = 41;
const C = 42;
const F1 = 50;
const F2 = 51;

/**
 * Each row's next token depends on its whole history: a few likely tokens (which one depends
 * on a hash of the history, so rows that diverge keep diverging) and the end token, likelier
 * as the row grows; every row ends within a few dozen tokens.
 */
const policy = (h: readonly number[]): Float32Array => {
  const l = new Float32Array(V).fill(-20);
  let hash = 7;
  for (const id of h) hash = (hash * 31 + id) % 1009;
  l[A] = 2 + (hash % 3) * 0.5;
  l[B] = 1.5;
  l[C] = hash % 2;
  l[eos] = -3 + h.length * 0.15;
  return l;
};

/** Forces F1 F2 after every C: forced tokens go in lockstep like sampled ones. */
const forcing = (): RowController => ({ onSampled: (t) => ({ visible: true, forced: t === C ? [F1, F2] : undefined }) });

const rowsOf = (prompts: number[][], seed0: number): RowRequest[] => prompts.map((prompt, i) => ({ prompt, maxTokens: 40, seed: seed0 + i, temperature: 1, endIds: [eos], controller: forcing() }));

test('shareHistories: the same results as one row per sample; rows with one history run as one row; a finished group leader hands its cache on', () => {
  const prompt = [5, 6, 7, 8];
  const k = 12;
  // a seed base where row 0 (the first group's leader, whose cache row the group uses) ends
  // while another row that had the same tokens until then goes on: that row must take its
  // cache from the finished row
  let seed0 = 1;
  const plain = (s: number) => decode(new PolicyModel(V, policy), tok, rowsOf(Array(k).fill(prompt), s));
  const sameUntilRow0Ends = (r: ReturnType<typeof plain>): boolean => {
    const head = r[0].ids.slice(0, -1);
    return head.length >= 3 && r.slice(1).some((x) => x.ids.length > r[0].ids.length && head.every((id, i) => x.ids[i] === id));
  };
  while (!sameUntilRow0Ends(plain(seed0))) seed0++;
  const alone = new PolicyModel(V, policy);
  const expected = decode(alone, tok, rowsOf(Array(k).fill(prompt), seed0));
  const shared = new PolicyModel(V, policy);
  const got = decode(shared, tok, rowsOf(Array(k).fill(prompt), seed0), { shareHistories: true });
  assert.deepEqual(got, expected);
  // the case is not vacuous: the samples differ, some were forced tokens, and they end at different steps
  assert.ok(new Set(got.map((r) => r.ids.join(','))).size >= 4);
  assert.ok(got.some((r) => r.sampled.includes(0)));
  // one prefill at batch 1; then every pass feeds at most the distinct unfinished histories, never more than k
  assert.equal(shared.batches[0], 1);
  assert.ok(shared.batches.slice(1).every((b) => b >= 1 && b <= k));
  const fedShared = shared.batches.slice(1).reduce((s, b) => s + b, 0);
  const fedPlain = alone.batches.slice(1).reduce((s, b) => s + b, 0);
  assert.ok(fedShared < fedPlain, `${fedShared} rows fed with sharing, ${fedPlain} without`);
  // at the first decoding step every row that did not end fed its first token: as many rows as distinct first tokens
  assert.equal(shared.batches[1], new Set(got.map((r) => r.ids[0]).filter((t) => t !== eos)).size);
});

test('shareHistories: left-padded prompts of different lengths, some repeated, decode as without sharing', () => {
  const prompts = [[5, 6, 7], [9], [5, 6, 7], [10, 11], [5, 6, 7], [9]];
  const expected = decode(new PolicyModel(V, policy), tok, rowsOf(prompts, 3));
  const shared = new PolicyModel(V, policy);
  assert.deepEqual(decode(shared, tok, rowsOf(prompts, 3), { shareHistories: true }), expected);
  assert.equal(shared.batches[0], new Set(prompts.map((p) => p.join(','))).size); // one padded prefill row per distinct prompt, copied to the rows that repeat it
});

test('shareHistories on a real tiny GPT: replies(conv, n) row i is still reply(conv, seed + i)', () => {
  const model = new GPT(makeConfig({ vocabSize: V, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 6 });
  const engine = new ChatEngine(model, tok);
  const question: Conversation = { messages: [{ role: 'user', content: 'the quick brown fox' }] };
  for (const temperature of [0, 1.5]) {
    const opts: ChatOptions = { temperature, maxTokens: 12, seed: 7 };
    const rows = engine.replies(question, 5, { ...opts, shareHistories: true });
    assert.deepEqual(
      rows,
      [0, 1, 2, 3, 4].map((i) => engine.reply(question, { ...opts, seed: 7 + i })),
    );
    if (temperature > 0) assert.ok(new Set(rows.map((r) => r.ids.join(','))).size > 1, 'different seeds, different replies');
  }
});
