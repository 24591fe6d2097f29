/**
 * Regular expressions → the grammar IR: the ECMAScript (ECMA-262 §22.2) subset JSON Schema's
 * `pattern` uses, over code points (as with the `u` flag): literals, `.`, classes `[...]`
 * with ranges and negation, escapes (\d \D \w \W \s \S, \t \n \r \v \f \0, \cX, \xHH,
 * \uHHHH, \u{H…}, identity escapes), groups `( )`, `(?: )`, `(?<name> )`, alternation,
 * quantifiers ? * + {m} {m,} {m,n} (lazy forms match the same strings), and anchors ^ and $
 * at the start and end of a top-level alternative. Refused by name: backreferences,
 * lookahead/lookbehind, word boundaries, Unicode property escapes, anchors elsewhere.
 */
import { GptforgeError, type ErrorLocation } from '../../util/errors.js';
import { complementRanges, MAX_CODE_POINT, normalizeRanges, type CodeRange } from './bytes.js';
import { alt, chars, EMPTY, repeat, seq, star, type Expr } from './grammar.js';

type Node = { k: 'chars'; ranges: CodeRange[] } | { k: 'seq'; items: Node[] } | { k: 'alt'; items: Node[] } | { k: 'rep'; item: Node; min: number; max: number } | { k: 'bol' } | { k: 'eol' };

export const DIGIT: CodeRange[] = [[0x30, 0x39]];
export const WORD: CodeRange[] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
// ECMA-262 WhiteSpace and LineTerminator
export const SPACE: CodeRange[] = normalizeRanges([
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
]);
const DOT: CodeRange[] = complementRanges([
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
]);
const ANY: CodeRange[] = [[0, MAX_CODE_POINT]];
/** The largest repetition bound accepted ({m,n}); larger counts are refused rather than unrolled. */
export const MAX_REPEAT = 10_000;

class Parser {
  private i = 0;
  private readonly cps: number[];
  constructor(
    private readonly src: string,
    private readonly where: ErrorLocation,
  ) {
    this.cps = Array.from(src, (c) => c.codePointAt(0)!);
  }

  fail(msg: string, at = this.i): never {
    throw new GptforgeError(`regular expression /${this.src}/: ${msg} at offset ${at}`, this.where);
  }
  private peek(o = 0): number {
    return this.i + o < this.cps.length ? this.cps[this.i + o] : -1;
  }
  private eat(c: string): boolean {
    if (this.peek() === c.codePointAt(0)) {
      this.i++;
      return true;
    }
    return false;
  }

  parse(): Node {
    const n = this.disjunction();
    if (this.i < this.cps.length) this.fail(`unmatched ${String.fromCodePoint(this.peek())}`);
    return n;
  }

  private disjunction(): Node {
    const items = [this.alternative()];
    while (this.eat('|')) items.push(this.alternative());
    return items.length === 1 ? items[0] : { k: 'alt', items };
  }

