import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { BannedTokens, ConstraintProcessor, LogitBias, MinP, PresenceFrequencyPenalty, RepetitionPenalty, Sampler, Temperature, TopK, TopP, buildProcessors, buildWarpers, checkGenerationOptions, type RowView } from '../../src/infer/processors.js';
import type { TokenConstraint } from '../../src/infer/constraint.js';
import { GptforgeError } from '../../src/util/errors.js';

const view = (over: Partial<RowView> = {}): RowView => ({ prompt: [], ids: [], sampledCounts: new Map(), contextIds: new Set(), ...over });
const run = (p: { process(l: Float32Array, r: RowView): void }, logits: number[], row = view()): number[] => {
  const l = Float32Array.from(logits);
  p.process(l, row);
  return Array.from(l);
};
const warp = (w: { warp(s: Float64Array): void }, scores: number[]): number[] => {
  const s = Float64Array.from(scores);
  w.warp(s);
  return Array.from(s);
};
const close = (a: number[], b: number[]): void => {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(x === b[i] || Math.abs(x - b[i]) < 1e-12, `index ${i}: ${x} vs ${b[i]}`));
};

test('logit bias adds OpenAI-style biases; -100 bans; bad ids and values are refused', () => {
  assert.deepEqual(run(new LogitBias({ 1: 2.5, 3: -100 }, 4), [1, 2, 3, 4]), [1, 4.5, 3, -Infinity]);
  assert.deepEqual(run(new LogitBias(new Map([[0, -1]]), 4), [1, 2, 3, 4]), [0, 2, 3, 4]);
  assert.throws(
    () => new LogitBias({ 4: 1 }, 4),
    (e: unknown) => e instanceof GptforgeError && /token id 4/.test(e.message),
  );
  assert.throws(() => new LogitBias({ 0: 150 }, 4), /\[-100, 100\]/);
});

test('repetition penalty (CTRL, HF signs): positive logits of context tokens divided by θ, negative multiplied', () => {
  // context {0, 1}: 2 → 2/2 = 1; -2 → -2·2 = -4; tokens 2, 3 untouched
  assert.deepEqual(run(new RepetitionPenalty(2), [2, -2, 3, -1], view({ contextIds: new Set([0, 1]) })), [1, -4, 3, -1]);
  assert.throws(() => new RepetitionPenalty(0), /positive/);
});

test('presence / frequency penalties (OpenAI): mu − c·α_freq − [c > 0]·α_pres over sampled counts', () => {
  const row = view({
    sampledCounts: new Map([
      [0, 2],
      [2, 1],
    ]),
    contextIds: new Set([0, 1, 2, 3]),
  });
  // token 0: 1 − 2·0.25 − 0.5 = 0; token 2: 1 − 0.25 − 0.5 = 0.25; 1 and 3 never sampled
  assert.deepEqual(run(new PresenceFrequencyPenalty(0.5, 0.25), [1, 1, 1, 1], row), [0, 1, 0.25, 1]);
  assert.deepEqual(run(new PresenceFrequencyPenalty(-1, 0), [1, 1, 1, 1], row), [2, 1, 2, 1]);
  assert.throws(
    () => new PresenceFrequencyPenalty(2.5, 0),
    (e: unknown) => e instanceof GptforgeError && e.field === 'presencePenalty',
  );
});

