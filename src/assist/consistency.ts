import { renderForReward } from '../data/chat.js';
import type { Conversation } from '../data/conversation.js';
import type { ChatEngine, ChatOptions, ChatReply } from '../infer/engine.js';
import { builtinToolCall, type BuiltinToolCall } from '../infer/tools-state.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { scoreSequences } from '../train/reward.js';
import { GptforgeError } from '../util/errors.js';
import { bestOf, extractAnswer, softmaxWeights, vote, type VoteResult } from './vote.js';

/**
 * Self-consistency (Wang et al. 2022): sample k replies to one prompt, read each one's final
 * answer, and vote. The k replies are one batch sharing one prefill: the prompt is run
 * through the model once at batch 1 and its KV-cache row copied k times
 * (ChatEngine.replies → pipeline.ts's prefill → KVCache.expand), so k samples cost one
 * prompt pass, not k. The decode is shared too (`shareHistories`, default on): samples
 * that have drawn the same tokens so far are one row of the forward pass, and a sample
 * takes its own copy of the cache when it first draws a different token; finished samples
 * are not fed. So a step costs the *distinct* partial replies among the k, not k rows — on
 * a confident model (a scratchpad at T = 0.7) far fewer than k. Sample i is exactly
 * `engine.reply(conv, { ...opts, seed: seed + i })` as far as the model's logits agree at
 * the batch sizes involved.
 *
 * A model trained on randomized position ids (config.randomPositions, model AB5) also draws
 * its position ids at decode time, so samples differ by their position draws as well as by
 * their tokens. `positionGroups` g splits the k samples into g groups (sample i in group
 * i mod g), each one `repliesTo` call with its own prefill — the prompt's ids drawn once per
 * group — and shared histories inside the group; g = 1 (default) is one shared prefill for
 * all k, and a sample then draws ids of its own from the step its tokens first differ.
 * `shareHistories: false` keeps the one prefill but feeds every sample its own row, so each
 * draws its own ids for its whole reply (greedy samples then differ too). Between the two,
 * `historyStreams` s (ChatOptions, pipeline.ts): one prefill, and samples share rows only
 * within their stream (sample i in stream i mod s), so each stream draws its own reply ids —
 * s distinct decodes at temperature 0, in one batch. Costs: g prefills and g sets of distinct
 * histories (groups run one after another); about s rows a step (streams); k rows a step
 * without sharing.
 *
 * Three ways to read the k samples:
 * - `majority`: the most common answer (ties: the earliest);
 * - `logprob`: each vote weighted by exp(mean log-probability of the sample's sampled tokens)
 *   under the model (Wang et al. §3.5's "normalised weighted sum");
 * - `reward`: each vote weighted by softmax(RM scores) over the k samples, when a reward model is given;
 * - `rewardBest`: the answer of the sample the reward model scores highest (best-of-k, Cobbe et
 *   al. 2021's verifier selection; agreement counts for nothing).
 */
export interface SelfConsistencyOptions extends Omit<ChatOptions, 'onStep' | 'seed'> {
  /** Samples (≥ 1). */
  k: number;
  /** Seed of sample 0; sample i uses seed + i (default 1). */
  seed?: number;
  /** The answer a reply gives (default extractAnswer: after "Answer:", else the last number). */
  extract?(text: string): string | undefined;
  /** A reward model (and its tokenizer) to weigh the votes with. */
  rewardModel?: { model: GPT; tok: Tokenizer };
  /**
   * Prefills (1..k, default 1): sample i is decoded in group i mod g, each group on its own
   * prefill (its own draw of the prompt's position ids on a config.randomPositions model) with
   * shared histories inside it (unless shareHistories is false). Groups run one after another.
   */
  positionGroups?: number;
}

/** One sampled reply. */
export interface ConsistencySample {
  text: string;
  answer: string | undefined;
  /** Mean log-probability of its sampled tokens under the model's own (temperature-1, unwarped) distribution, after the chat masks. */
  meanLogprob: number;
  /** Reward-model score, when a reward model was given. */
  reward?: number;
  /** Tokens it sampled. */
  tokens: number;
  /** With `tools`: the calls it made, in order. */
  toolCalls?: BuiltinToolCall[];
}

/** What `selfConsistency` did: every sample (text, answer, mean log-probability, tokens) and the votes over their answers (majority, log-probability-weighted, and reward-weighted with a reward model). */
export interface SelfConsistencyResult {
  samples: ConsistencySample[];
  majority: VoteResult;
  logprob: VoteResult;
  reward?: VoteResult;
  /** The reward model's best-of-k: the answer of its top-scored sample (with an answer), when a reward model is given. */
  rewardBest?: { answer: string | undefined; index: number };
  /** Wall time of the sampling (and RM scoring), ms. */
  ms: number;
}

/** Log-probability of `token` under softmax(logits) (−Infinity entries allowed): the straightforward form, kept as LogSoftmaxMemo's reference. */
export function logSoftmaxAt(logits: Float32Array, token: number): number {
  let mx = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > mx) mx = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - mx);
  return logits[token] - mx - Math.log(sum);
}

