import { existsSync, readFileSync } from 'node:fs';
import { checkOnBad } from '../data/jsonl.js';
import { checkSettings, warnSkips } from './stage-options.js';
import { join } from 'node:path';
import { renderForReward, type OnBad } from '../data/chat.js';
import { rubricScore } from '../data/labelers.js';
import { correctnessSource } from '../data/decidable.js';
import { rankingConversation, readPreferencesJSONL, type Ranking } from '../data/preferences.js';
import { isHeldOut, TASKS } from '../data/synthetic/tasks.js';
import { defaultTools } from '../infer/tools/registry.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { demonstrationContrasts, sampledContrasts, simulatedComparisons, taskExamples, taskPrompts, writtenDemonstrations, type TaskPromptExample } from '../train/comparisons.js';
import { dataHash, type TrainResult } from '../train/loop.js';
import { MixedLoader, pairAccuracyByKind, renderRankings, scoreSequences, ShuffledLoader, trainRewardModel, type PairTally, type RenderedRankings, type SequenceScorer } from '../train/reward.js';
import { atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import { holdRunLock } from '../util/lock.js';
import { Progress } from '../util/progress.js';
import { describeAdapter, prepareAdapter } from '../train/adapter.js';
import type { StageRunOptions } from './stage-options.js';
import { runLayout } from './layout.js';
import { loadModel, loadRewardModel } from './models.js';
import { runPreset, runPresetFile } from './preset.js';
import type { RmPreset } from './presets.js';

/** Options of `runRm`; every field optional (the run preset's `rm` section fills the rest). */
/** Options of `runRm`; with `lora` (and `basePrecision`) an adapter and the scalar head train on the frozen SFT model (docs/lora.md). */
export interface RunRmOptions extends StageRunOptions {
  /** Resume a checkpoint trained on other rankings than these (a warning); default: refused, naming --fresh and --into (src/train/loop.ts dataChanged). */
  allowDataChange?: boolean;
  /**
   * Your rankings/pairs JSONL files; default: the run's own `<run>/rankings.jsonl` (the web UI's
   * Rank page and `gptforge label` write it) when it holds any line, else simulated labelers
   * ranking the SFT model's samples.
   */
  rankings?: readonly string[];
  /** `false` (the CLI's `--no-run-rankings`): without `rankings`, train on the simulated comparisons even when `<run>/rankings.jsonl` exists. Default `true`. */
  runRankings?: boolean;
  /** A bad ranking line: an error naming it (default) or a skip. */
  onBad?: OnBad;
  /** Simulated labelers' error rate per adjacent comparison. */
  noise?: number;
  /** Warnings: each line of `rankings` skipped (onBad skip) with its file, line and reason; default `log`. */
  onWarning?(line: string): void;
  /** Overrides `rm.contrastFraction` (the CLI's `--contrast-fraction`): the share of every batch drawn from the contrast pairs; errors name the flag. */
  contrastFraction?: number;
  /** The stage the reward model starts from (and whose samples the simulated labelers rank), `<run>/<from>` (default `sft`): e.g. `sft-lora`. */
  from?: string;
  /** The stage to train into, `<run>/<into>` and its name in metrics.jsonl (default `rm`): e.g. `verifier` keeps a second reward model beside the run's. Its evaluation goes to `<run>/<into>-eval.json`. */
  into?: string;
}

/** What `runRm` did (also written to `<run>/rm-eval.json`). */
export interface RunRmResult extends TrainResult {
  runDir: string;
  /** The stage it trained (`rm`, or `into`). */
  stage: string;
  /** Held-out pairwise accuracy on the labelers' (noisy) rankings. */
  accuracy: number;
  /** Held-out pairwise accuracy on the noise-free rankings (simulated comparisons only). */
  accuracyClean?: number;
  /** Noise-free accuracy split by the rubric term that decided each pair. */
  accuracyCleanBy?: Record<string, PairTally & { accuracy: number }>;
  /** Noise-free accuracy on pairs whose correctness is decidable from the context vs knowledge pairs (src/data/decidable.ts). */
  accuracyCleanByContext?: Record<string, PairTally & { accuracy: number }>;
  /** Both splits crossed, keyed "decidable/correctness", "decidable/preferences", "knowledge/correctness", …: whether the RM reads correctness where the context shows it. */
  accuracyCleanByContextAndTerm?: Record<string, PairTally & { accuracy: number }>;
  /** Noise-free accuracy on the pairs decided by correctness, per task family ("syllables", "chat", …). */
  accuracyCleanCorrectnessByFamily?: Record<string, PairTally & { accuracy: number }>;
  /**
   * Noise-free accuracy per task family and deciding term, keyed "arithmetic/correctness",
   * "arithmetic/preferences", "chat/correctness", … ("?" for a ranking without a family): which
   * families' form and which families' facts hold the decidable figure down.
   */
  accuracyCleanByFamilyAndTerm?: Record<string, PairTally & { accuracy: number }>;
  /** The held-out contrast probe per decidable family (and `all`): whether the RM reads the checkable fact (contrastProbe). */
  contrastProbe?: Record<string, ProbeTally>;
}

/** A family's contrast-probe result: pairs, how many the RM orders right, mean r_right − r_wrong and mean |r_right − r_wrong|. */
export interface ProbeTally extends PairTally {
  accuracy: number;
  margin: number;
  meanAbsDiff: number;
}

/**
 * The held-out contrast probe (issue #24): n test-split prompts of the families decidable from
 * the context, each the family's demonstration against the same reply with only its checkable
 * fact made wrong (src/data/contrast.ts; noise-free), e.g. "…<|output_start|>4<|output_end|>… is
 * 4." vs "… is 5.". Nothing but the fact tells the two apart, so accuracy above chance (50%)
 * means the RM reads it; `meanAbsDiff` near 0 against the score's spread means it does not look.
 * Per family and `all`.
 */
export function contrastProbe(model: GPT, tok: Tokenizer, n: number, seed: number): Record<string, ProbeTally> {
  const items = taskExamples('test', n, seed, decidableFamilies());
  const rankings = demonstrationContrasts(items, 0, seed);
  const L = model.config.blockSize;
  const pad = tok.specialId('<|pad|>');
  const kept = rankings.map((r) => ({ task: r.task ?? '?', seqs: r.completions.map((c) => renderForReward(tok, rankingConversation(r.prompt, c))) })).filter((r) => r.seqs.every((q) => q.length <= L));
  // scored together, in batches: [right, wrong] of each pair back to back
  const scores = scoreSequences(
    model,
    kept.flatMap((r) => r.seqs),
    pad,
  );
  const acc: Record<string, { pairs: number; correct: number; diff: number; abs: number }> = {};
  kept.forEach((r, i) => {
    const right = scores[2 * i];
    const wrong = scores[2 * i + 1];
    for (const key of [r.task, 'all']) {
      const t = (acc[key] ??= { pairs: 0, correct: 0, diff: 0, abs: 0 });
      t.pairs++;
      if (right > wrong) t.correct++;
      t.diff += right - wrong;
      t.abs += Math.abs(right - wrong);
    }
  });
  return Object.fromEntries(Object.entries(acc).map(([k, t]) => [k, { pairs: t.pairs, correct: t.correct, accuracy: t.correct / t.pairs, margin: t.diff / t.pairs, meanAbsDiff: t.abs / t.pairs }]));
}

function writeRankings(file: string, rankings: readonly Ranking[]): void {
  atomicWriteFile(file, rankings.map((r) => JSON.stringify(r)).join('\n') + (rankings.length ? '\n' : ''));
}

type Tallies = Record<string, PairTally & { accuracy: number }>;

/**
 * Noise-free held-out accuracy split two ways, from one scoring pass. By the rubric term that
 * decided each pair: 'correctness' when the task checker accepts one reply and not the other,
 * 'preferences' (tools, form, length, repetition, manners) when both are equally right or
 * wrong; the first needs the model to know the answers, the second only to read the reply's
 * form. And by where the family's correctness can be read (src/data/decidable.ts): 'decidable'
 * from the context (the calculator's output, the prompt's word or format), 'knowledge' only
 * from facts the model may not have.
 */
export function accuracyByDecidingTerm(model: GPT | SequenceScorer, rankings: readonly Ranking[], rendered: RenderedRankings, pad: number): { byTerm: Tallies; byContext: Tallies; byBoth: Tallies; correctnessByFamily: Tallies; byFamilyAndTerm: Tallies } {
  const verdicts = rankings.map((r) => r.completions.map((c) => rubricScore(r.prompt, c, r.task).correct));
  const tallies = pairAccuracyByKind(model, rendered.rendered, pad, (ri, i, j) => {
    const r = rendered.sources[ri];
    const v = verdicts[r];
    return `${v[i] !== v[j] ? 'correctness' : 'preferences'}|${correctnessSource(rankings[r].task)}|${rankings[r].task ?? '?'}`;
  });
  // sums the tallies by the key's parts named in `parts`, joined by '/', only those `keep` accepts
  const by = (parts: readonly number[], keep: (p: string[]) => boolean = () => true): Tallies => {
    const out: Record<string, PairTally> = {};
    for (const [k, t] of Object.entries(tallies)) {
      const p = k.split('|');
      if (!keep(p)) continue;
      const o = (out[parts.map((i) => p[i]).join('/')] ??= { pairs: 0, correct: 0 });
      o.pairs += t.pairs;
      o.correct += t.correct;
    }
    return Object.fromEntries(
      Object.entries(out)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, t]) => [k, { ...t, accuracy: t.correct / t.pairs }]),
    );
  };
  // the pairs decided by correctness, per family: which families' facts the RM reads
  return { byTerm: by([0]), byContext: by([1]), byBoth: by([1, 0]), correctnessByFamily: by([2], (p) => p[0] === 'correctness'), byFamilyAndTerm: by([2, 0]) };
}

