import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { checkOnBad } from '../data/jsonl.js';
import { checkSettings, trainingStart, warnSkips } from './stage-options.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { renderConversation, type OnBad } from '../data/chat.js';
import { rankingConversation, rankingToPairs, readPreferencesJSONL, type Ranking } from '../data/preferences.js';
import { isHeldOut } from '../data/synthetic/tasks.js';
import { referenceLogProbs, trainDpo, type DpoPair } from '../train/dpo.js';
import { describeAdapter, prepareAdapter } from '../train/adapter.js';
import type { StageRunOptions } from './stage-options.js';
import type { TrainResult } from '../train/loop.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { holdRunLock } from '../util/lock.js';
import { latestCheckpoint } from '../model/checkpoint.js';
import { runLayout } from './layout.js';
import { loadModel } from './models.js';
import { runPreset, runPresetFile } from './preset.js';

/** Options of `runDpo`; every field optional (the run preset's `dpo` section fills the rest). */
/** With `lora` (and `basePrecision`) an adapter trains on the frozen SFT model; the reference is that base with the adapter disabled (docs/lora.md). */
export interface RunDpoOptions extends StageRunOptions {
  /** Rankings/pairs JSONL files; default the simulated comparisons in `<run>/comparisons`. */
  pairs?: readonly string[];
  /** A bad line: an error naming it (default) or a skip. */
  onBad?: OnBad;
  /** β: how far the policy may move from the SFT model. */
  beta?: number;
  /** Warnings: each line skipped (onBad skip) with its file, line and reason; default `log`. */
  onWarning?(line: string): void;
  /** The stage the policy and the reference start from, `<run>/<from>` (default `sft`): e.g. `sft-lora`. */
  from?: string;
  /** The stage to train into, `<run>/<into>` and its name in metrics.jsonl (default `dpo`): e.g. `dpo-lora` keeps a full DPO model beside a LoRA one. */
  into?: string;
}

/** What `runDpo` did. */
export interface RunDpoResult extends TrainResult {
  runDir: string;
  /** The stage it trained (`dpo`, or `into`). */
  stage: string;
  /** Training and held-out preference pairs used. */
  pairs: number;
  valPairs: number;
  beta: number;
}

/**
 * DPO (Rafailov et al. 2023), the offline alternative to RL: each ranking expands to its pairs;
 * the frozen SFT model's log-likelihoods are computed once and cached in `<run>/dpo/ref-logps.json`;
 * loss −log σ(β·[(log π − log ref)(chosen) − (log π − log ref)(rejected)]) (src/train/dpo.ts)
 * → `<run>/dpo` (or `<run>/<into>`, starting from `<run>/<from>`). Your files hold out 10% of prompts by hash. Resumes unless `fresh`; holds the
 * run's lock; never exits the process or installs a signal handler.
 *
 * @throws GptforgeError for a preset without a `dpo` section, no comparisons yet, a bad line
 *   (file, line, field), no usable pairs, or a locked run.
 */
