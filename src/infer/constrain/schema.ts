/**
 * JSON Schema → the grammar IR, for the subset OpenAI structured outputs and llama.cpp's
 * json-schema-to-grammar use: type (and type arrays, OpenAPI `nullable`), enum, const,
 * properties / required / additionalProperties, items / prefixItems (and draft-4 tuple `items`
 * with additionalItems), minItems / maxItems, anyOf, oneOf (only when its branches provably
 * exclude each other, so oneOf = anyOf), allOf (merged as a conjunction), $ref / $defs /
 * definitions (local, recursion allowed), string minLength / maxLength / pattern / format
 * (date, time, date-time, uuid, email, ipv4), integer and number minimum / maximum /
 * exclusiveMinimum / exclusiveMaximum (draft-4 boolean forms too).
 *
 * Semantics are JSON Schema's (2020-12 validation), never relaxed: a validation keyword we
 * cannot enforce is refused with its JSON pointer; unknown keywords are annotations and are
 * ignored, as the spec says. Deliberate tightenings (valid JSON we never produce; documented
 * in docs/constrain.md): object members appear in `properties` order (extra members allowed
 * by additionalProperties may appear anywhere among them), property names and pattern/format
 * strings use canonical escapes only (JSON.stringify's), enum/const values are written
 * compactly, bounded numbers are written without an exponent, `-0` is not produced for a
 * bounded integer.
 *
 * Whitespace policy ('flexible', the default, as llama.cpp's `space` rule): around
 * structural characters nothing, one space, or a newline followed by up to 20 spaces/tabs —
 * pretty-printed output with indentation to depth 10 (2 spaces) fits; 'line' allows nothing or
 * one space (a value on one line: JSON Lines); 'compact' allows none.
 * No whitespace before or after the top-level value.
 */
import { GptforgeError } from '../../util/errors.js';
import { byteSet, byteSetKey, complementRanges, intersectRanges, MAX_CODE_POINT, subtractRanges, type CodeRange } from './bytes.js';
import { alt, bytes, chars, EMPTY, literal, lowerGrammar, NOTHING, opt, ref, repeat, seq, star, type Expr, type Grammar, type LoweredGrammar } from './grammar.js';
import { Automaton } from './matcher.js';
import { boundLength, type BoundedLanguage } from './lengthbound.js';
import { DIGIT, regexToExpr, utf8Chars, type CharEncoder } from './regex.js';

