import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';
import { fnv1a, splitOf } from './tasks.js';
import { example } from './text.js';

/**
 * The game of 24 (Countdown with four numbers; Yao et al. 2023's tree-of-thoughts task):
 * reach 24 from four numbers 1–13 with + − × ÷, each number used once. One thought is one
 * operation on two of the numbers left, "13-9=4 (left: 4 4 10)". Intermediate results are
 * whole numbers here (÷ only when exact, − only when not negative), which keeps every state
 * a short list of integers.
 *
 * The family teaches three things a tree search needs, each its own conversation:
 * - `propose`: "Numbers: 4 9 10 13. Possible next steps?" → up to six valid steps, one per line
 *   (in random order: the proposer is not told which steps lead anywhere);
 * - `value`: "Numbers: 4 4 10. Can they still reach 24?" → "sure" or "impossible" (exact,
 *   from the solver); the tree search reads the model's probability of "sure" and calls the
 *   uncertain middle "likely";
 * - `solve`: "Use 4 9 10 13 to make 24. Let's think step by step." → three steps that reach 24
 *   (a solution the solver found), the single-path chain of thought.
 *
 * Items (the sorted four numbers) are split train/test by tasks.ts's hash; only solvable
 * puzzles are asked to be solved.
 */
export type CountdownOp = '+' | '-' | '*' | '/';
export const TARGET = 24;

/** One step: a op b = c, and the numbers left after it (sorted). */
export interface Step {
  a: number;
  op: CountdownOp;
  b: number;
  c: number;
  left: number[];
}

const sorted = (xs: readonly number[]): number[] => [...xs].sort((x, y) => x - y);

