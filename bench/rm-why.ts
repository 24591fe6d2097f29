/**
 * node dist/bench/rm-why.js <run> [stage=rm] [comparisons=<run>/comparisons] [top=0]
 *
 * Why a reward model misses decidable pairs (issue #24), from a run's own cached comparisons
 * and RM, without sampling anything (a minute of scoring on the small preset). Prints one JSON
 * object with:
 *
 * - `heldOut`: the noise-free held-out pairs (`val.clean.jsonl`) per family and deciding term
 *   (correctness: the checker accepts one reply and not the other; preferences: form, tools,
 *   length, repetition), pairs and the RM's accuracy; and the decidable correctness pairs split
 *   by how the rest of the rubric (every term but correctness) ranks them: `aligned` (the right
 *   reply is also the better-formed one, by more than the tie margin), `opposed` (the wrong one
 *   is better-formed) or `neutral` (within the margin). A reader of form alone gets `aligned`
 *   right, `opposed` wrong and `neutral` at chance; an RM that reads the fact gets all three.
 * - `arithmetic`: its correctness pairs by the calculator: `right:<r>|wrong:<w>`, each side
 *   `echo` (a calculator result the reply's answer repeats), `calc` (a result, not repeated),
 *   `none` (no calculator result): whether the pair is decidable by comparing the answer with the
 *   tool output the RM sees. And the decidable form pairs (`decidablePreferencesByDecidingTerm`)
 *   by the rubric term that differs most between the two replies: `wellFormed`, `length`,
 *   `repetition`, `calculator`, `nearMiss` (two wrong answers, one closer: readable only where
 *   the tool output shows the true value), `touches` (term 7: characters, variety), ….
 *   (`heldOut.byFamilyAndTerm` is also rm-eval.json's `accuracyCleanByFamilyAndTerm`.)
 * - `training`: the pairs the RM trained on (`train.jsonl`, the labelers' noisy rankings, and the
 *   contrast pairs if any are cached) per family and term, re-judged by the noise-free rubric, and
 *   the share the labelers put the wrong way round (e_j as the RM saw it, per term).
 * - `lengths`: per family, the rendered length of prompt + reply + `<|reward|>` (p50, p95, max)
 *   against the model's context, how many replies would not fit (a ranking with one is dropped,
 *   never truncated), and the share of replies with no closing punctuation (mostly replies cut
 *   at `rm.comparisons.maxTokens`, which the rubric calls not well-formed).
 *
 * With top=N, also the N held-out decidable correctness pairs the RM gets most wrong, with
 * their texts (to read what it prefers instead).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { completionMessages, completionText, rankingConversation, readPreferencesJSONL, type Completion, type Ranking } from '../src/data/preferences.js';
import { renderForReward } from '../src/data/chat.js';
import { correctnessSource } from '../src/data/decidable.js';
import { rubricScore, TIE_MARGIN } from '../src/data/labelers.js';
import { loadRewardModel } from '../src/run/models.js';
import { scoreSequences } from '../src/train/reward.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}, { positional: Number.POSITIVE_INFINITY });

const [run, ...kv] = process.argv.slice(2);
if (!run) throw new Error('usage: node dist/bench/rm-why.js <run> [stage=rm] [comparisons=<dir>] [top=0]');
const o = Object.fromEntries(kv.map((a) => a.split('=') as [string, string]));
const stage = o.stage ?? 'rm';
const dir = o.comparisons ?? join(run, 'comparisons');
const top = Number(o.top ?? 0);

interface Tally {
  pairs: number;
  correct: number;
}
const bump = (m: Record<string, Tally>, k: string, ok: boolean): void => {
  const t = (m[k] ??= { pairs: 0, correct: 0 });
  t.pairs++;
  if (ok) t.correct++;
};
const withAccuracy = (m: Record<string, Tally>): Record<string, Tally & { accuracy: number }> =>
  Object.fromEntries(
    Object.entries(m)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, t]) => [k, { ...t, accuracy: Math.round((1e4 * t.correct) / t.pairs) / 1e4 }]),
  );

/** A reply's rubric: the checker's verdict and the score of every other term. */
const judge = (r: Ranking, c: Completion): { correct: boolean | null; rest: number } => {
  const s = rubricScore(r.prompt, c, r.task);
  return { correct: s.correct, rest: s.score - (s.correct ? 10 : 0) };
};

