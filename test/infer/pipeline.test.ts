import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import type { KVCache } from '../../src/model/kvcache.js';
import { BatchDecoder, decode, generate, logprobOf, type DecodeEvent, type RowRequest, type RowResult } from '../../src/infer/pipeline.js';
import { TextStream } from '../../src/infer/stopping.js';
import type { TokenConstraint } from '../../src/infer/constraint.js';
import { generateText } from '../../src/infer/generate.js';
import { GptforgeError } from '../../src/util/errors.js';
import { PolicyModel, peak } from './scripted.js';

const tok = trainTokenizer(['the quick brown fox jumps over the lazy dog. 0123456789 '.repeat(40)], { vocabSize: 320 });
const V = tok.vocabSize;
const eos = tok.specialId('<|eos|>');
/** The id of each single-byte token. */
const byteId = new Map<number, number>();
for (let id = 0; id < V; id++) {
  if (tok.specialTokens && [...tok.specialTokens.values()].includes(id)) continue;
  const b = tok.tokenBytes(id);
  if (b.length === 1) byteId.set(b[0], id);
}
const bytes = (s: string): number[] => [...Buffer.from(s, 'utf8')].map((b) => byteId.get(b)!);

/** A model that emits `script` (after any prompt) greedily, then <|eos|>. */
const scripted = (script: number[], promptLen = 1): PolicyModel => new PolicyModel(V, (h) => peak(V, script[h.length - promptLen] ?? eos));

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

test('text stream: holds back only a possible stop prefix; the earliest stop string wins; nothing of it is released', () => {
  const fake = (pieces: string[]) => {
    let i = 0;
    return { push: () => pieces[i++], flush: () => '' };
  };
  const s1 = new TextStream(fake(['He', 'llo S', 'TO', 'P more']), ['STOP']);
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => s1.push(i)),
    ['He', 'llo ', '', ''],
  );
  assert.equal(s1.text, 'Hello ');
  assert.equal(s1.matched, 'STOP');
  const s2 = new TextStream(fake(['xab', 'd', 'a']), ['abc']);
  assert.deepEqual(
    [0, 1, 2].map((i) => s2.push(i)),
    ['x', 'abd', ''],
  ); // "ab" held, then released when "d" rules it out
  assert.equal(s2.interrupt(), 'a'); // the end releases what is held
  assert.equal(s2.matched, null);
  const s3 = new TextStream(fake(['one two three']), ['three', 'two']);
  assert.equal(s3.push(0), 'one ');
  assert.equal(s3.matched, 'two');
  assert.throws(() => new TextStream(fake([]), ['']), /must not be empty/);
});

test('stop strings split across tokens never leak: streamed deltas (callback and events) concatenate to the text', () => {
  const text = 'the lazy dog. the quick fox\n\njumps';
  for (const script of [bytes(text), tok.encodeOrdinary(text)]) {
    for (const stop of [['\n\n'], ['quick f', 'zz'], ['dog. the q'], ['nowhere']]) {
      let streamed = '';
      const events: DecodeEvent[] = [];
      const model = scripted(script);
      const dec = new BatchDecoder(model, tok, [{ prompt: [0], maxTokens: 100, temperature: 0, stop, endIds: [eos], onText: (d) => (streamed += d) }]);
      const [r] = dec.run((e) => events.push(e));
      const cut = Math.min(...stop.map((s) => (text.includes(s) ? text.indexOf(s) : Infinity)));
      assert.equal(r.text, text.slice(0, Number.isFinite(cut) ? cut : undefined));
      assert.equal(streamed, r.text);
      assert.equal(events.map((e) => e.text).join(''), r.text);
      for (const s of stop) assert.ok(!streamed.includes(s));
      assert.equal(r.finishReason, 'stop');
      assert.equal(r.matchedStop, Number.isFinite(cut) ? stop.find((s) => text.indexOf(s) === cut) : eos);
    }
  }
});