  private alternative(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === -1 || c === 0x7c /* | */ || c === 0x29 /* ) */) break;
      items.push(this.term());
    }
    return { k: 'seq', items };
  }

  private term(): Node {
    const at = this.i;
    const c = this.peek();
    if (c === 0x5e /* ^ */) {
      this.i++;
      return { k: 'bol' };
    }
    if (c === 0x24 /* $ */) {
      this.i++;
      return { k: 'eol' };
    }
    if (c === 0x5c /* \ */ && (this.peek(1) === 0x62 || this.peek(1) === 0x42)) this.fail('word boundaries (\\b, \\B) are not supported');
    if (c === 0x28 && this.peek(1) === 0x3f /* (? */) {
      const d = this.peek(2);
      const e = this.peek(3);
      if (d === 0x3d || d === 0x21) this.fail('lookahead ((?= …), (?! …)) is not supported');
      if (d === 0x3c && (e === 0x3d || e === 0x21)) this.fail('lookbehind ((?<= …), (?<! …)) is not supported');
    }
    const atom = this.atom();
    return this.quantifier(atom, at);
  }

  private quantifier(atom: Node, at: number): Node {
    let min: number;
    let max: number;
    const c = this.peek();
    if (c === 0x2a) [min, max] = [0, Infinity];
    else if (c === 0x2b) [min, max] = [1, Infinity];
    else if (c === 0x3f) [min, max] = [0, 1];
    else if (c === 0x7b) {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(String.fromCodePoint(...this.cps.slice(this.i, this.i + 24)));
      if (!m) return atom; // a literal '{' (Annex B)
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (max < min) this.fail(`numbers out of order in {${min},${max}}`);
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) this.fail(`repetition count above ${MAX_REPEAT}`);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    this.eat('?'); // lazy: same language
    if (atom.k === 'bol' || atom.k === 'eol') this.fail('nothing to repeat', at);
    if (this.peek() === 0x2a || this.peek() === 0x2b || this.peek() === 0x3f) this.fail('nothing to repeat');
    return { k: 'rep', item: atom, min, max };
  }

  private atom(): Node {
    const c = this.peek();
    const at = this.i;
    if (c === 0x2e) {
      this.i++;
      return { k: 'chars', ranges: DOT };
    }
    if (c === 0x28) {
      this.i++;
      if (this.eat('?')) {
        if (this.eat(':')) {
          /* non-capturing */
        } else if (this.eat('<')) {
          while (this.peek() !== 0x3e && this.peek() !== -1) this.i++;
          if (!this.eat('>')) this.fail('unterminated group name', at);
        } else this.fail('unsupported group syntax (?…', at);
      }
      const inner = this.disjunction();
      if (!this.eat(')')) this.fail('missing )', at);
      return inner;
    }
    if (c === 0x5b) return { k: 'chars', ranges: this.charClass() };
    if (c === 0x5c) {
      this.i++;
      const cls = this.classEscape();
      if (cls) return { k: 'chars', ranges: cls };
      const cp = this.charEscape(false);
      return { k: 'chars', ranges: [[cp, cp]] };
    }
    if (c === 0x2a || c === 0x2b || c === 0x3f) this.fail('nothing to repeat');
    if (c === 0x29) this.fail('unmatched )');
    this.i++;
    return { k: 'chars', ranges: [[c, c]] };
  }

  /** After '\': a class escape (\d …) or null. */
  private classEscape(): CodeRange[] | null {
    const c = String.fromCodePoint(this.peek());
    const table: Record<string, CodeRange[]> = { d: DIGIT, D: complementRanges(DIGIT), w: WORD, W: complementRanges(WORD), s: SPACE, S: complementRanges(SPACE) };
    if (c in table) {
      this.i++;
      return table[c];
    }
    if (c === 'p' || c === 'P') this.fail('Unicode property escapes (\\p{…}) are not supported');
    return null;
  }

  /** After '\': one code point. */
  private charEscape(inClass: boolean): number {
    const at = this.i - 1;
    const c = this.peek();
    if (c === -1) this.fail('\\ at end of pattern');
    const ch = String.fromCodePoint(c);
    this.i++;
    const simple: Record<string, number> = { t: 9, n: 10, v: 11, f: 12, r: 13 };
    if (ch in simple) return simple[ch];
    if (ch === 'b' && inClass) return 8;
    if (ch === '0' && !(this.peek() >= 0x30 && this.peek() <= 0x39)) return 0;
    if (ch >= '1' && ch <= '9') this.fail('backreferences (\\1 …) are not supported', at);
    if (ch === 'k' && this.peek() === 0x3c) this.fail('named backreferences (\\k<…>) are not supported', at);
    if (ch === 'c') {
      const l = this.peek();
      if ((l >= 0x41 && l <= 0x5a) || (l >= 0x61 && l <= 0x7a)) {
        this.i++;
        return l % 32;
      }
      return 0x5c; // Annex B: "\c" is a literal backslash followed by c — approximate as '\'
    }
    const hex = (n: number): number => {
      const s = String.fromCodePoint(...this.cps.slice(this.i, this.i + n));
      if (s.length !== n || !/^[0-9a-fA-F]+$/.test(s)) this.fail(`bad \\${ch} escape`, at);
      this.i += n;
      return parseInt(s, 16);
    };
    if (ch === 'x') return hex(2);
    if (ch === 'u') {
      if (this.eat('{')) {
        let s = '';
        while (this.peek() !== 0x7d && this.peek() !== -1) s += String.fromCodePoint(this.cps[this.i++]);
        if (!this.eat('}') || !/^[0-9a-fA-F]{1,6}$/.test(s) || parseInt(s, 16) > MAX_CODE_POINT) this.fail('bad \\u{…} escape', at);
        return parseInt(s, 16);
      }
      const hi = hex(4);
      // a surrogate pair written as two escapes is one code point
      if (hi >= 0xd800 && hi <= 0xdbff && this.peek() === 0x5c && this.peek(1) === 0x75) {
        const save = this.i;
        this.i += 2;
        const s = String.fromCodePoint(...this.cps.slice(this.i, this.i + 4));
        if (/^[0-9a-fA-F]{4}$/.test(s)) {
          const lo = parseInt(s, 16);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            this.i += 4;
            return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
          }
        }
        this.i = save;
      }
      return hi;
    }
    if (/[A-Za-z]/.test(ch) && !'dDwWsS'.includes(ch)) this.fail(`unknown escape \\${ch}`, at);
    return c; // identity escape: \. \/ \- \\ …
  }

  private charClass(): CodeRange[] {
    const at = this.i;
    this.i++; // [
    const negate = this.eat('^');
    const ranges: CodeRange[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === -1) this.fail('unterminated character class', at);
      if (c === 0x5d && !first) break;
      if (c === 0x5d && first) {
        // ECMAScript: "[]" is the empty class, "[^]" any character
        break;
      }
      first = false;
      const lo = this.classAtom();
      if (this.peek() === 0x2d && this.peek(1) !== 0x5d && this.peek(1) !== -1 && lo.length === 1 && lo[0][0] === lo[0][1]) {
        const save = this.i;
        this.i++;
        const hi = this.classAtom();
        if (hi.length === 1 && hi[0][0] === hi[0][1]) {
          if (hi[0][0] < lo[0][0]) this.fail('range out of order in character class', save);
          ranges.push([lo[0][0], hi[0][0]]);
          continue;
        }
        // a class escape after '-': '-' is literal
        ranges.push(...lo, [0x2d, 0x2d], ...hi);
        continue;
      }
      ranges.push(...lo);
    }
    this.i++; // ]
    const set = normalizeRanges(ranges);
    return negate ? complementRanges(set) : set;
  }

  private classAtom(): CodeRange[] {
    const c = this.peek();
    if (c === 0x5c) {
      this.i++;
      if (this.peek() === 0x62) {
        this.i++;
        return [[8, 8]];
      }
      const cls = this.classEscape();
      if (cls) return cls;
      if (this.peek() === 0x2d) {
        this.i++;
        return [[0x2d, 0x2d]];
      }
      const cp = this.charEscape(true);
      return [[cp, cp]];
    }
    this.i++;
    return [[c, c]];
  }
}