/** The rubric's terms (labelers.ts), read from its reasons; `touches` is the rest (term 7 and near misses under 0.01). */
const TERMS: [string, RegExp][] = [
  ['correct', /^correct \(/],
  ['nearMiss', /^near miss/],
  ['calculator', /^used the calculator/],
  ['toolErrors', /tool calls? failed/],
  ['needlessTool', /^needless tool call/],
  ['wellFormed', /^well-formed/],
  ['length', /^long \(/],
  ['repetition', /^repetitive/],
  ['manners', /^polite refusal/],
];
const termScores = (r: Ranking, c: Completion): Record<string, number> => {
  const s = rubricScore(r.prompt, c, r.task);
  const out: Record<string, number> = Object.fromEntries([...TERMS.map(([k]) => [k, 0]), ['touches', 0]]);
  let listed = 0;
  for (const reason of s.reasons) {
    const m = /^([+−])(\d+(?:\.\d+)?) (.*)$/.exec(reason);
    if (!m) continue;
    const v = (m[1] === '−' ? -1 : 1) * Number(m[2]);
    const term = TERMS.find(([, re]) => re.test(m[3]));
    if (!term || v === 0) continue;
    out[term[0]] += v;
    listed += v;
  }
  out.touches = s.score - listed;
  return out;
};
/** The term whose difference between two replies is the largest (what decided a form pair). */
const decidingTerm = (a: Record<string, number>, b: Record<string, number>): string => {
  let best = 'touches';
  let gap = -1;
  for (const k of Object.keys(a)) {
    const d = Math.abs(a[k] - b[k]);
    if (d > gap) {
      gap = d;
      best = k;
    }
  }
  return best;
};

/** How an arithmetic reply uses the calculator: echo (answer repeats a result), calc (a result, not repeated), none. */
const calculatorUse = (c: Completion): string => {
  const msgs = completionMessages(c);
  const results = msgs.filter((m, i) => i > 0 && m.role === 'tool' && msgs[i - 1].tool_call?.name.toLowerCase() === 'calculator' && !/^error/i.test(m.content.trim())).map((m) => m.content.trim().replace(/,/g, ''));
  if (results.length === 0) return 'none';
  const nums = completionText(c).match(/[-−]?\d[\d,]*(?:\.\d+)?/g) ?? [];
  const last = nums.length > 0 ? nums[nums.length - 1].replace(/,/g, '').replace('−', '-') : undefined;
  return last !== undefined && results.some((x) => Number(x) === Number(last)) ? 'echo' : 'calc';
};

const rm = loadRewardModel(run, stage);
const pad = rm.tok.specialId('<|pad|>');
const L = rm.model.config.blockSize;
const read = (f: string): Ranking[] => (existsSync(f) ? readPreferencesJSONL(f, { onBad: 'skip' }).rankings : []);
const val = read(join(dir, 'val.clean.jsonl'));
if (val.length === 0) throw new Error(`${dir}/val.clean.jsonl: no held-out rankings (run gptforge rm first)`);

// --- held-out pairs, scored by the RM
const seqs = val.map((r) => r.completions.map((c) => renderForReward(rm.tok, rankingConversation(r.prompt, c))));
const fits = seqs.map((s) => s.every((x) => x.length <= L));
const flat = seqs.filter((_, i) => fits[i]).flat();
const t0 = Date.now();
const scores = scoreSequences(rm.model, flat, pad);
console.error(`scored ${flat.length} held-out replies in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
const byFamilyTerm: Record<string, Tally> = {};
const byAlignment: Record<string, Tally> = {};
const formByTerm: Record<string, Tally> = {};
const arithmetic: Record<string, Tally> = {};
const worst: { gap: number; family: string; prompt: string; right: string; wrong: string; rightScore: number; wrongScore: number }[] = [];
let off = 0;
val.forEach((r, ri) => {
  if (!fits[ri]) return;
  const s = scores.slice(off, off + r.completions.length);
  off += r.completions.length;
  const j = r.completions.map((c) => judge(r, c));
  const family = r.task ?? '?';
  for (let a = 0; a < s.length; a++) {
    for (let b = a + 1; b < s.length; b++) {
      if (r.tiers !== undefined && r.tiers[a] === r.tiers[b]) continue;
      const ok = s[a] > s[b];
      const term = j[a].correct !== j[b].correct ? 'correctness' : 'preferences';
      bump(byFamilyTerm, `${family}/${term}`, ok);
      if (term === 'preferences' && correctnessSource(r.task) === 'decidable') bump(formByTerm, `${family}/${decidingTerm(termScores(r, r.completions[a]), termScores(r, r.completions[b]))}`, ok);
      if (term !== 'correctness' || correctnessSource(r.task) !== 'decidable') continue;
      // in val.clean the earlier reply is the better, so the right one; read from the verdicts
      // anyway, so a file in another order (a noisy one) splits the same pairs the same way
      const [x, y] = j[a].correct === true ? [a, b] : [b, a];
      const right = s[x] > s[y];
      const d = j[x].rest - j[y].rest;
      const align = d > TIE_MARGIN ? 'aligned' : d < -TIE_MARGIN ? 'opposed' : 'neutral';
      bump(byAlignment, `${family}/${align}`, right);
      bump(byAlignment, `all/${align}`, right);
      if (family === 'arithmetic') bump(arithmetic, `right:${calculatorUse(r.completions[x])}|wrong:${calculatorUse(r.completions[y])}`, right);
      if (top > 0 && !right) worst.push({ gap: s[y] - s[x], family, prompt: r.prompt, right: completionText(r.completions[x]), wrong: completionText(r.completions[y]), rightScore: s[x], wrongScore: s[y] });
    }
  }
});

// --- training pairs: the labelers' order against the noise-free rubric
const train = [...read(join(dir, 'train.jsonl')), ...read(join(dir, 'contrast-sampled.jsonl'))];
const training: Record<string, { pairs: number; flipped: number }> = {};
for (const r of train) {
  const sc = r.completions.map((c) => rubricScore(r.prompt, c, r.task));
  for (let a = 0; a < sc.length; a++) {
    for (let b = a + 1; b < sc.length; b++) {
      if (r.tiers !== undefined && r.tiers[a] === r.tiers[b]) continue;
      if (Math.abs(sc[a].score - sc[b].score) < TIE_MARGIN) continue; // a tie to the rubric: no true order
      const term = sc[a].correct !== sc[b].correct ? 'correctness' : 'preferences';
      const k = `${r.task ?? '?'}/${term}`;
      const t = (training[k] ??= { pairs: 0, flipped: 0 });
      t.pairs++;
      if (sc[a].score < sc[b].score) t.flipped++;
    }
  }
}

// --- lengths against the context
const lengths: Record<string, { replies: number; p50: number; p95: number; max: number; overContext: number; noClosingPunctuation: number }> = {};
const perFamily = new Map<string, { len: number[]; open: number }>();
val.forEach((r, ri) =>
  r.completions.forEach((c, ci) => {
    const f = perFamily.get(r.task ?? '?') ?? { len: [], open: 0 };
    f.len.push(seqs[ri][ci].length);
    if (!/[.!?]["'”’)\]]?$/.test(completionText(c).trim())) f.open++;
    perFamily.set(r.task ?? '?', f);
  }),
);
for (const [k, f] of [...perFamily].sort(([a], [b]) => (a < b ? -1 : 1))) {
  const s = [...f.len].sort((a, b) => a - b);
  lengths[k] = { replies: s.length, p50: s[Math.floor(s.length / 2)], p95: s[Math.floor(0.95 * (s.length - 1))], max: s[s.length - 1], overContext: s.filter((x) => x > L).length, noClosingPunctuation: Math.round((1e3 * f.open) / s.length) / 1e3 };
}

worst.sort((a, b) => b.gap - a.gap);
console.log(
  JSON.stringify(
    {
      run,
      stage,
      comparisons: dir,
      context: L,
      heldOut: { rankings: val.length, droppedOverContext: fits.filter((x) => !x).length, byFamilyAndTerm: withAccuracy(byFamilyTerm), decidableCorrectnessByAlignment: withAccuracy(byAlignment), decidablePreferencesByDecidingTerm: withAccuracy(formByTerm) },
      arithmetic: withAccuracy(arithmetic),
      training: Object.fromEntries(
        Object.entries(training)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, t]) => [k, { ...t, flipRate: Math.round((1e4 * t.flipped) / t.pairs) / 1e4 }]),
      ),
      lengths,
      ...(top > 0 ? { worst: worst.slice(0, top) } : {}),
    },
    null,
    1,
  ),
);
