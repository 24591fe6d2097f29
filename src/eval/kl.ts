import { renderPrompt } from '../data/chat.js';
import { ChatEngine } from '../infer/engine.js';
import type { ToolRegistry } from '../infer/tools/registry.js';
import type { GPT } from '../model/gpt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { actionLogProbs } from '../train/rl.js';

/**
 * KL(π ‖ π_ref) per reply in nats, estimated on the policy's own samples: the mean over replies
 * of Σ_t [log π(a_t) − log π_ref(a_t)] over the tokens the policy sampled (tool outputs the
 * engine forced are context, as in RL). The same k1 estimator RL logs as `objective/kl`
 * (InstructGPT, TRL), here on held-out prompts, so PPO, GRPO and DPO are measured alike.
 * Temperature 1: the estimate is of the distributions themselves. Unbiased, so a small
 * sample can come out slightly negative.
 */
export function sampledKL(policy: GPT, ref: GPT, tok: Tokenizer, prompts: readonly string[], o: { tools: ToolRegistry | null; maxTokens: number; seed: number }): number {
  if (prompts.length === 0) return NaN;
  const convs = prompts.map((p) => ({ messages: [{ role: 'user' as const, content: p }] }));
  const replies = new ChatEngine(policy, tok).repliesTo(
    convs,
    prompts.map((_, i) => o.seed + i),
    { temperature: 1, maxTokens: o.maxTokens, tools: o.tools },
  );
  const seqs = replies.map((r, i) => {
    const promptIds = renderPrompt(tok, convs[i]);
    const actions: number[] = [];
    r.sampled.forEach((s, j) => {
      if (s === 1) actions.push(promptIds.length + j);
    });
    return { ids: [...promptIds, ...r.ids], actions };
  });
  const pad = tok.specialId('<|pad|>');
  const lp = actionLogProbs(policy, seqs, pad).logp;
  const lr = actionLogProbs(ref, seqs, pad).logp;
  let sum = 0;
  lp.forEach((row, i) => row.forEach((x, t) => (sum += x - lr[i][t])));
  return sum / seqs.length;
}

/** KL of best-of-N sampling from its base policy, the known bound log N − (N − 1)/N (Stiennon et al. 2020, appendix; Beirami et al. 2024). */
export function bestOfNKL(n: number): number {
  return Math.log(n) - (n - 1) / n;
}