export interface SchemaOptions {
  /** Whitespace between JSON tokens (see the module comment). Default 'flexible'. */
  whitespace?: 'flexible' | 'line' | 'compact';
  /** The schema's file, for errors. */
  file?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const ptrJoin = (p: string, k: string | number): string => `${p}/${String(k).replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** Validation keywords we do not enforce: present (and not trivially true) → refused. */
const UNSUPPORTED = new Set(['multipleOf', 'uniqueItems', 'contains', 'minContains', 'maxContains', 'minProperties', 'maxProperties', 'dependentRequired', 'dependencies', 'dependentSchemas', 'patternProperties', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'not', 'if', '$dynamicRef', '$recursiveRef']);
const TYPES = ['null', 'boolean', 'object', 'array', 'string', 'number', 'integer'] as const;
type TypeName = (typeof TYPES)[number];

// ---- characters of JSON strings ------------------------------------------------------
const HEX: CodeRange[] = [
  [0x30, 0x39],
  [0x41, 0x46],
  [0x61, 0x66],
];
const SPECIAL: CodeRange[] = [
  [0, 0x1f],
  [0x22, 0x22],
  [0x5c, 0x5c],
];
const SHORT_ESC: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 8: 'b', 12: 'f', 10: 'n', 13: 'r', 9: 't' };
const hexDigitExpr = (d: number): Expr => {
  const c = d.toString(16);
  return c >= 'a'
    ? chars([
        [c.charCodeAt(0), c.charCodeAt(0)],
        [c.toUpperCase().charCodeAt(0), c.toUpperCase().charCodeAt(0)],
      ])
    : literal(c);
};

/** JSON string content for a set of code points, canonical escapes only (raw where JSON allows, else \" \\ \b \f \n \r \t or \u00XX). */
const jsonCharsCache = new Map<string, Expr>();
export const jsonChars: CharEncoder = (ranges) => {
  const key = ranges.map((r) => `${r[0]}-${r[1]}`).join(',');
  let e = jsonCharsCache.get(key);
  if (!e) {
    e = jsonCharsUncached(ranges);
    if (jsonCharsCache.size > 10_000) jsonCharsCache.clear();
    jsonCharsCache.set(key, e);
  }
  return e;
};
const jsonCharsUncached: CharEncoder = (ranges) => {
  const raw = subtractRanges(ranges, SPECIAL);
  const parts: Expr[] = raw.length > 0 ? [chars(raw)] : [];
  // escapes grouped into few branches (fewer parser configurations): \ [short letters] | \u00 XX
  const letters: CodeRange[] = [];
  const controls: number[] = [];
  for (const [lo, hi] of intersectRanges(ranges, [...SPECIAL, [0x2f, 0x2f]])) {
    for (let c = lo; c <= hi; c++) {
      if (SHORT_ESC[c] !== undefined) letters.push([SHORT_ESC[c].charCodeAt(0), SHORT_ESC[c].charCodeAt(0)]);
      if (c < 0x20) controls.push(c);
    }
  }
  const esc: Expr[] = [];
  if (letters.length > 0) esc.push(chars(letters));
  if (controls.length === 32) esc.push(seq(literal('u00'), chars([[0x30, 0x31]]), chars(HEX)));
  else for (const c of controls) esc.push(seq(literal('u00'), hexDigitExpr(c >> 4), hexDigitExpr(c & 15)));
  if (esc.length > 0) parts.push(seq(literal('\\'), alt(...esc)));
  return alt(...parts);
};
/** Any JSON string character, any escape (RFC 8259 §7). */
const ANY_CHAR: Expr = alt(
  chars(complementRanges(SPECIAL)),
  seq(
    literal('\\'),
    alt(
      chars([
        [0x22, 0x22],
        [0x5c, 0x5c],
        [0x2f, 0x2f],
        [0x62, 0x62],
        [0x66, 0x66],
        [0x6e, 0x6e],
        [0x72, 0x72],
        [0x74, 0x74],
      ]),
      seq(literal('u'), repeat(chars(HEX), 4, 4)),
    ),
  ),
);
const QUOTE = literal('"');
const ANY_CANONICAL: Expr = jsonChars([[0, MAX_CODE_POINT]]);
const NON_ASCII: Expr = chars([[0x80, MAX_CODE_POINT]]);
/** Every canonical escape: of a character JSON requires escaped, and \/. */
const CANONICAL_ESCAPES: Expr = jsonChars([...SPECIAL, [0x2f, 0x2f]]);
const DIGIT_E = chars(DIGIT);
const NZ_DIGIT = chars([[0x31, 0x39]]);

// ---- formats (subsets of ajv-formats' full mode: every string produced passes it) ------
const LEAP = '(?:\\d\\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)';
const DATE = `(?:\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))|${LEAP}-02-29)`;
const TIME = '(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:[zZ]|[+-](?:[01]\\d|2[0-3])(?::?[0-5]\\d)?)';
const FORMATS: Record<string, string> = {
  date: DATE,
  time: TIME,
  'date-time': `${DATE}[tT]${TIME}`, // RFC 3339 §5.6; ajv-formats also takes a space, JSONSchemaBench counts it invalid
  uuid: '(?:urn:uuid:)?[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}',
  email: "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\\.)+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?",
  ipv4: '(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)',
};

// ---- integer ranges as digit grammars -------------------------------------------------
function digitRange(a: number, b: number): Expr {
  return chars([[0x30 + a, 0x30 + b]]);
}
function sameLength(a: string, b: string): Expr {
  if (a.length === 0) return EMPTY;
  if (a === b) return literal(a);
  if (a[0] === b[0]) return seq(literal(a[0]), sameLength(a.slice(1), b.slice(1)));
  const rest = a.length - 1;
  const a0 = Number(a[0]);
  const b0 = Number(b[0]);
  if (/^0*$/.test(a.slice(1)) && /^9*$/.test(b.slice(1))) return seq(digitRange(a0, b0), repeat(DIGIT_E, rest, rest));
  const parts = [seq(literal(a[0]), sameLength(a.slice(1), '9'.repeat(rest)))];
  if (b0 - a0 > 1) parts.push(seq(digitRange(a0 + 1, b0 - 1), repeat(DIGIT_E, rest, rest)));
  parts.push(seq(literal(b[0]), sameLength('0'.repeat(rest), b.slice(1))));
  return alt(...parts);
}
/** Canonical decimal non-negative integers in [lo, hi] (hi may be Infinity). */
export function intRange(lo: number, hi: number): Expr {
  if (lo > hi) return NOTHING;
  const ls = String(lo);
  if (hi === Infinity) return alt(sameLength(ls, '9'.repeat(ls.length)), seq(NZ_DIGIT, repeat(DIGIT_E, ls.length, Infinity)));
  const hs = String(hi);
  const parts: Expr[] = [];
  for (let len = ls.length; len <= hs.length; len++) {
    const a = len === ls.length ? ls : `1${'0'.repeat(len - 1)}`;
    const b = len === hs.length ? hs : '9'.repeat(len);
    parts.push(sameLength(a, b));
  }
  return alt(...parts);
}

type FracKind = 'any' | 'zero' | 'nonzero' | 'none';
const meet = (a: FracKind, b: FracKind): FracKind => (a === 'none' || b === 'none' ? 'none' : a === 'any' ? b : b === 'any' ? a : a === b ? a : 'none');

/** Magnitudes k[.f] (k ≥ 0 integer part) with lo ≤/< value ≤/< hi, for integer bounds (±Infinity = none). */
function magnitudes(lo: number, loEx: boolean, hi: number, hiEx: boolean): Expr {
  const kind = (k: number): FracKind => {
    let a: FracKind = 'any';
    if (k < lo) a = 'none';
    else if (k === lo && loEx) a = 'nonzero';
    let b: FracKind = 'any';
    if (k > hi) b = 'none';
    else if (k === hi) b = hiEx ? 'none' : 'zero';
    return meet(a, b);
  };
  const frac: Record<FracKind, Expr> = {
    any: opt(seq(literal('.'), repeat(DIGIT_E, 1, Infinity))),
    zero: opt(seq(literal('.'), repeat(literal('0'), 1, Infinity))),
    nonzero: seq(literal('.'), star(DIGIT_E), NZ_DIGIT, star(DIGIT_E)),
    none: NOTHING,
  };
  const points = [...new Set([lo, hi].filter((x) => Number.isFinite(x) && x >= 0))].sort((x, y) => x - y);
  const parts: Expr[] = [];
  let from = 0;
  for (const p of points) {
    if (p - 1 >= from) parts.push(seq(intRange(from, p - 1), frac[kind(from)]));
    parts.push(seq(intRange(p, p), frac[kind(p)]));
    from = p + 1;
  }
  parts.push(seq(intRange(from, Infinity), frac[kind(from)]));
  return alt(...parts.filter((e) => !(e.kind === 'seq' && e.items.some((x) => x === NOTHING))));
}

// ---------------------------------------------------------------------------------------

class Compiler {
  readonly rules = new Map<string, Expr>();
  /** String values and keys: the rules the matcher's frames end at (Grammar.lexemes). */
  readonly lexemes = new Set<string>(['json-string']);
  private readonly refRules = new Map<string, string>();
  private readonly ws: Expr;
  private readonly file?: string;
  /**
   * Drafts 3–7 say every other keyword beside `$ref` MUST be ignored (draft-07 §8.3); from
   * 2019-09 on they apply too (a conjunction). Decided by the root's `$schema`; without one,
   * the newer reading (the stricter of the two).
   */
  private readonly refOverridesSiblings: boolean;

  constructor(
    private readonly root: Json,
    opts: SchemaOptions,
  ) {
    this.file = opts.file;
    this.refOverridesSiblings = isObj(root) && typeof root.$schema === 'string' && /draft-0[3-7]\b/.test(root.$schema);
    this.ws =
      opts.whitespace === 'compact'
        ? EMPTY
        : opts.whitespace === 'line'
          ? alt(EMPTY, literal(' '))
          : alt(
              EMPTY,
              literal(' '),
              seq(
                literal('\n'),
                repeat(
                  chars([
                    [0x20, 0x20],
                    [0x09, 0x09],
                  ]),
                  0,
                  20,
                ),
              ),
            );
    const ws = this.ws;
    // Any JSON value (RFC 8259), as named rules so they are shared and may recurse.
    this.rules.set('json-value', alt(ref('json-object'), ref('json-array'), ref('json-string'), ref('json-number'), literal('true'), literal('false'), literal('null')));
    this.rules.set('json-string', seq(QUOTE, star(ANY_CHAR), QUOTE));
    this.rules.set('json-canonical-escape', CANONICAL_ESCAPES);
    this.rules.set('json-integer', seq(opt(literal('-')), alt(literal('0'), seq(NZ_DIGIT, star(DIGIT_E)))));
    this.rules.set('json-boolean', alt(literal('true'), literal('false')));
    this.rules.set(
      'json-number',
      seq(
        opt(literal('-')),
        alt(literal('0'), seq(NZ_DIGIT, star(DIGIT_E))),
        opt(seq(literal('.'), repeat(DIGIT_E, 1, Infinity))),
        opt(
          seq(
            chars([
              [0x45, 0x45],
              [0x65, 0x65],
            ]),
            opt(
              chars([
                [0x2b, 0x2b],
                [0x2d, 0x2d],
              ]),
            ),
            repeat(DIGIT_E, 1, Infinity),
          ),
        ),
      ),
    );
    const member = seq(ref('json-string'), ws, literal(':'), ws, ref('json-value'));
    this.rules.set('json-object', seq(literal('{'), ws, opt(seq(member, star(seq(ws, literal(','), ws, member)), ws)), literal('}')));
    this.rules.set('json-array', seq(literal('['), ws, opt(seq(ref('json-value'), star(seq(ws, literal(','), ws, ref('json-value'))), ws)), literal(']')));
  }

  invalid(ptr: string, msg: string): never {
    // the place is the JSON pointer (err.pointer; the message says "at /properties/a", or "at the root"), apart from what is wrong
    throw new GptforgeError(`invalid JSON Schema: ${msg}`, { file: this.file, pointer: ptr });
  }
  unsupported(ptr: string, kw: string, why = ''): never {
    throw new GptforgeError(`unsupported JSON Schema keyword "${kw}"${why ? `: ${why}` : ''} (refused rather than ignored)`, { file: this.file, pointer: ptrJoin(ptr, kw) });
  }
  /** Reasons some subschema admits no value; reported if the whole schema turns out empty. */
  readonly emptyReasons: string[] = [];
  unsatisfiable(ptr: string, msg: string): Expr {
    this.emptyReasons.push(`${ptr || '/'}: ${msg}`);
    return NOTHING;
  }

  /** Resolve a local $ref ("#", "#/$defs/x", any "#/json/pointer"). */
  resolve(refStr: Json, ptr: string): { schema: Json; ptr: string } {
    if (typeof refStr !== 'string') this.invalid(ptrJoin(ptr, '$ref'), '$ref must be a string');
    if (!refStr.startsWith('#')) this.unsupported(ptr, '$ref', `only local references ("#/…") are supported, not ${JSON.stringify(refStr)}`);
    const frag = decodeURIComponent(refStr.slice(1));
    if (frag !== '' && !frag.startsWith('/')) this.unsupported(ptr, '$ref', `anchor references (${refStr}) are not supported`);
    let node: Json = this.root;
    if (frag !== '') {
      for (const raw of frag.slice(1).split('/')) {
        const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
        if (Array.isArray(node) && /^\d+$/.test(key) && Number(key) < node.length) node = node[Number(key)];
        else if (isObj(node) && Object.prototype.hasOwnProperty.call(node, key)) node = node[key];
        else this.invalid(ptrJoin(ptr, '$ref'), `$ref ${refStr} does not resolve`);
      }
    }
    return { schema: node, ptr: frag };
  }

  /** The Expr of a schema; `ptr` is its JSON pointer (errors). */
  compile(schema: Json, ptr: string): Expr {
    if (schema === true) return ref('json-value');
    if (schema === false) return NOTHING;
    if (!isObj(schema)) this.invalid(ptr, `a schema must be an object or a boolean, not ${JSON.stringify(schema)}`);
    for (const kw of Object.keys(schema)) {
      if (!UNSUPPORTED.has(kw)) continue;
      const v = schema[kw];
      if ((kw === 'uniqueItems' && v === false) || (kw === 'minProperties' && v === 0) || (kw === 'minContains' && v === 1 && !('contains' in schema))) continue;
      if ((kw === 'patternProperties' || kw === 'dependentRequired' || kw === 'dependencies' || kw === 'dependentSchemas') && isObj(v) && Object.keys(v).length === 0) continue;
      this.unsupported(ptr, kw);
    }
    if ('$ref' in schema) {
      const siblings = Object.keys(schema).filter((k) => isValidationKeyword(k) && k !== '$ref');
      if (siblings.length > 0 && !this.refOverridesSiblings) return this.compile({ allOf: [{ $ref: schema.$ref }, omit(schema, ['$ref'])] }, ptr);
      return this.refExpr(schema.$ref, ptr);
    }
    if ('allOf' in schema) {
      const all = schema.allOf;
      if (!Array.isArray(all) || all.length === 0) this.invalid(ptrJoin(ptr, 'allOf'), 'allOf must be a non-empty array');
      let merged: Obj = omit(schema, ['allOf']);
      all.forEach((m, i) => {
        merged = this.conj(merged, this.deref(m, ptrJoin(ptrJoin(ptr, 'allOf'), i)), ptrJoin(ptrJoin(ptr, 'allOf'), i));
      });
      return this.compile(merged, ptr);
    }
    for (const kw of ['anyOf', 'oneOf'] as const) {
      if (!(kw in schema)) continue;
      const branches = schema[kw];
      if (!Array.isArray(branches) || branches.length === 0) this.invalid(ptrJoin(ptr, kw), `${kw} must be a non-empty array`);
      if (kw === 'oneOf') this.checkExclusive(branches, ptrJoin(ptr, kw));
      const rest = omit(schema, [kw]);
      const hasRest = Object.keys(rest).some(isValidationKeyword);
      return alt(
        ...branches.map((b, i) => {
          const bp = ptrJoin(ptrJoin(ptr, kw), i);
          return hasRest ? this.compile(this.conj(rest, this.deref(b, bp), bp), bp) : this.compile(b, bp);
        }),
      );
    }
    return this.compileTyped(schema, ptr);
  }

  private refExpr(r: Json, ptr: string): Expr {
    const { schema, ptr: target } = this.resolve(r, ptr);
    let name = this.refRules.get(target);
    if (name === undefined) {
      name = `ref:${target || '#'}`;
      this.refRules.set(target, name);
      this.rules.set(name, NOTHING); // placeholder: recursion refers to the name
      this.rules.set(name, this.compile(schema, target));
    }
    return ref(name);
  }

  /** A schema with top-level $ref replaced by its target (for merging); recursion through allOf is refused. */
  private deref(s: Json, ptr: string, depth = 0): Json {
    if (isObj(s) && '$ref' in s) {
      if (depth > 32) this.unsupported(ptr, '$ref', 'a reference cycle through allOf');
      const { schema, ptr: p } = this.resolve(s.$ref, ptr);
      const rest = this.refOverridesSiblings ? {} : omit(s, ['$ref']);
      const target = this.deref(schema, p, depth + 1);
      return Object.keys(rest).length === 0 ? target : this.conj(target, rest, ptr);
    }
    return s;
  }

  /** The conjunction of two schemas as one schema (allOf), or refused where we cannot express it exactly. */
  conj(a: Json, b: Json, ptr: string): Obj {
    if (a === false || b === false) return { type: [] };
    if (a === true || (isObj(a) && Object.keys(a).length === 0)) return isObj(b) ? b : {};
    if (b === true || (isObj(b) && Object.keys(b).length === 0)) return isObj(a) ? a : {};
    if (!isObj(a) || !isObj(b)) this.invalid(ptr, 'allOf members must be schemas');
    if ('$ref' in a || '$ref' in b) return this.conj(this.deref(a, ptr), this.deref(b, ptr), ptr);
    if ('allOf' in b) {
      let m: Obj = omit(b, ['allOf']);
      for (const x of b.allOf as Json[]) m = this.conj(m, this.deref(x, ptr), ptr);
      return this.conj(a, m, ptr);
    }
    if ('allOf' in a) return this.conj(b, a, ptr);
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) {
      if (!(k in out)) {
        out[k] = v;
        continue;
      }
      const u = out[k];
      if (JSON.stringify(u) === JSON.stringify(v)) continue;
      switch (k) {
        case 'type': {
          const ta = typeList(u, ptr, this);
          const tb = typeList(v, ptr, this);
          const both = new Set(ta.filter((t) => tb.includes(t) || (t === 'integer' && tb.includes('number'))));
          for (const t of tb) if (t === 'integer' && ta.includes('number')) both.add('integer');
          out.type = [...both];
          break;
        }
        case 'required':
          out.required = [...new Set([...(u as string[]), ...(v as string[])])];
          break;
        case 'properties': {
          const pa = u as Obj;
          const pb = v as Obj;
          const merged: Obj = { ...pa };
          for (const [name, s] of Object.entries(pb)) merged[name] = name in pa ? { allOf: [pa[name], s] } : s;
          out.properties = merged;
          break;
        }
        case 'minimum':
        case 'minLength':
        case 'minItems':
        case 'exclusiveMinimum':
          if (typeof u === 'number' && typeof v === 'number') out[k] = Math.max(u, v);
          else this.unsupported(ptr, k, 'allOf members set it differently');
          break;
        case 'maximum':
        case 'maxLength':
        case 'maxItems':
        case 'exclusiveMaximum':
          if (typeof u === 'number' && typeof v === 'number') out[k] = Math.min(u, v);
          else this.unsupported(ptr, k, 'allOf members set it differently');
          break;
        case 'enum':
        case 'const': {
          const va = k === 'const' ? [u] : (u as Json[]);
          const vb = new Set((k === 'const' ? [v] : (v as Json[])).map((x) => JSON.stringify(x)));
          out.enum = va.filter((x) => vb.has(JSON.stringify(x)));
          if (k === 'const') delete out.const;
          break;
        }
        case 'additionalProperties':
          if (u === false || v === false) out[k] = false;
          else if (u === true) out[k] = v;
          else if (v === true) out[k] = u;
          else out[k] = { allOf: [u, v] };
          break;
        case 'anyOf':
        case 'oneOf':
          out[k] = (u as Json[]).flatMap((x) => (v as Json[]).map((y) => ({ allOf: [x, y] })));
          if (k === 'oneOf') this.unsupported(ptr, 'oneOf', 'two allOf members both use oneOf');
          break;
        default:
          if (!isValidationKeyword(k)) break; // annotations: keep the first
          this.unsupported(ptr, k, 'allOf members set it differently');
      }
    }
    // One member's additionalProperties governs the properties only the other member lists.
    for (const m of [a, b]) {
      const ap = m.additionalProperties;
      if (ap === undefined || ap === true) continue;
      const own = new Set(Object.keys(isObj(m.properties) ? m.properties : {}));
      const props: Obj = isObj(out.properties) ? { ...out.properties } : {};
      for (const name of Object.keys(props)) if (!own.has(name)) props[name] = ap === false ? false : { allOf: [props[name], ap] };
      // required names listed nowhere are checked against additionalProperties in objectExpr
      out.properties = props;
    }
    return out;
  }

  /** oneOf is compiled as anyOf only when no value can match two branches. */
  private checkExclusive(branches: Json[], ptr: string): void {
    const info = branches.map((b, i) => this.kinds(this.deref(b, ptrJoin(ptr, i))));
    for (let i = 0; i < branches.length; i++) {
      for (let j = i + 1; j < branches.length; j++) {
        const a = info[i];
        const b = info[j];
        const overlapTypes = [...a.types].some((t) => b.types.has(t));
        if (!overlapTypes) continue;
        if (a.values && b.values && ![...a.values].some((v) => b.values!.has(v))) continue;
        if (a.discriminators && b.discriminators) {
          let disjoint = false;
          for (const [p, va] of a.discriminators) {
            const vb = b.discriminators.get(p);
            if (vb && ![...va].some((v) => vb.has(v))) disjoint = true;
          }
          if (disjoint) continue;
        }
        this.unsupported(ptr.slice(0, ptr.lastIndexOf('/')), 'oneOf', `branches ${i} and ${j} may both match a value; only provably exclusive oneOf (different types, distinct enum/const values, or a required property with distinct const values) is supported`);
      }
    }
  }

  /** Conservative facts about a schema: the JSON types it admits, its finite value set, const-valued required properties. */
  private kinds(s: Json): { types: Set<string>; values?: Set<string>; discriminators?: Map<string, Set<string>> } {
    const all = new Set(['null', 'boolean', 'object', 'array', 'string', 'number']);
    if (s === false) return { types: new Set() };
    if (!isObj(s)) return { types: all };
    let types = all;
    if ('type' in s) types = new Set(typeList(s.type, '', this).map((t) => (t === 'integer' ? 'number' : t)));
    let values: Set<string> | undefined;
    const vals = 'const' in s ? [s.const] : Array.isArray(s.enum) ? s.enum : undefined;
    if (vals) {
      values = new Set(vals.map((v) => JSON.stringify(v)));
      types = new Set([...types].filter((t) => vals.some((v) => jsonType(v) === t)));
    }
    let discriminators: Map<string, Set<string>> | undefined;
    if (isObj(s.properties) && Array.isArray(s.required)) {
      discriminators = new Map();
      for (const name of s.required) {
        const p = s.properties[name as string];
        if (isObj(p) && ('const' in p || Array.isArray(p.enum))) discriminators.set(name as string, new Set(('const' in p ? [p.const] : (p.enum as Json[])).map((v) => JSON.stringify(v))));
      }
    }
    return { types, values, discriminators };
  }

  private compileTyped(s: Obj, ptr: string): Expr {
    let types: TypeName[] = 'type' in s ? typeList(s.type, ptr, this) : ['null', 'boolean', 'object', 'array', 'string', 'number'];
    if (s.nullable === true && !types.includes('null')) types = [...types, 'null'];
    if ('const' in s || 'enum' in s) {
      const vals = 'const' in s ? [s.const] : s.enum;
      if (!Array.isArray(vals)) this.invalid(ptrJoin(ptr, 'enum'), 'enum must be an array');
      if ('const' in s && 'enum' in s && Array.isArray(s.enum) && !s.enum.some((v) => JSON.stringify(v) === JSON.stringify(s.const))) return this.unsatisfiable(ptr, 'const is not among enum');
      const rest = omit(s, ['const', 'enum']);
      const constrained = Object.keys(rest).some((k) => isValidationKeyword(k) && k !== 'type' && k !== 'nullable' && k !== '$defs' && k !== 'definitions');
      // Other keywords alongside enum/const: keep the values the rest of the schema accepts (checked with our own automaton).
      let check: Automaton | undefined;
      if (constrained) {
        const c = new Compiler(this.root, { whitespace: 'compact', file: this.file });
        const e = c.compileTyped(rest, ptr);
        c.rules.set('root', e);
        try {
          check = new Automaton({ rules: c.rules, start: 'root', source: this.file });
        } catch (err) {
          if (!(err instanceof GptforgeError && /no string satisfies/.test(err.message))) throw err;
          return this.unsatisfiable(ptr, 'no enum/const value satisfies the rest of the schema');
        }
      }
      const enc = new TextEncoder();
      const kept = vals.filter((v) => {
        const t = jsonType(v);
        if (!types.some((x) => x === t || (x === 'integer' && t === 'number' && Number.isInteger(v)) || (x === 'number' && t === 'number'))) return false;
        return check ? check.matches(enc.encode(JSON.stringify(v))) : true;
      });
      if (kept.length === 0) return this.unsatisfiable(ptr, 'no enum/const value satisfies the rest of the schema');
      return alt(...kept.map((v) => this.valueExpr(v)));
    }
    if (types.length === 0) return this.unsatisfiable(ptr, 'the types allowed have no common member');
    const parts = types.filter((t) => !(t === 'integer' && types.includes('number'))).map((t) => this.compileType(t, s, ptr));
    return alt(...parts);
  }

  /** Exactly the JSON value `v`, with the whitespace policy between its tokens. */
  private valueExpr(v: Json): Expr {
    const ws = this.ws;
    const comma = seq(ws, literal(','), ws);
    if (Array.isArray(v)) {
      if (v.length === 0) return seq(literal('['), ws, literal(']'));
      return seq(literal('['), ws, ...v.flatMap((x, i) => (i === 0 ? [this.valueExpr(x)] : [comma, this.valueExpr(x)])), ws, literal(']'));
    }
    if (isObj(v)) {
      const entries = Object.entries(v);
      if (entries.length === 0) return seq(literal('{'), ws, literal('}'));
      const colon = seq(ws, literal(':'), ws);
      return seq(literal('{'), ws, ...entries.flatMap(([k, x], i) => [...(i === 0 ? [] : [comma]), literal(JSON.stringify(k)), colon, this.valueExpr(x)]), ws, literal('}'));
    }
    return literal(JSON.stringify(v));
  }

  private num(s: Obj, kw: string, ptr: string): number | undefined {
    const v = s[kw];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.invalid(ptrJoin(ptr, kw), `${kw} must be a number`);
    return v;
  }
  private count(s: Obj, kw: string, ptr: string): number | undefined {
    const v = this.num(s, kw, ptr);
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) this.invalid(ptrJoin(ptr, kw), `${kw} must be a non-negative integer`);
    return v;
  }

  private compileType(t: TypeName, s: Obj, ptr: string): Expr {
    switch (t) {
      case 'null':
        return literal('null');
      case 'boolean':
        return ref('json-boolean');
      case 'string':
        return this.stringExpr(s, ptr);
      case 'integer':
      case 'number':
        return this.numberExpr(t, s, ptr);
      case 'array':
        return this.arrayExpr(s, ptr);
      case 'object':
        return this.objectExpr(s, ptr);
    }
  }

  private stringExpr(s: Obj, ptr: string): Expr {
    const min = this.count(s, 'minLength', ptr) ?? 0;
    const max = this.count(s, 'maxLength', ptr) ?? Infinity;
    if (min > max) return this.unsatisfiable(ptr, `minLength ${min} > maxLength ${max}`);
    const lengthSet = 'minLength' in s || 'maxLength' in s;
    if ('pattern' in s || 'format' in s) {
      if (lengthSet && 'pattern' in s) this.unsupported(ptr, 'pattern', 'together with minLength/maxLength');
      if ('pattern' in s && 'format' in s) this.unsupported(ptr, 'format', 'together with pattern');
      if ('pattern' in s) {
        if (typeof s.pattern !== 'string') this.invalid(ptrJoin(ptr, 'pattern'), 'pattern must be a string');
        return this.lexeme(`json-string-pattern:${s.pattern}`, () => seq(QUOTE, regexToExpr(s.pattern as string, { mode: 'search', encode: jsonChars, where: { file: this.file, pointer: ptrJoin(ptr, 'pattern') } }), QUOTE));
      }
      const f = s.format;
      if (typeof f !== 'string') this.invalid(ptrJoin(ptr, 'format'), 'format must be a string');
      const re = FORMATS[f];
      if (re === undefined) this.unsupported(ptr, 'format', `format "${f}" is not supported (supported: ${Object.keys(FORMATS).join(', ')})`);
      if (lengthSet) return this.boundedFormat(f, re, min, max, ptr);
      return this.lexeme(`json-string-format:${f}`, () => seq(QUOTE, regexToExpr(re, { mode: 'full', encode: jsonChars }), QUOTE));
    }
    if (max > 10_000 && max !== Infinity) this.unsupported(ptr, 'maxLength', 'above 10000');
    if (min > 10_000) this.unsupported(ptr, 'minLength', 'above 10000');
    // the unconstrained string is one shared rule, so its mask frames are computed once per schema
    if (min === 0 && max === Infinity) return ref('json-string');
    return this.lexeme(`json-string{${min},${max}}`, () => seq(QUOTE, repeat(ANY_CHAR, min, max), QUOTE));
  }

  /**
   * A `format` with minLength/maxLength: the format's character automaton times a length counter
   * (lengthbound.ts), each state a right-linear rule `<lexeme>#<i>` (references in tail position
   * take no stack), between the quotes. Exact: a string is allowed iff it has the format and
   * min ≤ its length in code points ≤ max (what ajv's minLength/maxLength count).
   */
  private boundedFormat(f: string, re: string, min: number, max: number, ptr: string): Expr {
    const name = `json-string-format:${f}{${min},${max === Infinity ? '' : max}}`;
    if (this.rules.has(name)) return ref(name);
    if (max > 10_000 && max !== Infinity) this.unsupported(ptr, 'maxLength', 'above 10000');
    if (min > 10_000) this.unsupported(ptr, 'minLength', 'above 10000');
    let lang: BoundedLanguage;
    try {
      lang = boundLength(regexToExpr(re, { mode: 'full', encode: utf8Chars }), min, max);
    } catch (e) {
      if (e instanceof GptforgeError) this.unsupported(ptr, 'format', `format "${f}" with minLength/maxLength: ${e.message}`);
      throw e;
    }
    if (lang.empty) return this.unsatisfiable(ptr, `no "${f}" string has ${max === Infinity ? `at least ${min}` : `between ${min} and ${max}`} characters`);
    lang.states.forEach((st, i) => {
      const arms = st.edges.map((ed) => seq(jsonChars(ed.ranges), ref(`${name}#${ed.to}`)));
      this.rules.set(`${name}#${i}`, alt(...arms, ...(st.accept ? [EMPTY] : [])));
    });
    return this.lexeme(name, () => seq(QUOTE, ref(`${name}#${lang.start}`), QUOTE));
  }

  /**
   * A string value as a rule of its own, one per distinct definition: the closing quote then
   * belongs to a small rule, so the value's mask frames (matcher.ts) end there and are shared
   * across the schema and, by signature, across schemas.
   */
  private lexeme(name: string, build: () => Expr): Expr {
    if (!this.rules.has(name)) {
      this.rules.set(name, build());
      this.lexemes.add(name);
    }
    return ref(name);
  }

  private numberExpr(t: 'integer' | 'number', s: Obj, ptr: string): Expr {
    // Normalize bounds: draft-4 boolean exclusive flags, draft-6+ numeric ones.
    let lo = -Infinity;
    let loEx = false;
    let hi = Infinity;
    let hiEx = false;
    const minimum = this.num(s, 'minimum', ptr);
    const maximum = this.num(s, 'maximum', ptr);
    if (minimum !== undefined) lo = minimum;
    if (maximum !== undefined) hi = maximum;
    if (typeof s.exclusiveMinimum === 'boolean') loEx = s.exclusiveMinimum && minimum !== undefined;
    else if (s.exclusiveMinimum !== undefined) {
      const x = this.num(s, 'exclusiveMinimum', ptr)!;
      if (x >= lo) [lo, loEx] = [x, true];
    }
    if (typeof s.exclusiveMaximum === 'boolean') hiEx = s.exclusiveMaximum && maximum !== undefined;
    else if (s.exclusiveMaximum !== undefined) {
      const x = this.num(s, 'exclusiveMaximum', ptr)!;
      if (x <= hi) [hi, hiEx] = [x, true];
    }
    const bounded = lo !== -Infinity || hi !== Infinity;
    for (const [v, kw] of [
      [lo, 'minimum'],
      [hi, 'maximum'],
    ] as const) {
      if (Number.isFinite(v) && Math.abs(v) > Number.MAX_SAFE_INTEGER) this.unsupported(ptr, kw, 'a bound beyond ±2^53');
    }
    if (t === 'integer') {
      let a = loEx ? Math.floor(lo) + 1 : Math.ceil(lo);
      let b = hiEx ? Math.ceil(hi) - 1 : Math.floor(hi);
      if (a > b) return this.unsatisfiable(ptr, `no integer lies between the bounds`);
      if (!bounded) return ref('json-integer');
      const parts: Expr[] = [];
      if (b >= 0) parts.push(intRange(Math.max(a, 0), b));
      if (a < 0) parts.push(seq(literal('-'), intRange(Math.max(1, -b), -a)));
      a = 0;
      b = 0;
      return alt(...parts);
    }
    if (!bounded) return ref('json-number');
    for (const [v, kw] of [
      [lo, 'minimum'],
      [hi, 'maximum'],
    ] as const) {
      if (Number.isFinite(v) && !Number.isInteger(v)) this.unsupported(ptr, kw, 'a non-integer bound on a number');
    }
    if (lo > hi || (lo === hi && (loEx || hiEx))) return this.unsatisfiable(ptr, 'the number bounds exclude every value');
    // value = +m with lo ≤ m ≤ hi, or −m with −hi ≤ m ≤ −lo (exclusivity carried over)
    const pos = hi >= 0 ? magnitudes(Math.max(lo, 0) === lo ? lo : 0, lo >= 0 ? loEx : false, hi, hiEx) : NOTHING;
    const neg = lo <= 0 ? seq(literal('-'), magnitudes(hi <= 0 ? -hi : 0, hi <= 0 ? hiEx : false, -lo, loEx)) : NOTHING;
    return alt(...[pos, neg].filter((e) => e !== NOTHING));
  }

  private arrayExpr(s: Obj, ptr: string): Expr {
    const ws = this.ws;
    const min = this.count(s, 'minItems', ptr) ?? 0;
    const max = this.count(s, 'maxItems', ptr) ?? Infinity;
    if (min > max) return this.unsatisfiable(ptr, `minItems ${min} > maxItems ${max}`);
    let prefix: Json[] = [];
    let rest: Json = true;
    let prefixKw = 'prefixItems';
    let restKw = 'items';
    if (Array.isArray(s.items)) {
      // draft 4–2019: tuple form
      prefix = s.items;
      prefixKw = 'items';
      restKw = 'additionalItems';
      rest = s.additionalItems ?? true;
    } else {
      if (s.prefixItems !== undefined) {
        if (!Array.isArray(s.prefixItems)) this.invalid(ptrJoin(ptr, 'prefixItems'), 'prefixItems must be an array');
        prefix = s.prefixItems;
      }
      rest = s.items ?? true;
    }
    if (max !== Infinity && max > 10_000) this.unsupported(ptr, 'maxItems', 'above 10000');
    if (min > 10_000) this.unsupported(ptr, 'minItems', 'above 10000');
    const k = prefix.length;
    const P = prefix.map((p, i) => this.compile(p, ptrJoin(ptrJoin(ptr, prefixKw), i)));
    const R = this.compile(rest, restKw in s ? ptrJoin(ptr, restKw) : ptr);
    const comma = seq(ws, literal(','), ws);
    const elem = (i: number): Expr => (i < k ? P[i] : R);
    // after element i−1: the elements from index i on, each preceded by a comma
    const tail = (i: number): Expr => {
      if (i >= k) {
        const lo = Math.max(0, min - i);
        const hi = max === Infinity ? Infinity : max - i;
        if (hi < lo) return NOTHING;
        if (hi <= 0) return EMPTY;
        return R === NOTHING ? (lo === 0 ? EMPTY : NOTHING) : repeat(seq(comma, R), lo, hi);
      }
      if (i >= max) return EMPTY;
      const next = seq(comma, elem(i), tail(i + 1));
      return i >= min ? alt(EMPTY, next) : next;
    };
    const body = max === 0 ? EMPTY : seq(elem(0), tail(1), ws);
    const items = min === 0 ? alt(EMPTY, body) : body;
    return seq(literal('['), ws, items, literal(']'));
  }

  private objectExpr(s: Obj, ptr: string): Expr {
    const ws = this.ws;
    const props = s.properties ?? {};
    if (!isObj(props)) this.invalid(ptrJoin(ptr, 'properties'), 'properties must be an object');
    const req = s.required ?? [];
    if (!Array.isArray(req) || req.some((r) => typeof r !== 'string')) this.invalid(ptrJoin(ptr, 'required'), 'required must be an array of strings');
    const required = new Set(req as string[]);
    const extra = s.additionalProperties ?? true;
    const names = Object.keys(props);
    // required names not in properties are governed by additionalProperties
    for (const r of required) {
      if (!(r in props)) {
        if (extra === false) return this.unsatisfiable(ptr, `"${r}" is required but additionalProperties is false and properties does not list it`);
        names.push(r);
      }
    }
    const declared: { name: string; value: Expr; required: boolean }[] = [];
    for (const name of names) {
      const sub = name in props ? props[name] : extra;
      const value = this.compile(sub, name in props ? ptrJoin(ptrJoin(ptr, 'properties'), name) : ptrJoin(ptr, 'additionalProperties'));
      if (value === NOTHING) {
        if (required.has(name)) return this.unsatisfiable(ptr, `the required property "${name}" admits no value`);
        continue;
      }
      declared.push({ name, value, required: required.has(name) });
    }
    const extraValue = this.compile(extra, ptrJoin(ptr, 'additionalProperties'));
    const colon = seq(ws, literal(':'), ws);
    const comma = seq(ws, literal(','), ws);
    const n = declared.length;
    const base = `obj:${ptr || '#'}:${this.rules.size}`;
    // each member once, as a rule (decl(i) refers to it)
    declared.forEach((d, i) => this.rules.set(`${base}:kv${i}`, seq(literal(JSON.stringify(d.name)), colon, d.value)));
    const kv = (d: { name: string; value: Expr }): Expr => ref(`${base}:kv${declared.indexOf(d as (typeof declared)[number])}`);
    if (extraValue !== NOTHING) this.rules.set(`${base}:extra`, seq(this.keyExcluding(names), colon, extraValue));
    const extraKv = extraValue === NOTHING ? NOTHING : ref(`${base}:extra`);
    // rest(i): members from declared[i] on, after at least one member (each starts with a comma);
    // first0: the members with nothing emitted yet; after(i): one member (an extra, or declared[j]
    // for a j ≥ i reached by skipping optional ones) and rest from there. An extra stays at i
    // (extra rest(i)), and skipping happens only in decl(i), before a declared member: the same
    // language as an extra allowed at every place skipping may lead to, but one configuration
    // per extra instead of one per place — an object of 81 optional members beside
    // additionalProperties (Github_hard o31176) had ≈ 1,000 configurations per key state, each
    // string character's alternatives once per place. The comma is shared the same way.
    const allOptional: boolean[] = [];
    allOptional[n] = true;
    for (let i = n - 1; i >= 0; i--) allOptional[i] = !declared[i].required && allOptional[i + 1];
    // decl(i): declared[i] and rest(i + 1), or, when declared[i] is optional, decl(i + 1)
    for (let i = n - 1; i >= 0; i--) {
      const d = declared[i];
      const alts = [seq(kv(d), ref(`${base}:rest${i + 1}`))];
      if (!d.required && i + 1 < n) alts.push(ref(`${base}:decl${i + 1}`));
      this.rules.set(`${base}:decl${i}`, alt(...alts));
    }
    for (let i = n; i >= 0; i--) {
      const after: Expr[] = [];
      if (extraKv !== NOTHING) after.push(seq(extraKv, ref(`${base}:rest${i}`)));
      if (i < n) after.push(ref(`${base}:decl${i}`));
      const end = allOptional[i] ? [EMPTY] : [];
      if (after.length > 0) this.rules.set(`${base}:after${i}`, alt(...after));
      this.rules.set(`${base}:rest${i}`, alt(...end, ...(after.length > 0 ? [seq(comma, ref(`${base}:after${i}`))] : [])));
      if (i === 0) this.rules.set(`${base}:first0`, alt(...end, ...(after.length > 0 ? [ref(`${base}:after0`)] : [])));
    }
    // An empty object is "{" ws "}"; a non-empty one "{" ws members ws "}".
    const anyRequired = declared.some((d) => d.required);
    const members = seq(ref(`${base}:first0`), ws);
    return seq(literal('{'), ws, anyRequired ? members : alt(members, EMPTY), literal('}'));
  }

  /** A JSON string (canonical escapes) that is none of `names`: a lexeme rule, one per set of names. */
  private keyExcluding(names: string[]): Expr {
    return this.lexeme(`json-key-excluding:${JSON.stringify(names)}`, () => this.keyExcludingExpr(names));
  }

  private keyExcludingExpr(names: string[]): Expr {
    if (names.length === 0) return seq(QUOTE, star(ANY_CANONICAL), QUOTE);
    // Trie over the names' code points: leave it on any other character, or close early.
    type Node = { kids: Map<number, Node>; end: boolean };
    const root: Node = { kids: new Map(), end: false };
    for (const nm of names) {
      let t = root;
      for (const ch of nm) {
        const cp = ch.codePointAt(0)!;
        let k = t.kids.get(cp);
        if (!k) {
          k = { kids: new Map(), end: false };
          t.kids.set(cp, k);
        }
        t = k;
      }
      t.end = true;
    }
    // the rest of a key once it has left the names: one rule, so that state is the same after
    // every way of leaving them (the matcher then walks its tokens once; see frameWalk)
    const free = this.lexeme('json-key-free', () => seq(star(ANY_CANONICAL), QUOTE));
    const build = (t: Node): Expr => {
      const parts: Expr[] = [];
      if (!t.end) parts.push(QUOTE);
      const kids = [...t.kids.keys()];
      const plain = kids.every((c) => c >= 0x20 && c < 0x80 && c !== 0x22 && c !== 0x5c && c !== 0x2f);
      // leaving the names: any other ASCII character (one byte class), any non-ASCII character,
      // or any canonical escape — when the names continue with plain ASCII only here
      if (plain) {
        const ascii = byteSet([0x20, 0x7f]);
        for (const c of [...kids, 0x22, 0x5c]) ascii[c >>> 5] &= ~(1 << (c & 31));
        // The non-ASCII character or escape that leaves goes through one shared rule entered in
        // tail position, so the states inside it are the same from every name prefix: the
        // matcher walks the tokens that start with a UTF-8 lead byte (≈ 40% of a name-prefix
        // frame's trie nodes on cl100k) once per matcher, not once per prefix (see frameWalk).
        // The ASCII leave is a rule of its own, so both frame as two lexeme levels, one group.
        parts.push(
          seq(
            this.lexeme(`json-key-ascii:${byteSetKey(ascii)}`, () => bytes(ascii)),
            free,
          ),
        );
        parts.push(this.lexeme('json-key-leave', () => seq(alt(NON_ASCII, ref('json-canonical-escape')), free)));
      } else {
        const others = complementRanges(kids.map((c) => [c, c] as CodeRange));
        if (others.length > 0) parts.push(seq(jsonChars(others), free));
      }
      for (const [cp, k] of t.kids) parts.push(seq(jsonChars([[cp, cp]]), build(k)));
      return alt(...parts);
    };
    return seq(QUOTE, build(root));
  }
}

