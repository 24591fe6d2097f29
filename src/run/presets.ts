import { existsSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GptforgeError } from '../util/errors.js';
import { readTextFile } from '../data/jsonl.js';
import { TRAIN_CONFIG_KEYS, type TrainConfig } from '../train/loop.js';
import { MODEL_CONFIG_KEYS, type GPTConfigInput } from '../model/config.js';
import { SFT_MIXTURE_KEYS, type SftMixtureConfig } from '../data/sft.js';
import { DEFAULT_RL, type RLConfig } from '../train/rl.js';
import { parseJsonFile } from '../util/json.js';
import { keysOf, type KeyTree } from '../util/key-tree.js';
import { checkKeys, closestKey } from './preset-keys.js';
import { validateConfig } from '../model/config.js';

/** Stage 2 in a preset: the SFT mixture, batch shape and schedule, and what the pipeline shows afterwards. */
export interface SftPreset {
  mixture: SftMixtureConfig;
  batchSize: number;
  /** Row length (≤ the model's context). */
  seqLen: number;
  train: TrainConfig;
  /** The scripted chat the pipeline prints at the end. */
  chat?: { prompts: string[] };
  /** Held-out examples per task family in `gptforge eval`, and few-shot examples for the base model. */
  eval?: {
    perTask?: number;
    fewShot?: number;
    compare?: {
      prompts?: number;
      samplesPerPrompt?: number;
      bestOfN?: number;
      /** Rubric-picked best-of-N of SFT: the ceiling row (0 = none). */
      oracleBestOfN?: number;
      temperature?: number;
      /** Reply budget of every sampled reply, tokens (default 48): a reply cut before it ends is judged unfinished (docs/rlhf.md). */
      maxTokens?: number;
    };
  };
}

/**
 * A pretraining preset: which mixture, which model, batch shape and schedule, and what to
 * sample at the end. Presets are JSON files in presets/ (pretrain.<name>.json); --config
 * points at your own file of the same shape, and flags override single fields.
 */
export interface PretrainPreset {
  name: string;
  description?: string;
  /** Mixture config: a file name in presets/ or a path. */
  mixture: string;
  model: Omit<GPTConfigInput, 'vocabSize'>;
  batchSize: number;
  seqLen: number;
  loader?: 'concat' | 'bestfit';
  evalBatches: number;
  train: TrainConfig;
  samples?: { prompts: string[]; maxTokens: number; temperature?: number; topK?: number; topP?: number };
  /** Supervised fine-tuning (stage 2); absent: the pipeline stops after pretraining. */
  sft?: SftPreset;
  /** Reward modeling (stage 3): simulated comparisons and RM training. */
  rm?: RmPreset;
  /** Reinforcement learning (stage 4). */
  rl?: RlPreset;
  /** DPO, the offline alternative to RM + RL. */
  dpo?: DpoPreset;
  /**
   * The prompting techniques' headline rows after the evaluation (src/assist/headline.ts): the
   * addition model (AB5: abacus embeddings, trained on 1–6 digits) trained in `<run>/techniques`,
   * then direct vs "Let's think step by step." on 5–8 digits. Present: the pipeline runs it unless `--no-techniques`; absent: only with
   * `--techniques`.
   */
  techniques?: TechniquesPreset;
}

/** The pipeline's techniques stage (docs/techniques.md, model A's recipe). */
export interface TechniquesPreset {
  /** Optimizer steps of the addition model (model AB5's recipe, src/assist/headline.ts), 8 rows of 256 tokens each (default 2400: ≈ 4.9 M tokens). */
  steps?: number;
  /** Held-out problems per (digits, mode) cell (default 20). */
  perCell?: number;
}

