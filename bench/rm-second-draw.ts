/**
 * node dist/bench/rm-second-draw.js <run>[,<run>…] [key=value …]
 *
 * The reward models of several runs (sharing the first run's SFT model and preset) scored on
 * a second draw of held-out comparisons: `prompts` test-split prompts (default 144, as
 * `rm.comparisons.valPrompts`) drawn with another seed (default 777), K samples each from the
 * SFT model, ranked noise-free by the simulated labelers, exactly as `gptforge rm` makes its
 * held-out rankings (src/run/rm.ts), then split like rm-eval.json: decidable / knowledge,
 * decided by correctness / form, correctness per family (issue #24, docs/journal/rlhf.md,
 * ninth pass). The settings of the RMs were chosen while watching the first draw (the 297
 * decidable pairs of `comparisons/val.clean.jsonl`), so that figure is optimistic; this one
 * is not. With bare=1 (default), each framed chat prompt is replaced by a bare held-out phrasing
 * of its intent: the held-out chat distribution the first draw had (before the frames).
 *
 * With ensemble=1, every subset of two or more of the runs' RMs is scored too, as the mean of
 * its members' standardized scores (each RM's scores z-scored over all replies of this draw).
 * avoid=777,… drops prompts of those seeds' draws (bare and framed) and of the first run's
 * comparisons/val.clean.jsonl: a validation draw disjoint from both test draws, to choose the
 * RM (or ensemble) on before reading the test draws (rlhf18).
 *
 * cache=<file> keeps the draw's rankings (read back when the file exists: RMs trained later
 * scored on the same draw); only=sample stops after sampling.
 *
 * keys: prompts=144 seed=777 bare=1|0 ensemble=0|1 avoid= cache= only=
 * Prints one JSON line per run (and per ensemble).
 */
import { chatPrompts } from '../src/data/synthetic/chat.js';
import { Rng } from '../src/engine/rng.js';
import { defaultTools } from '../src/infer/tools/registry.js';
import { loadModel, loadRewardModel } from '../src/run/models.js';
import { runPreset } from '../src/run/preset.js';
import { accuracyByDecidingTerm } from '../src/run/rm.js';
import { simulatedComparisons, taskPrompts } from '../src/train/comparisons.js';
import { renderRankings, scoreSequences } from '../src/train/reward.js';
import { readPreferencesJSONL } from '../src/data/preferences.js';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {}, { positional: Number.POSITIVE_INFINITY });

const [runs, ...kv] = process.argv.slice(2);
if (!runs) throw new Error('usage: node dist/bench/rm-second-draw.js <run>[,<run>…] [prompts=144] [seed=777] [bare=1|0] [ensemble=0|1] [avoid=<seed>,…]');
const o = Object.fromEntries(kv.map((a) => a.split('=') as [string, string]));
const n = Number(o.prompts ?? 144);
const seed = Number(o.seed ?? 777);
const bare = (o.bare ?? '1') !== '0';
const list = runs.split(',');
const c = runPreset(list[0]).rm?.comparisons;
if (!c) throw new Error(`${list[0]}: the preset has no rm section`);
// bare: a framed chat prompt is replaced by a bare test phrasing of the same intent (seeded), so
// the families and chat's intents keep the mix taskPrompts gives them
const chatTest = chatPrompts('test');
const framedIntent = new Map(chatTest.filter((p) => p.frame !== '{p}').map((p) => [p.prompt, p.intent]));
const bareByIntent = new Map<string, string[]>();
for (const p of chatTest) if (p.frame === '{p}') bareByIntent.set(p.intent, [...(bareByIntent.get(p.intent) ?? []), p.prompt]);
const drawPrompts = (count: number, s: number, asBare: boolean): { prompt: string; task?: string }[] => {
  const rng = new Rng(s);
  return taskPrompts('test', count, s).map((p) => {
    const intent = asBare ? framedIntent.get(p.prompt) : undefined;
    if (intent === undefined) return p;
    const list = bareByIntent.get(intent)!;
    return { ...p, prompt: list[rng.int(list.length)] };
  });
};
const avoidSeeds = (o.avoid ?? '')
  .split(',')
  .filter((x) => x !== '')
  .map(Number);
