import { Rng } from '../engine/rng.js';
import { fromArray, noGrad, setArenaEnabled, type Tensor } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { renderForReward, renderPrompt } from '../data/chat.js';
import type { Conversation, Message } from '../data/conversation.js';
import { ChatEngine } from '../infer/engine.js';
import type { ToolRegistry } from '../infer/tools/registry.js';
import { GptforgeError } from '../util/errors.js';
import type { PackedBatch, PackedLoader, PackedLoaderState } from '../data/sft.js';
import { scoreSequences } from './reward.js';
import type { AdapterTraining } from './adapter.js';
import { train, type MicroBatchResult, type TrainConfig, type TrainOptions, type TrainResult } from './loop.js';

/**
 * Stage 4: reinforcement learning against the reward model. Each iteration:
 *
 *   rollout:  sample replies from the policy on the KV-cache engine (tools run as in chat);
 *             score = RM(prompt, reply) [+ checker bonus] [− penalty if the reply never ended]
 *             log-probs of every sampled token under the policy (old) and the frozen SFT model (ref)
 *   update:   several epochs of minibatches over the rollout batch, one optimizer step each
 *             (gradAccum splits a minibatch into micro-batches; the loss is its mean either way):
 *     ppo        per-token reward −β·(old − ref), the score on the last token; GAE (γ, λ) on a
 *                value head that shares the policy's trunk; clipped ratio; clipped value loss
 *     grpo       G replies per prompt; advantage = (score − group mean) / group std; KL to ref
 *                (k3 estimator) in the loss, not the reward; no value head
 *     reinforce  the talk's plain form: Σ (reward − baseline)·log p(token), reward with −β·KL
 *     + ptx      (optional, any algorithm) γ × the SFT loss on a few packed rows of SFT data
 *                per update: InstructGPT's "PPO-ptx", which mixes the earlier stage's
 *                objective back in so RL does not unlearn what the reward model cannot see
 *                (the "alignment tax"). InstructGPT mixed pretraining data; here it is the
 *                SFT mixture, because what we must not lose is the tasks SFT taught.
 *
 * Only tokens the policy sampled are actions: tool outputs the engine forced are context.
 * Every objective is computed in plain numbers per token, and the model backpropagates the
 * surrogate Σ_t (∂L/∂(−log p_t))·(−log p_t) [+ Σ ∂L/∂V·V]: the same gradient as the objective,
 * through the same cross-entropy kernel as every other stage.
 */
export type RLAlgo = 'ppo' | 'grpo' | 'reinforce';

export interface RLConfig {
  algo: RLAlgo;
  /** Prompts per rollout batch. */
  promptsPerRollout: number;
  /** Replies per prompt (GRPO's group size; 1 for PPO and REINFORCE). */
  groupSize: number;
  /** Passes over each rollout batch (PPO, GRPO); REINFORCE uses 1. */
  epochs: number;
  /** Minibatches per pass (optimizer steps per epoch). */
  minibatches: number;
  maxNewTokens: number;
  temperature: number;
  /** β: weight of the KL penalty to the reference model. */
  klCoef: number;
  /** Stop when the mean KL per reply to the reference exceeds this (nats). */
  klBound: number;
  /** Stop when the mean policy ratio of a minibatch exceeds this. */
  maxRatio: number;
  clipRange: number;
  clipRangeValue: number;
  vfCoef: number;
  gamma: number;
  lam: number;
  /** Normalise scores by running mean and std before they become rewards. */
  whitenRewards: boolean;
  /** Added to the score when the task's checker accepts the reply (0 = RM only). */
  checkerBonus: number;
  /** Subtracted from the score of a reply that never ended (cut at maxNewTokens). */
  missingEosPenalty: number;
  /** γ: weight of the SFT loss mixed into every update (PPO-ptx; 0 = off). */
  ptxCoef: number;
  /** Packed SFT rows per update for that loss. */
  ptxRows: number;
}

export const DEFAULT_RL: RLConfig = {
  algo: 'ppo',
  promptsPerRollout: 32,
  groupSize: 1,
  epochs: 2,
  minibatches: 2,
  maxNewTokens: 48,
  temperature: 1,
  klCoef: 0.05,
  klBound: 8,
  maxRatio: 10,
  clipRange: 0.2,
  clipRangeValue: 0.2,
  vfCoef: 0.1,
  gamma: 1,
  lam: 0.95,
  whitenRewards: true,
  checkerBonus: 0,
  missingEosPenalty: 1,
  ptxCoef: 0,
  ptxRows: 4,
};

