import { GptforgeError } from '../../util/errors.js';
import { drawLongAdditions } from './longadd-hints.js';
import { checkLongResult, longResult } from './longarith.js';
import type { GenerateOptions, Split, SyntheticTask, TaskExample } from './task.js';

/**
 * Long addition with a scratchpad for a model with abacus embeddings (src/model/abacus.ts):
 * the length-generalisation attempt of docs/techniques.md's "Abacus embeddings". The question
 * is the same natural question as long-addition's; the step-by-step reply is
 *
 *   What is 4567 plus 891? Let's think step by step.
 *   Carry:0011           the carry into each column, units first (column 1's is 0), and a
 *                        last 1 only when the sum has a digit more than the longer operand
 *   Answer: 5458         the sum, most significant first
 *
 * Under the abacus ids every digit's id is its column (significance): the prompt's operands
 * are indexed from their ends, the carry run from its start, and the answer (after
 * "Answer: ") counts down from the carry run's length — which is the answer's length. So
 * every step reads "the digits whose id is k", never a position:
 *
 * - carry k+1 (fed carry k, id k) = [sum of the digits with id k so far ≥ 10] — the two
 *   operand digits of column k and carry k itself;
 * - answer digit k (fed the answer digit of column k+1, or the space) = (sum of the digits
 *   with id k) mod 10 — the operand digits and the carry of column k, the only digits with
 *   that id;
 * - the carry run stops when no operand digit has the next id (and the last carry is 0).
 *
 * A sum over "every digit with id k" does not need to tell the operands apart (addition is
 * symmetric), so no step has to know which number of the question a digit belongs to.
 * Items are split train/test by tasks.ts's hash of "a+b", the same split as long-addition's
 * and long-addition-hints'.
 */

/** The carry line's digits for a + b: the carry into each column from the units (the first is 0), and a final 1 only if the sum is longer than the longer operand. */
export function abacusCarries(a: string, b: string): string {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) throw new GptforgeError(`abacusCarries: operands must be digit strings, got "${a}" and "${b}"`);
  const m = Math.max(a.length, b.length);
  let carry = 0;
  let out = '';
  for (let k = 0; k < m; k++) {
    out += String(carry);
    const x = k < a.length ? Number(a[a.length - 1 - k]) : 0;
    const y = k < b.length ? Number(b[b.length - 1 - k]) : 0;
    carry = x + y + carry >= 10 ? 1 : 0;
  }
  return carry ? `${out}1` : out;
}

/** The step-by-step reply for a + b (see the module comment). */
export function abacusScratchpad(a: string, b: string): string {
  return `Carry:${abacusCarries(a, b)}\nAnswer: ${longResult(a, '+', b)}`;
}

/**
 * The per-column Sum-line scratchpad for a + b (model AB3; the ids: abacusItemIds in
 * src/model/abacus.ts): item k, units first, is `x+y+c=TD` — column k's digit of a, of b (0
 * when the operand has none), the carry in (T of the item before; 0 for the first), their sum
 * as two digits — with a last item `0+0+1=01` when the sum is longer than both operands; every
 * item ends with ',', then the line ends and `Answer:` writes the D digits most significant first.
 *
 *   Sum:7+1+0=08,6+9+0=15,5+8+1=14,4+0+1=05, \nAnswer: 5458
 */
export function abacusSumScratchpad(a: string, b: string, marker = 'Sum:'): string {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) throw new GptforgeError(`abacusSumScratchpad: operands must be digit strings, got "${a}" and "${b}"`);
  return `${marker}${abacusSumItems(a, b)
    .map((it) => `${it.x}+${it.y}+${it.c}=${it.t}${it.d},`)
    .join('')} \nAnswer: ${longResult(a, '+', b)}`;
}

/** The Sum line's items for a + b, units first (see abacusSumScratchpad). */
export function abacusSumItems(a: string, b: string): Array<{ x: number; y: number; c: number; t: number; d: number }> {
  const m = Math.max(a.length, b.length);
  const out: Array<{ x: number; y: number; c: number; t: number; d: number }> = [];
  let c = 0;
  for (let k = 0; k < m || c > 0; k++) {
    const x = k < a.length ? Number(a[a.length - 1 - k]) : 0;
    const y = k < b.length ? Number(b[b.length - 1 - k]) : 0;
    const s = x + y + c;
    out.push({ x, y, c, t: s >= 10 ? 1 : 0, d: s % 10 });
    c = s >= 10 ? 1 : 0;
  }
  return out;
}

/**
 * Where a Sum-line reply first departs from abacusSumScratchpad(a, b): the item (column, 1 =
 * units) and its field ('x', 'y', 'c', 'sum' for T and D, 'count' for an item too many or too
 * few), 'answer' with the first wrong digit's column, 'format', or 'none'.
 */
