import { renderPrompt } from '../../data/chat.js';
import type { Conversation, Message } from '../../data/conversation.js';
import type { Rng } from '../../engine/rng.js';
import { noGrad, type Tensor } from '../../engine/tensor.js';
import * as op from '../../engine/ops.js';
import type { ChatEngine } from '../../infer/engine.js';
import type { GPT } from '../../model/gpt.js';
import { nextTokenBatch } from '../batch.js';
import { scoreConversations } from '../reward.js';
import type { RLConfig, RLSetup } from './config.js';

/**
 * RL's rollouts: the sample and score steps of an iteration, the log-probabilities they and
 * the update need, and the minibatches an iteration's batch is cut into.
 */

/** One sampled reply, as numbers only (it is part of the resumable training state). */
export interface Rollout {
  prompt: string;
  task?: string;
  /** Prompt ids + reply ids. */
  ids: number[];
  /** Indices into ids of the tokens the policy sampled (the actions). */
  actions: number[];
  old: number[];
  ref: number[];
  /** Value estimates at the actions (PPO). */
  values: number[];
  advantages: number[];
  returns: number[];
  score: number;
  /** The task checker's verdict, when the task is known. */
  correct?: boolean;
  ended: boolean;
  replyText: string;
}

/**
 * Step 1, sample: draw `promptsPerRollout` prompts (with replacement, each with its own
 * decoding seed) and `groupSize` replies to each from the policy on the KV-cache engine,
 * tools run as in chat. Only tokens the policy sampled are actions: tool outputs the engine
 * forced are context. A reply with no action is dropped. Consumes the rng.
 */
export function sampleRollouts(engine: ChatEngine, setup: Pick<RLSetup, 'tok' | 'prompts' | 'tools' | 'check'>, rl: RLConfig, groupSize: number, rng: Rng): { batch: Rollout[]; replies: Message[][]; sampledTokens: number } {
  const { tok } = setup;
  const batch: Rollout[] = [];
  const replies: Message[][] = [];
  let sampledTokens = 0;
  const sampling = { temperature: rl.temperature, maxTokens: rl.maxNewTokens, tools: setup.tools };
  const drawn = Array.from({ length: rl.promptsPerRollout }, () => ({ item: setup.prompts[rng.int(setup.prompts.length)], seed: rng.nextU32() }));
  const convOf = (prompt: string): Conversation => ({ messages: [{ role: 'user', content: prompt }] });
  // one reply per prompt: all prompts decoded together on one KV cache (left-padded);
  // a GRPO group: its G replies together on one cache, the shared prompt prefilled once
  const groups =
    groupSize === 1
      ? engine
          .repliesTo(
            drawn.map((d) => convOf(d.item.prompt)),
            drawn.map((d) => d.seed),
            sampling,
          )
          .map((r) => [r])
      : drawn.map((d) => engine.replies(convOf(d.item.prompt), groupSize, { ...sampling, seed: d.seed }));
  for (const [p, { item }] of drawn.entries()) {
    const promptIds = renderPrompt(tok, convOf(item.prompt));
    for (const reply of groups[p]) {
      const ids = [...promptIds, ...reply.ids];
      const actions: number[] = [];
      reply.sampled.forEach((s, i) => {
        if (s === 1) actions.push(promptIds.length + i);
      });
      // (the engine keeps prompt + reply within the context, so every rollout fits a forward pass)
      if (actions.length === 0) continue;
      sampledTokens += actions.length;
      const ended = reply.finishReason === 'stop';
      const correct = item.task && setup.check ? setup.check(item.prompt, item.task, reply.text) : undefined;
      batch.push({ prompt: item.prompt, task: item.task, ids, actions, old: [], ref: [], values: [], advantages: [], returns: [], score: 0, correct, ended, replyText: reply.text });
      replies.push(reply.messages);
    }
  }
  return { batch, replies, sampledTokens };
}

/**
 * Step 2, score: score = RM(prompt, reply) (or the reward function) [+ checker bonus when the
 * task's checker accepts the reply] [− penalty if the reply never ended]; the log-probs of
 * every action under the policy (old) and the frozen reference, the policy's values when
 * `withValues`. Fills those fields of each rollout; returns the mean KL to the reference per
 * reply (Σ old − ref, nats) and the mean entropy per action.
 */
