import { parseOperation, parseStep, proposePrompt, TARGET, valuePrompt, type Step } from '../data/synthetic/countdown.js';
import type { ChatEngine } from '../infer/engine.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';

/**
 * Tree of thoughts (Yao et al. 2023) on the game of 24, breadth-first with pruning. A state is
 * the numbers left and the steps that led there; a thought is one operation.
 *
 *   frontier ← [the four numbers]
 *   3 times:  each state → the model proposes steps (one greedy reply, one step a line;
 *                          lines that are not a valid step from the state are dropped; at most `proposals`)
 *             each new state → the model's own value: P("sure") / (P("sure") + P("impossible"))
 *                          for its first reply token to "Can they still reach 24?";
 *                          ≥ `sure` → sure, ≥ `likely` → likely, else impossible
 *             frontier ← the `breadth` best states that are not impossible
 *   answer: the best final state's path; solved when its one number is 24
 *
 * Proposals of a level are decoded as one batch (left-padded prompts), and so are the values.
 */
export interface TotOptions {
  /** States kept per level (Yao et al.'s b; default 5). */
  breadth?: number;
  /** Most thoughts taken from one proposal (default 6). */
  proposals?: number;
  /** Value thresholds on P(sure) (default 0.7 and 0.3). */
  sure?: number;
  likely?: number;
  /** Longest proposal reply, in tokens (default 96). */
  maxTokens?: number;
  /**
   * Sampled proposal replies per state besides the greedy one (default 0), at
   * `proposalTemperature` (default 0.7): more diverse thoughts for more tokens. Each reply
   * gives at most `proposals` thoughts; the same numbers left twice are one state.
   */
  proposalSamples?: number;
  proposalTemperature?: number;
  /** Seed of the sampled proposals (default 1). */
  seed?: number;
  /**
   * Calculator-checked thoughts: take each proposed line's operation and compute its result
   * (countdown.ts's parseOperation) instead of dropping a line whose arithmetic is wrong —
   * the model proposes which numbers to combine, the tool does the sum (default false).
   */
  toolResults?: boolean;
  /**
   * Values the states instead of the model's own judgement, P(sure) for each (e.g. a reward
   * model, or the exact solver as a ceiling: how far the proposals alone can get).
   */
  value?(states: readonly (readonly number[])[], context?: readonly ValueContext[]): number[];
}

/** A new state's parent and the step (the thought) that made it: a learned value (tot-value.ts) scores the thought's text. */
export interface ValueContext {
  parent: readonly number[];
  step: Step;
}

export type Judgement = 'sure' | 'likely' | 'impossible';

export interface TotNode {
  nums: number[];
  steps: Step[];
  /** P(sure) as the model judges the state. */
  value: number;
  judgement: Judgement;
}

export interface TotLevel {
  /** Every new state proposed at this level, with its value. */
  candidates: TotNode[];
  /** Those kept for the next level. */
  kept: TotNode[];
  /** Proposal lines that were not a valid step from their state (at most 8 a level): why a level can have no thoughts. */
  rejected?: string[];
}

export interface TotTrace {
  start: number[];
  levels: TotLevel[];
  /** The chosen path (the best final state's), or null when every branch was pruned. */
  best: TotNode | null;
  solved: boolean;
  /** Tokens the model sampled (proposals, plus one per value). */
  tokens: number;
  ms: number;
}

/** The first token ids of the two verdicts, which must differ for a first-token value. */
function verdictIds(tok: Tokenizer): { sure: number; impossible: number } {
  const sure = tok.encode('sure')[0];
  const impossible = tok.encode('impossible')[0];
  if (sure === impossible) throw new GptforgeError('tree of thoughts: "sure" and "impossible" begin with the same token in this tokenizer');
  return { sure, impossible };
}

/** The model's P(sure) for each state (one batch, one token each). */
export function valueStates(engine: ChatEngine, states: readonly (readonly number[])[]): number[] {
  if (states.length === 0) return [];
  const ids = verdictIds(engine.tok);
  const values = new Array<number>(states.length).fill(0);
  engine.repliesTo(
    states.map((s) => ({ messages: [{ role: 'user' as const, content: valuePrompt(s) }] })),
    states.map(() => 1),
    {
      temperature: 0,
      maxTokens: 1,
      onStep: (logits, _token, row = 0) => {
        const a = logits[ids.sure];
        const b = logits[ids.impossible];
        const m = Math.max(a, b);
        values[row] = Number.isFinite(m) ? Math.exp(a - m) / (Math.exp(a - m) + Math.exp(b - m)) : 0.5;
      },
    },
  );
  return values;
}

/**
 * Search for a way from `start` to 24 (see the interface).
 * @throws GptforgeError for a start that is not 2–6 whole numbers, or bad options.
 */
