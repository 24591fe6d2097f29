import { GptforgeError } from '../util/errors.js';
import { DEFAULT_RL } from '../train/rl/config.js';

/**
 * The keys each section of a run preset may hold (src/run/presets.ts `PretrainPreset`): a
 * nested section maps to its own keys, a value checked elsewhere (a number, a list, the SFT
 * sources that src/data/sft.ts checks, abacus settings that src/model/abacus.ts checks) to null.
 * A typo such as `train.maxStep` would otherwise be ignored silently and train with the default.
 */
export interface KeyShape {
  [key: string]: KeyShape | null;
}

const leaves = (...keys: string[]): KeyShape => Object.fromEntries(keys.map((k) => [k, null]));

/** TrainConfig (src/train/loop.ts). */
const TRAIN = leaves('maxSteps', 'lr', 'minLr', 'warmupSteps', 'decaySteps', 'weightDecay', 'beta1', 'beta2', 'eps', 'gradClip', 'gradAccum', 'evalEvery', 'checkpointEvery', 'keepLast', 'logEvery');

/** GPTConfig less vocabSize, which the tokenizer sets (src/model/config.ts). */
export const MODEL_KEYS: KeyShape = leaves('blockSize', 'nLayer', 'nHead', 'nEmbd', 'bias', 'norm', 'mlp', 'position', 'tieEmbeddings', 'mlpHidden', 'randomPositions', 'abacus');

export const PRESET_KEYS: KeyShape = {
  ...leaves('name', 'description', 'mixture', 'batchSize', 'seqLen', 'loader', 'evalBatches'),
  model: MODEL_KEYS,
  train: TRAIN,
  samples: leaves('prompts', 'maxTokens', 'temperature', 'topK', 'topP'),
  sft: {
    // SftMixtureConfig (src/data/sft.ts) with the writers' profile (src/data/writers.ts)
    mixture: leaves('sources', 'examples', 'testPerTask', 'seed', 'onBad', 'writerErrorRate', 'writerErrors'),
    ...leaves('batchSize', 'seqLen'),
    train: TRAIN,
    chat: leaves('prompts'),
    eval: { ...leaves('perTask', 'fewShot'), compare: leaves('prompts', 'samplesPerPrompt', 'bestOfN', 'oracleBestOfN', 'temperature', 'maxTokens') },
  },
  rm: {
    comparisons: leaves('prompts', 'valPrompts', 'k', 'noise', 'temperature', 'maxTokens', 'seed', 'decidablePrompts', 'demonstrations', 'contrastPairs', 'contrastPrompts', 'probePrompts'),
    rankingsPerBatch: null,
    train: TRAIN,
  },
  rl: { config: leaves(...Object.keys(DEFAULT_RL)), prompts: null, validation: leaves('prompts'), train: TRAIN },
  dpo: { ...leaves('beta', 'pairsPerBatch'), train: TRAIN },
  techniques: leaves('steps', 'perCell'),
};

/** A hint for a key that is known elsewhere, in place of the list of keys. */
const MISPLACED: Record<string, string> = {
  'sft.onBad': 'onBad is a field of the SFT mixture: "sft": { "mixture": { "onBad": "skip", "sources": […] } }',
};

/** Optimal string alignment distance (Damerau–Levenshtein with adjacent transpositions), case-insensitive. */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known key closest to `key` when it is close enough to be a typo (≤ 1 edit for short keys, ≤ 2 from 5 letters), else undefined. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const limit = key.length >= 5 ? 2 : 1;
  let best: string | undefined;
  let bestD = limit + 1;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

/**
 * Refuse a key that `shape` does not name, in `obj` and in every nested section, naming the full
 * field path (`train.maxStep`), the keys its section has, and the closest one when it is near.
 * A section that is not an object is left to the checks of its values.
 *
 * @param path the field path of `obj` ('' at the top of the file)
 * @throws GptforgeError `{ file, field: "<path>.<key>" }` for the first unknown key
 */
export function checkKeys(obj: unknown, shape: KeyShape, file: string, path = ''): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
  const known = Object.keys(shape);
  for (const [key, value] of Object.entries(obj)) {
    const field = path ? `${path}.${key}` : key;
    if (!Object.hasOwn(shape, key)) {
      const misplaced = MISPLACED[field];
      if (misplaced) throw new GptforgeError(misplaced, { file, field });
      const near = closestKey(key, known);
      throw new GptforgeError(`unknown key (${path || 'a preset'} has: ${known.join(', ')})${near ? `; did you mean "${near}"?` : ''}`, { file, field });
    }
    const sub = shape[key];
    if (sub) checkKeys(value, sub, file, field);
  }
}
