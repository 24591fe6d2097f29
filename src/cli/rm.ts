import { existsSync } from 'node:fs';
import { interruptSignal } from '../util/interrupt.js';
import { join } from 'node:path';
import type { Command } from './command.js';
import { parseArgs, formatHelp, str, num, strs, bool, type FlagSpecs } from '../util/args.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { renderForReward } from '../data/chat.js';
import { completionMessages, rankingConversation, readPreferencesJSONL, type Ranking } from '../data/preferences.js';
import type { OnBad } from '../data/chat.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { defaultTools } from '../infer/tools/registry.js';
import { simulatedComparisons, taskPrompts } from '../train/comparisons.js';
import { ShuffledLoader, pairAccuracyByKind, renderRankings, type RenderedRankings, scoreSequences, trainRewardModel, type PairTally, type RenderedRanking } from '../train/reward.js';
import { rubricScore } from '../data/labelers.js';
import type { GPT } from '../model/gpt.js';
import { fnv1a } from '../data/synthetic/tasks.js';
import { loadModel } from './models.js';
import { runPreset } from './sft.js';
import type { RmPreset } from '../run/presets.js';
import { holdRunLock } from '../util/lock.js';
import { LORA_FLAGS, adapterOptions } from './lora-flags.js';
import { prepareAdapter } from '../train/adapter.js';

const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory with an SFT model', alias: 'r', default: 'runs/small' },
  rankings: { kind: 'strings', help: 'your rankings/pairs JSONL (repeatable); default: simulated labelers on the SFT model\'s samples' },
  'on-bad': { kind: 'string', help: 'a bad ranking line: error (default) or skip', default: 'error' },
  noise: { kind: 'number', help: 'simulated labelers\' error rate per adjacent comparison (default: the preset\'s)' },
  'max-steps': { kind: 'number', help: 'optimizer steps' },
  lr: { kind: 'number', help: 'peak learning rate' },
  fresh: { kind: 'boolean', help: 'start the reward model over (and re-sample the simulated comparisons)' },
  quiet: { kind: 'boolean', help: 'no progress bars' },
  ...LORA_FLAGS,
};

const SCORE_FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory with a reward model (rm/) or an rm checkpoint', alias: 'r', default: 'runs/small' },
  prompt: { kind: 'string', help: 'the user prompt', alias: 'p' },
  completion: { kind: 'strings', help: 'a reply to score (repeatable: scores each)', alias: 'c' },
};

function writeRankings(file: string, rankings: readonly Ranking[]): void {
  atomicWriteFile(file, rankings.map((r) => JSON.stringify(r)).join('\n') + (rankings.length ? '\n' : ''));
}

function readRankings(file: string, onBad: OnBad = 'error'): Ranking[] {
  return readPreferencesJSONL(file, { onBad }).rankings;
}

/**
 * Noise-free held-out accuracy split by the rubric term that decided each pair:
 * 'correctness' when the task checker accepts one reply and not the other, 'preferences'
 * (tools, form, length, repetition, manners) when both are equally right or wrong. The first
 * needs the model to know the answers; the second only to read the reply's form.
 */
function accuracyByDecidingTerm(model: GPT, rankings: readonly Ranking[], rendered: RenderedRankings, pad: number): Record<string, PairTally & { accuracy: number }> {
  const verdicts = rankings.map((r) => r.completions.map((c) => rubricScore(r.prompt, c, r.task).correct));
  const tallies = pairAccuracyByKind(model, rendered.rendered, pad, (ri, i, j) => {
    const v = verdicts[rendered.sources[ri]];
    return v[i] !== v[j] ? 'correctness' : 'preferences';
  });
  return Object.fromEntries(Object.entries(tallies).sort().map(([k, t]) => [k, { ...t, accuracy: t.correct / t.pairs }]));
}

/**
 * The comparisons the reward model learns from: the user's files (10% of prompts held out
 * by hash), or simulated labelers ranking the SFT model's samples (train prompts from the
 * task families' train split, held-out prompts from their test split, cached in the run).
 */
