import { KNOWLEDGE_FAMILIES } from '../data/decidable.js';
import { dictionaryPages } from '../data/synthetic/dictionary.js';
import { promptItem, taskByName, wordFacts } from '../data/synthetic/tasks.js';
import type { Retriever, RetrievalMode } from './retrieve.js';
import type { StoredChunk } from './store.js';
import { escapeRegExp } from '../util/regex.js';

/**
 * Retrieval measured on questions with known answer passages: the knowledge families'
 * held-out questions (definitions, kinds, synonyms, antonyms — the SFT prompts, so exactly what
 * the assistant is asked) over a store of the built-in dictionary. A chunk is relevant to a
 * question when one of its lines names the word and states the fact the answer needs (the
 * gloss, the kind, the synonym or the antonym the family's answer gives) — the dictionary
 * writes one entry a line, so that line is the word's entry.
 *
 * Metrics as BEIR / trec_eval define them, binary relevance:
 * - recall@k = |relevant ∩ top k| / |relevant|;
 * - hit@k (success@k) = 1 when any relevant chunk is in the top k — what a RAG prompt needs;
 * - nDCG@k = DCG@k / IDCG@k with DCG = Σ rel_i / log2(i + 1) (Järvelin & Kekäläinen 2002).
 */

export { KNOWLEDGE_FAMILIES };

export interface EvalQuestion {
  family: string;
  word: string;
  query: string;
  /** The fact the answer needs, as the dictionary writes it. */
  fact: string;
}

/** The dictionary's pages as documents (page number as the line), for indexing. */
export function dictionaryDocs(): { text: string; line: number }[] {
  return [...dictionaryPages()].map((text, i) => ({ text, line: i + 1 }));
}

/** n held-out questions per knowledge family (deterministic in seed), each with its fact. */
export function dictionaryQuestions(perFamily: number, seed = 1): EvalQuestion[] {
  const out: EvalQuestion[] = [];
  for (const family of KNOWLEDGE_FAMILIES) {
    for (const ex of taskByName(family).generate('test', perFamily, seed)) {
      const word = promptItem(family, ex.prompt);
      const f = word === undefined ? undefined : wordFacts(word);
      if (!word || !f) continue;
      const fact = family === 'definitions' ? f.senses[0]?.gloss : family === 'kinds' ? f.kind : family === 'synonyms' ? f.synonyms[0] : f.antonym;
      if (fact !== undefined) out.push({ family, word, query: ex.prompt, fact });
    }
  }
  return out;
}

/**
 * The same questions as known-item lookups: the query is the fact itself in the dictionary's
 * own words ("word: fact"), so it shares its passage's wording — what an embedding must get
 * right before it can match a question to a passage phrased otherwise.
 */
export function factQueries(questions: readonly EvalQuestion[]): EvalQuestion[] {
  return questions.map((q) => ({ ...q, query: `${q.word}: ${q.fact}` }));
}

/** Does a line of the chunk name the word (whole word, any case) and state the fact? */
export function isRelevant(q: EvalQuestion, text: string): boolean {
  const w = new RegExp(`(^|[^\\p{L}])${escapeRegExp(q.word)}($|[^\\p{L}])`, 'iu');
  const fact = q.fact.toLowerCase();
  return text.split('\n').some((line) => line.toLowerCase().includes(fact) && w.test(line));
}

/** The ids of every relevant chunk of each question (one scan of the chunks). */
export function relevantIds(questions: readonly EvalQuestion[], chunks: readonly StoredChunk[]): Set<number>[] {
  return questions.map((q) => {
    const fact = q.fact.toLowerCase();
    const word = q.word.toLowerCase();
    return new Set(chunks.filter((c) => c.text.toLowerCase().includes(fact) && c.text.toLowerCase().includes(word) && isRelevant(q, c.text)).map((c) => c.id));
  });
}

export function recallAt(ranked: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  if (relevant.size === 0) return 0;
  return ranked.slice(0, k).filter((id) => relevant.has(id)).length / relevant.size;
}

export function hitAt(ranked: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  return ranked.slice(0, k).some((id) => relevant.has(id)) ? 1 : 0;
}

export function ndcgAt(ranked: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((id, i) => {
    if (relevant.has(id)) dcg += 1 / Math.log2(i + 2);
  });
  let idcg = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) idcg += 1 / Math.log2(i + 2);
  return idcg === 0 ? 0 : dcg / idcg;
}

export interface ModeResult {
  mode: RetrievalMode;
  questions: number;
  recall5: number;
  hit5: number;
  ndcg10: number;
  /** Per family: recall@5, hit@5, nDCG@10. */
  byFamily: Record<string, { questions: number; recall5: number; hit5: number; ndcg10: number }>;
  /** Query latency in milliseconds (retrieve() end to end: embedding the query included). */
  p50ms: number;
  p99ms: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Run every question through one retrieval mode; questions without a relevant chunk are left out (counted by the caller). */
export function evaluateMode(retriever: Retriever, questions: readonly EvalQuestion[], relevant: readonly Set<number>[], mode: RetrievalMode): ModeResult {
  const times: number[] = [];
  const fam = new Map<string, { questions: number; recall5: number; hit5: number; ndcg10: number }>();
  const tot = { questions: 0, recall5: 0, hit5: 0, ndcg10: 0 };
  questions.forEach((q, i) => {
    if (relevant[i].size === 0) return;
    const t0 = performance.now();
    const ranked = retriever.retrieve(q.query, { mode, k: 10 }).map((c) => c.id);
    times.push(performance.now() - t0);
    const r = { questions: 1, recall5: recallAt(ranked, relevant[i], 5), hit5: hitAt(ranked, relevant[i], 5), ndcg10: ndcgAt(ranked, relevant[i], 10) };
    const f = fam.get(q.family) ?? { questions: 0, recall5: 0, hit5: 0, ndcg10: 0 };
    for (const key of ['questions', 'recall5', 'hit5', 'ndcg10'] as const) {
      f[key] += r[key];
      tot[key] += r[key];
    }
    fam.set(q.family, f);
  });
  const mean = (x: { questions: number; recall5: number; hit5: number; ndcg10: number }) => ({ questions: x.questions, recall5: x.recall5 / x.questions, hit5: x.hit5 / x.questions, ndcg10: x.ndcg10 / x.questions });
  times.sort((a, b) => a - b);
  return { mode, ...mean(tot), byFamily: Object.fromEntries([...fam].map(([k, v]) => [k, mean(v)])), p50ms: percentile(times, 50), p99ms: percentile(times, 99) };
}
