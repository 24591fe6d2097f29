import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine, type DecodingModel } from '../../src/infer/engine.js';
import type { Conversation } from '../../src/data/conversation.js';
import { ask } from '../../src/assist/ask.js';
import { selfConsistency } from '../../src/assist/consistency.js';
import { additionTaskFor, curveRows, signTestP, type CurveProblem } from '../../src/assist/consistency-curve.js';
import { longAdditionAbacus } from '../../src/data/synthetic/longadd-abacus.js';
import { longAddition } from '../../src/data/synthetic/longarith.js';
import { abacusConfigFor } from '../../src/model/abacus.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import type { KVCache } from '../../src/model/kvcache.js';
import { digits, policy, question, tok, V } from './consistency-fixture.js';

// Self-consistency's position groups (src/assist/consistency.ts) and the curve's paired test
// (src/assist/consistency-curve.ts). The position-id checks read the ids a real GPT with
// config.randomPositions draws and records in its KV cache; the tokens are scripted (the
// model's logits are replaced), so nothing here depends on a float trajectory or kernel path.

// the shared scripted setting (consistency-fixture.ts)

test('self-consistency positionGroups: g prefills at batch 1, sample i in group i mod g, the samples unchanged; bad g refused', () => {
  const k = 8;
  const one = selfConsistency(new ChatEngine(policy(), tok), question, { k, temperature: 1, seed: 5 });
  for (const g of [2, 3, k]) {
    const model = policy();
    const r = selfConsistency(new ChatEngine(model, tok), question, { k, temperature: 1, seed: 5, positionGroups: g });
    // each group: one prompt pass at batch 1, then one reply step over its distinct samples
    const prefills = model.batches.filter((_, i) => i % 2 === 0);
    assert.equal(model.batches.length, 2 * g, model.batches.join(','));
    assert.ok(
      prefills.every((b) => b === 1),
      model.batches.join(','),
    );
    // sample i keeps seed + i whatever its group: the same samples (and votes) as one prefill
    assert.deepEqual(
      r.samples.map((s) => s.text),
      one.samples.map((s) => s.text),
    );
    assert.deepEqual(r.majority, one.majority);
    // group j's reply step ran its own samples' distinct tokens: the sizes add up over the groups
    const groups = Array.from({ length: g }, (_, j) => new Set(r.samples.filter((_, i) => i % g === j).map((s) => s.text)).size);
    assert.deepEqual(
      model.batches.filter((_, i) => i % 2 === 1),
      groups,
    );
  }
  assert.ok(new Set(one.samples.map((s) => s.text)).size >= 2, 'the draws differ (else the check above is vacuous)');
  for (const g of [0, 9, 1.5]) assert.throws(() => selfConsistency(new ChatEngine(policy(), tok), question, { k, positionGroups: g }), /positionGroups must be an integer in 1\.\.k/);
});

/**
 * A GPT with randomized position ids whose logits are replaced by a script (always the digit
 * "1", never the end of the turn): the forward still draws and records each token's id in
 * the cache (cache.positionIds), which the test reads. `caches`: every cache a forward ran on,
 * in first-use order (a shared prefill's batch-1 cache, then its expansion).
 */