/**
 * logSoftmaxAt with the normaliser (max and log-sum-exp) remembered for the last few distinct
 * logit vectors, compared by content. Samples that share a history (shareHistories: most of
 * the k at a step) get the same processed logits, so one exp pass over the vocabulary serves
 * them all; a vector that differs costs one compare that usually stops at its first entry.
 * Returns exactly logSoftmaxAt's value (the same operations on the same numbers).
 */
export class LogSoftmaxMemo {
  private readonly seen: Array<{ logits: Float32Array; mx: number; logSum: number }> = [];
  private next = 0;
  constructor(private readonly size = 8) {}

  at(logits: Float32Array, token: number): number {
    let hit = this.seen.find((e) => sameValues(e.logits, logits));
    if (!hit) {
      let mx = -Infinity;
      for (let i = 0; i < logits.length; i++) if (logits[i] > mx) mx = logits[i];
      let sum = 0;
      for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - mx);
      const slot = this.seen.length < this.size ? this.seen.length : this.next++ % this.size;
      const held = this.seen[slot]?.logits.length === logits.length ? this.seen[slot].logits : new Float32Array(logits.length);
      held.set(logits);
      hit = this.seen[slot] = { logits: held, mx, logSum: Math.log(sum) };
    }
    return logits[token] - hit.mx - hit.logSum;
  }
}

/** Equal length and entries (NaN never equal: such a vector is recomputed). */
function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Sample k replies to `conv` on one shared prefill and vote (see the interface).
 * Default temperature 0.7 (Wang et al. sample at 0.5–0.7); temperature 0 makes every sample
 * the greedy reply.
 *
 * @throws GptforgeError for k < 1, positionGroups outside 1..k, or a reward model whose context cannot hold a sample.
 */
export function selfConsistency(engine: ChatEngine, conv: Conversation, opts: SelfConsistencyOptions): SelfConsistencyResult {
  const { k, extract = extractAnswer, rewardModel, positionGroups, ...chat } = opts;
  if (!Number.isInteger(k) || k < 1) throw new GptforgeError(`self-consistency: k must be a positive integer, got ${k}`, { field: 'k' });
  const g = positionGroups ?? 1;
  if (!Number.isInteger(g) || g < 1 || g > k) throw new GptforgeError(`self-consistency: positionGroups must be an integer in 1..k (${k}), got ${g}`, { field: 'positionGroups' });
  const t0 = performance.now();
  const sums = new Float64Array(k);
  const counts = new Int32Array(k);
  const seed = opts.seed ?? 1;
  const replies = new Array<ChatReply>(k);
  const lsm = new LogSoftmaxMemo();
  const calls: BuiltinToolCall[][] = Array.from({ length: k }, () => []);
  for (let j = 0; j < g; j++) {
    // group j: samples j, j + g, j + 2g, … (so the first k' samples of a draw span min(k', g) groups)
    const members = Array.from({ length: Math.ceil((k - j) / g) }, (_, m) => j + m * g);
    const out = engine.repliesTo(
      members.map(() => conv),
      members.map((i) => seed + i),
      {
        temperature: 0.7,
        shareHistories: true,
        ...chat,
        onStep: (logits, token, row = 0) => {
          const i = members[row];
          sums[i] += lsm.at(logits, token);
          counts[i]++;
        },
        onToolCall: (call, res, row = 0) => {
          calls[members[row]].push(builtinToolCall(call, res));
          chat.onToolCall?.(call, res, members[row]);
        },
      },
    );
    out.forEach((r, m) => (replies[members[m]] = r));
  }
  const samples: ConsistencySample[] = replies.map((r, i) => ({ text: r.text, answer: extract(r.text), meanLogprob: counts[i] > 0 ? sums[i] / counts[i] : 0, tokens: counts[i], ...(chat.tools ? { toolCalls: calls[i] } : {}) }));
  let reward: VoteResult | undefined;
  let rewardBest: SelfConsistencyResult['rewardBest'];
  if (rewardModel) {
    const L = rewardModel.model.config.blockSize;
    const seqs = replies.map((r, i) => {
      const ids = renderForReward(rewardModel.tok, { messages: [...conv.messages, ...r.messages] });
      if (ids.length > L) throw new GptforgeError(`self-consistency: sample ${i} with its prompt is ${ids.length} tokens, more than the reward model's context of ${L}`);
      return ids;
    });
    const pad = rewardModel.tok.hasSpecial('<|pad|>') ? rewardModel.tok.specialId('<|pad|>') : 0;
    const scores = scoreSequences(rewardModel.model, seqs, pad);
    scores.forEach((s, i) => (samples[i].reward = s));
    reward = vote(
      samples.map((s) => s.answer),
      softmaxWeights(scores),
    );
    rewardBest = bestOf(
      samples.map((s) => s.answer),
      scores,
    );
  }
  const answers = samples.map((s) => s.answer);
  return {
    samples,
    majority: vote(answers),
    logprob: vote(answers, softmaxWeights(samples.map((s) => s.meanLogprob))),
    reward,
    rewardBest,
    ms: performance.now() - t0,
  };
}
