import { getKernels } from '../engine/backend.js';
import type { Rng } from '../engine/rng.js';
import { GptforgeError } from '../util/errors.js';
import { checkGenerationOption } from './generation-options.js';
import type { TokenConstraint } from './constraint.js';

/**
 * Decoding as a list of small steps, in the style of transformers.js / Hugging Face
 * `generate`: each row's logits go through its *logits processors* (bias, penalties, masks,
 * constraints: they change which tokens are allowed and how likely), then through its
 * *warpers* (temperature, top-k, top-p, min-p: they reshape the distribution sampled from),
 * and a token is drawn. A new constraint is one more object in the list.
 *
 * Order (as vLLM and HF apply them): logit bias → repetition penalty → presence / frequency
 * penalties → token masks and constraints → temperature → top-k → top-p → min-p → draw.
 * Temperature 0 is greedy: argmax of the processed logits (ties: the lowest id), no draw.
 */

// the option rules live apart, so that the CLI's flag checks load no kernels (test/cli/lazy-load)
export { checkGenerationOption, checkGenerationOptions, GENERATION_OPTION_RULES, type GenerationOption, type GenerationOptionRule } from './generation-options.js';

/** What a processor may read of its row: the prompt, the tokens since, their counts. */
export interface RowView {
  /** The row's prompt ids (as fed to the model, after any truncation). */
  readonly prompt: readonly number[];
  /** Every token after the prompt, sampled and forced, in order. */
  readonly ids: readonly number[];
  /** How often each token was *sampled* by the model (forced tokens not counted). */
  readonly sampledCounts: ReadonlyMap<number, number>;
  /** Every id in the context: the prompt and all tokens since. */
  readonly contextIds: ReadonlySet<number>;
}

/**
 * Rewrites one row's logits in place before sampling (vocabulary length V); -Infinity
 * removes a token. `accept` sees every token appended to the row afterwards (sampled or
 * forced), for processors that keep state (a constraint).
 */
export interface LogitsProcessor {
  process(logits: Float32Array, row: RowView): void;
  accept?(token: number, sampled: boolean): void;
}

/** Reshapes the scores (float64 logits) the token is drawn from; -Infinity removes a token. */
export interface LogitsWarper {
  warp(scores: Float64Array): void;
}

/**
 * OpenAI's `logit_bias`: add `bias[id]` to that token's logit before sampling
 * (https://platform.openai.com/docs/api-reference/chat/create#chat-create-logit_bias:
 * "values between -100 and 100 … -100 should result in a ban"). -100 and below ban the token
 * outright here (-Infinity), so a ban holds whatever the other logits are.
 */
export class LogitBias implements LogitsProcessor {
  private readonly entries: Array<[number, number]>;
  constructor(bias: ReadonlyMap<number, number> | Readonly<Record<number, number>>, vocabSize: number) {
    this.entries = (bias instanceof Map ? [...bias.entries()] : Object.entries(bias).map(([k, v]) => [Number(k), v])) as Array<[number, number]>;
    for (const [id, b] of this.entries) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new GptforgeError(`logit bias for token id ${id}: not an id of the vocabulary of ${vocabSize}`, { field: 'logitBias' });
      if (!Number.isFinite(b) || b < -100 || b > 100) throw new GptforgeError(`logit bias ${b} for token ${id}: must be a number in [-100, 100]`, { field: 'logitBias' });
    }
  }
  process(logits: Float32Array): void {
    for (const [id, b] of this.entries) logits[id] = b <= -100 ? -Infinity : logits[id] + b;
  }
}

/**
 * The CTRL repetition penalty θ (Keskar et al. 2019, "CTRL: A Conditional Transformer
 * Language Model for Controllable Generation", §4.1), with Hugging Face's sign handling
 * (`RepetitionPenaltyLogitsProcessor`): for every token already in the context (prompt and
 * reply, as vLLM counts it), a positive logit is divided by θ, a negative one multiplied by
 * θ, so θ > 1 always makes a repeat less likely. θ = 1 is off.
 */
export class RepetitionPenalty implements LogitsProcessor {
  constructor(readonly penalty: number) {
    checkGenerationOption('repetitionPenalty', penalty, true);
  }
  process(logits: Float32Array, row: RowView): void {
    const th = this.penalty;
    for (const id of row.contextIds) {
      const l = logits[id];
      logits[id] = l > 0 ? l / th : l * th;
    }
  }
}