const avoided = new Set<string>();
for (const s of avoidSeeds) for (const b of [true, false]) for (const p of drawPrompts(n, s, b)) avoided.add(p.prompt);
if (avoidSeeds.length > 0) for (const r of readPreferencesJSONL(join(list[0], 'comparisons', 'val.clean.jsonl'), { onBad: 'skip' }).rankings) avoided.add(r.prompt);
const prompts = drawPrompts(n, seed, bare).filter((p) => !avoided.has(p.prompt));
if (avoidSeeds.length > 0) console.error(`avoid ${avoidSeeds.join(',')} and the first draw: ${n - prompts.length} of ${n} prompts dropped`);
const t0 = Date.now();
// cache=<file>: the draw's noise-free rankings read from the file when it exists, else sampled and
// written there, so RMs trained later are scored on the same draw without sampling it again
const cache = o.cache as string | undefined;
const val =
  cache !== undefined && existsSync(cache)
    ? { clean: readPreferencesJSONL(cache).rankings }
    : (() => {
        const sft = loadModel(list[0], 'sft');
        const v = simulatedComparisons(sft.model, sft.tok, prompts, { k: c.k, temperature: c.temperature, maxTokens: c.maxTokens, tools: defaultTools(), noise: 0, seed });
        if (cache !== undefined) writeFileSync(cache, v.clean.map((r) => `${JSON.stringify(r)}\n`).join(''));
        return v;
      })();
console.error(`${prompts.length} prompts × ${c.k} samples: ${val.clean.length} noise-free rankings (${((Date.now() - t0) / 1000).toFixed(0)} s${cache !== undefined ? `, cache ${cache}` : ''})`);
if (o.only === 'sample') process.exit(0);
const scored: { run: string; scores: Map<string, number> }[] = [];
for (const run of list) {
  const rm = loadRewardModel(run, 'rm');
  const rendered = renderRankings(rm.tok, val.clean, rm.model.config.blockSize);
  const pad = rm.tok.specialId('<|pad|>');
  const split = accuracyByDecidingTerm(rm.model, val.clean, rendered, pad);
  console.log(JSON.stringify({ run, prompts: prompts.length, seed, bare, byContext: split.byContext, byBoth: split.byBoth, correctnessByFamily: split.correctnessByFamily }));
  if (o.ensemble !== '1') continue;
  // every reply of the draw scored once; z-scored over the draw so members weigh alike
  const seqs = rendered.rendered.flatMap((r) => r.completions);
  const raw = scoreSequences(rm.model, seqs, pad);
  const mean = raw.reduce((a, x) => a + x, 0) / raw.length;
  const sd = Math.sqrt(raw.reduce((a, x) => a + (x - mean) ** 2, 0) / raw.length) || 1;
  scored.push({ run, scores: new Map(seqs.map((q, i) => [q.join(','), (raw[i] - mean) / sd])) });
}
if (o.ensemble === '1') {
  // the runs share the SFT run's tokenizer (checked: same rendering), so one rendering serves all
  const rm0 = loadRewardModel(list[0], 'rm');
  const rendered = renderRankings(rm0.tok, val.clean, rm0.model.config.blockSize);
  for (let mask = 1; mask < 1 << scored.length; mask++) {
    const members = scored.filter((_, i) => mask & (1 << i));
    if (members.length < 2) continue;
    const scorer = (q: readonly number[][]): number[] =>
      q.map((x) => {
        const key = x.join(',');
        return (
          members.reduce((a, m) => {
            const v = m.scores.get(key);
            if (v === undefined) throw new Error(`${m.run}: a reply rendered otherwise than by ${list[0]}'s tokenizer`);
            return a + v;
          }, 0) / members.length
        );
      });
    const split = accuracyByDecidingTerm(scorer, val.clean, rendered, 0);
    console.log(JSON.stringify({ run: `ensemble(${members.map((m) => m.run).join('+')})`, prompts: prompts.length, seed, bare, byContext: split.byContext, byBoth: split.byBoth, correctnessByFamily: split.correctnessByFamily }));
  }
}
