import { GptforgeError } from '../util/errors.js';

/**
 * Oniguruma → JavaScript regex translation.
 *
 * Hugging Face `tokenizers` compiles the `Split` pre-tokenizer's `pattern.Regex` (and
 * ByteLevel's own GPT-2 regex) with Oniguruma, Ruby syntax (onig crate defaults). Its syntax
 * and several meanings differ from JavaScript's `u` mode, so a source is rewritten into an
 * equivalent JS source (compiled with flags 'gu'), and whatever cannot be rewritten exactly is
 * refused with a GptforgeError naming the construct. Rewritten (meanings measured against
 * `tokenizers` 0.23.2 over every code point, test/tokenizer/onig.test.ts):
 *  - `(?i:…)` (Llama 3, Qwen2, cl100k, o200k), `(?-i:…)`, and `(?i)` at the start of the
 *    pattern or of a group: JS (Node 20) has no regexp modifiers, so each ASCII letter becomes
 *    its case-fold class (`s` → `[sSſ]`, `k` → `[kKK]`: Unicode simple folding, as Oniguruma
 *    applies). Refused inside them: non-ASCII literals, property escapes, and letter pairs that
 *    are the full case folding of one character (`ss` ← ß, `st` ← ﬆ, `ff`, `fi`, `fl` ← ﬀ ﬁ ﬂ):
 *    Oniguruma matches those multi-character folds, which no class can express.
 *  - `\s` is Unicode White_Space (with U+0085, without U+FEFF, unlike JS); `\d` is `\p{Nd}`;
 *    `\w` is `[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}²³¹¼½¾]`; `\h` is `[0-9a-fA-F]`; `\b`, `\B` use that `\w`.
 *  - `.` excludes only `\n`; `^`/`$` are line anchors (Ruby), i.e. after/before `\n`;
 *    `\A`, `\z`, `\Z` are input anchors.
 *  - `\x{…}`, `\e`, `\a`, octal `\0oo`, `{,n}`, a `{` that is not a quantifier, identity
 *    escapes of punctuation; `\p{^X}`; script names (`\p{Han}` → `\p{Script=Han}`).
 *  - Atomic groups `(?>…)` and possessive `*+ ++ ?+` become `(?=(?<aN>…))\k<aN>` (exact emulation);
 *    capturing groups become non-capturing (only whole matches are used).
 * Refused: backreferences, `\G \K \R \X \g \k`, nested classes / `&&` / POSIX brackets,
 * conditionals, absent operators, `(?m)`/`(?x)`, `{n,m}+` (a nested quantifier in Ruby syntax).
 * Unicode property tables: Oniguruma's (Unicode 16.0 in tokenizers 0.23.2) are older than V8's
 * (17.0 in Node 20.20): the 4,803 code points Unicode 17.0 added may split differently.
 */

/** Oniguruma's \s (Unicode White_Space), as code point ranges. */
const WS_RANGES: readonly [number, number][] = [
  [0x9, 0xd],
  [0x20, 0x20],
  [0x85, 0x85],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];
// Oniguruma's Word also has six Latin-1 numbers (² ³ ¹ ¼ ½ ¾), measured against tokenizers 0.23.2
const WORD_ITEMS = () => `${propertyItem('Alphabetic', false)}${propertyItem('M', false)}${propertyItem('Nd', false)}${propertyItem('Pc', false)}\\u{b2}\\u{b3}\\u{b9}\\u{bc}-\\u{be}`;
const HEX_ITEMS = '0-9a-fA-F';

/**
 * Oniguruma's \p{js} / \P{js} as a JS item. Characters assigned in a newer Unicode than
 * Oniguruma's tables (tokenizers 0.23.2: Unicode 16.0; Node 20.20: 17.0) differ: see
 * docs/tokenizer.md. (Subtracting them needs the v flag's class set operations, and V8 11.3
 * mis-matches some v-flag patterns: /(?:a*?s[^ ]{1,3})+/v finds "s " in "x's 'T".)
 */
function propertyItem(js: string, negated: boolean): string {
  return `\\${negated ? 'P' : 'p'}{${js}}`;
}

