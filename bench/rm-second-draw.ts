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
 * keys: prompts=144 seed=777 bare=1|0
 * Prints one JSON line per run.
 */
import { chatPrompts } from '../src/data/synthetic/chat.js';
import { Rng } from '../src/engine/rng.js';
import { defaultTools } from '../src/infer/tools/registry.js';
import { loadModel, loadRewardModel } from '../src/run/models.js';
import { runPreset } from '../src/run/preset.js';
import { accuracyByDecidingTerm } from '../src/run/rm.js';
import { simulatedComparisons, taskPrompts } from '../src/train/comparisons.js';
import { renderRankings } from '../src/train/reward.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {}, { positional: Number.POSITIVE_INFINITY });

const [runs, ...kv] = process.argv.slice(2);
if (!runs) throw new Error('usage: node dist/bench/rm-second-draw.js <run>[,<run>…] [prompts=144] [seed=777] [bare=1|0]');
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
const rng = new Rng(seed);
const prompts = taskPrompts('test', n, seed).map((p) => {
  const intent = bare ? framedIntent.get(p.prompt) : undefined;
  if (intent === undefined) return p;
  const list = bareByIntent.get(intent)!;
  return { ...p, prompt: list[rng.int(list.length)] };
});
const sft = loadModel(list[0], 'sft');
const t0 = Date.now();
const val = simulatedComparisons(sft.model, sft.tok, prompts, { k: c.k, temperature: c.temperature, maxTokens: c.maxTokens, tools: defaultTools(), noise: 0, seed });
console.error(`${prompts.length} prompts × ${c.k} samples: ${val.clean.length} noise-free rankings (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
for (const run of list) {
  const rm = loadRewardModel(run, 'rm');
  const rendered = renderRankings(rm.tok, val.clean, rm.model.config.blockSize);
  const split = accuracyByDecidingTerm(rm.model, val.clean, rendered, rm.tok.specialId('<|pad|>'));
  console.log(JSON.stringify({ run, prompts: prompts.length, seed, bare, byContext: split.byContext, byBoth: split.byBoth, correctnessByFamily: split.correctnessByFamily }));
}