class RecordingModel implements DecodingModel {
  readonly gpt = new GPT(makeConfig({ vocabSize: V, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope', randomPositions: 96 }), { seed: 3 });
  readonly config = this.gpt.config;
  readonly caches: KVCache[] = [];
  /** Rows fed by each forward. */
  readonly fed: number[] = [];
  createCache(batch: number): KVCache {
    return this.gpt.createCache(batch);
  }
  seedPositions(seed: number): void {
    this.gpt.seedPositions(seed);
  }
  nextLogits(ids: Int32Array, cache: KVCache, rows?: Int32Array): Float32Array {
    if (!this.caches.includes(cache)) this.caches.push(cache);
    const B = rows ? rows.length : cache.batch;
    this.fed.push(B);
    this.gpt.nextLogits(ids, cache, rows);
    const out = new Float32Array(B * V).fill(-30);
    for (let b = 0; b < B; b++) out[b * V + digits[0]] = 0;
    return out;
  }
  /** Row r's position ids over its length in a cache. */
  ids(c: KVCache, r: number): number[] {
    return Array.from(c.positionIdsOrIdentity().subarray(r * c.capacity, r * c.capacity + c.lengths[r]));
  }
}

test('self-consistency on a randomized-position model: one prefill shares the prompt ids; shareHistories false gives each sample its own reply ids; g groups draw g prompts', () => {
  const k = 4;
  const maxTokens = 6;
  // one prefill, every sample its own row: the prompt's ids are the same in every row, the reply's are each row's own draw
  const m = new RecordingModel();
  const r = selfConsistency(new ChatEngine(m, tok), question, { k, temperature: 0, maxTokens, shareHistories: false });
  assert.equal(new Set(r.samples.map((s) => s.text)).size, 1); // the scripted tokens are all alike: only the ids differ
  assert.deepEqual(
    m.caches.map((c) => c.batch),
    [1, k],
  );
  const P = m.caches[0].lengths[0]; // the prompt's length
  const rows = Array.from({ length: k }, (_, b) => m.ids(m.caches[1], b));
  for (const row of rows) {
    assert.equal(row.length, P + maxTokens - 1, row.join(',')); // the last sampled token is never fed
    for (let t = 1; t < row.length; t++) assert.ok(row[t] > row[t - 1], row.join(',')); // increasing (randomPositionIds)
    assert.deepEqual(row.slice(0, P), rows[0].slice(0, P));
  }
  const replyIds = new Set(rows.map((row) => row.slice(P).join(',')));
  assert.ok(replyIds.size >= 2, `each row draws its own reply ids: ${[...replyIds].join(' | ')}`);

  assert.deepEqual(m.fed, [1, ...Array(maxTokens - 1).fill(k)]);
  // shared histories (the default): the alike samples stay one row, so one draw for all
  const s = new RecordingModel();
  selfConsistency(new ChatEngine(s, tok), question, { k, temperature: 0, maxTokens });
  assert.deepEqual(s.fed, Array(maxTokens).fill(1));

  // k groups: k batch-1 prefills, each its own draw of the prompt's ids
  const g = new RecordingModel();
  selfConsistency(new ChatEngine(g, tok), question, { k, temperature: 0, maxTokens, positionGroups: k });
  assert.deepEqual(
    g.caches.map((c) => c.batch),
    Array(k).fill(1),
  );
  const prompts = new Set(g.caches.map((c) => g.ids(c, 0).slice(0, P).join(',')));
  assert.ok(prompts.size >= 2, `each group draws its own prompt ids: ${[...prompts].join(' | ')}`);
});

test('signTestP: exact two-sided binomial tail on the discordant pairs', () => {
  assert.equal(signTestP(0, 0), 1);
  assert.ok(Math.abs(signTestP(5, 0) - 2 / 32) < 1e-12);
  assert.ok(Math.abs(signTestP(0, 5) - 2 / 32) < 1e-12);
  // 2 · P[X ≤ 1], X ~ Bin(6, 1/2) = 2 · 7/64
  assert.ok(Math.abs(signTestP(1, 5) - 14 / 64) < 1e-12);
  assert.equal(signTestP(3, 3), 1);
  // the doc's 41 wins / 23 losses: p ≈ 0.033; large counts stay finite
  assert.ok(Math.abs(signTestP(41, 23) - 0.0328) < 0.001, String(signTestP(41, 23)));
  assert.ok(signTestP(400, 300) < 2e-4 && signTestP(400, 300) > 0);
  assert.throws(() => signTestP(-1, 2), /whole numbers/);
  assert.throws(() => signTestP(1.5, 2), /whole numbers/);
});

test('curveRows pairs the majority vote with greedy: wins where greedy was wrong, losses where it was right', () => {
  const p = (greedy: boolean, answers: string[], right: boolean[]): CurveProblem => ({ prompt: 'q', greedy, answers, right, meanLogprob: answers.map(() => 0) });
  const problems = [
    p(false, ['5', '5', '6'], [true, true, false]), // vote right, greedy wrong: a win at k = 1 and 3
    p(true, ['6', '5', '6'], [false, true, false]), // vote wrong, greedy right: a loss at k = 1 and 3 (at k = 2 the tie goes to the earliest, wrong)
    p(true, ['5', '6', '5'], [true, false, true]), // both right
    p(false, ['6', '6', '5'], [false, false, true]), // both wrong
  ];
  const [k1, k3] = curveRows(problems, [1, 3]);
  assert.deepEqual([k1.majority, k1.majorityWins, k1.majorityLosses], [2, 1, 1]);
  assert.deepEqual([k3.majority, k3.majorityWins, k3.majorityLosses], [2, 1, 1]);
  assert.equal(k3.oracle, 4);
});

test('additionTaskFor: the abacus family for an abacus model, long addition otherwise', () => {
  const plain = new GPT(makeConfig({ vocabSize: V, blockSize: 16, nLayer: 1, nHead: 1, nEmbd: 8 }));
  assert.equal(additionTaskFor(plain), longAddition);
  const abacusTok = trainTokenizer(['What is 12 plus 34? Sum,1+3+0=04, Answer: 46 '.repeat(20)], { vocabSize: 300 });
  const ab = new GPT(makeConfig({ vocabSize: abacusTok.vocabSize, blockSize: 16, nLayer: 1, nHead: 1, nEmbd: 8, position: 'rope', abacus: abacusConfigFor(abacusTok, {}) }));
  assert.equal(additionTaskFor(ab), longAdditionAbacus);
});

test("ask's self-consistency passes positionGroups, shareHistories and historyStreams through", () => {
  const k = 3;
  const plain = new RecordingModel();
  ask(new ChatEngine(plain, tok), 'What is it?', { technique: 'self-consistency', k, temperature: 0, maxTokens: 4 });
  assert.deepEqual(plain.fed, [1, 1, 1, 1]); // one prefill, the alike greedy samples one row
  const own = new RecordingModel();
  const t = ask(new ChatEngine(own, tok), 'What is it?', { technique: 'self-consistency', k, temperature: 0, maxTokens: 4, shareHistories: false });
  assert.deepEqual(own.fed, [1, k, k, k]);
  assert.equal(t.consistency?.samples.length, k);
  const streams = new RecordingModel();
  ask(new ChatEngine(streams, tok), 'What is it?', { technique: 'self-consistency', k, temperature: 0, maxTokens: 4, historyStreams: 2 });
  assert.deepEqual(streams.fed, [1, 2, 2, 2]);
  const groups = new RecordingModel();
  ask(new ChatEngine(groups, tok), 'What is it?', { technique: 'self-consistency', k, temperature: 0, maxTokens: 4, positionGroups: k });
  assert.deepEqual(
    groups.caches.map((c) => c.batch),
    [1, 1, 1],
  );
});

test("ask's seed seeds the position draws too: the same seed gives the same ids and trace whatever the model decoded before; a model it cannot seed is refused", () => {
  const m = new RecordingModel();
  const engine = new ChatEngine(m, tok);
  const idsOf = (from: number): string[] => m.caches.slice(from).map((c) => Array.from({ length: c.batch }, (_, r) => m.ids(c, r).join(',')).join(' | '));
  for (const o of [
    { technique: 'direct', maxTokens: 5 },
    { technique: 'self-consistency', k: 4, temperature: 0, maxTokens: 5, historyStreams: 2 },
  ] as const) {
    const before = m.caches.length;
    const a = ask(engine, 'What is it?', { ...o, seed: 4 });
    const first = idsOf(before);
    engine.reply(question, { maxTokens: 3 }); // moves the model's draws on
    const mid = m.caches.length;
    const b = ask(engine, 'What is it?', { ...o, seed: 4 });
    assert.deepEqual(idsOf(mid), first, o.technique);
    assert.equal(b.reply, a.reply);
    const other = m.caches.length;
    ask(engine, 'What is it?', { ...o, seed: 5 });
    assert.notDeepEqual(idsOf(other), first, `${o.technique}: another seed, other draws (else the check above is vacuous)`);
  }
  // a real GPT (no script): two asks with one seed give the same trace
  const gpt = new GPT(makeConfig({ vocabSize: V, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope', randomPositions: 96 }), { seed: 3 });
  const real = new ChatEngine(gpt, tok);
  const one = ask(real, 'What is it?', { technique: 'self-consistency', k: 3, temperature: 1, maxTokens: 6, seed: 2 });
  real.reply(question, { maxTokens: 4 });
  const two = ask(real, 'What is it?', { technique: 'self-consistency', k: 3, temperature: 1, maxTokens: 6, seed: 2 });
  assert.deepEqual(
    two.consistency?.samples.map((s) => s.text),
    one.consistency?.samples.map((s) => s.text),
  );
  // a wrapper that draws ids but does not pass seedPositions on cannot keep the promise
  const wrapper: DecodingModel = { config: gpt.config, createCache: (b) => gpt.createCache(b), nextLogits: (ids, c, rows) => gpt.nextLogits(ids, c, rows) };
  assert.throws(() => ask(new ChatEngine(wrapper, tok), 'What is it?', { technique: 'direct', maxTokens: 2 }), /draws randomized position ids .* no seedPositions/);
});

test('historyStreams: one prefill; samples share rows only within their stream, each stream its own reply ids; the samples unchanged', () => {
  const k = 6;
  const s = 2;
  const maxTokens = 5;
  const m = new RecordingModel();
  const r = selfConsistency(new ChatEngine(m, tok), question, { k, temperature: 0, maxTokens, historyStreams: s });
  assert.equal(r.samples.length, k);
  // alike scripted tokens: one row per stream a step after the batch-1 prefill
  assert.deepEqual(m.fed, [1, ...Array(maxTokens - 1).fill(s)]);
  assert.deepEqual(
    m.caches.map((c) => c.batch),
    [1, k],
  );
  const P = m.caches[0].lengths[0];
  // stream j's history is in its leader's row j: the same prompt ids, its own reply ids
  const leaders = Array.from({ length: s }, (_, j) => m.ids(m.caches[1], j));
  assert.deepEqual(leaders[0].slice(0, P), leaders[1].slice(0, P));
  assert.equal(leaders[0].length, P + maxTokens - 1);
  assert.notDeepEqual(leaders[0].slice(P), leaders[1].slice(P));
  // on a position-free model streams change nothing but the rows run: sample i is still seed + i's reply
  const one = selfConsistency(new ChatEngine(policy(), tok), question, { k: 8, temperature: 1, seed: 9 });
  const p = policy();
  const three = selfConsistency(new ChatEngine(p, tok), question, { k: 8, temperature: 1, seed: 9, historyStreams: 3 });
  assert.deepEqual(
    three.samples.map((x) => x.text),
    one.samples.map((x) => x.text),
  );
  // the reply step ran one row per distinct (stream, token)
  const distinct = new Set(three.samples.map((x, i) => `${i % 3},${x.text}`)).size;
  assert.deepEqual(p.batches, [1, distinct]);
  assert.throws(() => selfConsistency(new ChatEngine(policy(), tok), question, { k: 2, historyStreams: 0 }), /historyStreams must be a whole number/);
});

test('historyStreams with different prompts (the left-padded prefill): rows share only with the same prompt in the same stream', () => {
  const other: Conversation = { messages: [{ role: 'user', content: 'What is 12?' }] };
  const convs = [question, question, other, other];
  const rowsPerStep = (historyStreams: number): number[] => {
    const m = policy();
    new ChatEngine(m, tok).repliesTo(convs, [1, 1, 1, 1], { temperature: 0, shareHistories: true, historyStreams });
    return m.batches;
  };
  // the prefill runs one row per distinct prompt, or per (prompt, stream); then greedy (alike within a prompt) the same
  assert.deepEqual(rowsPerStep(1), [2, 2]);
  assert.deepEqual(rowsPerStep(2), [4, 4]);
});