/** Every valid step from `nums` (whole-number results; a ≥ b for − and ÷; duplicates of the same step once). */
export function steps(nums: readonly number[]): Step[] {
  const out: Step[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < nums.length; i++)
    for (let j = 0; j < nums.length; j++) {
      if (i === j) continue;
      const a = nums[i];
      const b = nums[j];
      const rest = nums.filter((_, k) => k !== i && k !== j);
      const cands: Array<[CountdownOp, number | null]> = [
        ['+', i < j ? a + b : null],
        ['*', i < j ? a * b : null],
        ['-', a >= b ? a - b : null],
        ['/', b !== 0 && a % b === 0 && a >= b ? a / b : null],
      ];
      for (const [op, c] of cands) {
        if (c === null) continue;
        const left = sorted([...rest, c]);
        const key = `${a}${op}${b}=${c}|${left.join(' ')}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ a, op, b, c, left });
      }
    }
  return out;
}

const solvable = new Map<string, Step[] | null>();

/** A path of steps from `nums` to exactly [24], or null (memoised on the sorted numbers). */
export function solve(nums: readonly number[]): Step[] | null {
  const key = sorted(nums).join(' ');
  if (solvable.has(key)) return solvable.get(key)!;
  let path: Step[] | null = null;
  if (nums.length === 1) path = nums[0] === TARGET ? [] : null;
  else
    for (const s of steps(nums)) {
      const rest = solve(s.left);
      if (rest) {
        path = [s, ...rest];
        break;
      }
    }
  solvable.set(key, path);
  return path;
}

export const stepText = (s: Step): string => `${s.a}${s.op}${s.b}=${s.c} (left: ${s.left.join(' ')})`;

/** Parse one thought line "a op b = c (left: …)"; null when it does not parse or is not a valid step from `nums`. */
export function parseStep(line: string, nums: readonly number[]): Step | null {
  const m = /(\d+)\s*([-+*/×÷−])\s*(\d+)\s*=\s*(\d+)/.exec(line);
  if (!m) return null;
  const op = ({ '×': '*', '÷': '/', '−': '-' } as Record<string, CountdownOp>)[m[2]] ?? (m[2] as CountdownOp);
  const [a, b, c] = [Number(m[1]), Number(m[3]), Number(m[4])];
  const want = steps(nums).find((s) => s.op === op && s.c === c && ((s.a === a && s.b === b) || ((op === '+' || op === '*') && s.a === b && s.b === a)));
  return want ?? null;
}

/**
 * The operation a line proposes, its result computed here rather than read: "4*13=49" from
 * 4 9 10 13 is 4*13=52 (left 9 10 52). Null when the operands are not numbers of the state or
 * the operation is not a step of the game (a fraction, a negative). Tree of thoughts'
 * calculator-checked thoughts: the model picks the operation, the tool does the arithmetic.
 */
export function parseOperation(line: string, nums: readonly number[]): Step | null {
  const m = /(\d+)\s*([-+*/×÷−])\s*(\d+)/.exec(line);
  if (!m) return null;
  const op = ({ '×': '*', '÷': '/', '−': '-' } as Record<string, CountdownOp>)[m[2]] ?? (m[2] as CountdownOp);
  const [a, b] = [Number(m[1]), Number(m[3])];
  return steps(nums).find((s) => s.op === op && ((s.a === a && s.b === b) || ((op === '+' || op === '*') && s.a === b && s.b === a))) ?? null;
}

/** Does `text` (one step per line) take `nums` to 24 by valid steps? The checker of `solve` and of a tree search's path. */
export function reaches24(nums: readonly number[], text: string): boolean {
  let cur = sorted(nums);
  for (const line of text.split('\n')) {
    if (cur.length === 1) break;
    if (!/\d\s*[-+*/×÷−]\s*\d/.test(line)) continue;
    const s = parseStep(line, cur);
    if (!s) return false;
    cur = s.left;
  }
  return cur.length === 1 && cur[0] === TARGET;
}

export const proposePrompt = (nums: readonly number[]): string => `Numbers: ${nums.join(' ')}. Possible next steps?`;
export const valuePrompt = (nums: readonly number[]): string => `Numbers: ${nums.join(' ')}. Can they still reach 24?`;
export const solvePrompt = (nums: readonly number[]): string => `Use ${nums.join(' ')} to make 24. Let's think step by step.`;

/** The four numbers of any of the three prompts. */
export function numbersOf(prompt: string): number[] | undefined {
  const m = /(?:Numbers:|Use)\s+([\d ]+?)(?:\.| to make)/.exec(prompt);
  return m ? m[1].trim().split(/\s+/).map(Number) : undefined;
}

function draw(rng: Rng): number[] {
  return sorted(Array.from({ length: 4 }, () => 1 + rng.int(13)));
}

/** A state one or two steps into a puzzle (2–3 numbers), reached by random valid steps. */
function midState(rng: Rng, nums: number[]): number[] {
  let cur = nums;
  const depth = 1 + rng.int(3);
  for (let d = 0; d < depth && cur.length > 1; d++) {
    const s = steps(cur);
    cur = s[rng.int(s.length)].left;
  }
  return cur;
}

/**
 * The game-of-24 family (see the module comment). Variant { kind: 'propose' | 'value' | 'solve' }
 * fixes the conversation kind (default: propose 35%, value 40%, solve 25%).
 */
export const countdown: SyntheticTask = {
  name: 'countdown',
  description: 'The game of 24: propose next steps, judge whether numbers can still reach 24, or solve step by step.',
  usesTool: false,
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
    if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "countdown": example count must be a non-negative integer, got ${n}`);
    const kind = opts?.variant?.kind as string | undefined;
    if (kind !== undefined && !['propose', 'value', 'solve'].includes(kind)) throw new GptforgeError('countdown variant: kind must be propose, value or solve', { field: 'variant' });
    const rng = new Rng((seed ^ fnv1a('countdown')) >>> 0);
    const out: TaskExample[] = [];
    while (out.length < n) {
      const nums = draw(rng);
      if (splitOf(`24:${nums.join(' ')}`) !== split) continue;
      const r = rng.random();
      const k = kind ?? (r < 0.35 ? 'propose' : r < 0.75 ? 'value' : 'solve');
      let prompt: string;
      let answer: string;
      if (k === 'propose') {
        const state = rng.random() < 0.5 ? nums : midState(rng, nums);
        if (state.length < 2) continue;
        const all = steps(state);
        for (let i = all.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          [all[i], all[j]] = [all[j], all[i]];
        }
        prompt = proposePrompt(state);
        answer = all.slice(0, 6).map(stepText).join('\n');
      } else if (k === 'value') {
        // half the states from solvable puzzles, so "sure" is not rare
        const state = rng.random() < 0.3 ? nums : midState(rng, nums);
        prompt = valuePrompt(state);
        answer = solve(state) ? 'sure' : 'impossible';
      } else {
        const path = solve(nums);
        if (!path) continue;
        prompt = solvePrompt(nums);
        answer = path.map(stepText).join('\n');
      }
      out.push(example(prompt, [{ role: 'assistant', content: answer }]));
    }
    return out;
  },
  /** solve: the steps reach 24; value: the right verdict; propose: every line a valid step. */
  check(prompt: string, answer: string): boolean {
    const nums = numbersOf(prompt);
    if (!nums) return false;
    if (prompt.includes('Possible next steps')) {
      const lines = answer.split('\n').filter((l) => l.trim());
      return lines.length > 0 && lines.every((l) => parseStep(l, nums) !== null);
    }
    if (prompt.includes('still reach'))
      return answer
        .trim()
        .toLowerCase()
        .startsWith(solve(nums) ? 'sure' : 'impossible');
    return reaches24(nums, answer);
  },
};
