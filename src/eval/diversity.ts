/**
 * How varied a model's samples are. The talk's point: RLHF-tuned models are less diverse than
 * base models ("mode collapse") — ask each for many completions of the same prompt and the
 * RL model keeps saying much the same thing. These are the usual measures of it:
 *
 * - distinct-n: the share of n-grams, pooled over all samples, that are unique (higher = more varied);
 * - self-BLEU: how much each sample overlaps the others, as BLEU-4 (higher = less varied);
 * - mean next-token entropy along the samples (nats; lower = a sharper, more collapsed policy);
 * - unique samples, and for list prompts ("Here are 100 animal names:") the distinct items named.
 *
 * Everything works on {@link words}, so the numbers do not depend on the model's tokenizer and
 * models with different vocabularies can be compared.
 */

const WORD = /[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*/gu;

/**
 * The unit every metric here counts: lower-cased words, i.e. maximal runs of letters and digits
 * (any script), possibly joined by inner apostrophes ("don't", "o'clock" are one word). Curly
 * apostrophes (’ ʼ) count as "'"; quotes around a word ("'hi'") and all other punctuation and
 * whitespace are separators and dropped.
 */
export function words(text: string): string[] {
  return (
    text
      .toLowerCase()
      .replace(/[\u2019\u02bc]/g, "'")
      .match(WORD) ?? []
  );
}

/** The n-grams of one token list, each as a single string key. */
function ngrams(tokens: readonly string[], n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + n <= tokens.length; i++) out.push(tokens.slice(i, i + n).join('\u0000'));
  return out;
}