export function abacusSumFirstWrong(reply: string, a: string, b: string): { step: 'x' | 'y' | 'c' | 'sum' | 'count' | 'answer' | 'format' | 'none'; column?: number } {
  const line = /Sum[:,]([^\n]*)/.exec(reply)?.[1];
  const answer = /Answer: *(\d*)/.exec(reply)?.[1];
  if (line === undefined || answer === undefined) return { step: 'format' };
  const got = line.split(',').filter((s) => s.trim() !== '');
  const want = abacusSumItems(a, b);
  for (let k = 0; k < Math.max(got.length, want.length); k++) {
    if (k >= got.length || k >= want.length) return { step: 'count', column: k + 1 };
    const g = /^(\d)\+(\d)\+(\d)=(\d\d)$/.exec(got[k]);
    const w = want[k];
    if (!g) return { step: 'format', column: k + 1 };
    if (Number(g[1]) !== w.x) return { step: 'x', column: k + 1 };
    if (Number(g[2]) !== w.y) return { step: 'y', column: k + 1 };
    if (Number(g[3]) !== w.c) return { step: 'c', column: k + 1 };
    if (g[4] !== `${w.t}${w.d}`) return { step: 'sum', column: k + 1 };
  }
  const wantA = longResult(a, '+', b);
  if (answer.length !== wantA.length) return { step: 'answer', column: wantA.length };
  for (let i = 0; i < wantA.length; i++) if (answer[i] !== wantA[i]) return { step: 'answer', column: wantA.length - i };
  return { step: 'none' };
}

/**
 * Long addition, answered directly ("a + b = s.") or, after "Let's think step by step.", with
 * the carry scratchpad above. Variant: { minDigits, maxDigits (1–12), mode: 'both' | 'cot' |
 * 'direct', cotShare (default 0.5), filler (default 0: the share of prompts with one of
 * longadd-hints' HINT_FILLERS after the question), layout: 'carry' (default, the carry line)
 * | 'sum' (abacusSumScratchpad, for abacus.items), sumMarker: 'Sum:' (default) | 'Sum,' (the
 * line's marker; with 'Sum,' the first item's x is looked up from a ',' like every later item's) }.
 */
export const longAdditionAbacus: SyntheticTask = {
  name: 'long-addition-abacus',
  description: 'Add two 1–6 digit numbers without the calculator: directly, or with a carry line (units first) after "Let\'s think step by step." — for a model with abacus embeddings',
  usesTool: false,
  generate(split: Split, n: number, seed: number, opts?: GenerateOptions): TaskExample[] {
    const v = opts?.variant;
    const layout = v?.layout ?? 'carry';
    const sumMarker = v?.sumMarker ?? 'Sum:';
    if (sumMarker !== 'Sum:' && sumMarker !== 'Sum,') throw new GptforgeError(`long-addition-abacus variant: sumMarker must be "Sum:" or "Sum,", got ${JSON.stringify(sumMarker)}`, { field: 'variant' });
    if (layout !== 'carry' && layout !== 'sum') throw new GptforgeError(`long-addition-abacus variant: layout must be "carry" or "sum", got ${JSON.stringify(layout)}`, { field: 'variant' });
    return drawLongAdditions('long-addition-abacus', split, n, seed, opts, (a, b, cot) => (cot ? (layout === 'sum' ? abacusSumScratchpad(a, b, sumMarker) : abacusScratchpad(a, b)) : `${a} + ${b} = ${longResult(a, '+', b)}.`));
  },
  /** The reply's final number (after the last "Answer:", else its last number) equals a + b — the same checker as long-addition. */
  check(prompt: string, answer: string): boolean {
    return checkLongResult(prompt, answer, '+');
  },
};

/**
 * Where a step-by-step reply first departs from abacusScratchpad(a, b): 'carry' (column:
 * the first wrong carry's column from the units, 1-based; a carry too many or too few counts
 * at the column where the lengths part), 'answer' (column: the first wrong answer digit's
 * column, counted from the units of the right answer — an answer of the wrong length is
 * wrong at its first digit), 'format' (no "Carry:" or "Answer:" line), or 'none'.
 */
export function abacusFirstWrong(reply: string, a: string, b: string): { step: 'carry' | 'answer' | 'format' | 'none'; column?: number } {
  const carry = /Carry:(\d*)/.exec(reply)?.[1];
  const answer = /Answer: *(\d*)/.exec(reply)?.[1];
  if (carry === undefined || answer === undefined) return { step: 'format' };
  const wantC = abacusCarries(a, b);
  for (let k = 0; k < Math.max(carry.length, wantC.length); k++) if (carry[k] !== wantC[k]) return { step: 'carry', column: k + 1 };
  const wantA = longResult(a, '+', b);
  if (answer.length !== wantA.length) return { step: 'answer', column: wantA.length };
  for (let i = 0; i < wantA.length; i++) if (answer[i] !== wantA[i]) return { step: 'answer', column: wantA.length - i };
  return { step: 'none' };
}
