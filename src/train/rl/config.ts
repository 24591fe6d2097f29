import type { AdapterTraining } from '../adapter.js';
import type { Message } from '../../data/conversation.js';
import type { PackedLoader } from '../../data/sft.js';
import type { ToolRegistry } from '../../infer/tools/registry.js';
import type { GPT } from '../../model/gpt.js';
import type { Tokenizer } from '../../tokenizer/index.js';

/** The RL stage's settings, its inputs, and the prompts it samples from (see ../rl.ts). */
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

export interface RLPrompt {
  prompt: string;
  /** Task family, for the checker bonus and accuracy metrics. */
  task?: string;
}

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
  /** Validation after update `step` (every evalEvery updates and at the end): RL's early stopping (src/run/rl-validation.ts). */
  evaluate?(step: number): Record<string, number>;
  /** SFT rows for the ptx loss (needed when ptxCoef > 0), one batch per update (cli/rl.ts: ptxRows rows). */
  ptx?: PackedLoader;
}
