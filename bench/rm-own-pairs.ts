/**
 * node dist/bench/rm-own-pairs.js <run>[,<run>…] [stage] [n] [k]
 *
 * Several runs (comma-separated, sharing the first run's SFT model) are scored on the same
 * fresh pairs, sampled once; one JSON line each.
 * Does a reward model read correctness in the SFT model's own samples, or remember it? (issue
 * #24, docs/journal/rlhf.md "Seventh pass".) Two sets of right-against-wrong pairs of the run's
 * SFT samples, both judged noise-free by the family's checker (src/train/comparisons.ts
 * `rightWrongPairs`): the training pairs the RM saw (`comparisons/contrast-sampled.jsonl`, the
 * first 2,000, re-judged without the labelers' noise) and n fresh prompts of the **test**
 * split (default 300; syllables and chat, the families of the held-out pairs decided by
 * correctness), K samples each (default 8), at most 4 pairs a prompt. Prints one JSON line:
 * per family and set, the share of pairs the RM scores right above wrong (chance 50%).
 * A wide gap (training far above test) means the RM learnt which answers are right for the
 * training prompts' words, not the rule that decides it from the context.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { renderForReward } from '../src/data/chat.js';
import { rankingConversation, readPreferencesJSONL, type Ranking } from '../src/data/preferences.js';
import { Rng } from '../src/engine/rng.js';
import { defaultTools } from '../src/infer/tools/registry.js';
import { type LoadedModel, loadModel, loadRewardModel } from '../src/run/models.js';
import { runPreset } from '../src/run/preset.js';
import { rightFirst, sampledContrasts, taskExamples } from '../src/train/comparisons.js';
import { scoreSequences } from '../src/train/reward.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {}, { positional: 4 });

const [runs, stage, nArg, kArg] = process.argv.slice(2);
if (!runs) throw new Error('usage: node dist/bench/rm-own-pairs.js <run>[,<run>…] [stage] [n] [k]');
const [run, ...others] = runs.split(',');

/** Share of pairs scored in the checker's order, per family, of rankings [a, b] (a's verdict given by the checker, not the order). */
function accuracy(rm: LoadedModel, rankings: readonly Ranking[]): Record<string, { pairs: number; accuracy: number }> {
  const L = rm.model.config.blockSize;
  const kept = rankings
    .map((r) => {
      const pair = rightFirst(r);
      if (!pair) return undefined;
      const seqs = pair.map((c) => renderForReward(rm.tok, rankingConversation(r.prompt, c)));
      return seqs.every((s) => s.length <= L) ? { task: r.task ?? '?', seqs } : undefined;
    })
    .filter((x) => x !== undefined);
  const scores = scoreSequences(
    rm.model,
    kept.flatMap((k) => k.seqs),
    rm.tok.specialId('<|pad|>'),
  );
  const acc: Record<string, { pairs: number; correct: number }> = {};
  kept.forEach((k, i) => {
    for (const key of [k.task, 'all']) {
      const t = (acc[key] ??= { pairs: 0, correct: 0 });
      t.pairs++;
      if (scores[2 * i] > scores[2 * i + 1]) t.correct++;
    }
  });
  return Object.fromEntries(Object.entries(acc).map(([f, t]) => [f, { pairs: t.pairs, accuracy: Number((t.correct / t.pairs).toFixed(3)) }]));
}

/** The first 2,000 of a run's own-sample training pairs (seeded shuffle), or none. */
const trainPairs = (r: string): Ranking[] => {
  const cache = join(r, 'comparisons', 'contrast-sampled.jsonl');
  return existsSync(cache) ? new Rng(5).shuffle(readPreferencesJSONL(cache, { onBad: 'skip' }).rankings).slice(0, 2000) : [];
};
const c = runPreset(run).rm?.comparisons;
const { model, tok } = loadModel(run, 'sft');
const items = taskExamples('test', Number(nArg ?? 300), 8080, ['syllables', 'chat']);
const test = sampledContrasts(model, tok, items, { k: Number(kArg ?? 8), temperature: c?.temperature ?? 1, maxTokens: c?.maxTokens ?? 80, tools: defaultTools(), seed: 8080, noise: 0, maxPairsPerPrompt: 4 });
for (const r of [run, ...others]) {
  const rm = loadRewardModel(r, stage ?? 'rm');
  console.log(JSON.stringify({ run: r, stage: stage ?? 'rm', train: accuracy(rm, trainPairs(r)), test: accuracy(rm, test.rankings), testTally: test.tally }));
}