/** The default task families whose correctness is decidable from the context. */
function decidableFamilies(): string[] {
  return TASKS.map((t) => t.name).filter((n) => correctnessSource(n) === 'decidable');
}

/**
 * What decides the cached simulated comparisons (`comparisons/settings.json`): the labelers'
 * noise, the prompts (count, decidable extra, held-out count, seed), K and the sampling, the
 * writers' demonstrations (with the SFT mixture's e_w and error profile when they are used) and
 * the contrast pairs mixed into the rankings. The contrast-prompt pairs are not cached.
 */
export function comparisonsCacheSettings(c: RmPreset['comparisons'], noise: number, mixture?: { writerErrorRate?: number; writerErrors?: unknown }): Record<string, unknown> {
  return {
    noise,
    prompts: c.prompts,
    decidablePrompts: c.decidablePrompts ?? 0,
    valPrompts: c.valPrompts,
    k: c.k,
    temperature: c.temperature,
    maxTokens: c.maxTokens,
    seed: c.seed ?? 4242,
    demonstrations: c.demonstrations ? { writerErrorRate: mixture?.writerErrorRate ?? 0, writerErrors: mixture?.writerErrors ?? null } : false,
    contrastPairs: c.contrastPairs ?? 0,
  };
}

/**
 * The training comparisons' prompts: `prompts` spread over every family, then `decidablePrompts`
 * more from the families decidable from the context (other seeds, repeats dropped).
 */