// ---------------------------------------------------------------------------------------
// The math, as small pure functions (tests check them against hand-computed values)

/** Generalised advantage estimation over one reply's action steps; the value after the last step is 0. */
export function gae(rewards: readonly number[], values: readonly number[], gamma: number, lam: number): { advantages: number[]; returns: number[] } {
  const n = rewards.length;
  const advantages = new Array<number>(n).fill(0);
  let last = 0;
  for (let t = n - 1; t >= 0; t--) {
    const next = t + 1 < n ? values[t + 1] : 0;
    const delta = rewards[t] + gamma * next - values[t];
    last = delta + gamma * lam * last;
    advantages[t] = last;
  }
  return { advantages, returns: advantages.map((a, t) => a + values[t]) };
}

/** (x − mean) / std over all entries (std with Bessel's correction, as TRL's whiten). */
export function whiten(xs: readonly number[], shiftMean = true): number[] {
  const n = xs.length;
  if (n < 2) return [...xs];
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const v = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  const inv = 1 / Math.sqrt(v + 1e-8);
  return xs.map((x) => (shiftMean ? (x - mean) * inv : (x - mean) * inv + mean));
}

/** GRPO's advantages: each score minus its group's mean, over the group's std (groups are consecutive). */
export function grpoAdvantages(scores: readonly number[], groupSize: number): number[] {
  const out: number[] = [];
  for (let g = 0; g < scores.length; g += groupSize) {
    const grp = scores.slice(g, g + groupSize);
    const mean = grp.reduce((s, x) => s + x, 0) / grp.length;
    const std = Math.sqrt(grp.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, grp.length - 1));
    for (const x of grp) out.push((x - mean) / (std + 1e-4));
  }
  return out;
}

export interface PolicyLoss {
  loss: number;
  /** ∂loss/∂log p_t. */
  dlogp: Float64Array;
  clipfrac: number;
  approxkl: number;
  ratio: number;
}

/** PPO's clipped surrogate, mean over tokens: max(−A·r, −A·clip(r, 1−ε, 1+ε)), r = exp(logp − old). */
export function ppoPolicyLoss(logp: ArrayLike<number>, old: ArrayLike<number>, adv: ArrayLike<number>, clip: number): PolicyLoss {
  const n = logp.length;
  const dlogp = new Float64Array(n);
  let loss = 0;
  let clipped = 0;
  let approxkl = 0;
  let ratioSum = 0;
  for (let t = 0; t < n; t++) {
    const r = Math.exp(logp[t] - old[t]);
    const rc = Math.min(Math.max(r, 1 - clip), 1 + clip);
    const l1 = -adv[t] * r;
    const l2 = -adv[t] * rc;
    loss += Math.max(l1, l2);
    // the unclipped branch carries the gradient unless the clipped one is strictly larger
    if (l1 >= l2) dlogp[t] = (-adv[t] * r) / n;
    if (l2 > l1) clipped++;
    approxkl += 0.5 * (logp[t] - old[t]) ** 2;
    ratioSum += r;
  }
  return { loss: loss / n, dlogp, clipfrac: clipped / n, approxkl: approxkl / n, ratio: ratioSum / n };
}

/** PPO's clipped value loss, mean over tokens: ½·max((V − R)², (V_old + clip(V − V_old) − R)²). */
export function ppoValueLoss(v: ArrayLike<number>, old: ArrayLike<number>, returns: ArrayLike<number>, clip: number): { loss: number; dv: Float64Array; clipfrac: number } {
  const n = v.length;
  const dv = new Float64Array(n);
  let loss = 0;
  let clipped = 0;
  for (let t = 0; t < n; t++) {
    const vc = old[t] + Math.min(Math.max(v[t] - old[t], -clip), clip);
    const l1 = (v[t] - returns[t]) ** 2;
    const l2 = (vc - returns[t]) ** 2;
    loss += 0.5 * Math.max(l1, l2);
    if (l1 >= l2) dv[t] = (v[t] - returns[t]) / n;
    else {
      clipped++;
      // the clipped branch depends on V only inside the clip window
      if (Math.abs(v[t] - old[t]) < clip) dv[t] = (vc - returns[t]) / n;
    }
  }
  return { loss: loss / n, dv, clipfrac: clipped / n };
}

