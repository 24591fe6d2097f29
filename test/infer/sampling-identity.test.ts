import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { BannedTokens, DrawCache, Sampler, buildWarpers, drawToken, type RowView } from '../../src/infer/processors.js';
import { LogSoftmaxMemo, logSoftmaxAt } from '../../src/assist/consistency.js';

/**
 * The per-sample fast paths (Sampler.processInto's scratch buffer, the fused temperature draw,
 * drawToken's fused normalisation, LogSoftmaxMemo) must pick exactly the tokens and give
 * exactly the log-probabilities of the straightforward code they replaced, written out here.
 */

/** The straightforward path, as it was: copy, warp every score, normalise, then walk the CDF. */
function referenceDraw(scores: Float64Array, rng: Rng): number {
  let any = false;
  for (let i = 0; i < scores.length; i++) if (scores[i] > -Infinity) any = true;
  if (!any) throw new Error('no token is allowed');
  let mx = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > mx) mx = scores[i];
  const p = new Float64Array(scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    p[i] = Math.exp(scores[i] - mx);
    sum += p[i];
  }
  for (let i = 0; i < scores.length; i++) p[i] /= sum;
  let u = rng.random();
  for (let i = 0; i < p.length; i++) {
    u -= p[i];
    if (u < 0) return i;
  }
  for (let i = p.length - 1; i >= 0; i--) if (p[i] > 0) return i;
  return 0;
}

function referencePick(logits: Float32Array, opts: { temperature: number; topK?: number; topP?: number; minP?: number }, rng: Rng): number {
  const s = Float64Array.from(logits);
  for (const w of buildWarpers(opts)) w.warp(s);
  return referenceDraw(s, rng);
}

/** Logits of a confident model (one id far ahead, as AB5's) or a flat one, some ids masked. */
function randomLogits(r: Rng, V: number, confident: boolean): Float32Array {
  const l = new Float32Array(V);
  for (let i = 0; i < V; i++) l[i] = (r.random() - 0.5) * (confident ? 4 : 8);
  if (confident) l[Math.floor(r.random() * V)] += 12;
  for (let i = 0; i < V; i++) if (r.random() < 0.05) l[i] = -Infinity;
  return l;
}

const row: RowView = { prompt: [0], ids: [], sampledCounts: new Map(), contextIds: new Set([0]) };

test('sampler fast paths draw the tokens of the straightforward path, seed for seed (T = 0.7, 1, 1.3; with top-k / top-p / min-p)', () => {
  const V = 384;
  const settings = [{ temperature: 0.7 }, { temperature: 1 }, { temperature: 1.3 }, { temperature: 0.7, topK: 20 }, { temperature: 1, topP: 0.9 }, { temperature: 0.7, minP: 0.05 }];
  const gen = new Rng(5);
  for (const opts of settings) {
    for (let seed = 1; seed <= 40; seed++) {
      const fast = new Sampler([new BannedTokens([3, 7])], opts, new Rng(seed));
      const ref = new Rng(seed);
      for (let step = 0; step < 25; step++) {
        const logits = randomLogits(gen, V, step % 3 !== 0);
        const processed = fast.processInto(logits, row);
        assert.deepEqual(processed, fast.process(logits, row), 'processInto = process');
        const want = referencePick(fast.process(logits, row), opts, ref);
        assert.equal(fast.pick(processed), want, `${JSON.stringify(opts)} seed ${seed} step ${step}`);
      }
    }
  }
});

test('drawToken (fused normalisation) equals the reference draw, also with one allowed id and all-masked input', () => {
  const gen = new Rng(9);
  for (let seed = 1; seed <= 200; seed++) {
    const s = Float64Array.from(randomLogits(gen, 64, seed % 2 === 0));
    assert.equal(drawToken(s, new Rng(seed)), referenceDraw(s, new Rng(seed)));
  }
  const one = new Float64Array(16).fill(-Infinity);
  one[11] = -3;
  assert.equal(drawToken(one, new Rng(1)), 11);
  assert.throws(() => drawToken(new Float64Array(4).fill(-Infinity), new Rng(1)), /no token is allowed/);
  // the fused temperature path refuses an all-masked row like the warper path did
  assert.throws(() => new Sampler([], { temperature: 0.7 }, new Rng(1)).pick(new Float32Array(8).fill(-Infinity)), /no token is allowed/);
});

test('LogSoftmaxMemo gives exactly logSoftmaxAt, over repeated and distinct vectors and more vectors than it holds', () => {
  const gen = new Rng(3);
  const pool = Array.from({ length: 12 }, (_, i) => randomLogits(gen, 384, i % 2 === 0));
  const memo = new LogSoftmaxMemo(4);
  for (let n = 0; n < 600; n++) {
    const v = pool[Math.floor(gen.random() * pool.length)].slice(); // a fresh copy: matched by content, not identity
    let token = Math.floor(gen.random() * v.length);
    while (v[token] === -Infinity) token = (token + 1) % v.length;
    assert.ok(Object.is(memo.at(v, token), logSoftmaxAt(v, token)), `call ${n}`);
  }
});

test('samplers sharing a DrawCache (shared histories) draw what each draws alone: same and different logits, several temperatures', () => {
  const V = 384;
  const gen = new Rng(17);
  const cache = new DrawCache(3);
  const temps = [0.7, 0.7, 1, 0.7, 1.3, 0.7];
  const shared = temps.map((t, i) => new Sampler([], { temperature: t }, new Rng(100 + i), cache));
  const ref = temps.map((_, i) => new Rng(100 + i));
  let logits = randomLogits(gen, V, true);
  for (let step = 0; step < 60; step++) {
    if (step % 4 === 0) logits = randomLogits(gen, V, step % 8 === 0); // rows mostly see the same logits, sometimes new ones
    shared.forEach((s, i) => {
      const l = i === 5 && step % 3 === 0 ? randomLogits(gen, V, true) : logits; // one row often leaves the group
      const want = referencePick(l, { temperature: temps[i] }, ref[i]);
      assert.equal(s.pick(s.processInto(l, row)), want, `row ${i} step ${step}`);
    });
  }
});