function trainComparisonPrompts(c: RmPreset['comparisons'], seed: number): TaskPromptExample[] {
  const items = taskExamples('train', c.prompts, seed);
  const extra = c.decidablePrompts ?? 0;
  if (!(Number.isInteger(extra) && extra >= 0)) throw new GptforgeError(`decidablePrompts must be a whole number ≥ 0, got ${String(extra)}`, { field: 'rm.comparisons.decidablePrompts' });
  if (extra === 0) return items;
  const seen = new Set(items.map((it) => it.prompt));
  for (const it of taskExamples('train', extra, seed + 50_021, decidableFamilies())) {
    if (seen.has(it.prompt)) continue;
    seen.add(it.prompt);
    items.push(it);
  }
  return items;
}

/**
 * n training prompts of the decidable families for the contrast pairs: an equal share each
 * (taskExamples' spread) without `weights`, else `round(n · w_f / Σw)` of family f, each family
 * drawn with the seed it has in the equal spread (so the same prompts, in other numbers).
 * @throws GptforgeError naming `rm.comparisons.contrastFamilies` for a family that is not
 *   decidable from the context, a weight that is not a number ≥ 0, or weights that sum to 0.
 */
export function contrastPromptItems(n: number, weights: Record<string, number> | undefined, seed: number, file: string): TaskPromptExample[] {
  const families = decidableFamilies();
  if (weights === undefined) return taskExamples('train', n, seed, families);
  const where = { file, field: 'rm.comparisons.contrastFamilies' };
  if (typeof weights !== 'object' || weights === null || Array.isArray(weights)) throw new GptforgeError(`contrastFamilies must be an object of family weights, got ${JSON.stringify(weights)}`, where);
  for (const [f, w] of Object.entries(weights)) {
    if (!families.includes(f)) throw new GptforgeError(`contrastFamilies: "${f}" is not a family decidable from the context (${families.join(', ')})`, where);
    if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0)) throw new GptforgeError(`contrastFamilies: the weight of "${f}" must be a number ≥ 0, got ${JSON.stringify(w)}`, where);
  }
  const sum = Object.values(weights).reduce((a, b) => a + b, 0);
  if (!(sum > 0)) throw new GptforgeError('contrastFamilies: the weights sum to 0 (no family would get a contrast pair)', where);
  return families.flatMap((f, i) => {
    const k = Math.round((n * (weights[f] ?? 0)) / sum);
    return k > 0 ? taskExamples('train', k, seed + 101 * i, [f]) : [];
  });
}

/**
 * `contrastPrompts` correctness-contrast rankings from the demonstrations of more decidable-family
 * training prompts (none of the sampled comparisons' prompts), ranked with `noise`. Made afresh
 * on every run, never cached with the samples: a run that reuses the cached comparisons gets
 * them too (before, it silently trained without them).
 */
function extraContrasts(c: RmPreset['comparisons'], noise: number, file: string, log: (line: string) => void): Ranking[] {
  const extra = c.contrastPrompts ?? 0;
  if (!(Number.isInteger(extra) && extra >= 0)) throw new GptforgeError(`contrastPrompts must be a whole number ≥ 0, got ${String(extra)}`, { file, field: 'rm.comparisons.contrastPrompts' });
  if (extra === 0) return [];
  const seed = c.seed ?? 4242;
  const seen = new Set(trainComparisonPrompts(c, seed).map((it) => it.prompt));
  const more = contrastPromptItems(extra, c.contrastFamilies, seed + 70_001, file).filter((it) => !seen.has(it.prompt));
  const rankings = demonstrationContrasts(more, noise, seed + 70_001);
  const counts = new Map<string, number>();
  for (const r of rankings) counts.set(r.task ?? '?', (counts.get(r.task ?? '?') ?? 0) + 1);
  const per = [...counts].map(([f, k]) => `${f} ${k}`);
  log(`rm: ${rankings.length} correctness-contrast pairs from the demonstrations of ${more.length} more decidable-family prompts (${per.join(', ')})`);
  return rankings;
}

/** `rm.comparisons.sampledContrasts` with its defaults, checked; undefined when absent or 0 prompts. */
function sampledContrastSettings(c: RmPreset['comparisons'], file: string): { prompts: number; k: number; maxPairsPerPrompt: number; edits: boolean } | undefined {
  const sc = c.sampledContrasts;
  if (sc === undefined) return undefined;
  const field = 'rm.comparisons.sampledContrasts';
  if (typeof sc !== 'object' || sc === null || Array.isArray(sc)) throw new GptforgeError(`sampledContrasts must be an object like {"prompts": 1000}, got ${JSON.stringify(sc)}`, { file, field });
  const out = { prompts: sc.prompts, k: sc.k ?? 8, maxPairsPerPrompt: sc.maxPairsPerPrompt ?? 4, edits: sc.edits ?? false };
  if (!(Number.isInteger(out.prompts) && out.prompts >= 0)) throw new GptforgeError(`sampledContrasts.prompts must be a whole number ≥ 0, got ${String(sc.prompts)}`, { file, field: `${field}.prompts` });
  if (!(Number.isInteger(out.k) && out.k >= 2)) throw new GptforgeError(`sampledContrasts.k must be a whole number ≥ 2 (a pair needs two samples), got ${String(sc.k)}`, { file, field: `${field}.k` });
  if (!(Number.isInteger(out.maxPairsPerPrompt) && out.maxPairsPerPrompt >= 1)) throw new GptforgeError(`sampledContrasts.maxPairsPerPrompt must be a whole number ≥ 1, got ${String(sc.maxPairsPerPrompt)}`, { file, field: `${field}.maxPairsPerPrompt` });
  if (typeof out.edits !== 'boolean') throw new GptforgeError(`sampledContrasts.edits must be true or false, got ${JSON.stringify(sc.edits)}`, { file, field: `${field}.edits` });
  return out.prompts > 0 ? out : undefined;
}