export interface RmPreset {
  /** The simulated labelers' comparisons: prompts from the task families' train split (val from test). */
  comparisons: {
    prompts: number;
    valPrompts: number;
    k: number;
    noise: number;
    temperature: number;
    maxTokens: number;
    seed?: number;
    /**
     * More training prompts, from the families whose correctness is decidable from the context
     * (src/data/decidable.ts): the pairs a reward model must read a tool output or the prompt's
     * word to order are rare among a small model's samples (default 0).
     */
    decidablePrompts?: number;
    /**
     * Add the demonstration writers' reply (the SFT mixture's writerErrorRate, src/data/writers.ts)
     * to each training prompt's K samples before the labelers rank them: comparisons with a
     * reply the model cannot yet write, mostly correct (default false; held-out comparisons are
     * the model's samples alone either way).
     */
    demonstrations?: boolean;
    /**
     * Correctness-contrast pairs per training prompt of a family decidable from the context
     * (≥ 0, fractional: the chance of one more; default 0): a ranking of two replies that differ
     * only in the checkable fact — one of the model's samples with its answer made right or wrong
     * (the calculator's result, a syllable count), else the family's demonstration and a wrong
     * copy — judged by the same noisy labelers (src/data/contrast.ts, docs/rlhf.md).
     */
    contrastPairs?: number;
    /**
     * Contrast pairs from the demonstrations of N more training prompts of the decidable
     * families: the family's perfect reply and the same reply made wrong, no model sampled
     * (default 0; src/train/comparisons.ts `demonstrationContrasts`).
     */
    contrastPrompts?: number;
    /**
     * How `contrastPrompts` are shared among the decidable families, as relative weights, e.g.
     * `{"arithmetic": 4, "syllables": 1, "rhymes": 1, "chat": 1}` (a family left out gets none;
     * default: an equal share each). Reading the calculator needs thousands of calculator pairs
     * (docs/journal/rlhf.md, "Sixth pass"); an equal share gives it a quarter of them.
     */
    contrastFamilies?: Record<string, number>;
    /**
     * The held-out contrast probe's size: test-split prompts of the decidable families, each
     * its demonstration against the same reply made wrong (noise-free), scored after training
     * into `rm-eval.json` `contrastProbe` — whether the RM reads the checkable fact at all
     * (chance: 50%). Default 240 (60 a family); 0 skips it.
     */
    probePrompts?: number;
    /**
     * Correctness pairs from the SFT model's own samples (src/train/comparisons.ts
     * `sampledContrasts`): `prompts` more training prompts of the decidable families (shared by
     * `contrastFamilies`), `k` samples each (default 8; temperature and maxTokens as above),
     * judged by the family's checker, and up to `maxPairsPerPrompt` (default 4) pairs of a right
     * sample against a wrong one of the same prompt, ranked by the noisy labelers; with `edits`
     * (default false) each sample against itself made right or wrong as well. They join the
     * contrast pairs (`contrastFraction`); cached in the comparisons folder beside the samples
     * (`contrast-sampled.jsonl`), re-sampled when these settings change. Default: none.
     */
    sampledContrasts?: { prompts: number; k?: number; maxPairsPerPrompt?: number; edits?: boolean };
  };
  rankingsPerBatch: number;
  /**
   * The share of every batch's rankings drawn from the contrast pairs (`comparisons.contrastPrompts`),
   * the rest from the sampled rankings, each stream shuffled and cycled on its own (0 < f < 1;
   * `round(f · rankingsPerBatch)` contrast rankings a batch, at least one of each kind). Without
   * it (default) the contrast pairs join the sampled rankings in one stream, and when they
   * outnumber them the sampled rankings — the RM's form — are no longer learnt (docs/journal/rlhf.md,
   * "Fifth pass"). A fixed count per batch, as HF datasets' `interleave_datasets` probabilities.
   */
  contrastFraction?: number;
  /**
   * What the reward head reads: `last` (default; InstructGPT, HF's `…ForSequenceClassification`)
   * the hidden state at `<|reward|>`, or `last+mean` ½ of it plus ½ the mean over the reply's
   * tokens (src/model/gpt.ts `ScorePool`), which gives every reply token — the calculator
   * answer's digits among them — a direct gradient. Recorded in the RM checkpoint.
   */
  pooling?: 'last' | 'last+mean';
  train: RmTrainConfig;
}

/**
 * The reward model's training settings: the loop's, and how the labelers' preference strength
 * per pair (Ranking.margin) enters the loss (src/train/reward.ts StrengthUse; docs/rlhf.md).
 */
export interface RmTrainConfig extends TrainConfig {
  /** s in −log σ(r_better − r_worse − s · strength) (Llama 2's margin); default 0: today's loss. */
  marginScale?: number;
  /** w: each pair's loss weighted 1 + w · strength within its ranking; default 0. */
  strengthWeight?: number;
}

export interface RlPreset {
  /** Algorithm settings (see src/train/rl.ts RLConfig; missing fields take DEFAULT_RL's). */
  config: Partial<RLConfig>;
  /** Distinct training prompts drawn from the task families' train split. */
  prompts: number;
  /** Early stopping: the checkpoint is chosen every `train.evalEvery` updates on this many validation-split prompts (src/run/rl-validation.ts); absent or 0: the last update. */
  validation?: { prompts: number };
  train: TrainConfig;
}

export interface DpoPreset {
  beta: number;
  pairsPerBatch: number;
  train: TrainConfig;
}

/**
 * The keys each section of a preset may hold, so that a typo such as `train.maxStep` is refused
 * (src/run/preset-keys.ts `checkKeys`) rather than ignored, training with the default. Typed
 * `KeyTree<PretrainPreset>`: the compiler checks it against the interfaces above, and each
 * shared section's list sits beside its own type (TrainConfig's, GPTConfig's,
 * SftMixtureConfig's) or comes from its defaults (DEFAULT_RL), so a field added to a type fails
 * `tsc` until it is listed there, and then every preset accepts it.
 */
