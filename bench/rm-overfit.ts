/**
 * node dist/bench/rm-overfit.js <run> [key=value …]
 *
 * Can the reward model fit a few hundred of its own training pairs at all? (issue #24,
 * docs/journal/rlhf.md "Eighth pass".) The seventh pass found the RM ordering its own
 * own-sample training pairs at 63–68% after 1,200–2,400 draws, far below the ~90% the labelers'
 * 10% noise allows. This asks the textbook question first: an RM trained on nothing but `pairs`
 * right-against-wrong pairs of the SFT model's own samples (the run's
 * `comparisons/contrast-sampled.jsonl`, re-judged by the family's checker without the labelers'
 * noise), epoch after epoch. A model that cannot overfit a few hundred pairs has a readout,
 * pooling or learning-rate problem, not a data problem (Karpathy, "A recipe for training neural
 * networks": overfit one batch first).
 *
 * keys (defaults in brackets):
 *   pairs=256 (training pairs, whole prompts, taken from the start of a seeded shuffle of the
 *     cache's prompts) held=400 (pairs of other prompts of the same cache: the rule, not the words)
 *   families=syllables,chat   steps=400 lr=1e-3 batch=8 (pairs a step) wd=0 warmup=20
 *   from=sft|base  init=ckpt|random  pooling=last|last+mean  evalEvery=50 seed=1
 *
 * Prints, every evalEvery steps, the training-pair accuracy (noise-free), the held-out-prompt
 * accuracy and the mean training loss; then one JSON line. Also how long the rendered pairs
 * are against the context, and how many pairs differ only after the first 32 reply tokens.
 */
import { join } from 'node:path';
import { renderForReward } from '../src/data/chat.js';
import { rankingConversation, readPreferencesJSONL } from '../src/data/preferences.js';
import { Rng } from '../src/engine/rng.js';
import { rightFirst } from '../src/train/comparisons.js';
import type { RenderedRanking } from '../src/train/reward.js';
import { checkBenchArgs } from './args.js';
import { benchRewardModel, benchTrain, rightAbove } from './rm-train.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {}, { positional: Number.POSITIVE_INFINITY });

const [run, ...kv] = process.argv.slice(2);
if (!run) throw new Error('usage: node dist/bench/rm-overfit.js <run> [pairs=256] [steps=400] [lr=1e-3] [pooling=last|last+mean] [init=ckpt|random] …');
const o = Object.fromEntries(kv.map((a) => a.split('=') as [string, string]));
const num = (k: string, d: number): number => (o[k] === undefined ? d : Number(o[k]));
const nPairs = num('pairs', 256);
const nHeld = num('held', 400);
const steps = num('steps', 400);
const lr = num('lr', 1e-3);
const batch = num('batch', 8);
const evalEvery = num('evalEvery', 50);
const seed = num('seed', 1);
const families = new Set((o.families ?? 'syllables,chat').split(','));
const from = o.from ?? 'sft';
const init = o.init ?? 'ckpt';
const pooling = o.pooling ?? 'last';

const { model, tok, pad } = benchRewardModel({ run, from, init, pooling, seed });
const L = model.config.blockSize;

// the cache's pairs, re-judged noise-free, right first; grouped by prompt so held-out pairs share no prompt with training
const byPrompt = new Map<string, RenderedRanking[]>();
const familyOf = new Map<RenderedRanking, string>();
const lengths: number[] = [];
let tooLong = 0;
let lateDiff = 0;
const replyStart = (s: number[]): number => s.lastIndexOf(tok.specialId('<|assistant_start|>')) + 1;
for (const r of readPreferencesJSONL(join(run, 'comparisons', 'contrast-sampled.jsonl'), { onBad: 'skip' }).rankings) {
  if (!families.has(r.task ?? '?')) continue;
  const pair = rightFirst(r);
  if (!pair) continue;
  const seqs = pair.map((c) => renderForReward(tok, rankingConversation(r.prompt, c)));
  lengths.push(...seqs.map((s) => s.length));
  if (seqs.some((s) => s.length > L)) {
    tooLong++;
    continue;
  }
  // where the two replies first differ, in reply tokens
  const a = replyStart(seqs[0]);
  let d = 0;
  while (a + d < seqs[0].length && a + d < seqs[1].length && seqs[0][a + d] === seqs[1][a + d]) d++;
  if (d >= 32) lateDiff++;
  let list = byPrompt.get(r.prompt);
  if (!list) byPrompt.set(r.prompt, (list = []));
  list.push({ completions: seqs });
  familyOf.set(list[list.length - 1], r.task ?? '?');
}
const prompts = new Rng(seed).shuffle([...byPrompt.keys()]);
const train: RenderedRanking[] = [];
const held: RenderedRanking[] = [];
for (const p of prompts) {
  const list = byPrompt.get(p)!;
  if (train.length < nPairs) train.push(...list);
  else if (held.length < nHeld) held.push(...list);
}
train.length = Math.min(train.length, nPairs);
lengths.sort((x, y) => x - y);
const r4 = (x: number) => Number(x.toFixed(4));

/** Share of pairs scored right above wrong, overall and per family. */
const accuracy = (rs: readonly RenderedRanking[]): Record<string, number> => {
  const right = rightAbove(model, pad, rs);
  const t: Record<string, { n: number; c: number }> = {};
  rs.forEach((r, i) => {
    for (const k of ['all', familyOf.get(r) ?? '?']) {
      const x = (t[k] ??= { n: 0, c: 0 });
      x.n++;
      if (right[i]) x.c++;
    }
  });
  return Object.fromEntries(Object.entries(t).map(([k, x]) => [k, r4(x.c / x.n)]));
};
const show = (a: Record<string, number>): string =>
  Object.entries(a)
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join(' / ');

const counts = (rs: readonly RenderedRanking[]): string => {
  const c = new Map<string, number>();
  for (const r of rs) c.set(familyOf.get(r) ?? '?', (c.get(familyOf.get(r) ?? '?') ?? 0) + 1);
  return [...c].map(([f, n]) => `${f} ${n}`).join(', ');
};
// step 0 is at chance by construction: the head starts at zero, so every pair ties
const curve: { step: number; loss: number; train: Record<string, number>; held: Record<string, number> }[] = [{ step: 0, loss: Number.NaN, train: accuracy(train), held: accuracy(held) }];
console.error(
  `pairs: ${train.length} training (${counts(train)}), ${held.length} held out, other prompts (${counts(held)}); rendered length p50 ${lengths[lengths.length >> 1]}, p90 ${lengths[Math.floor(lengths.length * 0.9)]}, max ${lengths[lengths.length - 1]} of context ${L}; ${tooLong} pairs over the context, ${lateDiff} differing only after 32 reply tokens`,
);

const t0 = Date.now();
await benchTrain({
  model,
  tok,
  pad,
  train,
  val: train.slice(0, 8),
  batch,
  seed,
  steps,
  lr,
  warmup: num('warmup', 20),
  weightDecay: num('wd', 0),
  evalEvery,
  onEval: ({ step, meanLoss }) => {
    const point = { step, loss: r4(meanLoss), train: accuracy(train), held: accuracy(held) };
    curve.push(point);
    console.error(`step ${step}: loss (mean since last) ${point.loss.toFixed(4)}, training pairs ${show(point.train)}; held-out prompts ${show(point.held)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  },
});
console.log(JSON.stringify({ run, from, init, pooling, steps, lr, batch, wd: num('wd', 0), trainPairs: train.length, heldPairs: held.length, epochs: r4((steps * batch) / train.length), seconds: Math.round((Date.now() - t0) / 1000), final: curve[curve.length - 1], curve }));
