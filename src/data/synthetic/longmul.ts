import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import { finalNumber, longResult, parseLong, scratchpad, THINK_TRIGGER } from './longarith.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';
import { fnv1a, splitOf } from './tasks.js';
import { example } from './text.js';

/**
 * Multi-digit × multi-digit multiplication without the calculator, answered directly or as a
 * scratchpad of partial products (the school method; Nye et al. 2021's scratchpads), after
 * "Let's think step by step." as in longarith.ts. The scratchpad is built from longarith's two
 * passes, so a model that knows them has only the bookkeeping to learn:
 *
 *   456*78              the problem
 *   456*8               one pass per multiplier digit, last digit first (longarith's one-digit pass)
 *   45|6*8+0=48|8
 *   4|5*8+4=44|48
 *   |4*8+4=36|648
 *   =3648               the partial product, shifted by the digit's place (0 zeros here)
 *   456*7
 *   45|6*7+0=42|2
 *   4|5*7+4=39|92
 *   |4*7+3=31|192
 *   =31920              3192 shifted one place
 *   3648+31920          the running sum plus the next partial product (longarith's addition pass)
 *   364+3192|8+0+0=8|8
 *   36+319|4+2+0=6|68
 *   3+31|6+9+0=15|568
 *   +3|3+1+1=5|5568
 *   +|0+3+0=3|35568
 *   Answer: 35568
 *
 * With a multiplier of m digits there are m passes and m − 1 sums. At most (all nines) the
 * scratchpad is 165 characters for 2 × 2 digits, 229 for 3 × 2, 300 for 4 × 2, 422 for 3 × 3 and
 * 546 for 4 × 3 — a character is at most one token of a byte-level BPE — so the default (2–3 × 2
 * digits) fits the techniques model's 384-token context with its prompt and 3 × 3 does not
 * (`test/assist/longmul.test.ts`).
 */
export interface LongMulVariant {
  /** Multiplicand digits (default 2–3). */
  minDigits: number;
  maxDigits: number;
  /** Multiplier digits (default 2–2). */
  minMultiplierDigits: number;
  maxMultiplierDigits: number;
  /** 'both' (default: half the prompts carry the trigger), 'cot' or 'direct'. */
  mode: 'both' | 'cot' | 'direct';
}

const PROMPTS = ['What is {a} times {b}?', 'Multiply {a} by {b}.', '{a} × {b} = ?', 'Compute {a} * {b}.', 'What is the product of {a} and {b}?'];

function variantOf(v: Record<string, unknown> | undefined): LongMulVariant {
  const get = (k: string, d: number): unknown => v?.[k] ?? d;
  const [minDigits, maxDigits, minMultiplierDigits, maxMultiplierDigits] = [get('minDigits', 2), get('maxDigits', 3), get('minMultiplierDigits', 2), get('maxMultiplierDigits', 2)];
  const mode = v?.mode ?? 'both';
  const ok = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 1 && (d as number) <= 8;
  if (!ok(minDigits) || !ok(maxDigits) || minDigits > maxDigits || !ok(minMultiplierDigits) || !ok(maxMultiplierDigits) || minMultiplierDigits > maxMultiplierDigits)
    throw new GptforgeError('long-multiplication-multi variant: minDigits ≤ maxDigits and minMultiplierDigits ≤ maxMultiplierDigits must be integers in 1–8', { field: 'variant' });
  if (mode !== 'both' && mode !== 'cot' && mode !== 'direct') throw new GptforgeError(`long-multiplication-multi variant: mode must be "both", "cot" or "direct", got ${JSON.stringify(mode)}`, { field: 'variant' });
  return { minDigits, maxDigits, minMultiplierDigits, maxMultiplierDigits, mode };
}

/** The lines of a longarith scratchpad between its first line and its "Answer:" line. */
const steps = (pad: string): string[] => pad.split('\n').slice(1, -1);

/**
 * The partial-products scratchpad for a × b (see the module comment), ending with "Answer: r".
 * @throws GptforgeError when an operand is not a digit string.
 */
export function partialProducts(a: string, b: string): string {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) throw new GptforgeError(`partialProducts: operands must be digit strings, got "${a}" and "${b}"`);
  const lines = [`${a}*${b}`];
  const partials: string[] = [];
  for (let i = 0; i < b.length; i++) {
    const d = b[b.length - 1 - i];
    lines.push(`${a}*${d}`, ...steps(scratchpad(a, '*', d)));
    const p = longResult(a, '*', d);
    const shifted = p === '0' ? '0' : p + '0'.repeat(i);
    lines.push(`=${shifted}`);
    partials.push(shifted);
  }
  let acc = partials[0];
  for (let i = 1; i < partials.length; i++) {
    lines.push(`${acc}+${partials[i]}`, ...steps(scratchpad(acc, '+', partials[i])));
    acc = longResult(acc, '+', partials[i]);
    if (i < partials.length - 1) lines.push(`=${acc}`);
  }
  lines.push(`Answer: ${acc}`);
  return lines.join('\n');
}

/** A number with exactly d digits (no leading zero). */
function number(rng: Rng, d: number): string {
  let s = String(1 + rng.int(9));
  for (let i = 1; i < d; i++) s += String(rng.int(10));
  return s;
}

/** Multi-digit × multi-digit multiplication: direct, or partial products after the trigger. Not trained in models A–D (docs/techniques.md). */
export const longMultiplicationMulti: SyntheticTask = {
  name: 'long-multiplication-multi',
  description: 'Multiply two multi-digit numbers without the calculator: directly, or as partial products and their sum after "Let\'s think step by step."',
  usesTool: false,
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
    if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "long-multiplication-multi": example count must be a non-negative integer, got ${n}`);
    const v = variantOf(opts?.variant);
    const rng = new Rng((seed ^ fnv1a('long-multiplication-multi')) >>> 0);
    const out: TaskExample[] = [];
    for (let tries = 0; out.length < n; tries++) {
      if (tries > 1000 * (n + 10)) throw new GptforgeError(`task "long-multiplication-multi": cannot draw ${n} ${split} items`);
      const a = number(rng, v.minDigits + rng.int(v.maxDigits - v.minDigits + 1));
      const b = number(rng, v.minMultiplierDigits + rng.int(v.maxMultiplierDigits - v.minMultiplierDigits + 1));
      if (splitOf(`${a}*${b}`) !== split) continue;
      const cot = v.mode === 'cot' || (v.mode === 'both' && rng.random() < 0.5);
      const prompt = PROMPTS[rng.int(PROMPTS.length)].replace('{a}', a).replace('{b}', b) + (cot ? ` ${THINK_TRIGGER}` : '');
      out.push(example(prompt, [{ role: 'assistant', content: cot ? partialProducts(a, b) : `${a} × ${b} = ${longResult(a, '*', b)}.` }]));
    }
    return out;
  },
  /** The reply's final number (after the last "Answer:", else its last number) is the exact product. */
  check(prompt: string, answer: string): boolean {
    const p = parseLong(prompt);
    const got = finalNumber(answer);
    return p !== undefined && got !== undefined && /^\d+$/.test(got) && BigInt(got) === BigInt(longResult(p.a, '*', p.b));
  },
};
