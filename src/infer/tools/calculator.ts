/**
 * The calculator tool: arithmetic on text the model wrote, e.g. `calculator: 345*67` → `23115`.
 *
 * The input is untrusted model output, so it is read by a hand-written tokenizer and a
 * recursive-descent parser that only ever produce numbers; no dynamic code execution of
 * any kind is involved, and the test suite checks the compiled file for it.
 *
 * Grammar (whitespace allowed anywhere between tokens):
 *
 *   input   := sum ( '=' '?'? )?          trailing "=" or "= ?" is ignored ("2+2 =")
 *   sum     := product (('+' | '-') product)*               left-associative
 *   product := unary (('*' | '/') unary)*                   left-associative
 *   unary   := ('+' | '-') unary | power                    "--5" = 5, "2*-3" = -6
 *   power   := primary (('^' | '**') unary)?                right-associative: 2^3^2 = 2^9
 *   primary := number | '(' sum ')'
 *
 * Decisions worth knowing:
 * - Power binds tighter than a unary minus on its left, as in maths: -2^2 = -4, (-2)^2 = 4.
 *   The exponent may carry its own sign: 2^-1 = 0.5.
 * - Operator spellings: '×', 'x' and 'X' mean '*'; '÷' means '/'; '−' (U+2212) means '-';
 *   '**' means '^'. 'x' is only an operator, so it must stand between operands ("12 x 3").
 *   (Consequently "0x10" reads as 0 × 10: hex is not supported.)
 * - Numbers: `12`, `3.5`, `.5`. A decimal point must be followed by digits ("5." is
 *   rejected). Commas are accepted only as correctly grouped thousands separators
 *   (`1,234`, `12,345,678.5`); anything else ("1,23", European "0,5") is rejected rather
 *   than guessed at. No exponent notation ("1e5") and no implicit multiplication ("2(3)").
 * - Limits, each a ToolError: 200 input characters, 50 levels of parentheses, |value| ≤ 1e15
 *   for every literal and every intermediate result (beyond that doubles stop being exact
 *   integers), |exponent| ≤ 100, no non-integer power of a negative number, no division
 *   by zero (including 0 to a negative power).
 */
import { ToolError, type Tool } from './tool.js';

/** Longest expression accepted; also bounds the parser's recursion depth. */
const MAX_EXPRESSION_CHARS = 200;
/** Deepest parenthesis nesting accepted. */
const MAX_PAREN_DEPTH = 50;
/** Largest magnitude of any literal or intermediate value (doubles are exact integers up to here). */
const MAX_MAGNITUDE = 1e15;
/** Largest magnitude of an exponent. */
const MAX_EXPONENT = 100;
/** Significant digits kept when formatting non-integers. */
const SIGNIFICANT_DIGITS = 10;

/** The calculator tool (`calculator: 12*7` → `84`): exact arithmetic over the grammar and limits in the module comment; a bad expression is the tool's error, never a crash. */
export const calculator: Tool = {
  name: 'calculator',
  description: 'Evaluates arithmetic: + - * / ^ and parentheses, e.g. "calculator: (12.5 + 3) * 4".',
  run(input: string): string {
    return formatNumber(evaluateExpression(input));
  },
};

/** Evaluates an arithmetic expression (grammar above). Throws ToolError on any bad input. */
export function evaluateExpression(expr: string): number {
  const source = stripTrailingEquals(expr.trim());
  if (source.length > MAX_EXPRESSION_CHARS) throw new ToolError(`expression too long (max ${MAX_EXPRESSION_CHARS} characters)`);
  const tokens = tokenize(source);
  if (tokens.length === 0) throw new ToolError('empty expression');
  return new Parser(tokens).parseAll();
}

/**
 * Formats a result the way training data writes it:
 * - integers with |x| ≤ 1e15 as plain digits, '-' sign, no separators: `23115`, `-42`;
 *   -0 becomes `0`;
 * - other values with 10 significant digits, trailing zeros removed, no exponent:
 *   `0.3333333333`, `2.5`. Integer digits are never rounded away, though: 123456789012.5
 *   gives `123456789013`, not `123456789000`;
 * - magnitudes below 1e-9 or above 1e15 (which the calculator itself never returns above)
 *   in exponent notation, `1.5e-12`, since fixed notation would be all zeros.
 */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const ax = Math.abs(x);
  if (Number.isInteger(x) && ax <= MAX_MAGNITUDE) return x.toFixed(0);
  if (ax < 1e-9 || ax > MAX_MAGNITUDE) return trimExponential(x.toExponential(SIGNIFICANT_DIGITS - 1));
  const decimals = Math.max(0, SIGNIFICANT_DIGITS - 1 - Math.floor(Math.log10(ax)));
  const fixed = trimFraction(x.toFixed(decimals));
  return fixed === '-0' ? '0' : fixed;
}