/** What `sampledContrastRankings` needs: where the run and its comparisons cache are, and how to sample and label. */
interface SampledContrastOptions {
  /** The run directory (its preset names the file in errors). */
  runDir: string;
  /** The comparisons cache directory (`<run>/comparisons`, or `-<from>` for another starting model). */
  dir: string;
  /** The preset's `rm.comparisons`. */
  comparisons: RmPreset['comparisons'];
  /** The stage whose samples are paired (`sft` unless `--from`). */
  from: string;
  /** The labelers' error rate e_j. */
  noise: number;
  /** Sample again even when the cache's settings match. */
  fresh: boolean;
  quiet?: boolean;
  log: (line: string) => void;
}

/**
 * `rm.comparisons.sampledContrasts`: correctness pairs from the `from` model's own samples of
 * more decidable-family training prompts (none of the sampled comparisons'), cached in `dir`
 * as `contrast-sampled.jsonl` with the settings that made them (`contrast-sampled.json`); made
 * again when the settings differ or `fresh`. Sampling takes minutes, so the cache matters.
 */
function sampledContrastRankings(o: SampledContrastOptions): Ranking[] {
  const { runDir, dir, comparisons: c, from, noise, fresh, quiet, log } = o;
  const file = runPresetFile(runDir);
  const sc = sampledContrastSettings(c, file);
  if (!sc) return [];
  const seed = c.seed ?? 4242;
  const settings = { ...sc, temperature: c.temperature, maxTokens: c.maxTokens, noise, seed, contrastFamilies: c.contrastFamilies ?? null, comparisonPrompts: c.prompts, decidablePrompts: c.decidablePrompts ?? 0 };
  const paths = { rankings: join(dir, 'contrast-sampled.jsonl'), settings: join(dir, 'contrast-sampled.json') };
  if (!fresh && existsSync(paths.rankings) && existsSync(paths.settings) && readFileSync(paths.settings, 'utf8') === JSON.stringify(settings)) {
    const r = readPreferencesJSONL(paths.rankings, { onBad: 'skip' }).rankings;
    log(`rm: reusing ${r.length} correctness pairs from the ${from} model's own samples in ${paths.rankings}`);
    return r;
  }
  const seen = new Set(trainComparisonPrompts(c, seed).map((it) => it.prompt));
  const items = contrastPromptItems(sc.prompts, c.contrastFamilies, seed + 80_021, file).filter((it) => !seen.has(it.prompt));
  const { model, tok } = loadModel(runDir, from);
  const bar = new Progress({ label: 'own-sample pairs', total: items.length, unit: 'prompt', quiet });
  const { rankings, tally: t } = sampledContrasts(model, tok, items, { k: sc.k, temperature: c.temperature, maxTokens: c.maxTokens, tools: defaultTools(), seed: seed + 80_021, noise, maxPairsPerPrompt: sc.maxPairsPerPrompt, edits: sc.edits, onPrompt: (d) => bar.update(d) });
  bar.finish();
  writeRankings(paths.rankings, rankings);
  atomicWriteFile(paths.settings, JSON.stringify(settings));
  const per = new Map<string, number>();
  for (const r of rankings) per.set(r.task ?? '?', (per.get(r.task ?? '?') ?? 0) + 1);
  log(
    `rm: ${rankings.length} correctness pairs from the ${from} model's own samples (${[...per].map(([f, k]) => `${f} ${k}`).join(', ')}): ${t.prompts} prompts × ${sc.k} samples, ${t.right} right and ${t.wrong} wrong, ${t.mixedPrompts} prompts with both; ${t.natural} right-against-wrong pairs${sc.edits ? `, ${t.edited} samples against their edited copy` : ''} → ${paths.rankings}`,
  );
  return rankings;
}

/**
 * `rm.contrastFraction` as rankings per micro-batch: of `rankingsPerBatch`, `contrast` from the
 * contrast pairs (`comparisons.contrastPrompts`) and `sampled` from the sampled rankings, each
 * at least one; undefined when the key is absent (one stream, as before).
 * `flag` (the CLI's `--contrast-fraction`), when given, replaces the preset's key.
 * @throws GptforgeError naming the preset field (or, for `flag`, the option `contrastFraction`) when the fraction is not in (0, 1) or rounds to a whole batch of either.
 */