/** How to turn a set of code points into bytes: raw UTF-8, or JSON string content (schema.ts). */
export type CharEncoder = (ranges: readonly CodeRange[]) => Expr;

export const utf8Chars: CharEncoder = (ranges) => chars(ranges);

export interface RegexOptions {
  /** 'full': the whole output must match (the CLI's --regex); 'search': a match anywhere, as JSON Schema's `pattern` (ECMA-262 RegExp.prototype.test). */
  mode?: 'full' | 'search';
  /** Code points → bytes (default: UTF-8). */
  encode?: CharEncoder;
  /** Where the pattern came from, for errors. */
  where?: ErrorLocation;
}

/** Compile a regular expression to an Expr. Throws GptforgeError naming the pattern, the offset and the feature. */
export function regexToExpr(pattern: string, opts: RegexOptions = {}): Expr {
  const where = opts.where ?? {};
  const p = new Parser(pattern, where);
  const ast = p.parse();
  const enc = opts.encode ?? utf8Chars;
  const mode = opts.mode ?? 'full';
  const tops = ast.k === 'alt' ? ast.items : [ast];
  const branches = tops.map((top) => {
    let items = top.k === 'seq' ? [...top.items] : [top];
    // Unwrap "^(…)$"-style single groups is not needed: anchors are checked at the top level only.
    let bol = false;
    let eol = false;
    while (items.length > 0 && items[0].k === 'bol') {
      bol = true;
      items = items.slice(1);
    }
    while (items.length > 0 && items[items.length - 1].k === 'eol') {
      eol = true;
      items = items.slice(0, -1);
    }
    const body = seq(...items.map((n) => lower(n, enc, p)));
    if (mode === 'full') return body;
    const any = star(enc(ANY));
    return seq(bol ? EMPTY : any, body, eol ? EMPTY : any);
  });
  return alt(...branches);
}

function lower(n: Node, enc: CharEncoder, p: Parser): Expr {
  switch (n.k) {
    case 'chars':
      return enc(n.ranges);
    case 'seq':
      return seq(...n.items.map((x) => lower(x, enc, p)));
    case 'alt':
      return alt(...n.items.map((x) => lower(x, enc, p)));
    case 'rep':
      return repeat(lower(n.item, enc, p), n.min, n.max);
    case 'bol':
      return p.fail('the anchor ^ is only supported at the start of the pattern (or of a top-level alternative)', 0);
    case 'eol':
      return p.fail('the anchor $ is only supported at the end of the pattern (or of a top-level alternative)', 0);
  }
}