function cp(c: number): string {
  // alphanumerics as themselves, everything else as \u{…}: always valid in u-mode, in or out of a class
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ? String.fromCodePoint(c) : `\\u{${c.toString(16)}}`;
}
function rangesItems(r: readonly [number, number][]): string {
  return r.map(([a, b]) => (a === b ? cp(a) : `${cp(a)}-${cp(b)}`)).join('');
}
function complement(r: readonly [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let next = 0;
  for (const [a, b] of r) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}
const WS_ITEMS = rangesItems(WS_RANGES);
const NOT_WS_ITEMS = rangesItems(complement(WS_RANGES));

/** Characters other than the ASCII pair whose simple case folding is an ASCII letter. */
const EXTRA_FOLDS: Readonly<Record<string, string>> = { s: '\u017f', k: '\u212a' };
/** ASCII letter sequences that are the full (multi-character) case folding of one character. */
const MULTI_FOLDS = ['ss', 'st', 'ff', 'fi', 'fl'];

function isAsciiLetter(c: string): boolean {
  return /^[A-Za-z]$/.test(c);
}
function foldClassItems(c: string): string {
  const lo = c.toLowerCase();
  return lo + lo.toUpperCase() + (EXTRA_FOLDS[lo] ? cp(EXTRA_FOLDS[lo].codePointAt(0)!) : '');
}

const GENERAL_CATEGORIES = new Set(
  (
    'L Lu Ll Lt Lm Lo LC M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn ' +
    'Letter Cased_Letter Uppercase_Letter Lowercase_Letter Titlecase_Letter Modifier_Letter Other_Letter Mark Nonspacing_Mark ' +
    'Spacing_Mark Enclosing_Mark Number Decimal_Number Letter_Number Other_Number Punctuation Connector_Punctuation Dash_Punctuation ' +
    'Open_Punctuation Close_Punctuation Initial_Punctuation Final_Punctuation Other_Punctuation Symbol Math_Symbol Currency_Symbol ' +
    'Modifier_Symbol Other_Symbol Separator Space_Separator Line_Separator Paragraph_Separator Other Control Format Surrogate ' +
    'Private_Use Unassigned'
  ).split(' '),
);

/** A JS `\p{…}` body for an Oniguruma property name, or null. */
function jsProperty(name: string): string | null {
  if (GENERAL_CATEGORIES.has(name)) return name;
  if (name === 'Any' || name === 'ASCII' || name === 'Alphabetic' || name === 'Alpha' || name === 'White_Space' || name === 'Uppercase' || name === 'Lowercase') {
    return name === 'Alpha' ? 'Alphabetic' : name;
  }
  if (/^[A-Z][A-Za-z_]*$/.test(name)) {
    try {
      new RegExp(`\\p{Script=${name}}`, 'u');
      return `Script=${name}`;
    } catch {
      return null;
    }
  }
  return null;
}

class Translator {
  private i = 0;
  private captures = 0;
  /** Lazy quantifiers parsed so far (see checkAtomicBody). */
  private lazy = 0;
  constructor(
    private readonly src: string,
    private readonly fail: (what: string) => never,
  ) {}

  run(): string {
    let ci = false;
    if (this.src.startsWith('(?i)')) {
      ci = true;
      this.i = 4;
    }
    const out = this.alternation(ci);
    if (this.i < this.src.length) this.fail(`unbalanced ")" at offset ${this.i}`);
    return out;
  }

  private peek(k = 0): string {
    return this.src[this.i + k] ?? '';
  }

  private alternation(ci: boolean): string {
    const parts = [this.sequence(ci)];
    while (this.peek() === '|') {
      this.i++;
      parts.push(this.sequence(ci));
    }
    return parts.join('|');
  }

  private sequence(ci: boolean): string {
    let out = '';
    let prevLetter = ''; // the previous atom when it was a case-insensitive ASCII letter literal
    for (;;) {
      const c = this.peek();
      if (c === '' || c === '|' || c === ')') return out;
      const start = this.i;
      const lazyBefore = this.lazy;
      const atom = this.atom(ci);
      if (atom === null) continue; // a comment
      const literal = this.src.slice(start, this.i);
      if (ci && literal.length === 1 && isAsciiLetter(literal)) {
        const pair = (prevLetter + literal).toLowerCase();
        if (prevLetter && MULTI_FOLDS.includes(pair)) this.fail(`case-insensitive "${prevLetter}${literal}" (Oniguruma also matches the one character that case-folds to "${pair}", which JavaScript cannot express)`);
        prevLetter = literal;
      } else prevLetter = '';
      const q = this.quantifier();
      if (q !== '') prevLetter = '';
      out += q.endsWith('+') && q.length > 1 && !q.startsWith('{') ? this.possessive(atom, q.slice(0, -1), lazyBefore) : atom + q;
    }
  }

  private possessive(atom: string, q: string, lazyBefore: number): string {
    // named, not numbered: JS numbers groups by where they open, and an enclosing possessive
    // opens before the ones inside it, though it is made after them
    this.checkAtomicBody(lazyBefore);
    const n = ++this.captures;
    return `(?=(?<a${n}>${atom}${q}))\\k<a${n}>`;
  }

  /**
   * The lookahead emulation of an atomic group is exact for greedy bodies; with a lazy
   * quantifier inside, Oniguruma's (loop empty-checks) and it were seen to differ: refused.
   */
  private checkAtomicBody(lazyBefore: number): void {
    if (this.lazy > lazyBefore) this.fail('a lazy quantifier inside an atomic group or a possessive quantifier');
  }

  /** A quantifier suffix (JS syntax; a trailing '+' after * + ? marks possessive), or ''. */
  private quantifier(): string {
    const c = this.peek();
    let q = '';
    if (c === '*' || c === '+' || c === '?') {
      q = c;
      this.i++;
    } else if (c === '{') {
      const m = /^\{(\d*)(,?)(\d*)\}/.exec(this.src.slice(this.i));
      if (!m || (m[1] === '' && m[3] === '') || (m[1] === '' && m[2] === '')) return '';
      q = `{${m[1] || '0'}${m[2]}${m[3]}}`;
      this.i += m[0].length;
      if (this.peek() === '+') this.fail(`"${m[0]}+" (in Ruby syntax a quantifier of a quantifier)`);
    } else return '';
    if (this.peek() === '?') {
      this.i++;
      q += '?';
      this.lazy++;
    } else if (this.peek() === '+' && q.length === 1) {
      this.i++;
      q += '+';
    }
    if ('*+?{'.includes(this.peek()) && this.peek() !== '' && !(this.peek() === '{' && !/^\{\d*,?\d*\}/.test(this.src.slice(this.i)))) this.fail(`a quantifier of a quantifier at offset ${this.i}`);
    return q;
  }

  /** One atom as JS source; null for a comment group. */
  private atom(ci: boolean): string | null {
    const c = this.peek();
    if (c === '(') return this.group(ci);
    if (c === '[') return this.charClass(ci);
    if (c === '\\') return this.escape(ci, false);
    this.i += c.length;
    if (c === '.') return '[^\\n]';
    if (c === '^') return '(?<![^\\n])';
    if (c === '$') return '(?![^\\n])';
    if (c === '*' || c === '+' || c === '?') this.fail(`nothing to repeat before "${c}" at offset ${this.i - 1}`);
    // a code point, not a UTF-16 unit
    const code = this.src.codePointAt(this.i - 1)!;
    if (code > 0xffff) this.i++;
    return this.literal(code, ci);
  }

  private literal(code: number, ci: boolean): string {
    const ch = String.fromCodePoint(code);
    if (ci && isAsciiLetter(ch)) return `[${foldClassItems(ch)}]`;
    if (ci && code > 0x7f) this.fail(`non-ASCII character ${JSON.stringify(ch)} in a case-insensitive group`);
    return cp(code);
  }

  private group(ci: boolean): string | null {
    const rest = this.src.slice(this.i);
    const close = (inner: string): string => {
      if (this.peek() !== ')') this.fail(`missing ")" for the group at offset ${this.i}`);
      this.i++;
      return inner;
    };
    let m: RegExpExecArray | null;
    if (rest.startsWith('(?#')) {
      const end = this.src.indexOf(')', this.i);
      if (end < 0) this.fail('unterminated comment group');
      this.i = end + 1;
      return null;
    }
    if ((m = /^\(\?([imx]*)(?:-([imx]*))?(:|\))/.exec(rest)) && (m[1] || m[2] !== undefined)) {
      const on = m[1];
      const off = m[2] ?? '';
      if (/[mx]/.test(on + off)) this.fail(`the option group "${m[0]}" (only i is supported)`);
      const nci = on.includes('i') ? true : off.includes('i') ? false : ci;
      this.i += m[0].length;
      if (m[3] === ')') {
        // (?i) mid-sequence scopes differently in Oniguruma (to the end of the group, across |)
        this.fail(`"${m[0]}" other than at the start of the pattern (write "(?i:…)")`);
      }
      return '(?:' + close(this.alternation(nci)) + ')';
    }
    if (rest.startsWith('(?i)')) this.fail('"(?i)" other than at the start of the pattern (write "(?i:…)")');
    for (const look of ['(?=', '(?!', '(?<=', '(?<!']) {
      if (rest.startsWith(look)) {
        this.i += look.length;
        return look + close(this.alternation(ci)) + ')';
      }
    }
    if (rest.startsWith('(?>')) {
      this.i += 3;
      const lazyBefore = this.lazy;
      const inner = close(this.alternation(ci));
      this.checkAtomicBody(lazyBefore);
      const n = ++this.captures;
      return `(?=(?<a${n}>${inner}))\\k<a${n}>`;
    }
    if (rest.startsWith('(?:')) {
      this.i += 3;
      return '(?:' + close(this.alternation(ci)) + ')';
    }
    if ((m = /^\(\?(<[A-Za-z_]\w*>|'[A-Za-z_]\w*')/.exec(rest))) {
      this.i += m[0].length;
      return '(?:' + close(this.alternation(ci)) + ')';
    }
    if (rest.startsWith('(?')) this.fail(`the group "${rest.slice(0, 4)}…"`);
    this.i++;
    return '(?:' + close(this.alternation(ci)) + ')';
  }

  /** Parse \p{…} / \P{…} at this.i (after the backslash is consumed up to the letter); JS item. */
  private property(negated: boolean, ci: boolean): string {
    if (this.peek() !== '{') this.fail(`\\${negated ? 'P' : 'p'} without {…}`);
    const end = this.src.indexOf('}', this.i);
    if (end < 0) this.fail('unterminated \\p{');
    let name = this.src.slice(this.i + 1, end);
    this.i = end + 1;
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    if (ci) this.fail(`\\p{${name}} in a case-insensitive group`);
    const js = jsProperty(name);
    if (!js) this.fail(`the Unicode property "${name}"`);
    return propertyItem(js, negated);
  }

  /**
   * An escape at this.i. Outside a class: a JS atom. Inside one (inClass): class items.
   */
  private escape(ci: boolean, inClass: boolean): string {
    this.i++; // the backslash
    const c = this.peek();
    if (c === '') this.fail('a trailing backslash');
    this.i++;
    const set = (items: string, negated: boolean): string => {
      if (inClass) {
        if (negated) this.fail(`\\${c} inside a character class`);
        return items;
      }
      return `[${negated ? '^' : ''}${items}]`;
    };
    switch (c) {
      case 's':
        return inClass ? WS_ITEMS : `[${WS_ITEMS}]`;
      case 'S':
        return inClass ? NOT_WS_ITEMS : `[^${WS_ITEMS}]`;
      case 'd':
        return propertyItem('Nd', false);
      case 'D':
        return propertyItem('Nd', true);
      case 'h':
        return set(HEX_ITEMS, false);
      case 'H':
        return set(HEX_ITEMS, true);
      case 'w':
        if (ci) this.fail('\\w in a case-insensitive group');
        return set(WORD_ITEMS(), false);
      case 'W':
        if (ci) this.fail('\\W in a case-insensitive group');
        return set(WORD_ITEMS(), true);
      case 'p':
      case 'P':
        return this.property(c === 'P', ci);
    }
    if (!inClass) {
      const w = `[${WORD_ITEMS()}]`;
      if (c === 'b') return `(?:(?<=${w})(?!${w})|(?<!${w})(?=${w}))`;
      if (c === 'B') return `(?:(?<=${w})(?=${w})|(?<!${w})(?!${w}))`;
      if (c === 'A') return '(?<![\\s\\S])';
      if (c === 'z') return '(?![\\s\\S])';
      if (c === 'Z') return '(?=\\n?(?![\\s\\S]))';
    }
    const simple: Record<string, number> = { t: 9, n: 10, r: 13, f: 12, v: 11, a: 7, e: 27 };
    if (c in simple) return cp(simple[c]);
    if (c === 'x') {
      const m = /^\{([0-9a-fA-F]{1,8})\}|^([0-9a-fA-F]{1,2})/.exec(this.src.slice(this.i));
      if (!m) this.fail('\\x without hex digits');
      this.i += m[0].length;
      return this.codeItem(parseInt(m[1] ?? m[2], 16), ci, inClass);
    }
    if (c === 'u') {
      const m = /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.i));
      if (!m) this.fail('\\u without four hex digits');
      this.i += 4;
      return this.codeItem(parseInt(m[0], 16), ci, inClass);
    }
    if (c === '0') {
      const m = /^[0-7]{0,2}/.exec(this.src.slice(this.i))!;
      this.i += m[0].length;
      return this.codeItem(parseInt('0' + m[0], 8), ci, inClass);
    }
    if (/[0-9A-Za-z]/.test(c)) this.fail(`the escape "\\${c}"${/[1-9k]/.test(c) ? ' (a backreference)' : ''}`);
    const code = this.src.codePointAt(this.i - 1)!;
    if (code > 0xffff) this.i++;
    return this.codeItem(code, ci, inClass);
  }

  private codeItem(code: number, ci: boolean, inClass: boolean): string {
    if (code > 0x10ffff) this.fail(`code point 0x${code.toString(16)}`);
    return inClass ? (ci && isAsciiLetter(String.fromCodePoint(code)) ? foldClassItems(String.fromCodePoint(code)) : cp(code)) : this.literal(code, ci);
  }

  private charClass(ci: boolean): string {
    const at = this.i;
    this.i++; // [
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.i++;
    }
    let items = '';
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === '') this.fail(`unterminated character class at offset ${at}`);
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      if (c === '[') this.fail('a nested character class or POSIX bracket ("[" inside "[…]")');
      if (c === '&' && this.peek(1) === '&') this.fail('a class intersection ("&&")');
      // one endpoint: a literal code point or an escape
      let lo: number | null;
      let item: string;
      if (c === '\\') {
        const before = this.i;
        const e = this.escapeInClass(ci);
        lo = e.code;
        item = e.items;
        if (lo === null && this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '') this.fail(`a range from "${this.src.slice(before, this.i)}"`);
      } else {
        lo = this.src.codePointAt(this.i)!;
        this.i += lo > 0xffff ? 2 : 1;
        item = '';
      }
      if (lo !== null && this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '') {
        this.i++; // -
        let hi: number | null;
        if (this.peek() === '\\') hi = this.escapeInClass(ci).code;
        else if (this.peek() === '[') this.fail('a nested character class or POSIX bracket ("[" inside "[…]")');
        else {
          hi = this.src.codePointAt(this.i)!;
          this.i += hi > 0xffff ? 2 : 1;
        }
        if (hi === null) this.fail('a range to a class escape');
        if (hi < lo) this.fail(`the empty range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)}`);
        items += this.rangeItems(lo, hi, ci);
      } else if (lo !== null) items += this.rangeItems(lo, lo, ci);
      else items += item;
    }
    return `[${negated ? '^' : ''}${items}]`;
  }

  /** An escape inside a class: a single code point (code) or a set (items). */
  private escapeInClass(ci: boolean): { code: number | null; items: string } {
    const next = this.peek(1);
    if ('sSdDhHwWpP'.includes(next)) return { code: null, items: this.escape(ci, true) };
    // single code point: re-parse through escape() and read back the code point
    const save = this.i;
    const item = this.escape(false, true);
    const m = /^\\u\{([0-9a-f]+)\}$|^([0-9A-Za-z])$/.exec(item);
    if (!m) {
      this.i = save;
      this.fail('an escape inside a class');
    }
    return { code: m[1] ? parseInt(m[1], 16) : m[2].codePointAt(0)!, items: '' };
  }

  private rangeItems(lo: number, hi: number, ci: boolean): string {
    let out = lo === hi ? cp(lo) : `${cp(lo)}-${cp(hi)}`;
    if (!ci) return out;
    if (hi > 0x7f) this.fail(`non-ASCII characters in a class of a case-insensitive group`);
    for (let c = lo; c <= hi; c++) {
      const ch = String.fromCharCode(c);
      if (isAsciiLetter(ch)) out += foldClassItems(ch);
    }
    return out;
  }
}

/**
 * Translate an Oniguruma (Ruby syntax) regex source, as Hugging Face tokenizers reads it, into
 * an equivalent JavaScript source for flags 'gu'. Throws GptforgeError (file, field, the
 * construct) for what has no exact translation. See the module comment for the rules.
 */
export function onigToJs(source: string, where: { file?: string; field?: string } = {}): string {
  const fail = (what: string): never => {
    throw new GptforgeError(`the regex ${JSON.stringify(source.length > 80 ? source.slice(0, 77) + '…' : source)} uses ${what}, which gptforge cannot reproduce exactly`, where);
  };
  const js = new Translator(source, fail).run();
  try {
    new RegExp(js, 'gu');
  } catch (e) {
    fail(`a construct JavaScript rejects (${(e as Error).message})`);
  }
  return js;
}

/** A literal string (a Split's {"String": …} pattern) as a JavaScript source for flags 'gu'. */
export function literalToJs(text: string): string {
  let out = '';
  for (const ch of text) out += cp(ch.codePointAt(0)!);
  return out;
}
