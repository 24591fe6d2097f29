import type { GPT } from '../model/gpt.js';
import { noGrad } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import { nextTokenBatch } from '../train/batch.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { contextBlock, QUESTION_LABEL, type Passage } from './context.js';
import { chunkPassage } from './generate.js';
import type { RetrievedChunk } from './retrieve.js';
import type { StoredChunk } from './store.js';

/**
 * Rerank retrieved chunks by a chat model (docs/rag.md "Rerank"): the query likelihood
 * log p(question | passage) — UPR, Sachan et al. 2022, "Improving Passages Retrieval with
 * Zero-Shot Question Generation" — read in the layout the `passages` family trains:
 *
 *   <|bos|><|user_start|>Passages:\n[1] (source) passage text\nQuestion: ⟨question tokens scored⟩
 *
 * (a titled chunk, a dictionary entry, as `[1] title: (source) text`: generate.ts chunkPassage)
 *
 * Each candidate is scored alone (one passage as [1]); the score is the sum of the question
 * tokens' log-probabilities in nats (the question is the same for every candidate, so sums
 * compare). A passage too long for the context keeps its first tokens. Cost: one forward
 * pass of ≤ blockSize tokens per candidate, `batch` candidates at a time.
 */
export class ModelReranker {
  constructor(
    readonly model: GPT,
    readonly tok: Tokenizer,
    private readonly batch = 8,
  ) {}

  /** log p(question | passage) per passage, nats; same order as `passages`. */
  scores(question: string, passages: readonly Passage[]): number[] {
    const bos = this.tok.specialId('<|bos|>');
    const userStart = this.tok.specialId('<|user_start|>');
    // "Question:" closes the prefix and " What …" opens the scored part: the BPE's pre-tokenizer
    // splits before a space-led word, so the two encode as the joined text does
    const q = this.tok.encode(` ${question}`, { disallowedSpecial: 'plain' });
    const room = this.model.config.blockSize + 1 - q.length - 2;
    if (room <= 0) throw new Error(`rerank: the question (${q.length} tokens) does not fit the context ${this.model.config.blockSize}`);
    const label = this.tok.encode(QUESTION_LABEL, { disallowedSpecial: 'plain' });
    const seqs = passages.map((p) => {
      const head = this.tok.encode(`${contextBlock([p])}\n`, { disallowedSpecial: 'plain' });
      const prefix = [bos, userStart, ...head.slice(0, Math.max(0, room - label.length)), ...label];
      return { ids: [...prefix, ...q], start: prefix.length };
    });
    const out: number[] = [];
    noGrad(() => {
      for (let i = 0; i < seqs.length; i += this.batch) {
        const group = seqs.slice(i, i + this.batch);
        const { ids, targets, T, rowsOf } = nextTokenBatch(
          group,
          function* (b) {
            for (let t = group[b].start; t < group[b].ids.length; t++) yield t;
          },
          0,
          this.model.config.blockSize,
          'rerank',
        );
        const ce = op.crossEntropy(this.model.forward(ids, group.length, T), targets, { reduction: 'none' });
        for (const rows of rowsOf) out.push(-rows.reduce((s, r) => s + ce.data[r], 0));
      }
    });
    return out;
  }

  /** The chunks reordered by query likelihood, best first (ties keep the retriever's order); `score` becomes the log-likelihood. `titleOf`: each chunk's title as the prompt will show it (generate.ts passageTitles; default none). */
  rerank<C extends RetrievedChunk>(question: string, chunks: readonly C[], titleOf?: (c: StoredChunk) => string | undefined): C[] {
    const s = this.scores(
      question,
      chunks.map((c) => chunkPassage(c, undefined, titleOf)),
    );
    return chunks
      .map((c, i) => ({ c, s: s[i], i }))
      .sort((a, b) => b.s - a.s || a.i - b.i)
      .map(({ c, s: score }) => ({ ...c, score }));
  }
}