/**
 * OpenAI's presence and frequency penalties
 * (https://platform.openai.com/docs/guides/text-generation — "frequency and presence
 * penalties": mu[j] → mu[j] − c[j]·α_frequency − 1[c[j] > 0]·α_presence), where c[j] counts
 * how often token j was sampled in this reply so far (the prompt and forced tokens, such as
 * tool outputs, are not counted, as OpenAI counts completion tokens). Both in [-2, 2].
 */
export class PresenceFrequencyPenalty implements LogitsProcessor {
  constructor(
    readonly presence: number,
    readonly frequency: number,
  ) {
    checkGenerationOption('presencePenalty', presence, true);
    checkGenerationOption('frequencyPenalty', frequency, true);
  }
  process(logits: Float32Array, row: RowView): void {
    for (const [id, c] of row.sampledCounts) if (c > 0) logits[id] -= c * this.frequency + this.presence;
  }
}

/** Token ids that are never sampled (a fixed mask: special tokens, a user's ban list). */
export class BannedTokens implements LogitsProcessor {
  constructor(readonly ids: readonly number[]) {}
  process(logits: Float32Array): void {
    for (const id of this.ids) logits[id] = -Infinity;
  }
}

/**
 * Holds a row's TokenConstraint (src/infer/constraint.ts): every token the constraint does
 * not allow gets -Infinity; the row's end tokens stay allowed only while the constraint
 * `isComplete()`; `accept` advances it with each token appended (a forced token it rejects is
 * an error: whoever forces tokens must force allowed ones). The pipeline ends the row when
 * the constraint `mustEnd()`.
 */
export class ConstraintProcessor implements LogitsProcessor {
  private readonly mask: Uint32Array;
  constructor(
    readonly constraint: TokenConstraint,
    vocabSize: number,
    /** The row's end tokens (end of turn, eos). */
    readonly endIds: readonly number[],
  ) {
    this.mask = new Uint32Array(Math.ceil(vocabSize / 32));
  }
  process(logits: Float32Array): void {
    const m = this.mask;
    this.constraint.fillMask(m);
    const complete = this.constraint.isComplete();
    const keep = complete ? this.endIds.map((id) => logits[id]) : [];
    for (let w = 0; w < m.length; w++) {
      const word = m[w];
      if (word === 0xffffffff) continue;
      const base = w << 5;
      const end = Math.min(base + 32, logits.length);
      for (let id = base; id < end; id++) if ((word & (1 << (id & 31))) === 0) logits[id] = -Infinity;
    }
    if (complete) this.endIds.forEach((id, i) => (logits[id] = keep[i]));
  }
  accept(token: number, sampled: boolean): void {
    if (this.endIds.includes(token)) return;
    if (!this.constraint.advance(token)) throw new GptforgeError(`${sampled ? 'sampled' : 'forced'} token ${token} is not allowed by the row's constraint`);
  }
}

/** Max-subtracted softmax of `scores` into `out` (-Infinity → 0). */
export function softmaxInto(scores: ArrayLike<number>, out: Float64Array): Float64Array {
  let mx = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > mx) mx = scores[i];
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    out[i] = Math.exp(scores[i] - mx);
    sum += out[i];
  }
  for (let i = 0; i < scores.length; i++) out[i] /= sum;
  return out;
}

/**
 * Keep the `keep` best entries of `values` — by value, highest first, ties going to the lower
 * id, exactly the first `keep` of a stable descending sort — setting `scores` elsewhere to
 * -Infinity. Costs one native typed-array sort (no comparator) instead of sorting ids with a
 * comparator, which measured ~15× slower at V = 4096.
 */
function keepBest(values: Float64Array, keep: number, scores: Float64Array, sorted?: Float64Array): void {
  const V = values.length;
  if (keep >= V) return;
  const cut = sorted ? sorted[V - keep] : kthLargest(values, keep);
  let above = 0;
  for (let i = 0; i < V; i++) if (values[i] > cut) above++;
  let ties = keep - above; // how many entries equal to the cut stay: the lowest ids
  for (let i = 0; i < V; i++) {
    if (values[i] > cut) continue;
    if (values[i] === cut && ties > 0) ties--;
    else scores[i] = -Infinity;
  }
}