export function contrastMix(cfg: RmPreset, file: string, flag?: number): { sampled: number; contrast: number } | undefined {
  const f = flag ?? cfg.contrastFraction;
  if (f === undefined) return undefined;
  // a bad --contrast-fraction is the flag's fault, not the preset's
  const where = flag !== undefined ? { field: 'contrastFraction' } : { file, field: 'rm.contrastFraction' };
  const n = cfg.rankingsPerBatch;
  if (!(typeof f === 'number' && f > 0 && f < 1)) throw new GptforgeError(`contrastFraction must be a number between 0 and 1 (exclusive), got ${String(f)}`, where);
  const contrast = Math.round(f * n);
  if (contrast < 1 || contrast > n - 1) throw new GptforgeError(`contrastFraction ${f} of rankingsPerBatch ${n} leaves ${contrast} contrast and ${n - contrast} sampled rankings a batch; each needs at least one (raise rankingsPerBatch)`, where);
  if ((cfg.comparisons.contrastPrompts ?? 0) === 0 && (cfg.comparisons.sampledContrasts?.prompts ?? 0) === 0) {
    throw new GptforgeError('contrastFraction needs contrast pairs to mix in: set rm.comparisons.contrastPrompts or rm.comparisons.sampledContrasts', where);
  }
  return { sampled: n - contrast, contrast };
}

/**
 * The comparisons the reward model learns from: the user's files (10% of prompts held out
 * by hash), or simulated labelers ranking the SFT model's samples (train prompts from the
 * task families' train split, held-out prompts from their test split, cached in the run).
 */