export function treeOfThoughts(engine: ChatEngine, start: readonly number[], o: TotOptions = {}): TotTrace {
  const t0 = performance.now();
  if (!(start.length >= 2 && start.length <= 6 && start.every((n) => Number.isInteger(n) && n >= 0))) throw new GptforgeError(`tree of thoughts: the start must be 2–6 whole numbers, got ${start.join(' ')}`);
  const breadth = o.breadth ?? 5;
  const proposals = o.proposals ?? 6;
  if (!(Number.isInteger(breadth) && breadth >= 1 && Number.isInteger(proposals) && proposals >= 1)) throw new GptforgeError('tree of thoughts: breadth and proposals must be positive integers');
  if (!(Number.isInteger(o.proposalSamples ?? 0) && (o.proposalSamples ?? 0) >= 0)) throw new GptforgeError(`tree of thoughts: proposalSamples must be a whole number ≥ 0, got ${o.proposalSamples}`);
  const sureAt = o.sure ?? 0.7;
  const likelyAt = o.likely ?? 0.3;
  const judge = (v: number): Judgement => (v >= sureAt ? 'sure' : v >= likelyAt ? 'likely' : 'impossible');
  let tokens = 0;
  let frontier: TotNode[] = [{ nums: [...start].sort((x, y) => x - y), steps: [], value: 1, judgement: 'sure' }];
  const levels: TotLevel[] = [];
  for (let depth = 1; depth < start.length; depth++) {
    const convs = frontier.map((n) => ({ messages: [{ role: 'user' as const, content: proposePrompt(n.nums) }] }));
    const replies = engine.repliesTo(
      convs,
      frontier.map(() => 1),
      { temperature: 0, maxTokens: o.maxTokens ?? 96, onStep: () => tokens++ },
    );
    // sampled proposals: reply j of state i is replies[frontier.length * (1 + j) + i], parented by frontier[i]
    const extra = o.proposalSamples ?? 0;
    if (extra > 0) {
      const seeds = Array.from({ length: extra * frontier.length }, (_, x) => (o.seed ?? 1) + 1000 * depth + x);
      replies.push(...engine.repliesTo(Array.from({ length: extra }, () => convs).flat(), seeds, { temperature: o.proposalTemperature ?? 0.7, maxTokens: o.maxTokens ?? 96, onStep: () => tokens++ }));
    }
    const children: TotNode[] = [];
    const parentOf: number[][] = [];
    const seen = new Set<string>();
    const rejected: string[] = [];
    replies.forEach((r, x) => {
      const parent = frontier[x % frontier.length];
      let taken = 0;
      for (const line of r.text.split('\n')) {
        if (taken >= proposals) break;
        const s = o.toolResults ? parseOperation(line, parent.nums) : parseStep(line, parent.nums);
        if (!s) {
          if (line.trim() !== '' && rejected.length < 8) rejected.push(line.trim());
          continue;
        }
        taken++;
        // the same numbers left by two routes are one state for the search
        const key = s.left.join(' ');
        if (seen.has(key)) continue;
        seen.add(key);
        children.push({ nums: s.left, steps: [...parent.steps, s], value: 0, judgement: 'impossible' });
        parentOf.push(parent.nums);
      }
    });
    const values = o.value
      ? o.value(
          children.map((c) => c.nums),
          children.map((c, i) => ({ parent: parentOf[i], step: c.steps[c.steps.length - 1] })),
        )
      : valueStates(
          engine,
          children.map((c) => c.nums),
        );
    if (!o.value) tokens += children.length;
    children.forEach((c, i) => {
      c.value = values[i];
      c.judgement = judge(values[i]);
    });
    const kept = children
      .filter((c) => c.judgement !== 'impossible')
      .sort((x, y) => y.value - x.value)
      .slice(0, breadth);
    levels.push({ candidates: children, kept, ...(rejected.length > 0 ? { rejected } : {}) });
    frontier = kept;
    if (frontier.length === 0) break;
  }
  const best = frontier.length > 0 && frontier[0].nums.length === 1 ? frontier[0] : null;
  return { start: [...start], levels, best, solved: best !== null && best.nums[0] === TARGET, tokens, ms: performance.now() - t0 };
}

/** The trace as text: each level's candidates with their judgements, kept ones marked, then the path. */
export function formatTot(t: TotTrace): string {
  const lines = [`start: ${t.start.join(' ')}`];
  t.levels.forEach((l, d) => {
    lines.push(`── level ${d + 1}: ${l.candidates.length} thoughts, ${l.kept.length} kept`);
    for (const r of l.rejected ?? []) lines.push(`  ✗ ${r}  (not a valid step from this state)`);
    for (const c of [...l.candidates].sort((x, y) => y.value - x.value)) {
      const s = c.steps[c.steps.length - 1];
      lines.push(`${l.kept.includes(c) ? '*' : ' '} ${s.a}${s.op}${s.b}=${s.c} (left: ${c.nums.join(' ')})  ${c.judgement} ${c.value.toFixed(2)}`);
    }
  });
  lines.push(t.best ? `path: ${t.best.steps.map((s) => `${s.a}${s.op}${s.b}=${s.c}`).join(', ')} → ${t.solved ? 'solved' : 'not 24'}` : 'path: every branch pruned', `(${t.tokens} tokens, ${(t.ms / 1000).toFixed(2)} s)`);
  return lines.join('\n');
}