/** The k-th largest of `values` (1 ≤ k ≤ length): a small sorted buffer for small k, a sorted copy otherwise. */
function kthLargest(values: Float64Array, k: number): number {
  if (k > 64) return values.slice().sort()[values.length - k];
  const top = new Float64Array(k).fill(-Infinity); // descending
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (n === k && !(v > top[k - 1])) continue;
    let j = n < k ? n++ : k - 1;
    while (j > 0 && top[j - 1] < v) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = v;
  }
  return top[k - 1];
}

/**
 * Temperature τ > 0: scores → (scores − max) / τ, so softmax gives p ∝ exp(logit / τ)
 * (the shift changes nothing but keeps exp in range). τ < 1 sharpens, τ > 1 flattens.
 */
export class Temperature implements LogitsWarper {
  constructor(readonly temperature: number) {
    checkGenerationOption('temperature', temperature, true);
  }
  warp(scores: Float64Array): void {
    let mx = -Infinity;
    for (let i = 0; i < scores.length; i++) if (scores[i] > mx) mx = scores[i];
    for (let i = 0; i < scores.length; i++) scores[i] = (scores[i] - mx) / this.temperature;
  }
}

/** Top-k (Fan et al. 2018, "Hierarchical Neural Story Generation"): only the k highest scores stay (ties: lower ids). */
export class TopK implements LogitsWarper {
  constructor(readonly k: number) {
    checkGenerationOption('topK', k, true);
  }
  warp(scores: Float64Array): void {
    keepBest(scores, this.k, scores);
  }
}

/**
 * Top-p, nucleus sampling (Holtzman et al. 2019, "The Curious Case of Neural Text
 * Degeneration", §3.1): keep the smallest set of most likely tokens whose probability (under
 * the distribution as it is at this point, after temperature and top-k) reaches p. At least
 * one token stays, so p = 0 keeps only the most likely (ties: the lowest id), as OpenAI's
 * `top_p: 0` and Hugging Face's TopPLogitsWarper (min_tokens_to_keep 1) take it.
 */
export class TopP implements LogitsWarper {
  constructor(readonly p: number) {
    checkGenerationOption('topP', p, true);
  }
  warp(scores: Float64Array): void {
    if (this.p >= 1) return;
    const V = scores.length;
    const probs = softmaxInto(scores, new Float64Array(V));
    const sorted = probs.slice().sort(); // ascending: walk it from the end
    let mass = 0;
    let keep = V;
    for (let i = 0; i < V; i++) {
      mass += sorted[V - 1 - i];
      if (mass >= this.p) {
        keep = i + 1;
        break;
      }
    }
    keepBest(probs, keep, scores, sorted);
  }
}

/**
 * Min-p (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling for Creative and Coherent
 * LLM Outputs"): keep the tokens whose probability is at least p_min times the most likely
 * token's (after temperature, as Hugging Face's MinPLogitsWarper applies it).
 */
export class MinP implements LogitsWarper {
  constructor(readonly minP: number) {
    checkGenerationOption('minP', minP, true);
  }
  warp(scores: Float64Array): void {
    if (this.minP <= 0) return;
    // p_i ≥ p_min · p_max  ⇔  s_i − s_max ≥ ln p_min: no softmax needed
    let mx = -Infinity;
    for (let i = 0; i < scores.length; i++) if (scores[i] > mx) mx = scores[i];
    const cut = mx + Math.log(this.minP);
    for (let i = 0; i < scores.length; i++) if (scores[i] < cut) scores[i] = -Infinity;
  }
}

/**
 * A row's sampling settings. Defaults: temperature 1, every other setting off.
 * Field names follow Hugging Face / vLLM (camel-cased); OpenAI's are noted where they differ.
 */