function comparisons(runDir: string, cfg: RmPreset, o: RunRmOptions, log: (line: string) => void): { train: Ranking[]; contrast: Ranking[]; val: Ranking[]; valClean: Ranking[] | null; files: string[] } {
  const onBad = o.onBad ?? 'error';
  checkOnBad(onBad);
  const files = [...(o.rankings ?? [])];
  // the rankings a person made for this run (Rank page, gptforge label) are the run's: used
  // unless other files are named or the caller opts out, and said so (newcomer: the Rank page's
  // rankings never reached the reward model)
  const own = runLayout(runDir).rankings;
  const useOwn = files.length === 0 && o.runRankings !== false && existsSync(own) && readFileSync(own, 'utf8').trim() !== '';
  if (useOwn) files.push(own);
  else if (files.length === 0 && o.runRankings === false && existsSync(own)) log(`rm: not using your rankings in ${own} (--no-run-rankings): training on the simulated comparisons`);
  if (files.length > 0) {
    const warn = o.onWarning ?? log;
    const all = files.flatMap((f) => {
      const r = readPreferencesJSONL(f, { onBad });
      // as dpo and sft do: a skip is counted and named, never silent
      if (r.skipped.length > 0)
        warnSkips(
          'rm',
          `skipped ${r.skipped.length} line${r.skipped.length === 1 ? '' : 's'} of ${f}`,
          r.skipped.map((x) => x.reason),
          warn,
        );
      return r.rankings;
    });
    if (useOwn) log(`rm: training on your ${all.length} ranking${all.length === 1 ? '' : 's'} in ${own} (the Rank page and gptforge label write it; --no-run-rankings for the simulated comparisons instead)`);
    const isVal = (r: Ranking): boolean => isHeldOut(r.prompt);
    return { train: all.filter((r) => !isVal(r)), contrast: [], val: all.filter(isVal), valClean: null, files };
  }
  const from = o.from ?? 'sft';
  // another starting model's samples are other comparisons: cached apart
  const dir = from === 'sft' ? runLayout(runDir).comparisons : `${runLayout(runDir).comparisons}-${from}`;
  const paths = { train: join(dir, 'train.jsonl'), val: join(dir, 'val.jsonl'), valClean: join(dir, 'val.clean.jsonl') };
  // the labelers' e_j is applied when the comparisons are sampled, and the prompts, K, the
  // sampling and the writers' demonstrations decide which rankings there are: a cache made with
  // other settings is not this run's (--noise or a larger rm.comparisons.prompts would do
  // nothing), so it is made again, saying what differs. A cache from before settings.json
  // counts as made at the preset's settings; one that records only its noise (older versions)
  // counts as made at the preset's other settings, and says so.
  const settingsPath = join(dir, 'settings.json');
  const wantNoise = o.noise ?? cfg.comparisons.noise;
  const want = comparisonsCacheSettings(cfg.comparisons, wantNoise, runPreset(runDir).sft?.mixture);
  const cached = Object.values(paths).every((p) => existsSync(p));
  const recorded: Record<string, unknown> = cached && !o.fresh && existsSync(settingsPath) ? (JSON.parse(readFileSync(settingsPath, 'utf8')) as Record<string, unknown>) : { ...want };
  const unrecorded = Object.keys(want).filter((k) => !(k in recorded));
  const differ = Object.keys(want).filter((k) => k in recorded && JSON.stringify(recorded[k]) !== JSON.stringify((want as Record<string, unknown>)[k]));
  const staleNoise = differ.includes('noise') ? recorded.noise : wantNoise;
  if (differ.length > 0) {
    const others = differ.filter((k) => k !== 'noise').map((k) => `${k} ${JSON.stringify(recorded[k])} → ${JSON.stringify((want as Record<string, unknown>)[k])}`);
    const why = [...(differ.includes('noise') ? [`ranked at noise ${String(staleNoise)}, not ${wantNoise}`] : []), ...(others.length > 0 ? [`made with other settings (${others.join(', ')})`] : [])];
    log(`rm: the simulated comparisons in ${dir} were ${why.join(' and ')}: re-sampling them`);
  } else if (cached && !o.fresh && unrecorded.length > 0 && unrecorded.length < Object.keys(want).length) {
    log(
      `rm: note: the simulated comparisons in ${dir} record only ${Object.keys(want)
        .filter((k) => k in recorded)
        .join(', ')}; taken as made with this preset's ${unrecorded.join(', ')} (--fresh re-samples them)`,
    );
  }
  if (!o.fresh && cached && differ.length === 0) {
    log(`rm: reusing the simulated comparisons in ${dir}, ranked at noise ${wantNoise} (--fresh to re-sample)`);
    // our own files: a line an older version wrote and the reader now refuses is skipped, not
    // fatal. (Files from before ties have no "tiers": they read as strict orders, as written.)
    const read = (f: string): Ranking[] => {
      const r = readPreferencesJSONL(f, { onBad: 'skip' });
      if (r.skipped.length > 0) log(`rm: skipped ${r.skipped.length} unreadable rankings in ${f} (first: ${r.skipped[0].reason})`);
      return r.rankings;
    };
    // the contrast pairs are not in the cache (no sampling, cheap): made whether the samples are reused or fresh
    const noise = o.noise ?? cfg.comparisons.noise;
    const contrast = [...extraContrasts(cfg.comparisons, noise, runPresetFile(runDir), log), ...sampledContrastRankings({ runDir, dir, comparisons: cfg.comparisons, from, noise, fresh: false, quiet: o.quiet, log })];
    return { train: read(paths.train), contrast, val: read(paths.val), valClean: read(paths.valClean), files };
  }
  const { model, tok } = loadModel(runDir, from);
  const c = cfg.comparisons;
  const noise = o.noise ?? c.noise;
  const seed = c.seed ?? 4242;
  const opts = { k: c.k, temperature: c.temperature, maxTokens: c.maxTokens, tools: defaultTools(), noise };
  // bad settings fail before minutes of sampling, naming the preset
  if (!(Number.isInteger(c.contrastPrompts ?? 0) && (c.contrastPrompts ?? 0) >= 0)) {
    throw new GptforgeError(`contrastPrompts must be a whole number ≥ 0, got ${String(c.contrastPrompts)}`, { file: runPresetFile(runDir), field: 'rm.comparisons.contrastPrompts' });
  }
  if (c.contrastPairs !== undefined && !(typeof c.contrastPairs === 'number' && c.contrastPairs >= 0 && Number.isFinite(c.contrastPairs))) {
    throw new GptforgeError(`contrastPairs must be a number ≥ 0, got ${String(c.contrastPairs)}`, { file: runPresetFile(runDir), field: 'rm.comparisons.contrastPairs' });
  }
  sampledContrastSettings(c, runPresetFile(runDir));
  const items = trainComparisonPrompts(c, seed);
  const bar = new Progress({ label: 'comparisons', total: items.length + c.valPrompts, unit: 'prompt', quiet: o.quiet });
  // the writers are the SFT data's (its e_w); without an sft section, perfect writers
  const mixture = runPreset(runDir).sft?.mixture;
  const demonstrations = c.demonstrations ? writtenDemonstrations(items, { writerErrorRate: mixture?.writerErrorRate ?? 0, writerErrors: mixture?.writerErrors }, seed) : undefined;
  // contrast pairs fall back on the family's perfect demonstration (the conversation after the user's prompt)
  const contrastDemonstrations = c.contrastPairs ? items.map((it) => ({ messages: it.example.conversation.messages.slice(1) })) : undefined;
  const train = simulatedComparisons(model, tok, items, { ...opts, seed, demonstrations, contrastPairs: c.contrastPairs, contrastDemonstrations, onRanking: (d) => bar.update(d) });
  const val = simulatedComparisons(model, tok, taskPrompts('test', c.valPrompts, seed + 1), { ...opts, seed: seed + 1, onRanking: (d) => bar.update(items.length + d) });
  bar.finish();
  // a reply cut at the budget is "not well-formed" to the labelers whatever it says: when many
  // are, the RM learns "cut off = worse" instead of what the reply says (docs/journal/rlhf.md, "Second pass")
  const cutShare = (train.cut + val.cut) / Math.max(1, train.sampled + val.sampled);
  if (cutShare > 0.2) log(`rm: warning: ${(100 * cutShare).toFixed(0)}% of the sampled replies were cut at maxTokens ${c.maxTokens} before they ended; the labelers rank them as unfinished (raise rm.comparisons.maxTokens)`);
  writeRankings(paths.train, train.noisy);
  writeRankings(paths.val, val.noisy);
  writeRankings(paths.valClean, val.clean);
  atomicWriteFile(settingsPath, `${JSON.stringify(comparisonsCacheSettings(c, noise, mixture))}\n`);
  const contrast = [...extraContrasts(c, noise, runPresetFile(runDir), log), ...sampledContrastRankings({ runDir, dir, comparisons: c, from, noise, fresh: o.fresh ?? false, quiet: o.quiet, log })];
  const ct = train.contrast;
  if (ct.pairs > 0) log(`rm: ${ct.pairs} correctness-contrast pairs among the training rankings (from samples made right ${ct.madeRight}, made wrong ${ct.madeWrong}; from demonstrations ${ct.fromDemonstration})`);
  log(`rm: ${train.noisy.length} training and ${val.noisy.length} held-out rankings of ${c.k} ${from} samples${demonstrations ? " (training: and the writers' demonstration)" : ''}, ranked by the simulated labelers (noise ${noise}) → ${dir}`);
  return { train: train.noisy, contrast, val: val.noisy, valClean: val.clean, files };
}

/**
 * Stage 3, the reward model (InstructGPT's RM): comparisons (yours, or simulated labelers
 * ranking K samples of the SFT model per prompt, cached in `<run>/comparisons`) → the SFT model
 * with a zero-initialised scalar head read at <|reward|>, loss −log σ(r_better − r_worse) over
 * every pair of a ranking with a preference (src/train/reward.ts) → `<run>/rm`, `rm-eval.json`
 * (or `<run>/<into>` and `<into>-eval.json`, starting from `<run>/<from>`).
 * Resumes unless `fresh`; holds the run's lock; never exits the process or installs a signal handler.
 *
 * @throws GptforgeError for a preset without an `rm` section, a bad ranking (file, line, field),
 *   no usable rankings, `into` equal to `from`, a missing `from` stage, or a locked run.
 */
