import { renderPrompt } from '../data/chat.js';
import { parseOperation, solvePrompt, stepText, TARGET } from '../data/synthetic/countdown.js';
import type { DecodingModel } from '../infer/engine.js';
import { decode } from '../infer/pipeline.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';

/**
 * One chain of thought on the game of 24 with **calculator-checked steps** — the comparison that
 * gives the single chain what tree of thoughts' calculator-checked thoughts (TotOptions.toolResults)
 * give the tree: after each line the model writes, the calculator recomputes the operation it
 * names (countdown.ts's parseOperation: "4*13=49" from 4 9 10 13 is 4*13=52) and the corrected
 * line "4*13=52 (left: 9 10 52)" replaces it in the reply before the model writes the next one
 * (a tool in the loop: Schick et al. 2023's calculator, here on every step). The chain fails when a
 * line names no operation on the numbers left.
 *
 * `k` chains of one puzzle decode as one batch; chain i samples with seed + i (greedy at
 * temperature 0).
 */
export interface CalcChainOptions {
  /** Chains (default 1). */
  k?: number;
  /** 0: greedy (default); else sampled. */
  temperature?: number;
  seed?: number;
  /** Longest line, in tokens (default 32). */
  lineTokens?: number;
}

export interface CalcChainResult {
  /** Each chain's corrected lines and whether they reach 24. */
  chains: Array<{ lines: string[]; solved: boolean }>;
  /** Tokens the model sampled, all chains. */
  tokens: number;
}

/** @throws GptforgeError for a start that is not 2–6 whole numbers or k < 1. */
export function calculatorChains(model: DecodingModel, tok: Tokenizer, start: readonly number[], o: CalcChainOptions = {}): CalcChainResult {
  const k = o.k ?? 1;
  if (!Number.isInteger(k) || k < 1) throw new GptforgeError(`calculator chain: k must be a positive integer, got ${k}`, { field: 'k' });
  if (!(start.length >= 2 && start.length <= 6 && start.every((n) => Number.isInteger(n) && n >= 0))) throw new GptforgeError(`calculator chain: the start must be 2–6 whole numbers, got ${start.join(' ')}`);
  const prompt = renderPrompt(tok, { messages: [{ role: 'user', content: solvePrompt(start) }] });
  // a reply ends at its end of turn; any other special token is not a step either
  const endIds = [...tok.specialTokens.values()];
  const chains = Array.from({ length: k }, () => ({ lines: [] as string[], nums: [...start].sort((x, y) => x - y), alive: true }));
  let tokens = 0;
  for (let depth = 1; depth < start.length; depth++) {
    const live = chains.map((c, i) => ({ c, i })).filter((x) => x.c.alive);
    if (live.length === 0) break;
    const results = decode(
      model,
      tok,
      live.map(({ c, i }) => ({
        prompt: [...prompt, ...(c.lines.length > 0 ? tok.encode(`${c.lines.join('\n')}\n`) : [])],
        maxTokens: o.lineTokens ?? 32,
        temperature: o.temperature ?? 0,
        seed: (o.seed ?? 1) + i + 1000 * depth,
        endIds,
        stop: ['\n'],
      })),
      { padId: tok.hasSpecial('<|pad|>') ? tok.specialId('<|pad|>') : 0 },
    );
    results.forEach((r, j) => {
      const c = live[j].c;
      tokens += r.completionTokens;
      const s = parseOperation(r.text, c.nums);
      if (!s) {
        c.alive = false;
        return;
      }
      c.lines.push(stepText(s));
      c.nums = s.left;
    });
  }
  return { chains: chains.map((c) => ({ lines: c.lines, solved: c.alive && c.nums.length === 1 && c.nums[0] === TARGET })), tokens };
}
