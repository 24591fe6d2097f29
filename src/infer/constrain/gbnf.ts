/**
 * GBNF (llama.cpp's grammar format, grammars/README.md in ggml-org/llama.cpp) → the grammar IR,
 * so users' existing grammar files work: `name ::= alternatives` rules (start rule `root`),
 * string literals "…" with escapes (\n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH), character
 * classes [a-z…] with ranges and ^ negation, `.` (any character), grouping ( ), alternation |,
 * repetition * + ? {m} {m,} {m,n} {,n}, comments # … to the end of the line. As in llama.cpp a
 * rule ends at a newline outside parentheses unless the line ends with `|` or `::=`; we also
 * accept a continuation line that starts with `|`. Token references (<…>) are refused.
 * Errors name the file, line and column.
 */
import { GptforgeError } from '../../util/errors.js';
import { complementRanges, MAX_CODE_POINT, normalizeRanges, type CodeRange } from './bytes.js';
import { alt, chars, EMPTY, literal, ref, repeat, seq, type Expr, type Grammar } from './grammar.js';
import { MAX_REPEAT } from './regex.js';

class GbnfParser {
  private i = 0;
  readonly rules = new Map<string, Expr>();
  private readonly firstUse = new Map<string, number>();
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly file: string,
  ) {}

  fail(msg: string, at = this.i): never {
    const { line, col } = this.position(at);
    throw new GptforgeError(`column ${col}: ${msg}`, { file: this.file, line });
  }

  /** 1-based line and column of offset `at`. */
  private position(at: number): { line: number; col: number } {
    const before = this.src.slice(0, at);
    return { line: before.split('\n').length, col: at - before.lastIndexOf('\n') };
  }

  /** Skip spaces and comments; newlines only when `newlines` (inside parentheses, after | or ::=). */
  private space(newlines: boolean): void {
    for (;;) {
      const c = this.src[this.i];
      if (c === ' ' || c === '\t' || ((c === '\n' || c === '\r') && newlines)) this.i++;
      else if (c === '#') while (this.i < this.src.length && this.src[this.i] !== '\n') this.i++;
      else if (c === '\\' && (this.src[this.i + 1] === '\n' || (this.src[this.i + 1] === '\r' && this.src[this.i + 2] === '\n'))) this.i += this.src[this.i + 1] === '\n' ? 2 : 3;
      else return;
    }
  }

  private name(): string {
    const m = /^[a-zA-Z0-9_-]+/.exec(this.src.slice(this.i, this.i + 256));
    if (!m) this.fail('expected a rule name');
    this.i += m[0].length;
    return m[0];
  }

  parse(): Grammar {
    this.space(true);
    while (this.i < this.src.length) {
      const at = this.i;
      const name = this.name();
      this.space(false);
      if (!this.src.startsWith('::=', this.i)) this.fail(`expected ::= after rule name ${name}`);
      this.i += 3;
      this.space(true);
      const body = this.alternates();
      if (this.rules.has(name)) this.fail(`rule ${name} is defined twice`, at);
      this.rules.set(name, body);
      this.space(false);
      if (this.i < this.src.length && this.src[this.i] !== '\n' && this.src[this.i] !== '\r') this.fail(`unexpected ${JSON.stringify(this.src[this.i])}`);
      this.space(true);
    }
    // the names quoted: a rule may be called `name` or `rule`, which read as words otherwise
    const defined = (): string => {
      const names = [...this.rules.keys()].map((n) => JSON.stringify(n));
      return names.length > 20 ? `${names.slice(0, 20).join(', ')}, … ${names.length - 20} more` : names.join(', ') || 'none';
    };
    if (!this.rules.has('root')) throw new GptforgeError(`the grammar has no root rule (the start symbol; llama.cpp starts at "root"); rules defined: ${defined()}`, { file: this.file });
    for (const [name, at] of this.firstUse) if (!this.rules.has(name)) this.fail(`undefined rule ${JSON.stringify(name)} (rules defined: ${defined()})`, at);
    return { rules: this.rules, start: 'root', source: this.file };
  }

  private alternates(): Expr {
    const items = [this.sequence()];
    for (;;) {
      this.space(this.depth > 0);
      if (this.src[this.i] === '|') {
        this.i++;
        this.space(true);
        items.push(this.sequence());
        continue;
      }
      if (this.depth === 0) {
        // lenient continuation: a following line that starts with '|'
        const m = /^[ \t]*(?:#[^\n]*)?\r?\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*\|/.exec(this.src.slice(this.i));
        if (m) {
          this.i += m[0].length;
          this.space(true);
          items.push(this.sequence());
          continue;
        }
      }
      break;
    }
    return alt(...items);
  }

  private sequence(): Expr {
    const items: Expr[] = [];
    for (;;) {
      this.space(this.depth > 0);
      const c = this.src[this.i];
      if (c === undefined || c === '|' || c === ')' || c === '\n' || c === '\r') break;
      const at = this.i;
      let e: Expr;
      if (c === '"') e = this.stringLiteral();
      else if (c === '[') e = chars(this.charClass());
      else if (c === '.') {
        this.i++;
        e = chars([[0, MAX_CODE_POINT]]);
      } else if (c === '(') {
        this.i++;
        this.depth++;
        this.space(true);
        e = this.alternates();
        this.space(true);
        this.depth--;
        if (this.src[this.i] !== ')') {
          // point where the ) is missing (the end of the group), and name the ( it would close
          // (just after the group's last token: the spaces and newlines skipped since are not the group's)
          let end = this.i;
          while (end > at + 1 && /\s/.test(this.src[end - 1])) end--;
          const open = this.position(at);
          const here = this.position(end);
          this.fail(`expected ) to close the ( at ${open.line === here.line ? '' : `line ${open.line}, `}column ${open.col}`, end);
        }
        this.i++;
      } else if (c === '<' || (c === '!' && this.src[this.i + 1] === '<')) this.fail('token references (<…>) are not supported');
      else if (/[a-zA-Z0-9_-]/.test(c)) {
        const save = this.i;
        const name = this.name();
        // the start of the next rule ("name ::=") ends this sequence
        const rest = this.src.slice(this.i).match(/^[ \t]*::=/);
        if (rest) {
          this.i = save;
          break;
        }
        if (!this.firstUse.has(name)) this.firstUse.set(name, save);
        e = ref(name);
      } else this.fail(`unexpected ${JSON.stringify(c)}`);
      items.push(this.postfix(e, at));
    }
    return items.length === 0 ? EMPTY : seq(...items);
  }

  private postfix(e: Expr, at: number): Expr {
    for (;;) {
      const c = this.src[this.i];
      if (c === '*') e = repeat(e, 0, Infinity);
      else if (c === '+') e = repeat(e, 1, Infinity);
      else if (c === '?') e = repeat(e, 0, 1);
      else if (c === '{') {
        const m = /^\{\s*(\d*)\s*(?:(,)\s*(\d*)\s*)?\}/.exec(this.src.slice(this.i, this.i + 40));
        if (!m || (m[1] === '' && m[2] === undefined)) this.fail('bad repetition {m,n}');
        const min = m[1] === '' ? 0 : Number(m[1]);
        const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (max < min) this.fail(`repetition {${min},${max}} has max < min`);
        if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) this.fail(`repetition count above ${MAX_REPEAT}`);
        this.i += m[0].length;
        e = repeat(e, min, max);
        continue;
      } else return e;
      this.i++;
      void at;
    }
  }

  /** One possibly escaped character inside "…" or […]; returns the code point. */
  private char(): number {
    const at = this.i;
    const c = this.src.codePointAt(this.i);
    if (c === undefined) this.fail('unexpected end of input');
    if (c !== 0x5c) {
      this.i += c > 0xffff ? 2 : 1;
      return c;
    }
    const e = this.src[this.i + 1];
    this.i += 2;
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, '"': 34, '[': 91, ']': 93, '-': 45, '^': 94, '/': 47, '.': 46, '|': 124, '(': 40, ')': 41, '*': 42, '+': 43, '?': 63, '{': 123, '}': 125 };
    if (e !== undefined && simple[e] !== undefined) return simple[e];
    const n = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (n === 0) this.fail(`unknown escape \\${e ?? ''}`, at);
    const hex = this.src.slice(this.i, this.i + n);
    if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) this.fail(`bad \\${e} escape`, at);
    this.i += n;
    const v = parseInt(hex, 16);
    if (v > MAX_CODE_POINT) this.fail('code point above U+10FFFF', at);
    return v;
  }

  private stringLiteral(): Expr {
    const at = this.i;
    this.i++;
    let s = '';
    for (;;) {
      if (this.i >= this.src.length || this.src[this.i] === '\n') this.fail('unterminated string literal', at);
      if (this.src[this.i] === '"') break;
      s += String.fromCodePoint(this.char());
    }
    this.i++;
    return literal(s);
  }

  private charClass(): CodeRange[] {
    const at = this.i;
    this.i++;
    const negate = this.src[this.i] === '^';
    if (negate) this.i++;
    const ranges: CodeRange[] = [];
    for (;;) {
      if (this.i >= this.src.length) this.fail('unterminated character class', at);
      if (this.src[this.i] === ']') break;
      const lo = this.char();
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        this.i++;
        // `[a-` then the end of the line: the range has no upper end (not a range "a" to newline, out of order)
        if (this.src[this.i] === '\n' || this.src[this.i] === '\r') this.fail('unterminated character range', at);
        const hi = this.char();
        if (hi < lo) this.fail('character range out of order', at);
        ranges.push([lo, hi]);
      } else ranges.push([lo, lo]);
    }
    this.i++;
    const set = normalizeRanges(ranges);
    return negate ? complementRanges(set) : set;
  }
}

/** Parse a GBNF grammar (see the module comment). Throws GptforgeError with file, line and column. */
export function parseGbnf(text: string, file = '<grammar>'): Grammar {
  return new GbnfParser(text.replace(/^\uFEFF/, ''), file).parse();
}