test('UTF-8: text deltas never split a character, with a 4-byte emoji fed one byte token at a time', () => {
  const text = 'a😀b€ ü';
  const deltas: string[] = [];
  const [r] = decode(scripted(bytes(text)), tok, [{ prompt: [0], maxTokens: 50, temperature: 0, endIds: [eos], onText: (d) => deltas.push(d) }]);
  assert.equal(r.text, text);
  assert.equal(deltas.join(''), text);
  assert.ok(deltas.includes('😀'));
  for (const d of deltas) assert.ok(!loneSurrogate.test(d) && !d.includes('\uFFFD'), JSON.stringify(d));
  // a row cut inside a character ends with U+FFFD, never half a surrogate pair
  const [cut] = decode(scripted(bytes(text)), tok, [{ prompt: [0], maxTokens: 3, temperature: 0 }]);
  assert.equal(cut.finishReason, 'length');
  assert.equal(cut.text, 'a\uFFFD');
});

/** A tiny real GPT: per-row settings must not leak between rows of a batch. */
const gpt = new GPT(makeConfig({ vocabSize: V, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 16 }), { seed: 3 });
const P = (s: string): number[] => tok.encodeOrdinary(s);
const strip = (r: RowResult) => ({ ...r });

test('per-row settings in one batch: each row equals the row decoded alone (different prompts, and one shared prompt)', () => {
  const rows: RowRequest[] = [
    { prompt: P('the quick'), maxTokens: 12, seed: 3 },
    { prompt: P('the lazy dog jumps'), maxTokens: 9, seed: 4, temperature: 0.7, topK: 5, presencePenalty: 0.5, frequencyPenalty: 0.3 },
    { prompt: P('fox'), maxTokens: 14, seed: 5, temperature: 1.3, minP: 0.05, repetitionPenalty: 1.4, logitBias: { [P('the')[0]]: 5 }, stop: [' the'] },
    { prompt: P('the quick brown'), maxTokens: 10, temperature: 0, bannedIds: [P(' ')[0]], topP: 0.9, endIds: [eos] },
  ];
  const alone = rows.map((r) => decode(gpt, tok, [r])[0]);
  const batched = decode(gpt, tok, rows);
  assert.deepEqual(batched.map(strip), alone.map(strip));
  assert.ok(!alone[2].text.includes(' the'));
  // one prompt, four settings: prefilled once and copied
  const shared = rows.map((r) => ({ ...r, prompt: P('the quick') }));
  assert.deepEqual(
    decode(gpt, tok, shared),
    shared.map((r) => decode(gpt, tok, [r])[0]),
  );
});

test('continuous batching: rows joining an open decoder at different steps, more rows than slots, each give exactly their tokens alone (both position schemes)', () => {
  for (const variant of [{}, { position: 'rope' as const, norm: 'rmsnorm' as const, mlp: 'swiglu' as const }]) {
    const model = new GPT(makeConfig({ vocabSize: V, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 16, ...variant }), { seed: 9 });
    const rows: RowRequest[] = [
      { prompt: P('the quick'), maxTokens: 12, seed: 3 },
      { prompt: P('the lazy dog jumps'), maxTokens: 5, seed: 4, temperature: 0.7, topK: 5, presencePenalty: 0.5, frequencyPenalty: 0.3 },
      { prompt: P('fox'), maxTokens: 14, seed: 5, temperature: 1.3, minP: 0.05, repetitionPenalty: 1.4, stop: [' the'], logprobs: 3 },
      { prompt: P('the quick brown'), maxTokens: 10, temperature: 0, topP: 0.9, endIds: [eos] },
      { prompt: P('the quick'), maxTokens: 7, seed: 6 }, // same prompt as row 0, admitted with row 5: one shared prefill
      { prompt: P('the quick'), maxTokens: 9, seed: 7 },
    ];
    const alone = rows.map((r) => decode(model, tok, [r])[0]);
    const dec = new BatchDecoder(model, tok, [rows[0]], { slots: 3 });
    const results: RowResult[] = [];
    const tokens: number[][] = rows.map(() => []);
    const joinAt = [0, 2, 3, 3, 6, 6]; // the step before which each row is added
    let step = 0;
    let added = 1;
    let maxActive = 0;
    while (added < rows.length || !dec.done) {
      while (added < rows.length && joinAt[added] <= step) assert.equal(dec.add(rows[added]), added++);
      for (const e of dec.step()) {
        if (e.type === 'finish') results[e.row] = e.result;
        else tokens[e.row].push(e.token);
      }
      maxActive = Math.max(maxActive, dec.activeRows);
      assert.ok(dec.activeRows <= 3, 'never more rows than slots');
      step++;
    }
    assert.equal(maxActive, 3);
    assert.deepEqual(results.map(strip), alone.map(strip));
    tokens.forEach((t, i) => assert.deepEqual(t, alone[i].ids, `row ${i}: the token events`));
    assert.throws(() => dec.results(), /open decoder/);
    assert.throws(() => new BatchDecoder(model, tok, [rows[0]]).add(rows[1]), /only an open decoder/);
  }
});