function isValidationKeyword(k: string): boolean {
  return (
    UNSUPPORTED.has(k) ||
    ['type', 'enum', 'const', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'required', 'properties', 'additionalProperties', 'items', 'prefixItems', 'additionalItems', 'allOf', 'anyOf', 'oneOf', '$ref', 'format', 'nullable'].includes(k)
  );
}

function omit(o: Obj, keys: string[]): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k)) out[k] = v;
  return out;
}

function jsonType(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

function typeList(t: Json, ptr: string, c: { invalid(p: string, m: string): never }): TypeName[] {
  const list = Array.isArray(t) ? t : [t];
  for (const x of list) if (typeof x !== 'string' || !(TYPES as readonly string[]).includes(x)) c.invalid(ptrJoin(ptr, 'type'), `unknown type ${JSON.stringify(x)}`);
  return list as TypeName[];
}

/**
 * Compile a JSON Schema (already parsed) to a grammar whose language is the JSON texts the
 * schema accepts (see the module comment for the policy). Throws GptforgeError naming the file,
 * the JSON pointer and the keyword for unsupported or invalid schemas, and when no value
 * satisfies the schema.
 */
export function schemaGrammar(schema: unknown, opts: SchemaOptions = {}): Grammar {
  return compileSchemaParts(schema, opts).grammar;
}

function compileSchemaParts(schema: unknown, opts: SchemaOptions): { grammar: Grammar; reasons: string[] } {
  const c = new Compiler(schema as Json, opts);
  const root = c.compile(schema as Json, '');
  c.rules.set('root', root);
  return { grammar: { rules: c.rules, start: 'root', source: opts.file, lexemes: c.lexemes }, reasons: c.emptyReasons };
}

/**
 * Compile and lower a JSON Schema, checking before decoding that some JSON value satisfies it
 * (the error then lists the subschemas found empty, by JSON pointer).
 */
export function lowerSchema(schema: unknown, opts: SchemaOptions = {}): LoweredGrammar {
  const { grammar, reasons } = compileSchemaParts(schema, opts);
  try {
    return lowerGrammar(grammar);
  } catch (e) {
    if (e instanceof GptforgeError && /no string satisfies/.test(e.message)) {
      throw new GptforgeError(`no JSON value satisfies this schema${reasons.length ? ` (${reasons.slice(0, 5).join('; ')})` : ''}`, { file: opts.file, pointer: '' });
    }
    throw e;
  }
}
