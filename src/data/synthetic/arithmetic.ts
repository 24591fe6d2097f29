import type { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import { familyRng, splitOf } from './split.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';
import { capitalize, checkCount, example, fill, matchTemplates, pick } from './text.js';

/** The arithmetic family: add, subtract, multiply or divide with the calculator tool. */

type Op = '+' | '-' | '*' | '/';
const OPS: readonly Op[] = ['+', '-', '*', '/'];

const ARITHMETIC_PROMPTS: Record<Op, readonly string[]> = {
  '+': ['What is {a} plus {b}?', "What's {a} + {b}?", 'Compute {a} + {b}.', '{a} + {b} = ?', 'Add {a} and {b}.', 'What is the sum of {a} and {b}?', 'How much is {a} plus {b}?', 'Calculate {a}+{b}.'],
  '-': ['What is {a} minus {b}?', 'Compute {a} - {b}.', '{a} − {b} = ?', 'Subtract {b} from {a}.', "What's {a} take away {b}?", 'How much is {a} minus {b}?', 'What is the difference of {a} and {b}?', 'Calculate {a}-{b}.'],
  '*': ['What is {a} times {b}?', 'Compute {a} * {b}.', '{a} × {b} = ?', 'Multiply {a} by {b}.', 'What is the product of {a} and {b}?', 'How much is {a} multiplied by {b}?', "What's {a} x {b}?", 'Calculate {a}*{b}.'],
  '/': ['What is {a} divided by {b}?', 'Compute {a} / {b}.', '{a} ÷ {b} = ?', 'Divide {a} by {b}.', 'How much is {a} divided by {b}?', 'What do you get when you divide {a} by {b}?', "What's {a} over {b}?", 'Calculate {a}/{b}.'],
};

const OP_SYMBOL: Record<Op, string> = { '+': '+', '-': '−', '*': '×', '/': '÷' };
const OP_WORDS: Record<Op, string> = { '+': 'plus', '-': 'minus', '*': 'times', '/': 'divided by' };

interface ArithmeticVariant {
  ops: readonly Op[];
  minDigits: number;
  maxDigits: number;
}

interface Problem {
  a: number;
  op: Op;
  b: number;
}

/** Exact for every operand size allowed (≤ 7 digits: products stay below 2^53); division is exact by construction. */
function solve({ a, op, b }: Problem): number {
  if (op === '+') return a + b;
  if (op === '-') return a - b;
  if (op === '*') return a * b;
  return a / b;
}

function arithmeticVariant(v: Record<string, unknown> | undefined): ArithmeticVariant {
  const bad = (what: string): never => {
    throw new GptforgeError(`arithmetic variant: ${what}`, { field: 'variant' });
  };
  const ops = v?.ops ?? OPS;
  if (!Array.isArray(ops) || ops.length === 0 || !ops.every((o): o is Op => OPS.includes(o as Op))) bad(`ops must be a non-empty list of ${OPS.join(' ')}`);
  const minDigits = v?.minDigits ?? 2;
  const maxDigits = v?.maxDigits ?? 4;
  const digitsOk = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 1 && (d as number) <= 7;
  if (!digitsOk(minDigits) || !digitsOk(maxDigits) || minDigits > maxDigits) bad('minDigits and maxDigits must be integers with 1 ≤ minDigits ≤ maxDigits ≤ 7');
  return { ops: ops as Op[], minDigits: minDigits as number, maxDigits: maxDigits as number };
}

/** A uniform number with a uniform digit count, so small and large operands are equally common. */
function operand(rng: Rng, minDigits: number, maxDigits: number): number {
  const d = minDigits + rng.int(maxDigits - minDigits + 1);
  const lo = d === 1 ? 1 : 10 ** (d - 1);
  return lo + rng.int(10 ** d - lo);
}

/** Division is generated as (divisor × quotient) ÷ divisor, with both shown operands in the digit range. */
function drawProblem(rng: Rng, v: ArithmeticVariant): Problem {
  for (;;) {
    const op = pick(rng, v.ops);
    if (op !== '/') return { a: operand(rng, v.minDigits, v.maxDigits), op, b: operand(rng, v.minDigits, v.maxDigits) };
    const b = operand(rng, v.minDigits, v.maxDigits);
    const lo = Math.max(2, Math.ceil(10 ** (v.minDigits - 1) / b));
    const hi = Math.floor((10 ** v.maxDigits - 1) / b);
    if (b >= 2 && lo <= hi) return { a: b * (lo + rng.int(hi - lo + 1)), op, b };
  }
}

/** The problem in a prompt: any generated phrasing, else a bare "a op b". */
function parseProblem(prompt: string): Problem | undefined {
  const num = (s: string): number => Number(s.replace(/,/g, ''));
  for (const op of OPS) {
    const m = matchTemplates(ARITHMETIC_PROMPTS[op], prompt);
    if (m) return { a: num(m.slots.a), op, b: num(m.slots.b) };
  }
  // else "a op b" anywhere, the operator as a symbol or a word ("calc 12 plus 3?": reflect.ts reads questions this way)
  const bare = /(\d[\d,]*)\s*([-+*/×÷x−]|plus|minus|times|multiplied by|divided by)\s*(\d[\d,]*)/i.exec(prompt);
  if (!bare) return undefined;
  const op = ({ '×': '*', x: '*', '÷': '/', '−': '-', plus: '+', minus: '-', times: '*', 'multiplied by': '*', 'divided by': '/' } as Record<string, Op>)[bare[2].toLowerCase()] ?? (bare[2] as Op);
  return { a: num(bare[1]), op, b: num(bare[3]) };
}

/** The last number in the text (commas allowed, either minus sign); undefined when none. */
function lastNumber(text: string): number | undefined {
  const all = text.match(/[-−]?\d[\d,]*(?:\.\d+)?/g);
  if (!all) return undefined;
  return Number(all[all.length - 1].replace(/,/g, '').replace('−', '-'));
}

const LEAD_INS = ['Let me calculate that. ', "I'll use the calculator. ", 'Let me work that out. '];

export const arithmetic: SyntheticTask = {
  name: 'arithmetic',
  description: 'Add, subtract, multiply or divide 2–4 digit integers with the calculator tool.',
  usesTool: true,
  prompts: OPS.flatMap((op) => ARITHMETIC_PROMPTS[op]),
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
    checkCount(n, 'arithmetic');
    const variant = arithmeticVariant(opts?.variant);
    const rng = familyRng('arithmetic', seed);
    const out: TaskExample[] = [];
    while (out.length < n) {
      const p = drawProblem(rng, variant);
      // the item is the problem as the calculator sees it; resample until it lands in this split
      const input = `${p.a}${p.op}${p.b}`;
      if (splitOf(input) !== split) continue;
      const result = solve(p);
      const vars = { a: String(p.a), b: String(p.b), sym: OP_SYMBOL[p.op], word: OP_WORDS[p.op], r: String(result) };
      const prompt = capitalize(fill(pick(rng, ARITHMETIC_PROMPTS[p.op]), vars));
      const lead = rng.random() < 0.2 ? pick(rng, LEAD_INS) : '';
      // Half the replies restate the problem: copying the operands once more is extra practice
      // at the skill the whole family rests on (a small model learns copying slowly).
      const final = fill(pick(rng, ['{a} {sym} {b} = {r}.', '{a} {word} {b} is {r}.', 'The answer is {r}.', 'That comes to {r}.', 'It is {r}.', '{a} {sym} {b} is {r}.']), vars);
      out.push(
        example(prompt, [
          { role: 'assistant', content: lead, tool_call: { name: 'calculator', input } },
          { role: 'tool', content: String(result) },
          { role: 'assistant', content: final },
        ]),
      );
    }
    return out;
  },
  /** Rule: the prompt's problem parses (every generated phrasing does) and the answer's LAST number equals the exact result. */
  check(prompt: string, answer: string): boolean {
    const p = parseProblem(prompt);
    return p !== undefined && lastNumber(answer) === solve(p);
  },
  /** The problem as the calculator sees it, "345*67". */
  item(prompt: string): string | undefined {
    const p = parseProblem(prompt);
    return p && `${p.a}${p.op}${p.b}`;
  },
};