test('prefix cache: rows whose prompts share prefixes with finished, free or running rows reuse them and give exactly their tokens and logprobs alone, feeding fewer prompt tokens', () => {
  for (const variant of [{}, { position: 'rope' as const, norm: 'rmsnorm' as const, mlp: 'swiglu' as const }]) {
    const model = new GPT(makeConfig({ vocabSize: V, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 16, ...variant }), { seed: 11 });
    const rows: RowRequest[] = [
      { prompt: P('the quick brown fox'), maxTokens: 6, seed: 1, logprobs: 2 },
      { prompt: P('the quick brown dog jumps'), maxTokens: 12, seed: 2, temperature: 0.8, logprobs: 3 }, // joins while row 0 runs: copies its prefix
      { prompt: P('the quick brown fox'), maxTokens: 5, seed: 3, logprobs: 1 }, // row 0's whole prompt, after row 0 finished: all but its last token reused
      { prompt: P('the lazy dog'), maxTokens: 4, seed: 4 },
      { prompt: P('the quick brown dog jumps over'), maxTokens: 8, seed: 5, temperature: 0, logprobs: 2 }, // row 1's prompt and more
      { prompt: P('fox'), maxTokens: 3, seed: 6 }, // nothing in common: a full prefill
    ];
    const alone = rows.map((r) => decode(model, tok, [r])[0]);
    const aloneEvents = rows.map((r) => {
      const ev: DecodeEvent[] = [];
      new BatchDecoder(model, tok, [r]).run((e) => ev.push(e));
      return ev.filter((e) => e.type === 'token');
    });
    let fed = 0;
    const counting = { config: model.config, createCache: (b: number) => model.createCache(b), nextLogits: (ids: Int32Array, c: KVCache, r?: Int32Array) => ((fed += ids.length), model.nextLogits(ids, c, r)) };
    for (const prefixCache of [true, false]) {
      fed = 0;
      const dec = new BatchDecoder(counting, tok, [], { slots: 2, prefixCache });
      const results: RowResult[] = [];
      const events: DecodeEvent[][] = rows.map(() => []);
      const joinAt = [0, 2, 8, 8, 9, 30];
      let step = 0;
      let added = 0;
      while (added < rows.length || !dec.done) {
        while (added < rows.length && joinAt[added] <= step) assert.equal(dec.add(rows[added]), added++);
        for (const e of dec.step()) {
          if (e.type === 'finish') results[e.row] = e.result;
          else events[e.row].push(e);
        }
        step++;
      }
      const cached = results.map((r) => r.cachedTokens);
      assert.deepEqual(
        results.map((r) => ({ ...r, cachedTokens: 0 })),
        alone.map(strip),
      );
      events.forEach((ev, i) =>
        assert.deepEqual(
          ev.map((e) => ({ ...e, row: 0 })),
          aloneEvents[i],
          `row ${i}: its token events and logprobs`,
        ),
      );
      const sampledFed = alone.reduce((a, r) => a + r.ids.length, 0);
      if (!prefixCache) {
        assert.deepEqual(cached, [0, 0, 0, 0, 0, 0]);
        assert.equal(fed, rows.reduce((a, r) => a + r.prompt.length, 0) + sampledFed - rows.length, 'every prompt token fed');
        continue;
      }
      const common = (a: readonly number[], b: readonly number[]): number => {
        let i = 0;
        while (i < a.length && i < b.length && a[i] === b[i]) i++;
        return i;
      };
      assert.equal(cached[0], 0);
      assert.equal(cached[1], common(rows[0].prompt, rows[1].prompt), "row 1: row 0's prefix, copied from its running slot");
      assert.equal(cached[2], rows[2].prompt.length - 1, 'row 2: all but the last token it needs logits for');
      assert.ok(cached[4] >= rows[1].prompt.length, "row 4: row 1's whole prompt");
      assert.equal(cached[5], 0);
      assert.ok(cached[1] > 0 && cached[3] > 0);
      assert.equal(fed, rows.reduce((a, r) => a + r.prompt.length, 0) - cached.reduce((a, b) => a + b, 0) + sampledFed - rows.length, 'only the prompt tokens not reused were fed');
    }
  }
  // randomized position ids: a prefix's ids were another row's draws, so nothing is reused
  const rp = new GPT(makeConfig({ vocabSize: V, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope', randomPositions: 96 }), { seed: 2 });
  const dec = new BatchDecoder(rp, tok, [], { slots: 1, prefixCache: true });
  const cachedRp: number[] = [];
  for (const prompt of [P('the quick brown'), P('the quick brown')]) {
    dec.add({ prompt, maxTokens: 2 });
    dec.run((e) => e.type === 'finish' && cachedRp.push(e.result.cachedTokens));
  }
  assert.deepEqual(cachedRp, [0, 0]);
  // the next turn of a conversation: a prompt that goes on from a finished row's prompt and reply reuses both (recorded when the row left its slot)
  const m2 = new GPT(makeConfig({ vocabSize: V, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 });
  const turns = new BatchDecoder(m2, tok, [], { slots: 1, prefixCache: true });
  const first: RowResult[] = [];
  turns.add({ prompt: P('the quick brown'), maxTokens: 6, seed: 1 });
  turns.run((e) => e.type === 'finish' && first.push(e.result));
  const reply = first[0].ids.slice(0, 5); // the fed ones (the last sampled token never was)
  const next = { prompt: [...P('the quick brown'), ...reply, ...P(' fox')], maxTokens: 4, seed: 2 };
  const second: RowResult[] = [];
  turns.add(next);
  turns.run((e) => e.type === 'finish' && second.push(e.result));
  assert.equal(second[0].cachedTokens, P('the quick brown').length + reply.length);
  assert.deepEqual({ ...second[0], cachedTokens: 0 }, strip(decode(m2, tok, [next])[0]));
});

test('continuous batching: an aborted row frees its slot at the next step (a waiting one is never prefilled); the others go on', () => {
  const model = scripted(bytes('abcdefghijklmnopqrstuvwxyz'));
  const a0 = new AbortController();
  const a2 = new AbortController();
  const dec = new BatchDecoder(model, tok, [], { slots: 2 });
  assert.ok(dec.done);
  dec.add({ prompt: [0], maxTokens: 20, temperature: 0, signal: a0.signal });
  dec.add({ prompt: [0], maxTokens: 20, temperature: 0 });
  dec.add({ prompt: [0], maxTokens: 20, temperature: 0, signal: a2.signal });
  dec.add({ prompt: [0], maxTokens: 3, temperature: 0 });
  const results: RowResult[] = [];
  const run = (): void => {
    for (const e of dec.step()) if (e.type === 'finish') results[e.row] = e.result;
  };
  for (let i = 0; i < 4; i++) run();
  assert.deepEqual([dec.activeRows, dec.waitingRows], [2, 2]);
  a0.abort();
  a2.abort(); // still waiting
  const passes = model.batches.length;
  run();
  assert.equal(results[0].finishReason, 'abort');
  assert.equal(results[0].ids.length, 4, 'not one token after the abort');
  assert.deepEqual([results[2].finishReason, results[2].ids.length], ['abort', 0]);
  assert.equal(model.batches.length, passes + 2, "row 3's prefill into row 0's slot, then one pass");
  while (!dec.done) run();
  assert.equal(results[1].text, 'abcdefghijklmnopqrst');
  assert.equal(results[3].text, 'abc');
});

test('seeded: the same seed gives the same tokens (sync and async API alike); other seeds differ', async () => {
  const req: RowRequest = { prompt: P('the'), maxTokens: 16, seed: 42, temperature: 1 };
  const a = decode(gpt, tok, [req])[0];
  assert.deepEqual(decode(gpt, tok, [req])[0], a);
  const it = generate(gpt, tok, [req]);
  let res: IteratorResult<DecodeEvent, RowResult[]>;
  const tokens: number[] = [];
  while (!(res = await it.next()).done) if (res.value.type === 'token') tokens.push(res.value.token);
  assert.deepEqual(res.value, [a]);
  assert.deepEqual(tokens, a.ids);
  const others = [1, 2, 3].map((seed) => decode(gpt, tok, [{ ...req, seed }])[0].ids.join(','));
  assert.ok(others.some((o) => o !== a.ids.join(',')));
});

test('AbortSignal: a row aborted mid-decode ends at the next step with "abort"; the other rows go on', async () => {
  const model = scripted(bytes('abcdefghijklmnopqrstuvwxyz'));
  const ac = new AbortController();
  const rows: RowRequest[] = [
    { prompt: [0], maxTokens: 20, temperature: 0, signal: ac.signal },
    { prompt: [0], maxTokens: 20, temperature: 0 },
  ];
  const counts = [0, 0];
  let abortedAt = -1;
  const results: RowResult[] = [];
  for await (const e of generate(model, tok, rows)) {
    if (e.type === 'finish') results[e.row] = e.result;
    else counts[e.row]++;
    // fired from another macrotask, as a client hanging up would
    if (e.type === 'token' && e.row === 0 && counts[0] === 5) setImmediate(() => (ac.abort(), (abortedAt = counts[0])));
  }
  assert.equal(abortedAt, 5);
  assert.equal(results[0].finishReason, 'abort');
  assert.equal(results[0].ids.length, 5); // not one token after the abort
  assert.equal(results[0].text, 'abcde');
  assert.equal(results[1].finishReason, 'length');
  assert.equal(results[1].text, 'abcdefghijklmnopqrst');
  // an already-aborted batch signal: nothing is decoded
  const done = decode(model, tok, rows, { signal: AbortSignal.abort() });
  assert.deepEqual(
    done.map((r) => [r.finishReason, r.ids.length]),
    [
      ['abort', 0],
      ['abort', 0],
    ],
  );
  // and generateText reports it
  const g = generateText(model, tok, [0], { maxTokens: 5, signal: AbortSignal.abort() });
  assert.equal(g.finishReason, 'abort');
});

/** Digits only (multi-digit tokens count each digit), complete after ≥ 2 digits, at most 4. */
class Digits implements TokenConstraint {
  constructor(
    readonly lens: Map<number, number>,
    public n = 0,
  ) {}
  fillMask(allowed: Uint32Array): void {
    allowed.fill(0);
    for (const [id, len] of this.lens) if (this.n + len <= 4) allowed[id >>> 5] |= 1 << (id & 31);
  }
  advance(t: number): boolean {
    const len = this.lens.get(t);
    if (len === undefined || this.n + len > 4) return false;
    this.n += len;
    return true;
  }
  isComplete(): boolean {
    return this.n >= 2;
  }
  mustEnd(): boolean {
    return this.n >= 4;
  }
  clone(): Digits {
    return new Digits(this.lens, this.n);
  }
}
const digitLens = new Map<number, number>();
for (let id = 0; id < V; id++) {
  const s = Buffer.from(tok.tokenBytes(id)).toString('latin1');
  if (/^[0-9]+$/.test(s) && !(tok.specialTokens && [...tok.specialTokens.values()].includes(id))) digitLens.set(id, s.length);
}

test('constraint hook: disallowed tokens masked, end only once complete, mustEnd ends the row, the token limit gives "length"', () => {
  const x = byteId.get('x'.charCodeAt(0))!;
  const seven = byteId.get('7'.charCodeAt(0))!;
  // the model wants "x", then the end token, then a 7
  const wants = (end: number) =>
    new PolicyModel(V, () => {
      const l = new Float32Array(V);
      l[x] = 10;
      l[eos] = end;
      l[seven] = 5;
      return l;
    });
  const row = (maxTokens: number): RowRequest => ({ prompt: [0], maxTokens, temperature: 0, endIds: [eos], constraint: new Digits(digitLens) });
  const [a] = decode(wants(8), tok, [row(10)]);
  assert.deepEqual([a.text, a.finishReason, a.matchedStop], ['77', 'stop', eos]); // the end token as soon as it is allowed
  const [b] = decode(wants(-5), tok, [row(10)]);
  assert.deepEqual([b.text, b.finishReason, b.matchedStop, b.ids.length], ['7777', 'stop', null, 4]); // complete and nothing can extend it
  const [c] = decode(wants(8), tok, [row(1)]);
  assert.deepEqual([c.text, c.finishReason], ['7', 'length']); // never claims a complete value
  // sampled: every sample is digits, ends only when complete
  for (let seed = 1; seed <= 20; seed++) {
    const [r] = decode(gpt, tok, [{ ...row(6), temperature: 1.5, seed }]);
    assert.match(r.text, /^[0-9]*$/);
    assert.ok(r.finishReason === 'length' ? r.text.length < 2 || r.ids.length === 6 : r.text.length >= 2 && r.text.length <= 4, `${r.text} ${r.finishReason}`);
  }
});

test('bad rows are refused: empty prompt, prompt over the context, ids outside the vocabulary', () => {
  const m = scripted([]);
  assert.throws(
    () => decode(m, tok, [{ prompt: [], maxTokens: 1 }]),
    (e: unknown) => e instanceof GptforgeError && /empty prompt/.test(e.message),
  );
  assert.throws(() => decode(m, tok, [{ prompt: new Array(300).fill(0), maxTokens: 1 }]), /more than the context of 256/);
  assert.throws(() => decode(m, tok, [{ prompt: [V], maxTokens: 1 }]), /not an id/);
  assert.deepEqual(decode(m, tok, [{ prompt: [1], maxTokens: 0 }])[0].finishReason, 'length');
});

test("logprobs: the sampled token's log-probability under the raw logits and the top alternatives (ties: lower id)", () => {
  const lp = logprobOf([0, Math.log(3), 0, Math.log(3)], 1, 3);
  // softmax = [1, 3, 1, 3] / 8
  assert.ok(Math.abs(lp.logprob - Math.log(3 / 8)) < 1e-12);
  assert.deepEqual(
    lp.top.map((t) => t.token),
    [1, 3, 0],
  );
  assert.ok(Math.abs(lp.top[2].logprob - Math.log(1 / 8)) < 1e-12);
  assert.deepEqual(logprobOf([1, 2], 0, 0).top, []);
  assert.throws(() => logprobOf([1], 0, 21), /\[0, 20\]/);
  // through the pipeline: every sampled token's event carries it; masks do not change it (raw distribution)
  const events: DecodeEvent[] = [];
  const model = scripted(bytes('ab'));
  new BatchDecoder(model, tok, [{ prompt: [0], maxTokens: 5, temperature: 0, endIds: [eos], logprobs: 2 }]).run((e) => events.push(e));
  const toks = events.filter((e) => e.type === 'token');
  assert.equal(toks.length, 3);
  const expected = Math.log(Math.exp(20) / (Math.exp(20) + V - 1));
  for (const e of toks) {
    assert.ok(e.type === 'token' && e.logprob && Math.abs(e.logprob.logprob - expected) < 1e-9);
    assert.equal(e.type === 'token' && e.logprob!.top[0].token, e.type === 'token' && e.token);
  }
  assert.throws(() => decode(model, tok, [{ prompt: [0], maxTokens: 1, logprobs: -1 }]), /\[0, 20\]/);
});

test("penalties in the pipeline: presence/frequency count the row's own samples, repetition the whole context (prompt included)", () => {
  const [A, B, C] = bytes('abc');
  const model = new PolicyModel(V, () => {
    const l = new Float32Array(V).fill(-50);
    l[A] = 1;
    l[B] = 0.5;
    return l;
  });
  const run = (o: Partial<RowRequest>, prompt = [C]) => decode(model, tok, [{ prompt, maxTokens: 6, temperature: 0, ...o }])[0].text;
  assert.equal(run({}), 'aaaaaa');
  // presence 1: a → 0 after its first use, so b (0.5) wins; then b → −0.5 and a (0) again
  assert.equal(run({ presencePenalty: 1 }), 'abaaaa');
  // frequency 0.3: a 1, 0.7, 0.4 | b 0.5 → a a b; then a 0.4 vs b 0.2 → a; a 0.1 vs b 0.2 → b; a 0.1 vs b −0.1 → a
  assert.equal(run({ frequencyPenalty: 0.3 }), 'aababa');
  // repetition θ = 3: a in the prompt already → 1/3 < 0.5, so b first; then both seen: a 1/3 > b 1/6
  assert.equal(run({ repetitionPenalty: 3 }, [A]), 'baaaaa');
  assert.equal(run({ repetitionPenalty: 3 }, [C]), 'abaaaa'); // a penalised only once sampled: 1/3 < 0.5 → b, then a 1/3 > b 1/6
});