export const PRESET_KEYS: KeyTree<PretrainPreset> = {
  name: null,
  description: null,
  mixture: null,
  model: MODEL_CONFIG_KEYS,
  batchSize: null,
  seqLen: null,
  loader: null,
  evalBatches: null,
  train: TRAIN_CONFIG_KEYS,
  samples: { prompts: null, maxTokens: null, temperature: null, topK: null, topP: null },
  sft: {
    mixture: SFT_MIXTURE_KEYS,
    batchSize: null,
    seqLen: null,
    train: TRAIN_CONFIG_KEYS,
    chat: { prompts: null },
    eval: { perTask: null, fewShot: null, compare: { prompts: null, samplesPerPrompt: null, bestOfN: null, oracleBestOfN: null, temperature: null, maxTokens: null } },
  },
  rm: {
    comparisons: {
      prompts: null,
      valPrompts: null,
      k: null,
      noise: null,
      temperature: null,
      maxTokens: null,
      seed: null,
      decidablePrompts: null,
      demonstrations: null,
      contrastPairs: null,
      contrastPrompts: null,
      contrastFamilies: null,
      probePrompts: null,
      sampledContrasts: { prompts: null, k: null, maxPairsPerPrompt: null, edits: null },
    },
    rankingsPerBatch: null,
    contrastFraction: null,
    pooling: null,
    train: { ...TRAIN_CONFIG_KEYS, marginScale: null, strengthWeight: null },
  },
  rl: { config: keysOf(DEFAULT_RL), prompts: null, validation: { prompts: null }, train: TRAIN_CONFIG_KEYS },
  dpo: { beta: null, pairsPerBatch: null, train: TRAIN_CONFIG_KEYS },
  techniques: { steps: null, perCell: null },
};

export function presetsDir(): string {
  // dist/src/run/presets.js → <package>/presets
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'presets');
}

/** The file a preset name or path names: the path itself when it exists, else `presets/pretrain.<name>.json` (which may not exist). */
export function presetFile(nameOrPath: string): string {
  return existsSync(nameOrPath) ? nameOrPath : join(presetsDir(), `pretrain.${nameOrPath}.json`);
}

/**
 * Read a preset (a name in presets/ or a path) and check its shape before any data work: every
 * section refuses a key it does not know (PRESET_KEYS), naming the file and the full
 * field path (`train.maxStep`) with the closest known key, and the `model` section's values are
 * checked (`field "model.nLayer"`) before any data work.
 * @throws GptforgeError naming the file (and line, for bad JSON) and the field.
 */
export function loadPreset(nameOrPath: string): { preset: PretrainPreset; file: string } {
  const file = presetFile(nameOrPath);
  checkPresetName(nameOrPath);
  const p = parseJsonFile(readTextFile(file, 'preset'), file) as PretrainPreset; // an encoding error is named by readTextFile
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new GptforgeError('a preset is a JSON object', { file });
  checkKeys(p, PRESET_KEYS, file);
  for (const f of ['mixture', 'model', 'batchSize', 'seqLen', 'train'] as const) if (p[f] === undefined) throw new GptforgeError('missing field', { file, field: f });
  // the model's values now, not after the tokenizer and the data shards are built (vocabSize is the tokenizer's: any here)
  if (typeof p.model !== 'object' || p.model === null || Array.isArray(p.model)) throw new GptforgeError(`must be an object, got ${JSON.stringify(p.model)}`, { file, field: 'model' });
  const nEmbd = p.model.nEmbd;
  validateConfig({ bias: true, norm: 'layernorm', mlp: 'gelu', position: 'learned', tieEmbeddings: true, mlpHidden: typeof nEmbd === 'number' ? 4 * nEmbd : 1, ...p.model, vocabSize: 2 ** 31 - 1 }, file, 'model.');
  if (p.seqLen > p.model.blockSize) throw new GptforgeError(`seqLen ${p.seqLen} exceeds model.blockSize ${p.model.blockSize}`, { file, field: 'seqLen' });
  return { preset: p, file };
}

export function resolveMixturePath(preset: PretrainPreset, presetFile: string): string {
  if (isAbsolute(preset.mixture) || existsSync(preset.mixture)) return preset.mixture;
  const beside = join(dirname(presetFile), preset.mixture);
  return existsSync(beside) ? beside : join(presetsDir(), preset.mixture);
}

/** The preset names shipped in presets/ (`pretrain.<name>.json`): tiny, small. */
export function presetNames(): string[] {
  return readdirSync(presetsDir())
    .map((f) => /^pretrain\.(.+)\.json$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort((a, b) => (a === 'tiny' ? -1 : b === 'tiny' ? 1 : a.localeCompare(b)));
}

/**
 * Refuse a preset name that is neither a shipped preset nor an existing file, as the user typed
 * it (`--preset`), with the closest name when it is near (`tinny` → did you mean "tiny"?) —
 * not the presets/ path the name would have had, which the user never typed.
 * @throws GptforgeError at field `preset` (the CLI prints `--preset`).
 */
export function checkPresetName(nameOrPath: string): void {
  if (existsSync(presetFile(nameOrPath))) return;
  const names = presetNames();
  const near = closestKey(nameOrPath, names);
  throw new GptforgeError(`no preset "${nameOrPath}"${near ? `; did you mean "${near}"?` : ''} (presets: ${names.join(', ')}; or a path to a JSON file)`, { field: 'preset' });
}