test("one table of rules: each processor's constructor refuses what checkGenerationOptions refuses, with the same message; beyond that only the values that build no processor", () => {
  const make: Record<string, (v: number) => unknown> = {
    temperature: (v) => new Temperature(v),
    topK: (v) => new TopK(v),
    topP: (v) => new TopP(v),
    minP: (v) => new MinP(v),
    repetitionPenalty: (v) => new RepetitionPenalty(v),
    presencePenalty: (v) => new PresenceFrequencyPenalty(v, 0),
    frequencyPenalty: (v) => new PresenceFrequencyPenalty(0, v),
  };
  const errorOf = (f: () => unknown): string | null => {
    try {
      f();
      return null;
    } catch (e) {
      return `${(e as GptforgeError).field} ${(e as Error).message}`;
    }
  };
  for (const [field, build] of Object.entries(make))
    for (const v of [-3, -2, -1, -0.5, 0, 0.25, 1, 1.5, 2, 2.5, 3, 7, Number.NaN, Number.POSITIVE_INFINITY]) {
      const options = errorOf(() => checkGenerationOptions({ [field]: v }));
      const ctor = errorOf(() => build(v));
      if (options) assert.equal(ctor, options, `${field} ${v}`);
      // a value the options allow: the constructor builds it, unless it is the one that builds no processor (top-k 0, greedy)
      else if (ctor) assert.ok((field === 'topK' || field === 'temperature') && v === 0, `${field} ${v}: ${ctor}`);
    }
  // buildWarpers reads the same rules: what the options allow builds, what they refuse throws the same error
  assert.equal(buildWarpers({ temperature: 0, topK: 0 }).length, 0);
  assert.throws(() => buildWarpers({ topK: 1.5 }), /topK: expects an integer ≥ 0 \(0 = off\), got 1\.5/);
});

test('banned tokens are -Infinity; buildProcessors runs bias, penalties, then masks', () => {
  assert.deepEqual(run(new BannedTokens([0, 2]), [1, 2, 3]), [-Infinity, 2, -Infinity]);
  const procs = buildProcessors({ logitBias: { 0: 1 }, presencePenalty: 1, bannedIds: [2] }, 3);
  const l = Float32Array.from([0, 0, 0]);
  for (const p of procs)
    p.process(
      l,
      view({
        sampledCounts: new Map([
          [0, 1],
          [1, 1],
        ]),
      }),
    );
  assert.deepEqual(Array.from(l), [0, -1, -Infinity]); // 0 + 1 − 1; 0 − 1; banned
  assert.deepEqual(buildProcessors({ temperature: 0.5, repetitionPenalty: 1, presencePenalty: 0 }, 3), []);
});

test('temperature: (s − max)/τ; top-k keeps the k best (ties: lower ids); top-p the smallest set reaching p; min-p keeps p ≥ p_min·p_max', () => {
  close(warp(new Temperature(2), [1, 3, 2]), [-1, 0, -0.5]);
  assert.deepEqual(warp(new TopK(2), [1, 3, 2, 3]), [-Infinity, 3, -Infinity, 3]);
  assert.deepEqual(warp(new TopK(9), [1, 3]), [1, 3]);
  const probs = [0.15, 0.5, 0.05, 0.3];
  const s = probs.map(Math.log);
  const kept = (xs: number[]): number[] => xs.flatMap((x, i) => (x > -Infinity ? [i] : []));
  assert.deepEqual(kept(warp(new TopP(0.75), s)), [1, 3]); // 0.5 + 0.3 ≥ 0.75
  assert.deepEqual(kept(warp(new TopP(0.85), s)), [0, 1, 3]); // + 0.15
  assert.deepEqual(kept(warp(new TopP(0.4), s)), [1]);
  assert.deepEqual(kept(warp(new MinP(0.2), s)), [0, 1, 3]); // ≥ 0.1
  assert.deepEqual(kept(warp(new MinP(0.7), s)), [1]); // ≥ 0.35
  assert.deepEqual(
    warp(new MinP(0.2), s).filter((x) => x > -Infinity),
    [s[0], s[1], s[3]],
  ); // kept scores untouched
  assert.throws(() => new TopP(-0.1), /\[0, 1\]/);
  // p = 0 keeps the most likely token only (ties: the lowest id), as OpenAI's top_p 0
  assert.deepEqual(kept(warp(new TopP(0), s)), [1]);
  assert.deepEqual(kept(warp(new TopP(0), [2, 5, 5, 1])), [1]);
  assert.throws(() => new MinP(1.5), /\[0, 1\]/);
});

test('top-k then top-p: top-p measures the renormalised top-k distribution (HF / vLLM order)', () => {
  // probs 0.4, 0.3, 0.2, 0.1; top-k 2 → 4/7, 3/7; top-p 0.5 keeps only the first (4/7 ≥ 0.5)
  const s = new Sampler([], { topK: 2, topP: 0.5 }, new Rng(1));
  const logits = Float32Array.from([0.4, 0.3, 0.2, 0.1].map(Math.log));
  for (let i = 0; i < 50; i++) assert.equal(s.pick(logits), 0);
});