function counts(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/**
 * distinct-n (Li et al. 2016): unique n-grams / total n-grams over all samples pooled. N-grams
 * are taken within each sample (never across the boundary between two samples). 0 when there
 * are no n-grams at all (every sample shorter than n words).
 */
export function distinctN(samples: readonly string[], n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`distinctN: n must be a positive integer, got ${n}`);
  const seen = new Set<string>();
  let total = 0;
  for (const s of samples) {
    for (const g of ngrams(words(s), n)) {
      seen.add(g);
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}

/** Smoothing epsilon of Chen & Cherry (2014) method 1, as in NLTK's SmoothingFunction().method1. */
const BLEU_EPSILON = 0.1;

/**
 * Sentence BLEU of `hyp` against `refs` with uniform weights 1/maxN, exactly as NLTK's
 * `sentence_bleu(refs, hyp, weights, smoothing_function=SmoothingFunction().method1)`:
 * clipped n-gram counts (each n-gram counted at most as often as in the reference that has it
 * most), a modified precision whose zero numerators become epsilon = 0.1 (over the same
 * denominator, which is at least 1), 0 when not even one unigram matches, and the brevity
 * penalty exp(1 − r/c) against the reference length r closest to the hypothesis length c
 * (the shorter one on a tie).
 */
function sentenceBleu(hypCounts: readonly Map<string, number>[], hypLen: number, refs: readonly (readonly Map<string, number>[])[], refLens: readonly number[], maxN: number): number {
  if (hypLen === 0) return 0;
  let logSum = 0;
  for (let n = 1; n <= maxN; n++) {
    const hc = hypCounts[n - 1];
    let matched = 0;
    let total = 0;
    for (const [g, c] of hc) {
      total += c;
      let maxRef = 0;
      for (const r of refs) {
        const rc = r[n - 1].get(g);
        if (rc !== undefined && rc > maxRef) maxRef = rc;
      }
      matched += Math.min(c, maxRef);
    }
    if (n === 1 && matched === 0) return 0;
    const denom = Math.max(1, total);
    const p = matched === 0 ? BLEU_EPSILON / denom : matched / denom;
    logSum += Math.log(p) / maxN;
  }
  let r = refLens[0];
  for (const len of refLens) {
    const d = Math.abs(len - hypLen);
    const best = Math.abs(r - hypLen);
    if (d < best || (d === best && len < r)) r = len;
  }
  const bp = hypLen > r ? 1 : Math.exp(1 - r / hypLen);
  return bp * Math.exp(logSum);
}

/**
 * Self-BLEU (Zhu et al. 2018, Texygen): the mean over samples of the BLEU-maxN (default 4) of
 * that sample, as hypothesis, against all the other samples as references — uniform weights,
 * clipped counts, brevity penalty, and smoothing method 1 of Chen & Cherry 2014 (a zero clipped
 * count becomes epsilon = 0.1, as NLTK's `SmoothingFunction().method1`, which Texygen uses).
 * Higher = the samples repeat each other = less diverse; identical samples give 1.
 * Fewer than 2 samples → NaN. Cost is O(samples² · words), fine for a few hundred samples.
 */
export function selfBleu(samples: readonly string[], maxN = 4): number {
  if (!Number.isInteger(maxN) || maxN < 1) throw new RangeError(`selfBleu: maxN must be a positive integer, got ${maxN}`);
  if (samples.length < 2) return NaN;
  const toks = samples.map(words);
  const grams = toks.map((t) => Array.from({ length: maxN }, (_, k) => counts(ngrams(t, k + 1))));
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const refs = grams.filter((_, j) => j !== i);
    const refLens = toks.filter((_, j) => j !== i).map((t) => t.length);
    sum += sentenceBleu(grams[i], toks[i].length, refs, refLens, maxN);
  }
  return sum / samples.length;
}

/**
 * Mean per-token entropy (nats) of the model's next-token distributions along its samples. The
 * caller computes one entropy per generated token (e.g. with {@link entropyOf} on the logits it
 * sampled from) and passes them all; this averages them, skipping non-finite entries, and
 * returns NaN when there is nothing finite to average.
 */
export function meanEntropy(perToken: readonly number[]): number {
  let sum = 0;
  let comp = 0; // Kahan compensation: long runs of small numbers
  let n = 0;
  for (const h of perToken) {
    if (!Number.isFinite(h)) continue;
    const y = h - comp;
    const t = sum + y;
    comp = t - sum - y;
    sum = t;
    n++;
  }
  return n === 0 ? NaN : sum / n;
}

/**
 * Entropy (nats) of softmax(logits / temperature), computed stably in float64: logits are
 * shifted by their maximum, and H = log Z − Σ p·z with z = (logit − max)/T, so no exp
 * overflows and no p·log p underflows to NaN. −Infinity logits (masked tokens) have
 * probability 0 and contribute nothing; k logits at +Infinity share all the mass (H = ln k).
 * A temperature ≤ 0 means greedy decoding: the distribution is a point mass, H = 0 (ties at the
 * maximum are broken by argmax, so still 0). Empty input, a NaN logit, or all logits −Infinity → NaN.
 */
export function entropyOf(logits: ArrayLike<number>, temperature = 1): number {
  const V = logits.length;
  if (V === 0 || Number.isNaN(temperature)) return NaN;
  let max = -Infinity;
  let posInf = 0;
  for (let i = 0; i < V; i++) {
    const l = logits[i];
    if (Number.isNaN(l)) return NaN;
    if (l === Infinity) posInf++;
    if (l > max) max = l;
  }
  if (max === -Infinity) return NaN;
  if (posInf > 0) return Math.log(posInf);
  if (!(temperature > 0)) return 0;
  let Z = 0;
  let Ez = 0;
  for (let i = 0; i < V; i++) {
    const z = (logits[i] - max) / temperature;
    if (z === -Infinity) continue;
    const e = Math.exp(z);
    Z += e;
    Ez += e * z;
  }
  const h = Math.log(Z) - Ez / Z;
  return h < 0 ? 0 : h; // rounding can leave −1e-16 for a point mass
}

export interface DiversityReport {
  /** Number of samples. */
  samples: number;
  /** distinct-1 and distinct-2 over all samples pooled. */
  distinct1: number;
  distinct2: number;
  /** Self-BLEU-4 (NaN with fewer than 2 samples). */
  selfBleu: number;
  /** Mean next-token entropy in nats (NaN when no entropies were given). */
  meanEntropy: number;
  /** Samples that differ as word sequences (case, punctuation and spacing ignored). */
  uniqueSamples: number;
}

/** All the sample-level measures at once, for a set of completions of the same prompt. */
export function diversityReport(samples: readonly string[], perTokenEntropies: readonly number[]): DiversityReport {
  return {
    samples: samples.length,
    distinct1: distinctN(samples, 1),
    distinct2: distinctN(samples, 2),
    selfBleu: selfBleu(samples),
    meanEntropy: meanEntropy(perTokenEntropies),
    uniqueSamples: new Set(samples.map((s) => words(s).join(' '))).size,
  };
}

/**
 * The distinct items one completion of a list prompt names (the talk's "Here are 100 animal
 * names:"): the text is split on commas, semicolons, newlines and the word "and"; each piece
 * loses a leading list marker ("1.", "2)", "-", "*", "•"), surrounding punctuation and quotes,
 * and has its whitespace collapsed; it is lower-cased, empties are dropped, and repeats are
 * kept once, in order of first mention.
 */
export function listItems(text: string): string[] {
  const seen = new Set<string>();
  for (const raw of text.split(/[,;\n\r]+|\band\b/i)) {
    const item = raw
      .replace(/^\s*(?:\d+\s*[.)]|[-*•·])\s*/u, '')
      .replace(/^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$/gu, '')
      .replace(/\s+/g, ' ')
      .toLowerCase();
    if (item !== '') seen.add(item);
  }
  return [...seen];
}

export interface ListItemStats {
  /** Distinct items named by each sample. */
  perSample: number[];
  /** Distinct items across all samples together. */
  distinct: number;
  /** Those items, in order of first mention. */
  items: string[];
}

/** {@link listItems} over a set of samples: how many each names, and how many distinct in all. */
export function listItemStats(samples: readonly string[]): ListItemStats {
  const all = new Set<string>();
  const perSample = samples.map((s) => {
    const items = listItems(s);
    for (const it of items) all.add(it);
    return items.length;
  });
  return { perSample, distinct: all.size, items: [...all] };
}
