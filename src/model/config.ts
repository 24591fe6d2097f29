import { GptforgeError } from '../util/errors.js';
import type { KeyTree } from '../util/key-tree.js';
import { ABACUS_KEYS, type AbacusConfig, validateAbacus } from './abacus.js';

/**
 * The shape of a GPT. Defaults are GPT-2's architecture (learned positions, LayerNorm,
 * GELU MLP 4× wide, tied embeddings, biases); flags switch on the LLaMA-style variants.
 */
export interface GPTConfig {
  vocabSize: number;
  /** Maximum context length (positions). */
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** Biases in linear layers and norms (GPT-2: true). */
  bias: boolean;
  norm: 'layernorm' | 'rmsnorm';
  mlp: 'gelu' | 'swiglu';
  position: 'learned' | 'rope';
  /** The LM head reuses the token embedding matrix (GPT-2: true). */
  tieEmbeddings: boolean;
  /** MLP hidden width (default 4·nEmbd). */
  mlpHidden: number;
  /**
   * Randomized positions (Ruoss et al. 2023, "Randomized Positional Encodings Boost Length
   * Generalization of Transformers"), RoPE only: when set, every forward that is not given
   * position ids draws them — each row's ids increase by random gaps (a Bernoulli process, so a
   * row of blockSize tokens spans about this many positions: Ruoss et al.'s sorted random
   * subset of [0, L), L = this), in training and in decoding alike (the KV cache keeps each
   * slot's id). Absent: a token's position is its index. An integer ≥ blockSize.
   */
  randomPositions?: number;
  /**
   * Abacus embeddings (McLeish et al. 2024): a learned embedding per digit column id added to
   * every token's embedding (src/model/abacus.ts has the id rules). Absent: none (the model is
   * bit-identical to one without the field).
   */
  abacus?: AbacusConfig;
}

/**
 * The keys a preset's `model` section may hold: GPTConfig's less vocabSize, which the tokenizer
 * sets; checked by the compiler (a field added above fails `tsc` until listed here).
 */
export const MODEL_CONFIG_KEYS: KeyTree<Omit<GPTConfig, 'vocabSize'>> = {
  blockSize: null,
  nLayer: null,
  nHead: null,
  nEmbd: null,
  bias: null,
  norm: null,
  mlp: null,
  position: null,
  tieEmbeddings: null,
  mlpHidden: null,
  randomPositions: null,
  abacus: ABACUS_KEYS,
};

/** `makeConfig`'s input: the five shape fields required, every other GPTConfig field optional. */
export type GPTConfigInput = Pick<GPTConfig, 'vocabSize' | 'blockSize' | 'nLayer' | 'nHead' | 'nEmbd'> & Partial<GPTConfig>;

/**
 * A full model config from the five shape fields (vocabSize, blockSize = context in tokens,
 * nLayer, nHead, nEmbd) and any others, the rest at their defaults (DEFAULT_CONFIG: learned
 * positions, tied embeddings, MLP 4·nEmbd).
 * @throws GptforgeError naming the field for a shape that cannot work (nEmbd not divisible by nHead, a non-positive size, …).
 */
export function makeConfig(c: GPTConfigInput): GPTConfig {
  const cfg: GPTConfig = {
    bias: true,
    norm: 'layernorm',
    mlp: 'gelu',
    position: 'learned',
    tieEmbeddings: true,
    mlpHidden: 4 * c.nEmbd,
    ...c,
  };
  validateConfig(cfg);
  return cfg;
}

/**
 * Check a model config's values.
 * @param source the file it came from (named in the error), or a description
 * @param prefix what goes before a field's name in the error: `model.` where the config is the
 *   `model` section of a preset or of a checkpoint's config.json, so the field path is the file's
 * @throws GptforgeError `{ file: source, field: prefix + name }` for the first bad value
 */