export function scoreRollouts(batch: readonly Rollout[], replies: readonly Message[][], setup: Pick<RLSetup, 'policy' | 'ref' | 'adapter' | 'rm' | 'reward' | 'tok'>, rl: RLConfig, withValues: boolean): { meanKl: number; entropy: number } {
  const { policy, ref, adapter, rm, reward, tok } = setup;
  const pad = tok.specialId('<|pad|>');
  let raw: number[];
  if (rm)
    raw = scoreConversations(
      rm,
      tok,
      batch.map((r, i) => ({ messages: [{ role: 'user', content: r.prompt }, ...replies[i]] })),
    );
  else if (reward) raw = batch.map((r, i) => reward(r.prompt, { text: r.replyText, messages: replies[i] }));
  else throw new Error('rl: give a reward model or a reward function');
  const oldP = actionLogProbs(policy, batch, pad, withValues);
  // LoRA: the reference is the policy's own base, its adapters disabled
  const refP = adapter ? adapter.lora.withAdaptersDisabled(() => actionLogProbs(policy, batch, pad)) : actionLogProbs(ref, batch, pad);
  let klSum = 0;
  let entSum = 0;
  let entN = 0;
  batch.forEach((r, i) => {
    r.old = oldP.logp[i];
    r.ref = refP.logp[i];
    r.values = withValues ? oldP.values[i] : [];
    let s = raw[i];
    if (r.correct && rl.checkerBonus) s += rl.checkerBonus;
    if (!r.ended) s -= rl.missingEosPenalty;
    r.score = s;
    for (let t = 0; t < r.old.length; t++) klSum += r.old[t] - r.ref[t];
    for (const e of oldP.entropy[i]) {
      entSum += e;
      entN++;
    }
  });
  return { meanKl: batch.length ? klSum / batch.length : 0, entropy: entN ? entSum / entN : 0 };
}

/** Step 4, minibatches: `count` minibatches per epoch over the batch, each epoch in a fresh seeded order. */
export function minibatches<T>(batch: readonly T[], epochs: number, count: number, rng: Rng): T[][] {
  const queue: T[][] = [];
  for (let e = 0; e < epochs; e++) {
    const order = rng.permutation(batch.length);
    const size = Math.ceil(order.length / count);
    for (let m = 0; m < count; m++) {
      const mb = order.slice(m * size, (m + 1) * size).map((i) => batch[i]);
      if (mb.length > 0) queue.push(mb);
    }
  }
  return queue;
}

/** Per-token log-probabilities of ids[a] for each action a, and (optionally) entropies and values, without gradient. */
export function actionLogProbs(model: GPT, seqs: readonly { ids: number[]; actions: number[] }[], padId: number, withValues = false): { logp: number[][]; entropy: number[][]; values: number[][] } {
  const out = { logp: [] as number[][], entropy: [] as number[][], values: [] as number[][] };
  noGrad(() => {
    for (let i = 0; i < seqs.length; i += 8) {
      const group = seqs.slice(i, i + 8);
      const f = forwardActions(model, group, padId, withValues);
      const V = model.config.vocabSize;
      group.forEach((s, b) => {
        const lp: number[] = [];
        const ent: number[] = [];
        for (const a of s.actions) {
          const row = b * f.T + a - 1;
          lp.push(-f.ce.data[row]);
          ent.push(entropyRow(f.logits.data, row * V, V));
        }
        out.logp.push(lp);
        out.entropy.push(ent);
      });
      if (withValues && f.values) {
        let k = 0;
        for (const s of group) {
          out.values.push(Array.from(f.values.data.subarray(k, k + s.actions.length)));
          k += s.actions.length;
        }
      }
    }
  });
  return out;
}

function entropyRow(logits: Float32Array, off: number, V: number): number {
  let mx = -Infinity;
  for (let v = 0; v < V; v++) mx = Math.max(mx, logits[off + v]);
  let z = 0;
  let s = 0;
  for (let v = 0; v < V; v++) {
    const e = Math.exp(logits[off + v] - mx);
    z += e;
    s += e * (logits[off + v] - mx);
  }
  return Math.log(z) - s / z;
}

/**
 * One forward pass over right-padded sequences: −log p of every action token (rows
 * b·T + a − 1 of a [B·T] cross-entropy, other rows ignored) and, with a scalar head, the
 * value of the state before each action.
 */
export function forwardActions(model: GPT, seqs: readonly { ids: number[]; actions: number[] }[], padId: number, withValues: boolean): { ce: Tensor; logits: Tensor; values: Tensor | null; T: number; rows: Int32Array } {
  const B = seqs.length;
  const { ids, targets, T, rowsOf } = nextTokenBatch(seqs, (b) => seqs[b].actions, padId, model.config.blockSize, 'rl');
  const rows = rowsOf.flat();
  const hidden = model.hidden(ids, B, T);
  const logits = model.logits(hidden);
  const ce = op.crossEntropy(logits, targets, { reduction: 'none' });
  const rowIdx = Int32Array.from(rows);
  const values = withValues ? model.scalar(hidden, rowIdx) : null;
  return { ce, logits, values, T, rows: rowIdx };
}
