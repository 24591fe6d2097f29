import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { noGrad } from '../engine/tensor.js';
import { loadCheckpoint, modelFromCheckpoint, withResolvedCheckpoint } from '../model/checkpoint.js';
import type { GPT } from '../model/gpt.js';
import { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';

/**
 * Text → unit vectors for retrieval.
 *
 * `MeanPoolEmbedder` embeds with one of our own GPT checkpoints: the final hidden states
 * (after the last norm, `GPT.hidden`) averaged over the text's real tokens and L2-normalised
 * — mean pooling as in Sentence-BERT (Reimers & Gurevych 2019), which beats the last token
 * for models never trained to summarise into one. Texts are right-padded to the longest in
 * a batch; causal attention means padding never changes a real token's state, and the mean
 * leaves it out. Texts longer than the context keep their first blockSize tokens.
 */
export interface Embedder {
  /** Stable id of the model (recorded in the store; another id is refused). */
  readonly id: string;
  readonly dim: number;
  /** Hash of the tokenizer the embedder reads with (also counts chunk tokens). */
  readonly tokenizerHash: string;
  /** Where the model came from, if a checkpoint. */
  readonly path?: string;
  /** Most tokens a text may have before truncation. */
  readonly maxTokens: number;
  countTokens(text: string): number;
  /** One L2-normalised Float32Array of `dim` values per text (all zeros for an empty text). */
  embed(texts: readonly string[]): Float32Array[];
}

/** Stable id for a model's weights: SHA-256 over parameter names, shapes and values (first 16 hex digits). */
export function weightsId(model: GPT): string {
  const h = createHash('sha256');
  for (const [name, t] of model.params) {
    h.update(`${name}[${t.shape.join(',')}]`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

export interface MeanPoolOptions {
  /** Texts per forward pass (default 16). */
  batchSize?: number;
  path?: string;
}

/**
 * Unit-length text embeddings from one of our GPT checkpoints: the final hidden states [T, C]
 * mean-pooled over the text's tokens and L2-normalised (dim = nEmbd; texts longer than the context
 * are cut to blockSize tokens). `fromCheckpoint` takes a run, stage or checkpoint directory;
 * `trainEmbedder` (contrastive.ts) tunes one for retrieval.
 */
export class MeanPoolEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  readonly tokenizerHash: string;
  readonly path?: string;
  readonly maxTokens: number;
  private readonly batchSize: number;

  constructor(
    readonly model: GPT,
    readonly tokenizer: Tokenizer,
    opts: MeanPoolOptions = {},
  ) {
    if (tokenizer.vocabSize > model.config.vocabSize) throw new GptforgeError(`the tokenizer has ${tokenizer.vocabSize} tokens, the model only ${model.config.vocabSize}`, { file: opts.path });
    this.id = `gptforge-meanpool:${weightsId(model)}`;
    this.dim = model.config.nEmbd;
    this.tokenizerHash = tokenizer.hash();
    this.path = opts.path;
    this.maxTokens = model.config.blockSize;
    this.batchSize = opts.batchSize ?? 16;
  }

  /** Load a checkpoint (a checkpoint dir, a stage dir, or a run dir: rl → sft → base) with its tokenizer. */
  static fromCheckpoint(path: string, opts: Omit<MeanPoolOptions, 'path'> = {}): MeanPoolEmbedder {
    return withResolvedCheckpoint(path, undefined, (dir) => {
      const ck = loadCheckpoint(dir);
      if (ck.tokenizerJSON === null) throw new GptforgeError('the checkpoint has no tokenizer.json', { file: dir });
      const tok = Tokenizer.fromJSON(ck.tokenizerJSON, join(dir, 'tokenizer.json'));
      return new MeanPoolEmbedder(modelFromCheckpoint(ck), tok, { ...opts, path: dir });
    });
  }

  countTokens(text: string): number {
    return this.tokenizer.encodeOrdinary(text).length;
  }

  embed(texts: readonly string[]): Float32Array[] {
    const C = this.dim;
    const ids = texts.map((t) => this.tokenizer.encodeOrdinary(t).slice(0, this.maxTokens));
    const out: Float32Array[] = texts.map(() => new Float32Array(C));
    // batches of similar length waste less on padding
    const order = ids
      .map((_, i) => i)
      .filter((i) => ids[i].length > 0)
      .sort((a, b) => ids[a].length - ids[b].length);
    noGrad(() => {
      for (let s = 0; s < order.length; s += this.batchSize) {
        const rows = order.slice(s, s + this.batchSize);
        const B = rows.length;
        const T = Math.max(...rows.map((i) => ids[i].length));
        const flat = new Int32Array(B * T); // padding id 0: causal attention keeps it out of real tokens
        rows.forEach((i, b) => flat.set(ids[i], b * T));
        const h = this.model.hidden(flat, B, T).data;
        rows.forEach((i, b) => {
          const v = out[i];
          const n = ids[i].length;
          for (let t = 0; t < n; t++) {
            const off = (b * T + t) * C;
            for (let c = 0; c < C; c++) v[c] += h[off + c];
          }
          let norm = 0;
          for (let c = 0; c < C; c++) norm += v[c] * v[c];
          norm = Math.sqrt(norm);
          if (norm > 0) for (let c = 0; c < C; c++) v[c] /= norm; // the mean's 1/n cancels in the normalisation
        });
      }
    });
    return out;
  }
}