/** "2.5000" → "2.5", "3.000" → "3"; strings without a point are left alone. */
function trimFraction(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** "1.500000000e-12" → "1.5e-12". */
function trimExponential(s: string): string {
  const [mantissa, exponent] = s.split('e');
  return `${trimFraction(mantissa)}e${exponent}`;
}

/** "2+2 =" and "2+2 = ?" → "2+2": the model often copies the question's shape. */
function stripTrailingEquals(s: string): string {
  return s.replace(/=\s*\??$/, '').trimEnd();
}

// ---------------------------------------------------------------------------------------
// Tokenizer

type Op = '+' | '-' | '*' | '/' | '^';

/** `pos` is 1-based in the (trimmed) input, for error messages the model can act on. */
type Token = { readonly kind: 'number'; readonly value: number; readonly text: string; readonly pos: number } | { readonly kind: 'op'; readonly op: Op; readonly text: string; readonly pos: number } | { readonly kind: '(' | ')'; readonly text: string; readonly pos: number };

/** Every accepted operator spelling. Two-character spellings must come first (greedy match). */
const OPERATORS: ReadonlyArray<readonly [string, Op]> = [
  ['**', '^'],
  ['+', '+'],
  ['-', '-'],
  ['\u2212', '-'],
  ['*', '*'],
  ['\u00d7', '*'],
  ['x', '*'],
  ['X', '*'],
  ['/', '/'],
  ['\u00f7', '/'],
  ['^', '^'],
];

/** A plain number, or one with correctly grouped thousands separators; optional fraction. */
const VALID_NUMBER = /^(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d+)?$/;

function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (/\s/.test(ch)) {
      i++;
    } else if (isDigit(ch) || ch === '.') {
      const end = scanNumber(s, i);
      tokens.push(numberToken(s.slice(i, end), i + 1));
      i = end;
    } else if (ch === '(' || ch === ')') {
      tokens.push({ kind: ch, text: ch, pos: i + 1 });
      i++;
    } else {
      const op = OPERATORS.find(([text]) => s.startsWith(text, i));
      if (op === undefined) throw new ToolError(`unexpected character ${showChar(s, i)} at position ${i + 1}`);
      tokens.push({ kind: 'op', op: op[1], text: op[0], pos: i + 1 });
      i += op[0].length;
    }
  }
  return tokens;
}

/**
 * The end of the maximal run of digits, points and digit-followed commas starting at `i`.
 * Taking the whole run (rather than stopping at the first oddity) lets "1.2.3" or "1,23"
 * be reported as one malformed number instead of a confusing "missing operator".
 */
function scanNumber(s: string, i: number): number {
  let end = i;
  while (end < s.length && (isDigit(s[end]) || s[end] === '.' || (s[end] === ',' && isDigit(s[end + 1] ?? '')))) end++;
  return end;
}

function numberToken(text: string, pos: number): Token {
  if (!VALID_NUMBER.test(text) || !/\d/.test(text)) {
    const hint = text.includes(',') ? ' (commas are only allowed as thousands separators)' : '';
    throw new ToolError(`malformed number "${clipText(text)}" at position ${pos}${hint}`);
  }
  const value = Number(text.replace(/,/g, ''));
  if (Math.abs(value) > MAX_MAGNITUDE) throw new ToolError(`number too large at position ${pos}`);
  return { kind: 'number', value, text, pos };
}

function isDigit(ch: string): boolean {
  return ch >= '0' && ch <= '9';
}

/**
 * The character at `i` for an error message. Whole code points (no half emoji), and
 * invisible or control characters by code only, so the message stays one readable line.
 */
function showChar(s: string, i: number): string {
  const cp = s.codePointAt(i) ?? 0;
  const ch = String.fromCodePoint(cp);
  const code = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (/[\p{C}\p{Z}]/u.test(ch)) return code;
  const quoted = ch === '"' ? `'"'` : `"${ch}"`;
  return cp < 0x80 ? quoted : `${quoted} (${code})`;
}

function clipText(s: string): string {
  return s.length <= 20 ? s : `${s.slice(0, 19)}…`;
}

