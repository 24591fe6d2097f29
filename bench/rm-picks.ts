/**
 * node dist/bench/rm-picks.js <run> <rm>[,<rm>…] [key=value …]
 *
 * Is a reward model's best-of-n pick correct more often than a random sample? (issue #24,
 * docs/journal/rlhf.md, eleventh pass.) `prompts` prompts of `split` (default test: a fresh
 * draw none of the RMs trained on) of `families`, `n` samples each from <run>'s SFT model
 * (T = `temperature`, `maxTokens`), every sample checked by its family's checker (the rubric's
 * `correct`, after the fact), then each RM's favourite per prompt. Per RM and family: the
 * picks' correct share, the chance share (a uniform pick's expectation), the oracle share
 * (any sample correct), the paired gain with its 95% interval, and the same among the prompts
 * whose samples are mixed (the only ones a pick can change) — src/train/reward-picks.ts.
 *
 * <rm> is a run directory (its `rm/` stage) or run:stage. ensemble=1 also scores every subset of
 * two or more RMs as the mean of their scores, each z-scored over all samples of the draw (as
 * bench/rm-second-draw.ts). out=<file.jsonl> pick=<index or name> writes that scorer's picks as
 * conversations for `gptforge sft --data` (rejection-sampling fine-tuning; bench/rft-picks.ts).
 * cache=<file.json> keeps the samples and checks, so another RM is scored on the same draw.
 *
 * keys: prompts=300 n=8 split=test|train seed=31 temperature=1 maxTokens=80
 *       families=arithmetic,syllables,rhymes,chat ensemble=0|1 out= pick= cache=
 * Prints one JSON line per scorer.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rubricScore } from '../src/data/labelers.js';
import { completionMessages, type Completion, rankingConversation } from '../src/data/preferences.js';
import { ChatEngine } from '../src/infer/engine.js';
import { defaultTools } from '../src/infer/tools/registry.js';
import { loadModel, loadRewardModel } from '../src/run/models.js';
import { promptReplies, taskPrompts } from '../src/train/comparisons.js';
import { argmax, pickRates } from '../src/train/reward-picks.js';
import { scoreConversations } from '../src/train/reward.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {}, { positional: Number.POSITIVE_INFINITY });

const [run, rms, ...kv] = process.argv.slice(2);
if (!run || !rms) throw new Error('usage: node dist/bench/rm-picks.js <run> <rm>[,<rm>…] [prompts=300] [n=8] [split=test] [ensemble=0|1] [out=… pick=…] [cache=…]');
const o = Object.fromEntries(kv.map((a) => a.split('=') as [string, string]));
const count = Number(o.prompts ?? 300);
const n = Number(o.n ?? 8);
const split = (o.split ?? 'test') as 'train' | 'test';
if (split !== 'train' && split !== 'test') throw new Error(`split=${String(split)}: train or test`);
const seed = Number(o.seed ?? 31);
const temperature = Number(o.temperature ?? 1);
const maxTokens = Number(o.maxTokens ?? 80);
const families = (o.families ?? 'arithmetic,syllables,rhymes,chat').split(',');
const settings = { run, count, n, split, seed, temperature, maxTokens, families };

interface Drawn {
  prompt: string;
  task: string;
  cands: Completion[];
  correct: boolean[];
}
let drawn: Drawn[] | undefined;
if (o.cache && existsSync(o.cache)) {
  const c = JSON.parse(readFileSync(o.cache, 'utf8')) as { settings: unknown; drawn: Drawn[] };
  if (JSON.stringify(c.settings) === JSON.stringify(settings)) drawn = c.drawn;
  else console.error(`${o.cache}: made with other settings; sampling again`);
}
if (!drawn) {
  const t0 = Date.now();
  const sft = loadModel(run, 'sft');
  const engine = new ChatEngine(sft.model, sft.tok);
  drawn = [];
  taskPrompts(split, count, seed, families).forEach((p, i) => {
    // as rft-picks: a reply that says and calls nothing is not a candidate
    const cands = promptReplies(engine, p.prompt, n, { temperature, maxTokens, tools: defaultTools(), seed: seed * 100_003 + i }).filter((c) => c.messages.some((m) => m.tool_call !== undefined || m.content.trim() !== ''));
    if (cands.length === 0) return;
    drawn!.push({ prompt: p.prompt, task: p.task ?? '', cands, correct: cands.map((c) => rubricScore(p.prompt, c, p.task).correct === true) });
  });
  console.error(`${drawn.length} prompts × ${n} samples of the ${split} split (${Math.round((Date.now() - t0) / 1000)} s)`);
  if (o.cache) {
    writeFileSync(`${o.cache}.tmp`, JSON.stringify({ settings, drawn }));
    renameSync(`${o.cache}.tmp`, o.cache);
  }
}

// every RM's scores of every sample, z-scored over the draw so ensemble members weigh alike
const scorers: { name: string; scores: number[][] }[] = [];
const z: number[][][] = [];
for (const spec of rms.split(',')) {
  const [dir, stage] = spec.includes(':') ? spec.split(':') : [spec, 'rm'];
  const rm = loadRewardModel(dir, stage);
  const flat = scoreConversations(
    rm.model,
    rm.tok,
    drawn.flatMap((d) => d.cands.map((c) => rankingConversation(d.prompt, c))),
  );
  const mean = flat.reduce((a, x) => a + x, 0) / flat.length;
  const sd = Math.sqrt(flat.reduce((a, x) => a + (x - mean) ** 2, 0) / flat.length) || 1;
  let at = 0;
  const scores = drawn.map((d) => d.cands.map(() => flat[at++]));
  scorers.push({ name: spec, scores });
  z.push(scores.map((s) => s.map((x) => (x - mean) / sd)));
}
if (o.ensemble === '1') {
  for (let mask = 1; mask < 1 << z.length; mask++) {
    const members = z.map((_, i) => i).filter((i) => mask & (1 << i));
    if (members.length < 2) continue;
    scorers.push({ name: `ensemble(${members.map((i) => scorers[i].name).join('+')})`, scores: drawn.map((d, j) => d.cands.map((_, k) => members.reduce((a, i) => a + z[i][j][k], 0) / members.length)) });
  }
}
const round = (x: number): number => Math.round(x * 1000) / 1000;
for (const s of scorers) {
  const r = pickRates(drawn.map((d, j) => ({ family: d.task, scores: s.scores[j], correct: d.correct })));
  const fmt = (x: ReturnType<typeof pickRates>['all']) => ({ prompts: x.prompts, mixed: x.mixed, picked: round(x.pickedCorrect), chance: round(x.chanceCorrect), oracle: round(x.oracleCorrect), gain: round(x.gain), ci95: round(x.gainCi95), mixedPicked: round(x.mixedPicked), mixedChance: round(x.mixedChance) });
  console.log(JSON.stringify({ rm: s.name, split, n, all: fmt(r.all), byFamily: Object.fromEntries(Object.entries(r.byFamily).map(([f, x]) => [f, fmt(x)])) }));
}
if (o.out) {
  const which = o.pick === undefined ? scorers[0] : (scorers.find((s) => s.name === o.pick) ?? scorers[Number(o.pick)]);
  if (!which) throw new Error(`pick=${o.pick}: no such scorer (${scorers.map((s) => s.name).join(', ')})`);
  const lines = drawn.map((d, j) => JSON.stringify({ messages: [{ role: 'user', content: d.prompt }, ...completionMessages(d.cands[argmax(which.scores[j])])] }));
  writeFileSync(`${o.out}.tmp`, `${lines.join('\n')}\n`);
  renameSync(`${o.out}.tmp`, o.out);
  console.error(`${o.out}: ${lines.length} picks of ${which.name}`);
}
