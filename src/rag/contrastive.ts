import { dictionaryEntry, dictionaryPages, EDITIONS } from '../data/synthetic/dictionary.js';
import { taskByName, promptItem, wordFacts } from '../data/synthetic/tasks.js';
import { Rng } from '../engine/rng.js';
import { fromArray, type Tensor } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { train, type TrainConfig, type TrainResult } from '../train/loop.js';
import { GptforgeError } from '../util/errors.js';
import { KNOWLEDGE_FAMILIES } from './evaluate.js';

/**
 * Contrastive fine-tuning of a GPT into a retrieval embedder: the bi-encoder recipe of SGPT
 * (Muennighoff 2022) and E5/DPR — the same trunk embeds questions and passages by mean pooling
 * its final hidden states, trained with the InfoNCE loss over in-batch negatives (Oord et al.
 * 2018; Karpukhin et al. 2020): for a batch of B (question, passage) pairs,
 *
 *   logits[i][j] = cos(q_i, p_j) / τ,   loss = ½ (CE(logits, diag) + CE(logitsᵀ, diag)),
 *
 * so each question must pick its own passage among the B and each passage its question.
 * Pairs come from the knowledge families' TRAIN-split words: the question is the family's
 * prompt, the passage the word's dictionary entry (any edition), alone or with the line before or after it
 * — what a store chunk looks like. Test-split words are never seen, so retrieval on the
 * held-out questions measures generalisation. The result is an ordinary checkpoint, loaded by
 * MeanPoolEmbedder like any other.
 */

export interface Pair {
  query: string;
  passage: string;
}

/** (question, passage) pairs for `split` words, deterministic in seed. */
export function dictionaryPairs(n: number, seed: number, split: 'train' | 'test' = 'train'): Pair[] {
  // where each entry line sits: line text → (page, line)
  const pages = [...dictionaryPages()].map((p) => p.split('\n'));
  const where = new Map<string, [number, number]>();
  pages.forEach((lines, p) => lines.forEach((l, i) => where.set(l, [p, i])));
  const rng = new Rng(seed);
  const perFamily = Math.ceil(n / KNOWLEDGE_FAMILIES.length);
  const out: Pair[] = [];
  for (const family of KNOWLEDGE_FAMILIES) {
    for (const ex of taskByName(family).generate(split, perFamily, seed)) {
      const word = promptItem(family, ex.prompt);
      const f = word === undefined ? undefined : wordFacts(word);
      if (!f) continue;
      const loc = where.get(dictionaryEntry(f, rng.int(EDITIONS)));
      if (!loc) continue;
      const [p, i] = loc;
      const lines = pages[p];
      // the entry with a neighbour before or after it (or alone): a store chunk's view of it
      const shape = rng.int(3);
      const from = shape === 1 ? Math.max(0, i - 1) : i;
      const to = shape === 2 ? Math.min(lines.length, i + 2) : i + 1;
      out.push({ query: ex.prompt, passage: lines.slice(from, to).join('\n') });
    }
  }
  // shuffle so a batch mixes families
  return rng.shuffle(out).slice(0, n);
}

/** Mean-pooled, L2-normalised (× √C by rmsNorm) embeddings [B, C] of token rows, with gradients. */
function pooled(model: GPT, rows: number[][]): Tensor {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  const C = model.config.nEmbd;
  const ids = new Int32Array(B * T);
  rows.forEach((r, b) => ids.set(r, b * T));
  const h = op.reshape(model.hidden(ids, B, T), [B * T, C]);
  // P[b, b·T + t] = 1/n_b over row b's real tokens: pooling as one matmul keeps it on the tape
  const P = new Float32Array(B * B * T);
  rows.forEach((r, b) => {
    for (let t = 0; t < r.length; t++) P[b * B * T + b * T + t] = 1 / r.length;
  });
  return op.rmsNorm(op.matmul(fromArray(P, [B, B * T]), h), null);
}

/** The symmetric InfoNCE loss of a batch of pairs (see the module comment). */
export function infoNCE(model: GPT, tok: Tokenizer, batch: readonly Pair[], temperature: number): Tensor {
  const max = model.config.blockSize;
  const enc = (s: string): number[] => {
    const ids = tok.encodeOrdinary(s).slice(0, max);
    if (ids.length === 0) throw new GptforgeError('an empty text in a contrastive pair');
    return ids;
  };
  const q = pooled(
    model,
    batch.map((p) => enc(p.query)),
  );
  const d = pooled(
    model,
    batch.map((p) => enc(p.passage)),
  );
  const C = model.config.nEmbd;
  // rmsNorm rows have norm √C: q·d / C is the cosine
  const logits = op.scale(op.matmul(q, d, { transB: true }), 1 / (C * temperature));
  const logitsT = op.scale(op.matmul(d, q, { transB: true }), 1 / (C * temperature));
  const diag = Int32Array.from(batch, (_, i) => i);
  return op.scale(op.add(op.crossEntropy(logits, diag), op.crossEntropy(logitsT, diag)), 0.5);
}

export interface ContrastiveOptions {
  pairs: readonly Pair[];
  batchSize: number;
  /** Softmax temperature τ (default 0.05, E5/SimCSE's). */
  temperature?: number;
  runDir: string;
  stageDir: string;
  quiet?: boolean;
  seed?: number;
  tokenizerJSON?: string;
  tokenizerHash?: string;
}

/** Fine-tune `model` in place with InfoNCE over in-batch negatives; checkpoints into stageDir (stage "embed"). */
export async function trainEmbedder(model: GPT, tok: Tokenizer, cfg: TrainConfig, opts: ContrastiveOptions): Promise<TrainResult> {
  if (opts.batchSize < 2) throw new GptforgeError('contrastive training needs at least 2 pairs a batch (in-batch negatives)', { field: 'batchSize' });
  const distinct = new Set(opts.pairs.map((p) => p.query)).size;
  if (distinct < opts.batchSize) throw new GptforgeError(`only ${distinct} distinct questions for batches of ${opts.batchSize}`, { field: 'pairs' });
  const rng = new Rng(opts.seed ?? 1);
  const tau = opts.temperature ?? 0.05;
  return train(
    {
      stage: 'embed',
      model,
      nextMicroBatch(): Pair[] {
        const batch: Pair[] = [];
        const seen = new Set<string>();
        // distinct queries: two copies of one question would be each other's false negatives
        while (batch.length < opts.batchSize) {
          const p = opts.pairs[rng.int(opts.pairs.length)];
          if (seen.has(p.query)) continue;
          seen.add(p.query);
          batch.push(p);
        }
        return batch;
      },
      // the step's loss is the mean over all its pairs, however the step is split
      weight: (batch: Pair[]) => batch.length,
      forwardMicroBatch(batch: Pair[], total: number) {
        // tokens: both sides' encoded lengths (as infoNCE truncates them), so tok/s and metrics' `tokens` count tokens, not pairs
        return { loss: op.scale(infoNCE(model, tok, batch, tau), batch.length / total), tokens: batch.reduce((n, p) => n + Math.min(tok.encodeOrdinary(p.query).length, model.config.blockSize) + Math.min(tok.encodeOrdinary(p.passage).length, model.config.blockSize), 0) };
      },
      state: () => rng.state(),
      restore: (s) => rng.restore(s as ReturnType<Rng['state']>),
      tokenizerJSON: opts.tokenizerJSON,
      tokenizerHash: opts.tokenizerHash,
    },
    cfg,
    { runDir: opts.runDir, stageDir: opts.stageDir, quiet: opts.quiet },
  );
}