function comparisons(runDir: string, cfg: RmPreset, a: ReturnType<typeof parseArgs>, quiet: boolean): { train: Ranking[]; val: Ranking[]; valClean: Ranking[] | null } {
  const onBad = str(a, 'on-bad') as OnBad;
  if (onBad !== 'error' && onBad !== 'skip') throw new GptforgeError(`--on-bad must be "error" or "skip", not "${onBad}"`);
  const files = strs(a, 'rankings');
  if (files.length > 0) {
    const all = files.flatMap((f) => readRankings(f, onBad));
    const isVal = (r: Ranking): boolean => fnv1a(r.prompt) % 10 === 0;
    return { train: all.filter((r) => !isVal(r)), val: all.filter(isVal), valClean: null };
  }
  const dir = join(runDir, 'comparisons');
  const paths = { train: join(dir, 'train.jsonl'), val: join(dir, 'val.jsonl'), valClean: join(dir, 'val.clean.jsonl') };
  if (!bool(a, 'fresh') && Object.values(paths).every((p) => existsSync(p))) {
    if (!quiet) console.error(`rm: reusing the simulated comparisons in ${dir} (--fresh to re-sample)`);
    // our own files: a line an older version wrote and the reader now refuses is skipped, not
    // fatal. (Files from before ties have no "tiers": they read as strict orders, as written.)
    const read = (f: string): Ranking[] => {
      const r = readPreferencesJSONL(f, { onBad: 'skip' });
      if (r.skipped.length > 0 && !quiet) console.error(`rm: skipped ${r.skipped.length} unreadable rankings in ${f} (first: ${r.skipped[0].reason})`);
      return r.rankings;
    };
    return { train: read(paths.train), val: read(paths.val), valClean: read(paths.valClean) };
  }
  const { model, tok } = loadModel(runDir, 'sft');
  const c = cfg.comparisons;
  const noise = num(a, 'noise') ?? c.noise;
  const seed = c.seed ?? 4242;
  const opts = { k: c.k, temperature: c.temperature, maxTokens: c.maxTokens, tools: defaultTools(), noise };
  const bar = new Progress({ label: 'comparisons', total: c.prompts + c.valPrompts, unit: 'prompt', quiet });
  const train = simulatedComparisons(model, tok, taskPrompts('train', c.prompts, seed), { ...opts, seed, onRanking: (d) => bar.update(d) });
  const val = simulatedComparisons(model, tok, taskPrompts('test', c.valPrompts, seed + 1), { ...opts, seed: seed + 1, onRanking: (d) => bar.update(c.prompts + d) });
  bar.finish();
  writeRankings(paths.train, train.noisy);
  writeRankings(paths.val, val.noisy);
  writeRankings(paths.valClean, val.clean);
  if (!quiet) console.error(`rm: ${train.noisy.length} training and ${val.noisy.length} held-out rankings of ${c.k} SFT samples, ranked by the simulated labelers (noise ${noise}) → ${dir}`);
  return { train: train.noisy, val: val.noisy, valClean: val.clean };
}