export function validateConfig(c: GPTConfig, source = 'model config', prefix = ''): void {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    const what = c === undefined ? 'missing' : `must be an object, got ${JSON.stringify(c)}`;
    throw new GptforgeError(`${what} (the model's shape: vocabSize, blockSize, nLayer, nHead, nEmbd, …)`, { file: source, field: prefix.replace(/\.$/, '') || 'model' });
  }
  const posInt = (field: keyof GPTConfig): void => {
    const v = c[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new GptforgeError(`must be a positive integer, got ${JSON.stringify(v)}`, { file: source, field: prefix + field });
  };
  for (const f of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'mlpHidden'] as const) posInt(f);
  if (c.nEmbd % c.nHead !== 0) throw new GptforgeError(`nEmbd ${c.nEmbd} is not divisible by nHead ${c.nHead}`, { file: source, field: `${prefix}nHead` });
  if (c.position === 'rope' && (c.nEmbd / c.nHead) % 2 !== 0) throw new GptforgeError(`RoPE needs an even head size, got ${c.nEmbd / c.nHead}`, { file: source, field: `${prefix}nHead` });
  if (!['layernorm', 'rmsnorm'].includes(c.norm)) throw new GptforgeError(`must be "layernorm" or "rmsnorm", got ${JSON.stringify(c.norm)}`, { file: source, field: `${prefix}norm` });
  if (!['gelu', 'swiglu'].includes(c.mlp)) throw new GptforgeError(`must be "gelu" or "swiglu", got ${JSON.stringify(c.mlp)}`, { file: source, field: `${prefix}mlp` });
  if (!['learned', 'rope'].includes(c.position)) throw new GptforgeError(`must be "learned" or "rope", got ${JSON.stringify(c.position)}`, { file: source, field: `${prefix}position` });
  if (c.randomPositions !== undefined) {
    const r = c.randomPositions;
    if (typeof r !== 'number' || !Number.isInteger(r) || r < c.blockSize) throw new GptforgeError(`must be an integer ≥ blockSize (${c.blockSize}), got ${JSON.stringify(r)}`, { file: source, field: `${prefix}randomPositions` });
    if (c.position !== 'rope') throw new GptforgeError('randomized positions need rotary positions (position: "rope")', { file: source, field: `${prefix}randomPositions` });
  }
  if (c.abacus !== undefined) validateAbacus(c.abacus, c.vocabSize, source, prefix);
}

/**
 * Parameter count of a model with config `c` (excluding the optional scalar head), computed from
 * the shapes: `countParams(model.config)`, or `model.numParams()` for a built model.
 * @throws GptforgeError when given something else (a GPT itself): JavaScript callers would get NaN.
 */
export function countParams(c: GPTConfig): number {
  if (typeof (c as Partial<GPTConfig> | null)?.nEmbd !== 'number') throw new GptforgeError('countParams takes a model config (countParams(model.config), or model.numParams() for a built model), not a model');
  const C = c.nEmbd;
  const H = c.mlpHidden;
  const b = c.bias ? 1 : 0;
  const norm = c.norm === 'layernorm' && c.bias ? 2 * C : C;
  const attn = C * 3 * C + b * 3 * C + C * C + b * C;
  const mlp = c.mlp === 'gelu' ? C * H + b * H + H * C + b * C : 2 * C * H + 2 * b * H + H * C + b * C;
  let n = c.vocabSize * C + c.nLayer * (2 * norm + attn + mlp) + norm;
  if (c.position === 'learned') n += c.blockSize * C;
  if (c.abacus) n += (c.abacus.maxId + 1) * C;
  if (!c.tieEmbeddings) n += c.vocabSize * C;
  return n;
}

/** Forward FLOPs per token of the matmuls (2·params in matmuls + attention), for MFU. Training ≈ 3× this. */
export function flopsPerToken(c: GPTConfig, seqLen: number): number {
  const C = c.nEmbd;
  const H = c.mlpHidden;
  const attnProj = 2 * (C * 3 * C + C * C);
  const mlp = c.mlp === 'gelu' ? 2 * (2 * C * H) : 2 * (3 * C * H);
  // causal attention: on average T/2 keys, QKᵀ and PV each 2·C flops per key
  const attn = 2 * 2 * C * (seqLen / 2);
  const head = 2 * C * c.vocabSize;
  return c.nLayer * (attnProj + mlp + attn) + head;
}