export interface SamplingOptions {
  /** 0 picks the most likely token; 1 samples the model's distribution; default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off; 0 keeps the most likely only). */
  topP?: number;
  /** Keep tokens at least minP × the top token's probability (0 = off). */
  minP?: number;
  /** CTRL repetition penalty θ over the context (1 = off). */
  repetitionPenalty?: number;
  /** OpenAI presence_penalty in [-2, 2] (0 = off). */
  presencePenalty?: number;
  /** OpenAI frequency_penalty in [-2, 2] (0 = off). */
  frequencyPenalty?: number;
  /** OpenAI logit_bias: token id → bias in [-100, 100]; -100 bans. */
  logitBias?: ReadonlyMap<number, number> | Readonly<Record<number, number>>;
  /** Token ids never sampled. */
  bannedIds?: readonly number[];
}

/** The logits processors the options ask for, in the pipeline's order. */
export function buildProcessors(opts: SamplingOptions, vocabSize: number): LogitsProcessor[] {
  const out: LogitsProcessor[] = [];
  if (opts.logitBias) out.push(new LogitBias(opts.logitBias, vocabSize));
  if (opts.repetitionPenalty !== undefined && opts.repetitionPenalty !== 1) out.push(new RepetitionPenalty(opts.repetitionPenalty));
  const presence = opts.presencePenalty ?? 0;
  const frequency = opts.frequencyPenalty ?? 0;
  if (presence !== 0 || frequency !== 0) out.push(new PresenceFrequencyPenalty(presence, frequency));
  if (opts.bannedIds && opts.bannedIds.length > 0) out.push(new BannedTokens(opts.bannedIds));
  return out;
}

/** The warpers the options ask for (temperature > 0), in order: temperature, top-k, top-p, min-p. */
export function buildWarpers(opts: SamplingOptions): LogitsWarper[] {
  const t = opts.temperature ?? 1;
  checkGenerationOption('temperature', t);
  // always shift by the max, also at τ = 1: exp stays in range
  const out: LogitsWarper[] = t > 0 ? [new Temperature(t)] : [];
  const k = opts.topK ?? 0;
  checkGenerationOption('topK', k);
  if (k > 0) out.push(new TopK(k));
  if (opts.topP !== undefined && opts.topP !== 1) out.push(new TopP(opts.topP));
  if (opts.minP !== undefined && opts.minP !== 0) out.push(new MinP(opts.minP));
  return out;
}

/** Index of the largest value (ties: the first). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * Draw a token from `scores` (after the warpers): p = softmax(scores), then the inverse CDF in
 * id order at one uniform draw u ∈ [0, 1). One `rng.random()` per call.
 * Throws when every score is -Infinity (nothing is allowed).
 */
export function drawToken(scores: Float64Array, rng: Rng, probs: Float64Array = new Float64Array(scores.length)): number {
  // softmaxInto's arithmetic, fused: its max pass also finds whether anything is allowed, and
  // each p[i] = e[i] / sum is formed inside the inverse-CDF walk (which stops at the token)
  // instead of in a normalising pass — the same float64 operations, so the same token
  let mx = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > mx) mx = scores[i];
  if (mx === -Infinity) throw new GptforgeError('no token is allowed: every logit is masked');
  // e[i] = exp(scores[i] − mx) and their sum, then the walk: kernels (Kernels.shiftExp, walkCdf),
  // the same bits on every backend
  const k = getKernels();
  const sum = k.shiftExp(scores, mx, probs, scores.length);
  return k.walkCdf(probs, sum, scores.length, rng.random());
}

/**
 * The fused temperature draw's exponentials e[i] = exp((l[i] − max) / T) and their sum, kept
 * for the last few distinct (processed logits, T) of a batch and shared by its samplers: rows
 * that share a history (BatchOptions.shareHistories) see the same processed logits, so one
 * exp pass over the vocabulary serves all of them and each only walks the CDF at its own draw.
 * Matched by content (a compare usually stops at the first entry when the logits differ), so
 * a row's token is exactly the one it draws alone.
 */
export class DrawCache {
  private readonly entries: Array<{ logits: Float32Array; T: number; e: Float64Array; sum: number }> = [];
  private next = 0;
  constructor(private readonly size = 8) {}

  find(logits: Float32Array, T: number): { e: Float64Array; sum: number } | undefined {
    for (const en of this.entries) {
      if (en.T !== T || en.logits.length !== logits.length) continue;
      let same = true;
      for (let i = 0; i < logits.length; i++) {
        if (en.logits[i] !== logits[i]) {
          same = false;
          break;
        }
      }
      if (same) return en;
    }
    return undefined;
  }