export async function runRm(argv: string[]): Promise<{ runDir: string; accuracy: number; accuracyClean?: number }> {
  const a = parseArgs(argv, FLAGS, 'rm');
  const runDir = str(a, 'run')!;
  holdRunLock(runDir); // one writer per run (src/util/lock.ts)
  const quiet = bool(a, 'quiet');
  const preset = runPreset(runDir);
  if (!preset.rm) throw new GptforgeError(`preset "${preset.name}" has no "rm" section`, { field: 'rm' });
  const cfg: RmPreset = { ...preset.rm, train: { ...preset.rm.train } };
  if (num(a, 'max-steps') !== undefined) cfg.train.maxSteps = num(a, 'max-steps')!;
  if (num(a, 'lr') !== undefined) cfg.train.lr = num(a, 'lr')!;

  const data = comparisons(runDir, cfg, a, quiet);
  // the reward model starts as a copy of the SFT model with a zero-initialised scalar head
  const sft = loadModel(runDir, 'sft', { fresh: true });
  const { model, tok } = sft;
  model.addScalarHead();
  const adapter = prepareAdapter('rm', model, sft.dir, adapterOptions(a));
  const L = model.config.blockSize;
  const train = renderRankings(tok, data.train, L);
  const val = renderRankings(tok, data.val, L);
  const valClean = data.valClean ? renderRankings(tok, data.valClean, L) : null;
  if (train.rendered.length === 0) throw new GptforgeError(`no usable rankings to train the reward model on${train.tied > 0 ? ` (${train.tied} had all their replies tied)` : ''}`);
  if (!quiet) {
    const dropped = train.dropped + val.dropped;
    const tied = train.tied + val.tied;
    console.error(
      `rm: from ${sft.dir}; ${train.rendered.length} rankings (${train.pairs} pairs with a preference, ${train.tiedPairs} tied pairs left out) for training, ` +
        `${val.rendered.length} held out (${val.pairs} pairs with a preference, ${val.tiedPairs} tied left out)` +
        `${tied ? `; ${tied} rankings dropped as all tied` : ''}${dropped ? `; ${dropped} dropped as longer than the context` : ''}`,
    );
  }
  const pad = tok.specialId('<|pad|>');
  const result = await trainRewardModel(
    { model, adapter, train: new ShuffledLoader(train.rendered, cfg.rankingsPerBatch), val: val.rendered, padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() },
    cfg.train,
    { runDir, stageDir: join(runDir, 'rm'), resume: !bool(a, 'fresh'), quiet, signal: interruptSignal() },
  );
  const accuracy = result.lastEval['val/accuracy'] ?? NaN;
  // the noise-free rankings are scored once: their accuracy is the sum over the deciding terms
  const byTerm = valClean && data.valClean ? accuracyByDecidingTerm(model, data.valClean, valClean, pad) : undefined;
  const cleanTally = byTerm && Object.values(byTerm).reduce((s, t) => ({ pairs: s.pairs + t.pairs, correct: s.correct + t.correct }), { pairs: 0, correct: 0 });
  const clean = cleanTally && cleanTally.pairs > 0 ? cleanTally.correct / cleanTally.pairs : undefined;
  if (!quiet) {
    console.log(`rm: ${result.interrupted ? 'stopped' : 'done'} at step ${result.step}; held-out pairwise accuracy ${(100 * accuracy).toFixed(1)}% on the labelers' (noisy) rankings (${result.lastEval['val/pairs'] ?? 0} pairs with a preference)${clean !== undefined ? `, ${(100 * clean).toFixed(1)}% on noise-free rankings` : ''}; margin ${(result.lastEval['val/margin'] ?? NaN).toFixed(2)}; checkpoint ${result.checkpoint}`);
    if (byTerm) console.log(`rm: noise-free pairs by what decided them: ${Object.entries(byTerm).map(([k, t]) => `${k} ${(100 * t.accuracy).toFixed(1)}% (${t.pairs} pairs)`).join(', ')}`);
  }
  // tied pairs counted as the log line counts them: those inside held-out rankings and those of
  // the all-tied rankings dropped before training (val/tied only sees the former)
  atomicWriteFile(join(runDir, 'rm-eval.json'), JSON.stringify({ step: result.step, accuracy, accuracyClean: clean, margin: result.lastEval['val/margin'], pairs: result.lastEval['val/pairs'], tiedPairs: val.tiedPairs, allTiedRankings: val.tied, accuracyCleanBy: byTerm }, null, 2) + '\n');
  if (result.interrupted) process.exitCode = 130;
  return { runDir, accuracy, accuracyClean: clean };
}

function score(argv: string[]): void {
  const a = parseArgs(argv, SCORE_FLAGS, 'rm score');
  const prompt = str(a, 'prompt');
  const completions = strs(a, 'completion');
  if (prompt === undefined || completions.length === 0) throw new GptforgeError('give --prompt "…" and at least one --completion "…"');
  const rm = loadModel(str(a, 'run')!, existsSync(join(str(a, 'run')!, 'rm')) ? 'rm' : undefined);
  if (!rm.model.hasScalarHead) throw new GptforgeError('this checkpoint has no reward head (score.weight); train one with "gptforge rm"', { file: rm.dir });
  const seqs = completions.map((c) => renderForReward(rm.tok, rankingConversation(prompt, c)));
  const scores = scoreSequences(rm.model, seqs, rm.tok.specialId('<|pad|>'));
  completions.forEach((c, i) => console.log(`${scores[i].toFixed(4)}\t${completionMessages(c)[0].content}`));
}

export const command: Command = {
  summary: 'reward model: simulated (or your) rankings → a model that scores replies',
  async run(argv: string[]): Promise<void> {
    if (argv[0] === 'score') {
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(formatHelp('gptforge rm score --run <dir> --prompt "…" --completion "…" [--completion "…"]', 'Scores replies with the run\'s reward model (higher is better).', SCORE_FLAGS));
        return;
      }
      score(argv.slice(1));
      return;
    }
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(
        formatHelp(
          'gptforge rm [--run runs/<name>] [--rankings my.jsonl …] [flags]\n       gptforge rm score --run <dir> --prompt "…" --completion "…"',
          'Trains the reward model: the SFT model with a scalar head read at <|reward|>, loss −log σ(r_better − r_worse) over the pairs of each ranking that have a preference (tied replies make no pair). Rankings come from your files ({"prompt", "completions": [best … worst], "tiers"?: [0, 1, 1, 2] (equal tiers are ties)} or {"prompt", "chosen", "rejected"}) or, by default, from simulated labelers ranking K samples of the SFT model per prompt (cached in <run>/comparisons). Checkpoints in <run>/rm; held-out pairwise accuracy in metrics.jsonl and rm-eval.json.',
          FLAGS,
        ),
      );
      return;
    }
    await runRm(argv);
  },
};