test('sampler: greedy takes the argmax of the processed logits; a draw never picks a removed token; nothing allowed is an error', () => {
  const g = new Sampler([new BannedTokens([1])], { temperature: 0 }, new Rng(1));
  assert.equal(g.pick(g.process(Float32Array.from([1, 5, 3]), view())), 2);
  const d = new Sampler([new BannedTokens([1])], { temperature: 5, minP: 0.01 }, new Rng(2));
  for (let i = 0; i < 200; i++) assert.notEqual(d.pick(d.process(Float32Array.from([1, 5, 3]), view())), 1);
  assert.throws(() => g.pick(Float32Array.from([-Infinity, -Infinity])), /no token is allowed/);
  assert.throws(() => d.pick(Float32Array.from([-Infinity, -Infinity])), /no token is allowed/);
});

/** Ids 0–9 are the digits 0–9, id 10 is "x", id 11 the end token: digits only, complete after ≥ 2, at most 4. */
class Digits implements TokenConstraint {
  constructor(public n = 0) {}
  fillMask(allowed: Uint32Array): void {
    allowed.fill(0);
    if (this.n < 4) allowed[0] = 0x3ff;
  }
  advance(t: number): boolean {
    if (t > 9 || this.n >= 4) return false;
    this.n++;
    return true;
  }
  isComplete(): boolean {
    return this.n >= 2;
  }
  mustEnd(): boolean {
    return this.n >= 4;
  }
  clone(): Digits {
    return new Digits(this.n);
  }
}

test('constraint processor: masks what the constraint disallows; the end token only once complete; advances on accept', () => {
  const c = new Digits();
  const p = new ConstraintProcessor(c, 12, [11]);
  const logits = Array.from({ length: 12 }, (_, i) => i);
  const incomplete = run(p, logits);
  assert.deepEqual(incomplete.slice(0, 10), logits.slice(0, 10));
  assert.deepEqual(incomplete.slice(10), [-Infinity, -Infinity]);
  p.accept(3, true);
  p.accept(4, true);
  assert.equal(c.n, 2);
  assert.deepEqual(run(p, logits).slice(10), [-Infinity, 11]); // complete: the end token passes, "x" still not
  p.accept(11, true); // end tokens are not the constraint's
  assert.equal(c.n, 2);
  assert.throws(() => p.accept(10, false), /forced token 10 is not allowed/);
});

test('top-k / top-p selection equals a plain stable sort (ties to the lower id), small and large k, with many ties', () => {
  const rng = new Rng(5);
  const naive = (scores: number[], keep: number): number[] => {
    const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
    return order.slice(0, keep).sort((a, b) => a - b);
  };
  const kept = (xs: number[]): number[] => xs.flatMap((x, i) => (x > -Infinity ? [i] : []));
  for (let trial = 0; trial < 40; trial++) {
    const V = 50 + rng.int(400);
    // coarse values: plenty of ties
    const scores = Array.from({ length: V }, () => Math.round(rng.normal() * 4) / 2);
    for (const k of [1, 2, 7, 40, 64, 65, 100, V - 1, V]) if (k <= V) assert.deepEqual(kept(warp(new TopK(k), scores)), naive(scores, k), `V=${V} k=${k}`);
    for (const p of [0.1, 0.5, 0.9, 0.999]) {
      const probs = Array.from(softmax(scores));
      const order = probs.map((_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
      let mass = 0;
      let keep = V;
      for (let i = 0; i < V; i++)
        if ((mass += probs[order[i]]) >= p) {
          keep = i + 1;
          break;
        }
      assert.deepEqual(kept(warp(new TopP(p), scores)), naive(probs, keep), `V=${V} p=${p}`);
    }
  }
});

function softmax(xs: number[]): Float64Array {
  const mx = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return Float64Array.from(e.map((x) => x / s));
}