// ---------------------------------------------------------------------------------------
// Parser and evaluator (evaluates while parsing: there is nothing to keep a tree for)

class Parser {
  private i = 0;
  private parenDepth = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  parseAll(): number {
    const value = this.parseSum();
    const extra = this.peek();
    if (extra !== undefined) throw this.leftover(extra);
    return value;
  }

  private parseSum(): number {
    let value = this.parseProduct();
    for (let op = this.peekOp('+', '-'); op !== undefined; op = this.peekOp('+', '-')) {
      this.i++;
      const rhs = this.parseProduct();
      value = checked(op === '+' ? value + rhs : value - rhs);
    }
    return value;
  }

  private parseProduct(): number {
    let value = this.parseUnary();
    for (let op = this.peekOp('*', '/'); op !== undefined; op = this.peekOp('*', '/')) {
      this.i++;
      const rhs = this.parseUnary();
      value = op === '*' ? checked(value * rhs) : divide(value, rhs);
    }
    return value;
  }

  // Recursion through unary chains ("----5") and power chains ("2^2^2…") is bounded by
  // MAX_EXPRESSION_CHARS, so only parentheses need an explicit depth limit.
  private parseUnary(): number {
    const op = this.peekOp('+', '-');
    if (op === undefined) return this.parsePower();
    this.i++;
    const value = this.parseUnary();
    return op === '-' ? -value : value;
  }

  private parsePower(): number {
    const base = this.parsePrimary();
    if (this.peekOp('^') === undefined) return base;
    this.i++;
    // The exponent is a `unary`, which recurses into `power`: that gives right-associativity
    // and allows a signed exponent ("2^-1").
    return power(base, this.parseUnary());
  }

  private parsePrimary(): number {
    const tok = this.tokens[this.i];
    if (tok === undefined) throw this.incomplete();
    if (tok.kind === 'number') {
      this.i++;
      return tok.value;
    }
    if (tok.kind === '(') return this.parseParenthesized(tok);
    const prev = this.tokens[this.i - 1];
    if (tok.kind === ')' && prev?.kind === '(') throw new ToolError(`empty parentheses at position ${prev.pos}`);
    if (tok.kind === ')') throw new ToolError(`unbalanced parentheses: unexpected ")" at position ${tok.pos}`);
    throw new ToolError(`unexpected "${tok.text}" at position ${tok.pos}`);
  }

  private parseParenthesized(open: Token): number {
    if (++this.parenDepth > MAX_PAREN_DEPTH) throw new ToolError(`too deeply nested (max ${MAX_PAREN_DEPTH} parentheses)`);
    this.i++;
    const value = this.parseSum();
    const close = this.peek();
    if (close === undefined) throw new ToolError(`unbalanced parentheses: "(" at position ${open.pos} is never closed`);
    if (close.kind !== ')') throw this.leftover(close);
    this.i++;
    this.parenDepth--;
    return value;
  }

  /** Error for a token left over after a complete (sub-)expression. */
  private leftover(tok: Token): ToolError {
    if (tok.kind === ')') return new ToolError(`unbalanced parentheses: unexpected ")" at position ${tok.pos}`);
    return new ToolError(`missing operator before "${clipText(tok.text)}" at position ${tok.pos}`);
  }

  /** Error for input that ends where a number was expected. */
  private incomplete(): ToolError {
    const prev = this.tokens[this.i - 1];
    return new ToolError(prev === undefined ? 'empty expression' : `incomplete expression: expected a number after "${prev.text}"`);
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  /** The next token's operator if it is one of `ops`. */
  private peekOp(...ops: Op[]): Op | undefined {
    const tok = this.tokens[this.i];
    return tok?.kind === 'op' && ops.includes(tok.op) ? tok.op : undefined;
  }
}

/** Keeps every intermediate value in the range where doubles are exact integers. */
function checked(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) > MAX_MAGNITUDE) throw new ToolError('result too large');
  return x;
}

function divide(a: number, b: number): number {
  if (b === 0) throw new ToolError('division by zero');
  return checked(a / b);
}

function power(base: number, exponent: number): number {
  if (Math.abs(exponent) > MAX_EXPONENT) throw new ToolError(`exponent too large (max ${MAX_EXPONENT})`);
  if (base < 0 && !Number.isInteger(exponent)) throw new ToolError('non-integer power of a negative number');
  if (base === 0 && exponent < 0) throw new ToolError('division by zero');
  return checked(base ** exponent);
}