  store(logits: Float32Array, T: number, e: Float64Array, sum: number): void {
    const V = logits.length;
    const slot = this.entries.length < this.size ? this.entries.length : this.next++ % this.size;
    const old = this.entries[slot];
    const en = old && old.logits.length === V ? old : { logits: new Float32Array(V), T, e: new Float64Array(V), sum };
    en.logits.set(logits);
    en.e.set(e.subarray(0, V));
    en.T = T;
    en.sum = sum;
    this.entries[slot] = en;
  }
}

/**
 * One row's sampler: its processors, its warpers and its Rng. `next(logits, row)` copies the
 * logits, runs the processors (then `onProcessed` sees them, e.g. for entropy metrics), and
 * picks a token: greedy at temperature 0, else drawn after the warpers.
 */
export class Sampler {
  readonly warpers: LogitsWarper[];
  readonly greedy: boolean;
  /** The temperature when it is the only warper (the common case: one fused pass, see pick). */
  private readonly onlyTemperature: number | null;
  private scores: Float64Array | null = null;
  private probs: Float64Array | null = null;
  private scratch: Float32Array | null = null;

  constructor(
    readonly processors: LogitsProcessor[],
    opts: SamplingOptions,
    readonly rng: Rng,
    /** The batch's shared exponentials (pipeline, with shared histories); none: each row its own pass. */
    private readonly shared: DrawCache | null = null,
  ) {
    this.warpers = buildWarpers(opts);
    this.greedy = (opts.temperature ?? 1) === 0;
    this.onlyTemperature = this.warpers.length === 1 && this.warpers[0] instanceof Temperature ? this.warpers[0].temperature : null;
  }

  /** The processed logits (a copy) of this row. */
  process(logits: Float32Array, row: RowView): Float32Array {
    const out = logits.slice();
    for (const p of this.processors) p.process(out, row);
    return out;
  }

  /**
   * As process, into the sampler's own scratch buffer (no allocation per step): the result is
   * valid until the next processInto call on this sampler (the decoding loop's per-step path).
   */
  processInto(logits: Float32Array, row: RowView): Float32Array {
    if (!this.scratch || this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
    const out = this.scratch;
    out.set(logits);
    for (const p of this.processors) p.process(out, row);
    return out;
  }

  /** A token from processed logits: argmax when greedy, else a draw after the warpers. */
  pick(processed: Float32Array): number {
    if (this.greedy) {
      const t = argmax(processed);
      if (processed[t] === -Infinity) throw new GptforgeError('no token is allowed: every logit is masked');
      return t;
    }
    const V = processed.length;
    if (!this.scores || this.scores.length !== V) {
      this.scores = new Float64Array(V);
      this.probs = new Float64Array(V);
    }
    const T = this.onlyTemperature;
    if (T !== null) {
      // Temperature.warp then drawToken in one pass, the same float64 operations: the warped
      // scores are (l − mx) / T, whose max is exactly 0 when mx is finite, so softmax's shift
      // is 0 and e[i] = exp((l[i] − mx) / T). The exponentials and the inverse-CDF walk are the
      // kernels tempExp and walkCdf: the same JavaScript on the reference backend, C with V8's
      // Math.exp ported bit for bit on the native one (native/sample.c), so the token is the same
      let mx = -Infinity;
      for (let i = 0; i < V; i++) if (processed[i] > mx) mx = processed[i];
      if (Number.isFinite(mx)) {
        const k = getKernels();
        const hit = this.shared?.find(processed, T);
        if (hit) return k.walkCdf(hit.e, hit.sum, V, this.rng.random());
        const e = this.probs!;
        const sum = k.tempExp(processed, mx, T, e, V);
        this.shared?.store(processed, T, e, sum);
        return k.walkCdf(e, sum, V, this.rng.random());
      }
    }
    const s = this.scores;
    s.set(processed);
    for (const w of this.warpers) w.warp(s);
    return drawToken(s, this.rng, this.probs!);
  }

  /** Tell every processor a token was appended to the row. */
  accept(token: number, sampled: boolean): void {
    for (const p of this.processors) p.accept?.(token, sampled);
  }
}