export async function runRm(runDir: string, o: RunRmOptions = {}): Promise<RunRmResult> {
  o.signal?.throwIfAborted(); // before any work: nothing trained or written
  holdRunLock(runDir); // one writer per run (src/util/lock.ts)
  const log = o.log ?? (() => undefined);
  const preset = runPreset(runDir);
  if (!preset.rm) throw new GptforgeError(`preset "${preset.name}" has no "rm" section`, { field: 'rm' });
  const cfg: RmPreset = { ...preset.rm, train: { ...preset.rm.train } };
  if (o.maxSteps !== undefined) cfg.train.maxSteps = o.maxSteps;
  if (o.logEvery !== undefined) cfg.train.logEvery = o.logEvery;
  if (o.lr !== undefined) cfg.train.lr = o.lr;
  checkSettings(o, runPresetFile(runDir), [
    ['maxSteps', cfg.train.maxSteps, 'positive integer', 'rm.train.maxSteps'],
    ['logEvery', cfg.train.logEvery ?? 1, 'positive integer', 'rm.train.logEvery'],
    ['lr', cfg.train.lr, 'positive number', 'rm.train.lr'],
    ['marginScale', cfg.train.marginScale ?? 0, 'non-negative number', 'rm.train.marginScale'],
    ['strengthWeight', cfg.train.strengthWeight ?? 0, 'non-negative number', 'rm.train.strengthWeight'],
  ]);
  const strength = { marginScale: cfg.train.marginScale ?? 0, strengthWeight: cfg.train.strengthWeight ?? 0 };

  const from = o.from ?? 'sft';
  const stage = o.into ?? 'rm';
  if (stage === from) throw new GptforgeError(`rm: --into ${stage} would train over the model it starts from; name another stage`, { field: 'into' });
  const mix = contrastMix(cfg, runPresetFile(runDir), o.contrastFraction);
  const pooling = cfg.pooling ?? 'last';
  if (pooling !== 'last' && pooling !== 'last+mean') throw new GptforgeError(`pooling must be "last" or "last+mean", got ${JSON.stringify(pooling)}`, { file: runPresetFile(runDir), field: 'rm.pooling' });
  const data = comparisons(runDir, cfg, o, log);
  // the reward model starts as a copy of the SFT model with a zero-initialised scalar head
  const sft = loadModel(runDir, from, { fresh: true });
  if (sft.reward) throw new GptforgeError(`rm: --from ${from} is already a reward model; start from a generation stage (sft, sft-lora, …)`, { file: sft.dir, field: 'from' });
  const { model, tok } = sft;
  model.addScalarHead();
  if (pooling === 'last+mean') model.scorePool = { mode: 'last+mean', afterToken: tok.specialId('<|user_end|>') };
  const adapter = prepareAdapter(stage, model, sft.dir, o, { specialTokens: tok.specialTokens });
  if (adapter) log(`${stage}: ${describeAdapter(adapter)}`);
  const L = model.config.blockSize;
  // without rm.contrastFraction the contrast pairs join the sampled rankings in one shuffled stream
  const train = renderRankings(tok, mix ? data.train : [...data.train, ...data.contrast], L);
  const contrast = mix ? renderRankings(tok, data.contrast, L) : null;
  if (mix && contrast!.rendered.length === 0) throw new GptforgeError('rm.contrastFraction is set but there are no contrast pairs to mix in (set rm.comparisons.contrastPrompts or rm.comparisons.sampledContrasts)', { file: runPresetFile(runDir), field: 'rm.contrastFraction' });
  const val = renderRankings(tok, data.val, L);
  const valClean = data.valClean ? renderRankings(tok, data.valClean, L) : null;
  if (train.rendered.length === 0) {
    const tiedText = train.tied > 0 ? ` (${train.tied} had all their replies tied)` : '';
    if (data.files.length > 0) throw new GptforgeError(`no usable rankings to train the reward model on in ${data.files.join(', ')}${tiedText}: a ranking needs two replies in different tiers`, { file: data.files[0] });
    // simulated: name the cache and the preset key that makes more of them (a sweep cell is its
    // own run with its own preset.json: an edit to the parent run's preset does not reach it)
    const dir = from === 'sft' ? runLayout(runDir).comparisons : `${runLayout(runDir).comparisons}-${from}`;
    throw new GptforgeError(`no usable rankings to train the reward model on${tiedText}: the simulated comparisons in ${dir} give no pair with a preference; raise rm.comparisons.prompts (or k, temperature; or set contrastPrompts or demonstrations) in this run's preset, then re-sample them with --fresh`, {
      file: runPresetFile(runDir),
      field: 'rm.comparisons.prompts',
    });
  }
  const dropped = train.dropped + val.dropped + (contrast?.dropped ?? 0);
  const tied = train.tied + val.tied + (contrast?.tied ?? 0);
  log(
    `${stage}: from ${sft.dir}; ${train.rendered.length} rankings (${train.pairs} pairs with a preference, ${train.tiedPairs} tied pairs left out) for training` +
      `${contrast ? ` (${contrast.rendered.length} contrast rankings mixed in at ${mix!.contrast} of every ${cfg.rankingsPerBatch})` : ''}, ` +
      `${val.rendered.length} held out (${val.pairs} pairs with a preference, ${val.tiedPairs} tied left out)` +
      `${tied ? `; ${tied} rankings dropped as all tied` : ''}${dropped ? `; ${dropped} dropped as longer than the context` : ''}`,
  );
  if (strength.marginScale > 0 || strength.strengthWeight > 0) {
    const all = [...train.rendered, ...(contrast?.rendered ?? [])];
    const without = all.filter((r) => r.margin === undefined).length;
    log(`${stage}: the labelers' preference strength in the loss (marginScale ${strength.marginScale}, strengthWeight ${strength.strengthWeight})`);
    if (without > 0) log(`${stage}: note: ${without} of ${all.length} training rankings carry no strength ("margin"; comparisons cached before it existed, or rankings from people): margin 0 for their pairs${data.files.length === 0 ? ' (--fresh re-samples the comparisons with it)' : ''}`);
  }
  const pad = tok.specialId('<|pad|>');
  const loader = contrast ? new MixedLoader([new ShuffledLoader(train.rendered, mix!.sampled), new ShuffledLoader(contrast.rendered, mix!.contrast, 7331)]) : new ShuffledLoader(train.rendered, cfg.rankingsPerBatch);
  const result = await trainRewardModel({ model, adapter, train: loader, val: val.rendered, padId: pad, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash(), stage, strength }, cfg.train, {
    runDir,
    stageDir: runLayout(runDir).stage(stage),
    resume: !o.fresh,
    quiet: o.quiet,
    stepsOption: o.stepsOption ?? 'maxSteps',
    signal: o.signal,
    onStep: o.onStep,
    startedFrom: sft.dir,
    // what it trains on, to refuse a resume on other rankings (src/train/loop.ts dataChanged)
    data: `${data.train.length + data.contrast.length} rankings from ${data.files.length > 0 ? data.files.join(', ') : 'the simulated comparisons'}`,
    dataHash: dataHash([...data.train, ...data.contrast].map((r) => `${JSON.stringify(r)}\n`)),
    allowDataChange: o.allowDataChange,
  });
  const accuracy = result.lastEval['val/accuracy'] ?? NaN;
  // the noise-free rankings are scored once: their accuracy is the sum over the deciding terms
  const split = valClean && data.valClean ? accuracyByDecidingTerm(model, data.valClean, valClean, pad) : undefined;
  const byTerm = split?.byTerm;
  const byContext = split?.byContext;
  const byBoth = split?.byBoth;
  const byFamily = split?.correctnessByFamily;
  const byFamilyTerm = split?.byFamilyAndTerm;
  const cleanTally = byTerm && Object.values(byTerm).reduce((s, t) => ({ pairs: s.pairs + t.pairs, correct: s.correct + t.correct }), { pairs: 0, correct: 0 });
  const clean = cleanTally && cleanTally.pairs > 0 ? cleanTally.correct / cleanTally.pairs : undefined;
  const probeN = cfg.comparisons.probePrompts ?? 240;
  if (!(Number.isInteger(probeN) && probeN >= 0)) throw new GptforgeError(`probePrompts must be a whole number ≥ 0, got ${String(probeN)}`, { file: runPresetFile(runDir), field: 'rm.comparisons.probePrompts' });
  const probe = probeN > 0 ? contrastProbe(model, tok, probeN, (cfg.comparisons.seed ?? 4242) + 90_001) : undefined;
  if (probe?.all)
    log(
      `${stage}: contrast probe (held out, chance 50%): ${Object.entries(probe)
        .map(([k, t]) => `${k} ${(100 * t.accuracy).toFixed(1)}% of ${t.pairs}`)
        .join(', ')}`,
    );
  // tied pairs counted as the log line counts them: those inside held-out rankings and those of
  // the all-tied rankings dropped before training (val/tied only sees the former)
  atomicWriteFile(
    stage === 'rm' ? runLayout(runDir).rmEval : join(runDir, `${stage}-eval.json`),
    JSON.stringify(
      {
        step: result.step,
        accuracy,
        accuracyClean: clean,
        margin: result.lastEval['val/margin'],
        pairs: result.lastEval['val/pairs'],
        tiedPairs: val.tiedPairs,
        allTiedRankings: val.tied,
        accuracyCleanBy: byTerm,
        accuracyCleanByContext: byContext,
        accuracyCleanByContextAndTerm: byBoth,
        accuracyCleanCorrectnessByFamily: byFamily,
        accuracyCleanByFamilyAndTerm: byFamilyTerm,
        contrastProbe: probe,
      },
      null,
      2,
    ) + '\n',
  );
  return { ...result, runDir, stage, accuracy, accuracyClean: clean, accuracyCleanBy: byTerm, accuracyCleanByContext: byContext, accuracyCleanByContextAndTerm: byBoth, accuracyCleanCorrectnessByFamily: byFamily, accuracyCleanByFamilyAndTerm: byFamilyTerm, contrastProbe: probe };
}

/**
 * Reward-model scores of `completions` as replies to `prompt` (higher is better): the run's
 * `rm` stage, or `path` itself when it is a reward checkpoint.
 * @throws GptforgeError when the checkpoint has no reward head.
 */
export function rmScores(path: string, prompt: string, completions: readonly string[]): number[] {
  const rm = loadRewardModel(path);
  const seqs = completions.map((c) => renderForReward(rm.tok, rankingConversation(prompt, c)));
  return scoreSequences(rm.model, seqs, rm.tok.specialId('<|pad|>'));
}
