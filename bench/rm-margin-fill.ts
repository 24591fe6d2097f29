/**
 * The labelers' preference strength (Ranking.margin, src/data/labelers.ts rankingStrengths)
 * added to a run's cached simulated comparisons written before it existed — what the labelers
 * would have said of each pair, from the rubric alone (a pair the noise reversed gets 0) — so a
 * reward model can be retrained with rm.train.marginScale / strengthWeight on the same rankings
 * (issue #24, docs/journal/rlhf.md "Thirteenth pass").
 *
 *   node dist/bench/rm-margin-fill.js <run> <out-dir>
 *
 * Reads <run>/comparisons/{train,val,val.clean}.jsonl, writes them with `margin` to <out-dir>
 * (settings.json copied), and prints the strengths' distribution over the preferred pairs.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rankingStrengths } from '../src/data/labelers.js';
import { rankingTiers, readPreferencesJSONL } from '../src/data/preferences.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}, { positional: 2 });
const [run, out] = process.argv.slice(2);
if (!run || !out) {
  console.error('usage: node dist/bench/rm-margin-fill.js <run> <out-dir>');
  process.exit(2);
}
const src = join(run, 'comparisons');
if (!existsSync(join(src, 'settings.json'))) {
  console.error(`bench rm-margin-fill: ${src} holds no simulated comparisons (no settings.json): name a run whose rm stage sampled them`);
  process.exit(1);
}
// a copy, never the cache itself: the run's rm stage hashes its rankings, and its checkpoint was trained on these
if (resolve(out) === resolve(src)) {
  console.error(`bench rm-margin-fill: <out-dir> is the run's own comparisons cache (${src}); write the copy elsewhere`);
  process.exit(1);
}
mkdirSync(out, { recursive: true });
copyFileSync(join(src, 'settings.json'), join(out, 'settings.json'));
for (const name of ['train.jsonl', 'val.jsonl', 'val.clean.jsonl']) {
  const f = join(src, name);
  if (!existsSync(f)) continue;
  const { rankings } = readPreferencesJSONL(f);
  const hist = new Map<string, number>();
  const lines = rankings.map((r) => {
    const margin = rankingStrengths(r.prompt, r.completions, r.tiers, r.task);
    const t = rankingTiers(r);
    let p = 0;
    for (let i = 0; i < t.length; i++)
      for (let j = i + 1; j < t.length; j++, p++) {
        if (t[i] === t[j]) continue;
        const k = margin[p].toFixed(2);
        hist.set(k, (hist.get(k) ?? 0) + 1);
      }
    // margin last, as a ranking read back holds it (preferences.ts validateRanking)
    return JSON.stringify({ ...r, margin });
  });
  writeFileSync(join(out, name), `${lines.join('\n')}\n`);
  console.log(
    `${name}: ${rankings.length} rankings; preferred pairs by strength: ${[...hist.entries()]
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ')}`,
  );
}
