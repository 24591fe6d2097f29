import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { interruptSignal } from '../util/interrupt.js';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Command } from './command.js';
import { parseArgs, formatHelp, str, num, strs, bool, type FlagSpecs } from '../util/args.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { renderConversation, type OnBad } from '../data/chat.js';
import { rankingConversation, rankingToPairs, readPreferencesJSONL, type Ranking } from '../data/preferences.js';
import { fnv1a } from '../data/synthetic/tasks.js';
import { referenceLogProbs, trainDpo, type DpoPair } from '../train/dpo.js';
import { loadModel } from './models.js';
import { runPreset } from './sft.js';
import { holdRunLock } from '../util/lock.js';
import { LORA_FLAGS, adapterOptions } from './lora-flags.js';
import { prepareAdapter } from '../train/adapter.js';

const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory with an SFT model', alias: 'r', default: 'runs/small' },
  pairs: { kind: 'strings', help: 'rankings/pairs JSONL (repeatable); default: the simulated comparisons in <run>/comparisons (run "gptforge rm" first)' },
  'on-bad': { kind: 'string', help: 'a bad line: error (default) or skip', default: 'error' },
  beta: { kind: 'number', help: 'β: how far the policy may move from the SFT model (default: the preset\'s)' },
  'max-steps': { kind: 'number', help: 'optimizer steps' },
  lr: { kind: 'number', help: 'peak learning rate' },
  fresh: { kind: 'boolean', help: 'start over from the SFT model' },
  quiet: { kind: 'boolean', help: 'no progress bars' },
  ...LORA_FLAGS,
};

export async function runDpo(argv: string[]): Promise<{ runDir: string }> {
  const a = parseArgs(argv, FLAGS, 'dpo');
  const runDir = str(a, 'run')!;
  holdRunLock(runDir); // one writer per run (src/util/lock.ts)
  const quiet = bool(a, 'quiet');
  const preset = runPreset(runDir);
  if (!preset.dpo) throw new GptforgeError(`preset "${preset.name}" has no "dpo" section`, { field: 'dpo' });
  const cfg = { ...preset.dpo.train };
  if (num(a, 'max-steps') !== undefined) cfg.maxSteps = num(a, 'max-steps')!;
  if (num(a, 'lr') !== undefined) cfg.lr = num(a, 'lr')!;
  const beta = num(a, 'beta') ?? preset.dpo.beta;
  const onBad = str(a, 'on-bad') as OnBad;

  let train: Ranking[];
  let val: Ranking[];
  const files = strs(a, 'pairs');
  if (files.length > 0) {
    const all = files.flatMap((f) => readPreferencesJSONL(f, { onBad }).rankings);
    train = all.filter((r) => fnv1a(r.prompt) % 10 !== 0);
    val = all.filter((r) => fnv1a(r.prompt) % 10 === 0);
  } else {
    const dir = join(runDir, 'comparisons');
    if (!existsSync(join(dir, 'train.jsonl'))) throw new GptforgeError('no comparisons yet: run "gptforge rm" (it samples them) or pass --pairs file.jsonl', { file: dir });
    train = readPreferencesJSONL(join(dir, 'train.jsonl')).rankings;
    val = existsSync(join(dir, 'val.jsonl')) ? readPreferencesJSONL(join(dir, 'val.jsonl')).rankings : [];
  }
  const policy = loadModel(runDir, 'sft', { fresh: true });
  // with an adapter the reference is the policy's own (possibly quantized) base, adapter disabled
  const adapter = prepareAdapter('dpo', policy.model, policy.dir, adapterOptions(a));
  const ref = adapter ? null : loadModel(runDir, 'sft');
  const refLogProbs = (ps: DpoPair[], pad: number) => (adapter ? adapter.lora.withAdaptersDisabled(() => referenceLogProbs(policy.model, ps, pad)) : referenceLogProbs(ref!.model, ps, pad));
  const { tok } = policy;
  const L = policy.model.config.blockSize + 1;
  const toPairs = (rs: Ranking[]): DpoPair[] =>
    rs
      .flatMap(rankingToPairs)
      .map((p) => ({ chosen: renderConversation(tok, rankingConversation(p.prompt, p.chosen)), rejected: renderConversation(tok, rankingConversation(p.prompt, p.rejected)) }))
      .filter((p) => p.chosen.ids.length <= L && p.rejected.ids.length <= L);
  const pairs = toPairs(train);
  const valPairs = toPairs(val);
  if (pairs.length === 0) throw new GptforgeError('no usable preference pairs');
  const pad = tok.specialId('<|pad|>');

  // reference log-likelihoods: computed once per (data, reference) and cached in the stage directory
  const stageDir = join(runDir, 'dpo');
  mkdirSync(stageDir, { recursive: true });
  const key = createHash('sha256').update(ref?.dir ?? `${policy.dir}@${adapter!.lora.basePrecision}`).update(JSON.stringify(pairs.map((p) => [p.chosen.ids, p.rejected.ids]))).update(JSON.stringify(valPairs.map((p) => [p.chosen.ids, p.rejected.ids]))).digest('hex').slice(0, 16);
  const cacheFile = join(stageDir, 'ref-logps.json');
  type RefCache = { key: string; train: { chosen: number[]; rejected: number[] }; val: { chosen: number[]; rejected: number[] } };
  const readCache = (): RefCache | null => {
    try {
      return JSON.parse(readFileSync(cacheFile, 'utf8')) as RefCache;
    } catch {
      return null;
    }
  };
  let cache = existsSync(cacheFile) ? readCache() : null;
  if (!cache || cache.key !== key) {
    if (!quiet) console.error(`dpo: reference log-likelihoods of ${pairs.length + valPairs.length} pairs (once; cached in ${cacheFile})`);
    cache = { key, train: refLogProbs(pairs, pad), val: refLogProbs(valPairs, pad) };
    atomicWriteFile(cacheFile, JSON.stringify(cache));
  }
  if (!quiet) console.error(`dpo: from ${policy.dir}; ${pairs.length} pairs (${valPairs.length} held out), β ${beta}`);
  const result = await trainDpo(
    { model: policy.model, adapter, pairs, ref: cache.train, val: valPairs, valRef: cache.val, pairsPerBatch: preset.dpo.pairsPerBatch, beta, padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() },
    cfg,
    { runDir, stageDir, resume: !bool(a, 'fresh'), quiet, signal: interruptSignal() },
  );
  if (!quiet) console.log(`dpo: ${result.interrupted ? 'stopped' : 'done'} at step ${result.step}; held-out preference accuracy ${(100 * (result.lastEval['val/rewards/accuracies'] ?? NaN)).toFixed(1)}%, margin ${(result.lastEval['val/rewards/margins'] ?? NaN).toFixed(3)}; checkpoint ${result.checkpoint}`);
  if (result.interrupted) process.exitCode = 130;
  return { runDir };
}

export const command: Command = {
  summary: 'DPO: preference pairs → policy, no reward model (the offline alternative to RL)',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp('gptforge dpo [--run runs/<name>] [--pairs my.jsonl …] [--beta 0.1]', 'Direct preference optimisation from the SFT model: each ranking expands to its pairs; the frozen SFT model\'s log-likelihoods are computed once and cached; loss −log σ(β·[(log π − log ref)(chosen) − (log π − log ref)(rejected)]). Checkpoints in <run>/dpo; TRL\'s rewards/* metrics in metrics.jsonl.', FLAGS));
      return;
    }
    await runDpo(argv);
  },
};