export async function runDpo(runDir: string, o: RunDpoOptions = {}): Promise<RunDpoResult> {
  o.signal?.throwIfAborted(); // before any work: nothing trained or written
  holdRunLock(runDir); // one writer per run (src/util/lock.ts)
  const log = o.log ?? (() => undefined);
  const preset = runPreset(runDir);
  if (!preset.dpo) throw new GptforgeError(`preset "${preset.name}" has no "dpo" section`, { field: 'dpo' });
  const cfg = { ...preset.dpo.train };
  if (o.maxSteps !== undefined) cfg.maxSteps = o.maxSteps;
  if (o.logEvery !== undefined) cfg.logEvery = o.logEvery;
  if (o.lr !== undefined) cfg.lr = o.lr;
  const beta = o.beta ?? preset.dpo.beta;
  checkOnBad(o.onBad);
  checkSettings(o, runPresetFile(runDir), [
    ['maxSteps', cfg.maxSteps, 'positive integer', 'dpo.train.maxSteps'],
    ['logEvery', cfg.logEvery ?? 1, 'positive integer', 'dpo.train.logEvery'],
    ['lr', cfg.lr, 'positive number', 'dpo.train.lr'],
    ['beta', beta, 'positive number', 'dpo.beta'],
  ]);

  let train: Ranking[];
  let val: Ranking[];
  const files = o.pairs ?? [];
  if (files.length > 0) {
    const warn = o.onWarning ?? log;
    const all = files.flatMap((f) => {
      const r = readPreferencesJSONL(f, { onBad: o.onBad ?? 'error' });
      // as sft does: a skip is counted and named, never silent
      if (r.skipped.length > 0)
        warnSkips(
          'dpo',
          `skipped ${r.skipped.length} line${r.skipped.length === 1 ? '' : 's'} of ${f}`,
          r.skipped.map((s) => s.reason),
          warn,
        );
      return r.rankings;
    });
    train = all.filter((r) => !isHeldOut(r.prompt));
    val = all.filter((r) => isHeldOut(r.prompt));
  } else {
    const dir = runLayout(runDir).comparisons;
    if (!existsSync(join(dir, 'train.jsonl'))) throw new GptforgeError('no comparisons yet: run "gptforge rm" (it samples them) or pass --pairs file.jsonl', { file: dir });
    train = readPreferencesJSONL(join(dir, 'train.jsonl')).rankings;
    val = existsSync(join(dir, 'val.jsonl')) ? readPreferencesJSONL(join(dir, 'val.jsonl')).rankings : [];
  }
  const from = o.from ?? 'sft';
  const stage = o.into ?? 'dpo';
  if (stage === from) throw new GptforgeError(`dpo: --into ${stage} would train over the model it starts from; name another stage`, { field: 'into' });
  const policy = loadModel(runDir, from, { fresh: true });
  // with an adapter the reference is the policy's own (possibly quantized) base, adapter disabled
  const adapter = prepareAdapter(stage, policy.model, policy.dir, o, { specialTokens: policy.tok.specialTokens });
  if (adapter) log(`${stage}: ${describeAdapter(adapter)}`);
  const ref = adapter ? null : loadModel(runDir, from);
  const refLogProbs = (ps: DpoPair[], pad: number): ReturnType<typeof referenceLogProbs> => (adapter ? adapter.lora.withAdaptersDisabled(() => referenceLogProbs(policy.model, ps, pad)) : referenceLogProbs(ref!.model, ps, pad));
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
  const stageDir = runLayout(runDir).stage(stage);
  mkdirSync(stageDir, { recursive: true });
  const key = createHash('sha256')
    .update(ref?.dir ?? `${policy.dir}@${adapter?.lora.basePrecision}`)
    .update(JSON.stringify(pairs.map((p) => [p.chosen.ids, p.rejected.ids])))
    .update(JSON.stringify(valPairs.map((p) => [p.chosen.ids, p.rejected.ids])))
    .digest('hex')
    .slice(0, 16);
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
    log(`${stage}: reference log-likelihoods of ${pairs.length + valPairs.length} pairs (once; cached in ${cacheFile})`);
    cache = { key, train: refLogProbs(pairs, pad), val: refLogProbs(valPairs, pad) };
    atomicWriteFile(cacheFile, JSON.stringify(cache));
  }
  // the pairs the stage started with (count and hash of the token ids, their files), so a resume
  // on other pairs says so instead of continuing silently on data the run did not start with
  const pairsFile = join(stageDir, 'pairs.json');
  const source = files.length > 0 ? files.join(', ') : runLayout(runDir).comparisons;
  const pairsState = {
    pairs: pairs.length,
    valPairs: valPairs.length,
    sha256: createHash('sha256')
      .update(JSON.stringify(pairs.map((p) => [p.chosen.ids, p.rejected.ids])))
      .digest('hex'),
    source,
  };
  if (!o.fresh && latestCheckpoint(stageDir)) {
    let started: (typeof pairsState & { notedSha256?: string }) | null = null;
    try {
      started = JSON.parse(readFileSync(pairsFile, 'utf8')) as typeof pairsState & { notedSha256?: string };
    } catch {
      // a stage from before pairs.json: nothing to compare with
    }
    // said once per other set of pairs: pairs.json keeps the hash it was said for
    if (started && started.sha256 !== pairsState.sha256 && started.notedSha256 !== pairsState.sha256) {
      log(`${stage}: note: resuming on other pairs than the stage started with (${started.pairs} pairs from ${started.source}; now ${pairs.length} from ${source}); --fresh starts over on these`);
      atomicWriteFile(pairsFile, `${JSON.stringify({ ...started, notedSha256: pairsState.sha256 })}\n`);
    }
  } else atomicWriteFile(pairsFile, `${JSON.stringify(pairsState)}\n`);
  log(`${stage}: ${trainingStart(stageDir, policy.dir, { fresh: o.fresh, maxSteps: cfg.maxSteps, stepsOption: o.stepsOption ?? 'maxSteps' })}; ${pairs.length} pairs (${valPairs.length} held out), β ${beta}`);
  const result = await trainDpo({ stage, model: policy.model, adapter, pairs, ref: cache.train, val: valPairs, valRef: cache.val, pairsPerBatch: preset.dpo.pairsPerBatch, beta, padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }, cfg, {
    runDir,
    stageDir,
    resume: !o.fresh,
    quiet: o.quiet,
    stepsOption: o.stepsOption ?? 'maxSteps',
    resumeAnnounced: o.log !== undefined, // the setup line named the checkpoint and step (trainingStart)
    signal: o.signal,
    onStep: o.onStep,
    startedFrom: policy.dir,
  });
  return { ...result, runDir, stage, pairs: pairs.length, valPairs: valPairs.length, beta };
}
