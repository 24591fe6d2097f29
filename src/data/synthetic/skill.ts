import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import type { Message } from '../conversation.js';
import { longResult, parseLong, scratchpad, THINK_TRIGGER } from './longarith.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';
import { fnv1a, splitOf } from './tasks.js';

/**
 * "Ask for success": a model imitates its training data at every quality level, so a prompt
 * that says which level to imitate changes what it writes. Demonstrations of direct addition
 * (2–4 digits) written by writers of three skill levels, the level stated in the system
 * prompt; the error is the classic one, a forgotten carry, which a novice makes on most
 * problems that have one and an expert never makes. Prompts with no system message draw from
 * a crowd that is mostly not expert (`UNSTATED_ERROR_RATE`), as text on the internet does.
 *
 * At test, the same held-out problems are asked with the expert prompt, no prompt, the
 * novice prompt and a level outside the training distribution (`OUT_OF_DISTRIBUTION`, the
 * talk's "IQ 400" caution).
 *
 * Variant `{ mode: 'cot' }`: the same writers answer "… Let's think step by step." with the
 * long-addition scratchpad (longarith.ts), the forgetful ones writing every carry as 0 — for a
 * model that adds only step by step (at our scale, direct addition is not learned; see
 * docs/techniques.md), the level can then still show.
 */
export type SkillLevel = 'novice' | 'intermediate' | 'expert';

export const SKILL_PROMPTS: Record<SkillLevel, readonly string[]> = {
  novice: ['You are a beginner at arithmetic who often forgets to carry.', 'You are a careless student who rushes through sums.', 'You are new to arithmetic and make many mistakes.'],
  intermediate: ['You are a student who is fairly good at arithmetic.', 'You are an average adult doing sums in your head.', 'You are a reasonably careful student.'],
  expert: ['You are a leading expert on arithmetic.', 'You are a world-class mathematician who never makes mistakes.', 'You are an expert accountant; your sums are always right.'],
};

/** How often each level forgets a carry (per problem that has one). */
export const SKILL_ERROR_RATE: Record<SkillLevel, number> = { novice: 0.9, intermediate: 0.4, expert: 0 };
/** Demonstrations with no system prompt: the level is unstated and the crowd is mostly not expert. */
export const UNSTATED_ERROR_RATE = 0.6;
/** A level stated in no training example. */
export const OUT_OF_DISTRIBUTION = 'You are a superhuman genius with an IQ of 400 who has never made a mistake.';

/** a + b with every carry dropped (each column's sum mod 10): the novice's answer. */
export function forgetCarries(a: string, b: string): string {
  const n = Math.max(a.length, b.length);
  const x = a.padStart(n, '0');
  const y = b.padStart(n, '0');
  let out = '';
  for (let i = 0; i < n; i++) out += String((Number(x[i]) + Number(y[i])) % 10);
  return out.replace(/^0+(?=\d)/, '');
}

const PROMPTS = ['What is {a} plus {b}?', 'Add {a} and {b}.', '{a} + {b} = ?', 'Compute {a} + {b}.'];

function draw(rng: Rng, d: number): string {
  let s = String(1 + rng.int(9));
  for (let i = 1; i < d; i++) s += String(rng.int(10));
  return s;
}

/**
 * Ask-for-success demonstrations (see the module comment). Variant: { minDigits, maxDigits }
 * (default 2–4), { mode: 'direct' | 'cot' } (default direct), { unstatedShare } (default 0.25:
 * the share of demonstrations with no system prompt, written by the unstated crowd).
 */
export const skillLevels: SyntheticTask = {
  name: 'skill-levels',
  description: 'Direct addition written by a novice, an intermediate or an expert, the level stated in the system prompt (ask for success).',
  usesTool: false,
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
    if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "skill-levels": example count must be a non-negative integer, got ${n}`);
    const lo = (opts?.variant?.minDigits as number | undefined) ?? 2;
    const hi = (opts?.variant?.maxDigits as number | undefined) ?? 4;
    const mode = opts?.variant?.mode ?? 'direct';
    if (mode !== 'direct' && mode !== 'cot') throw new GptforgeError(`skill-levels variant: mode must be "direct" or "cot", got ${JSON.stringify(mode)}`, { field: 'variant' });
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && lo <= hi && hi <= 12)) throw new GptforgeError('skill-levels variant: minDigits and maxDigits must be integers with 1 ≤ minDigits ≤ maxDigits ≤ 12', { field: 'variant' });
    const unstated = (opts?.variant?.unstatedShare as number | undefined) ?? 0.25;
    if (!(typeof unstated === 'number' && unstated >= 0 && unstated <= 1)) throw new GptforgeError(`skill-levels variant: unstatedShare must be a number in [0, 1], got ${JSON.stringify(unstated)}`, { field: 'variant' });
    const rng = new Rng((seed ^ fnv1a('skill-levels')) >>> 0);
    const out: TaskExample[] = [];
    while (out.length < n) {
      const a = draw(rng, lo + rng.int(hi - lo + 1));
      const b = draw(rng, lo + rng.int(hi - lo + 1));
      if (splitOf(`${a}+${b}`) !== split) continue;
      const stated = rng.random() < 1 - unstated;
      const level: SkillLevel = (['novice', 'intermediate', 'expert'] as const)[rng.int(3)];
      const rate = stated ? SKILL_ERROR_RATE[level] : UNSTATED_ERROR_RATE;
      const right = longResult(a, '+', b);
      const forgets = rng.random() < rate;
      const answer = forgets ? forgetCarries(a, b) : right;
      const prompt = PROMPTS[rng.int(PROMPTS.length)].replace('{a}', a).replace('{b}', b) + (mode === 'cot' ? ` ${THINK_TRIGGER}` : '');
      const messages: Message[] = [];
      if (stated) messages.push({ role: 'system', content: SKILL_PROMPTS[level][rng.int(SKILL_PROMPTS[level].length)] });
      messages.push({ role: 'user', content: prompt }, { role: 'assistant', content: mode === 'cot' ? scratchpad(a, '+', b, { forgetCarries: forgets }) : `${a} + ${b} = ${answer}.` });
      out.push({ prompt, conversation: { messages } });
    }
    return out;
  },
  /** The reply's last number is the exact sum. */
  check(prompt: string, answer: string): boolean {
    const p = parseLong(prompt);
    const nums = answer.match(/\d+/g);
    return p !== undefined && nums !== null && nums[nums.length - 1] === longResult(p.a, '+', p.b);
  },
};