/** The k3 KL estimator exp(ref − logp) − (ref − logp) − 1 ≥ 0 (zero when equal), per token, and its derivative in logp. */
export function klK3(logp: number, ref: number): { kl: number; dlogp: number } {
  const d = ref - logp;
  return { kl: Math.exp(d) - d - 1, dlogp: 1 - Math.exp(d) };
}

// ---------------------------------------------------------------------------------------
// Rollouts

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

export interface RLPrompt {
  prompt: string;
  /** Task family, for the checker bonus and accuracy metrics. */
  task?: string;
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
function forwardActions(model: GPT, seqs: readonly { ids: number[]; actions: number[] }[], padId: number, withValues: boolean): { ce: Tensor; logits: Tensor; values: Tensor | null; T: number; rows: Int32Array } {
  const B = seqs.length;
  const T = Math.max(...seqs.map((s) => s.ids.length)) - 1;
  if (T > model.config.blockSize) throw new Error(`rl: a sequence of ${T + 1} tokens exceeds the context ${model.config.blockSize}`);
  const ids = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(-1);
  const rows: number[] = [];
  seqs.forEach((s, b) => {
    ids.set(s.ids.slice(0, T), b * T);
    for (const a of s.actions) {
      targets[b * T + a - 1] = s.ids[a];
      rows.push(b * T + a - 1);
    }
  });
  const hidden = model.hidden(ids, B, T);
  const logits = model.logits(hidden);
  const ce = op.crossEntropy(logits, targets, { reduction: 'none' });
  const rowIdx = Int32Array.from(rows);
  const values = withValues ? model.scalar(hidden, rowIdx) : null;
  return { ce, logits, values, T, rows: rowIdx };
}

// ---------------------------------------------------------------------------------------
// The stage

export interface RLSetup {
  /** The policy (initialised from SFT); PPO needs a scalar head on it for the values. */
  policy: GPT;
  /** Frozen reference (the SFT model). With `adapter` it may be the policy itself: the reference is then its base, adapter disabled. */
  ref: GPT;
  /** LoRA: train this adapter of the policy; the reference log-probs come from the policy with its adapters disabled (src/train/adapter.ts). */
  adapter?: AdapterTraining | null;
  /** The reward model (a scalar head) … */
  rm?: GPT;
  /** … or a reward function (toy rewards in tests, programmatic rewards). */
  reward?(prompt: string, reply: { text: string; messages: Message[] }): number;
  tok: Tokenizer;
  prompts: readonly RLPrompt[];
  tools: ToolRegistry | null;
  /** The task checker, for the bonus and the accuracy metric. */
  check?(prompt: string, task: string, replyText: string): boolean;
  seed?: number;
  /** Stage name in metrics and checkpoints (default "rl"). */
  stage?: string;
  /** SFT rows for the ptx loss (needed when ptxCoef > 0), one batch per update (cli/rl.ts: ptxRows rows). */
  ptx?: PackedLoader;
}

interface RLState {
  rng: ReturnType<Rng['state']>;
  iteration: number;
  /** Minibatches of this rollout batch not yet trained on. */
  queue: Rollout[][];
  stats: Record<string, number>;
  scoreMean: number;
  scoreVar: number;
  scoreCount: number;
  baseline: number;
  /** Where the ptx loader is (absent without ptx; filled in when the state is saved). */
  ptx?: PackedLoaderState;
}

export function validateRL(rl: RLConfig, setup: Pick<RLSetup, 'policy' | 'rm' | 'reward' | 'prompts' | 'ptx'>, rmSource = 'reward model'): void {
  if (!setup.rm && !setup.reward) throw new Error('rl: give a reward model or a reward function');
  if (setup.rm && !setup.rm.hasScalarHead) throw new GptforgeError(`${rmSource} has no reward head (score.weight): train one with "gptforge rm" first`);
  if (setup.prompts.length === 0) throw new GptforgeError('rl: no prompts');
  if (!['ppo', 'grpo', 'reinforce'].includes(rl.algo)) throw new GptforgeError(`rl: unknown algorithm "${rl.algo}" (ppo, grpo, reinforce)`, { field: 'algo' });
  if (rl.algo === 'grpo' && rl.groupSize < 2) throw new GptforgeError('rl: GRPO needs groupSize ≥ 2', { field: 'groupSize' });
  if (rl.algo === 'ppo' && !setup.policy.hasScalarHead) throw new Error('rl: PPO needs a value head on the policy (addScalarHead)');
  if (!(rl.ptxCoef >= 0)) throw new GptforgeError(`rl: ptxCoef must be ≥ 0, got ${rl.ptxCoef}`, { field: 'ptxCoef' });
  if (rl.ptxCoef > 0 && !setup.ptx) throw new Error('rl: ptxCoef > 0 needs SFT rows (setup.ptx)');
}

/** Optimizer steps per rollout batch. */
export function updatesPerRollout(rl: RLConfig): number {
  return (rl.algo === 'reinforce' ? 1 : rl.epochs) * rl.minibatches;
}

export async function trainRL(setup: RLSetup, rl: RLConfig, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  validateRL(rl, setup);
  const { policy, ref, rm, tok } = setup;
  const pad = tok.specialId('<|pad|>');
  const engine = new ChatEngine(policy, tok);
  const rng = new Rng(setup.seed ?? 1337);
  let st: RLState = { rng: rng.state(), iteration: 0, queue: [], stats: {}, scoreMean: 0, scoreVar: 1, scoreCount: 0, baseline: 0 };
  const G = rl.algo === 'grpo' ? rl.groupSize : 1;

  const rollout = (): void => {
    const t0 = performance.now();
    rng.restore(st.rng);
    const batch: Rollout[] = [];
    const replies: Message[][] = [];
    let sampledTokens = 0;
    const sampling = { temperature: rl.temperature, maxTokens: rl.maxNewTokens, tools: setup.tools };
    const drawn = Array.from({ length: rl.promptsPerRollout }, () => ({ item: setup.prompts[rng.int(setup.prompts.length)], seed: rng.nextU32() }));
    const convOf = (prompt: string): Conversation => ({ messages: [{ role: 'user', content: prompt }] });
    // one reply per prompt: all prompts decoded together on one KV cache (left-padded);
    // a GRPO group: its G replies together on one cache, the shared prompt prefilled once
    const groups =
      G === 1
        ? engine.repliesTo(drawn.map((d) => convOf(d.item.prompt)), drawn.map((d) => d.seed), sampling).map((r) => [r])
        : drawn.map((d) => engine.replies(convOf(d.item.prompt), G, { ...sampling, seed: d.seed }));
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
        const ended = reply.stopReason === 'end';
        const correct = item.task && setup.check ? setup.check(item.prompt, item.task, reply.text) : undefined;
        batch.push({ prompt: item.prompt, task: item.task, ids, actions, old: [], ref: [], values: [], advantages: [], returns: [], score: 0, correct, ended, replyText: reply.text });
        replies.push(reply.messages);
      }
    }
    const tRoll = performance.now();
    // score with the reward model: the conversation rendered + <|reward|>
    let raw: number[];
    if (rm) {
      const L = rm.config.blockSize;
      const seqs = batch.map((r, i) => {
        const s = renderForReward(tok, { messages: [{ role: 'user', content: r.prompt }, ...replies[i]] });
        // keep <|bos|> and the end (the reward token) when a long reply overflows by a token
        return s.length > L ? [s[0], ...s.slice(s.length - L + 1)] : s;
      });
      raw = scoreSequences(rm, seqs, pad);
    } else {
      raw = batch.map((r, i) => setup.reward!(r.prompt, { text: r.replyText, messages: replies[i] }));
    }
    const oldP = actionLogProbs(policy, batch, pad, rl.algo === 'ppo');
    const refP = setup.adapter ? setup.adapter.lora.withAdaptersDisabled(() => actionLogProbs(policy, batch, pad)) : actionLogProbs(ref, batch, pad);
    let klSum = 0;
    let entSum = 0;
    let entN = 0;
    batch.forEach((r, i) => {
      r.old = oldP.logp[i];
      r.ref = refP.logp[i];
      r.values = rl.algo === 'ppo' ? oldP.values[i] : [];
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
    // running score statistics (for reward whitening)
    for (const r of batch) {
      st.scoreCount++;
      const d = r.score - st.scoreMean;
      st.scoreMean += d / st.scoreCount;
      st.scoreVar += (d * (r.score - st.scoreMean) - st.scoreVar) / st.scoreCount;
    }
    const norm = (x: number): number => (rl.whitenRewards && st.scoreCount > 1 ? (x - st.scoreMean) / Math.sqrt(st.scoreVar + 1e-8) : x);
    const meanKl = batch.length ? klSum / batch.length : 0;
    if (rl.algo === 'ppo') {
      const all: number[] = [];
      for (const r of batch) {
        const rewards = r.old.map((o, t) => -rl.klCoef * (o - r.ref[t]));
        rewards[rewards.length - 1] += norm(r.score);
        const g = gae(rewards, r.values, rl.gamma, rl.lam);
        r.advantages = g.advantages;
        r.returns = g.returns;
        all.push(...g.advantages);
      }
      const w = whiten(all);
      let k = 0;
      for (const r of batch) r.advantages = r.advantages.map(() => w[k++]);
    } else if (rl.algo === 'grpo') {
      const adv = grpoAdvantages(batch.map((r) => r.score), G);
      batch.forEach((r, i) => (r.advantages = r.old.map(() => adv[i])));
    } else {
      // REINFORCE: reward = normalised score − β·KL, baseline = running mean of it
      const rewards = batch.map((r) => norm(r.score) - rl.klCoef * r.old.reduce((s, o, t) => s + o - r.ref[t], 0));
      const mean = rewards.reduce((s, x) => s + x, 0) / Math.max(1, rewards.length);
      batch.forEach((r, i) => (r.advantages = r.old.map(() => rewards[i] - st.baseline)));
      st.baseline = st.iteration === 0 ? mean : 0.9 * st.baseline + 0.1 * mean;
    }
    const scores = batch.map((r) => r.score);
    const known = batch.filter((r) => r.correct !== undefined);
    st.stats = {
      'objective/scores': mean(scores),
      'objective/kl': meanKl,
      'objective/rlhf_reward': mean(scores) - rl.klCoef * meanKl,
      'objective/entropy': entN ? entSum / entN : 0,
      'rollout/ended': mean(batch.map((r) => (r.ended ? 1 : 0))),
      'rollout/reply_tokens': mean(batch.map((r) => r.actions.length)),
      'rollout/tokens_per_sec': Math.round(sampledTokens / Math.max(1e-3, (tRoll - t0) / 1000)),
      ...(known.length ? { 'rollout/accuracy': mean(known.map((r) => (r.correct ? 1 : 0))) } : {}),
    };
    if (meanKl > rl.klBound) {
      throw new GptforgeError(`rl: mean KL to the reference is ${meanKl.toFixed(2)} nats per reply, over the bound of ${rl.klBound}; stopping (the last checkpoint is intact). Lower the learning rate or raise klCoef.`);
    }
    // minibatches for every epoch, each epoch in a fresh order
    const epochs = rl.algo === 'reinforce' ? 1 : rl.epochs;
    const queue: Rollout[][] = [];
    for (let e = 0; e < epochs; e++) {
      const order = batch.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const size = Math.ceil(order.length / rl.minibatches);
      for (let m = 0; m < rl.minibatches; m++) {
        const mb = order.slice(m * size, (m + 1) * size).map((i) => batch[i]);
        if (mb.length > 0) queue.push(mb);
      }
    }
    st.queue = queue;
    st.iteration++;
    st.rng = rng.state();
  };

  /**
   * One micro-batch of an update. The objectives below are means over the micro-batch's n
   * action tokens; `share` = n / total turns each into this micro-batch's part of the mean
   * over the whole minibatch (the optimizer step), so splitting a minibatch into micro-batches
   * (gradAccum) changes neither the loss nor the gradient. The ptx rows are one batch per
   * step (given with the first micro-batch) with their own mean.
   */
  const update = (mb: Rollout[], total: number, ptxRows: PackedBatch | null): MicroBatchResult => {
    const f = forwardActions(policy, mb, pad, rl.algo === 'ppo');
    const logp: number[] = [];
    for (let i = 0; i < f.rows.length; i++) logp.push(-f.ce.data[f.rows[i]]);
    const old = mb.flatMap((r) => r.old);
    const adv = mb.flatMap((r) => r.advantages);
    const n = logp.length;
    let pl: PolicyLoss;
    if (rl.algo === 'reinforce') {
      const dlogp = new Float64Array(n);
      let loss = 0;
      for (let t = 0; t < n; t++) {
        loss -= (adv[t] * logp[t]) / n;
        dlogp[t] = -adv[t] / n;
      }
      pl = { loss, dlogp, clipfrac: 0, approxkl: 0.5 * mean(logp.map((l, t) => (l - old[t]) ** 2)), ratio: mean(logp.map((l, t) => Math.exp(l - old[t]))) };
    } else {
      pl = ppoPolicyLoss(logp, old, adv, rl.clipRange);
    }
    let loss = pl.loss;
    if (rl.algo === 'grpo') {
      const ref = mb.flatMap((r) => r.ref);
      let kl = 0;
      for (let t = 0; t < n; t++) {
        const k3 = klK3(logp[t], ref[t]);
        kl += k3.kl / n;
        pl.dlogp[t] += (rl.klCoef * k3.dlogp) / n;
      }
      loss += rl.klCoef * kl;
    }
    if (pl.ratio > rl.maxRatio) {
      throw new GptforgeError(`rl: the policy ratio averaged ${pl.ratio.toFixed(2)} on a minibatch (limit ${rl.maxRatio}): the update ran away; stopping (the last checkpoint is intact). Lower the learning rate.`);
    }
    const share = n / total;
    // −log p is what the model computes, so its weights are −∂L/∂log p
    const w = new Float32Array(f.ce.size);
    for (let i = 0; i < n; i++) w[f.rows[i]] = -pl.dlogp[i] * share;
    let surrogate = op.sum(op.mul(f.ce, fromArray(w, f.ce.shape)));
    let valueLoss = 0;
    if (rl.algo === 'ppo' && f.values) {
      const vl = ppoValueLoss(f.values.data, mb.flatMap((r) => r.values), mb.flatMap((r) => r.returns), rl.clipRangeValue);
      valueLoss = vl.loss;
      loss += rl.vfCoef * vl.loss;
      const gv = Float32Array.from(vl.dv, (d) => rl.vfCoef * d * share);
      surrogate = op.add(surrogate, op.sum(op.mul(f.values, fromArray(gv))));
    }
    loss *= share;
    let ptxLoss = 0;
    if (ptxRows && setup.ptx && ptxRows.lossTokens > 0) {
      const ce = policy.loss(ptxRows.inputs, ptxRows.targets, setup.ptx.B, setup.ptx.T);
      ptxLoss = ce.item();
      loss += rl.ptxCoef * ptxLoss;
      surrogate = op.add(surrogate, op.scale(ce, rl.ptxCoef));
    }
    return {
      loss: surrogate,
      value: loss,
      tokens: n,
      metrics: { 'policy/approxkl_avg': pl.approxkl, 'policy/clipfrac_avg': pl.clipfrac, 'val/ratio': pl.ratio, 'loss/policy_avg': pl.loss, 'loss/value_avg': valueLoss },
      stepMetrics: { ...st.stats, ...(ptxRows ? { 'loss/ptx_avg': ptxLoss } : {}), iteration: st.iteration },
    };
  };

  // the micro-batches of the current step: its minibatch split in gradAccum parts (TRL's
  // mini_batch_size = per-device batch × gradient_accumulation_steps)
  let parts: Rollout[][] = [];
  let ptxRows: PackedBatch | null = null;


  return train(
    {
      stage: setup.stage ?? 'rl',
      adapter: setup.adapter,
      model: policy,
      tokenizerJSON: tok.toJSON(),
      tokenizerHash: tok.hash(),
      nextMicroBatch: (index, count) => {
        if (index === 0) {
          if (st.queue.length === 0) {
            // generation makes thousands of small forward passes: keep them out of the step arena
            setArenaEnabled(false);
            try {
              rollout();
            } finally {
              setArenaEnabled(true);
            }
          }
          const mb = st.queue.shift()!;
          const size = Math.ceil(mb.length / count);
          parts = Array.from({ length: count }, (_, i) => mb.slice(i * size, (i + 1) * size));
          ptxRows = rl.ptxCoef > 0 && setup.ptx ? setup.ptx.next() : null;
        }
        return { rollouts: parts[index], ptx: index === 0 ? ptxRows : null };
      },
      weight: ({ rollouts }) => rollouts.reduce((s, r) => s + r.actions.length, 0),
      forwardMicroBatch: ({ rollouts, ptx }, total) => update(rollouts, total, ptx),
      state: () => (setup.ptx ? { ...st, ptx: setup.ptx.state() } : st),
      restore: (s) => {
        st = s as RLState;
        rng.restore(st.rng);
        if (st.ptx && setup.ptx) setup.ptx.restore(st.ptx);
      },
    },
    cfg,
    opts,
  );
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0;
}
