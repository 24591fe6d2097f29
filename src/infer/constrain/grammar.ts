/**
 * The grammar IR every constraint compiles to: a context-free grammar whose terminals are
 * single bytes drawn from a byte set (so a token may span several terminals and end inside a
 * UTF-8 character). Regular expressions, JSON Schema and GBNF all lower to `Expr` trees bound
 * to rule names; `lowerGrammar` flattens them into the position tables the pushdown matcher
 * (matcher.ts) runs on, and checks, before any decoding starts, that
 *   - every referenced rule exists,
 *   - the start rule derives at least one string (else: "no string satisfies it"), pruning
 *     alternatives that can never complete so a viable prefix can always be finished,
 *   - no rule is left-recursive except in tail position (the matcher is a top-down pushdown
 *     automaton, like llama.cpp's grammar engine, and cannot expand A → A x).
 */
import { GptforgeError } from '../../util/errors.js';
import { byteSet, byteSetKey, isEmptySet, normalizeRanges, utf8Sequences, type ByteSet, type CodeRange } from './bytes.js';

export type Expr =
  | { readonly kind: 'bytes'; readonly set: ByteSet }
  | { readonly kind: 'chars'; readonly ranges: readonly CodeRange[] }
  | { readonly kind: 'seq'; readonly items: readonly Expr[] }
  | { readonly kind: 'alt'; readonly items: readonly Expr[] }
  | { readonly kind: 'repeat'; readonly item: Expr; readonly min: number; readonly max: number }
  | { readonly kind: 'ref'; readonly name: string };

/** Named rules and a start rule. `source` names where the grammar came from, for errors. */
export interface Grammar {
  readonly rules: ReadonlyMap<string, Expr>;
  readonly start: string;
  readonly source?: string;
}

export const EMPTY: Expr = { kind: 'seq', items: [] };
/** Matches nothing (an alternation of no branches). */
export const NOTHING: Expr = { kind: 'alt', items: [] };

export function seq(...items: Expr[]): Expr {
  const flat: Expr[] = [];
  for (const e of items) {
    if (e.kind === 'seq') flat.push(...e.items);
    else flat.push(e);
  }
  return flat.length === 1 ? flat[0] : { kind: 'seq', items: flat };
}

export function alt(...items: Expr[]): Expr {
  const flat: Expr[] = [];
  for (const e of items) {
    if (e.kind === 'alt') flat.push(...e.items);
    else flat.push(e);
  }
  return flat.length === 1 ? flat[0] : { kind: 'alt', items: flat };
}

export function repeat(item: Expr, min: number, max = Infinity): Expr {
  if (!(min >= 0) || !(max >= min)) throw new GptforgeError(`bad repetition bounds {${min},${max}}`);
  if (max === 0) return EMPTY;
  if (min === 1 && max === 1) return item;
  return { kind: 'repeat', item, min, max };
}

export const opt = (e: Expr): Expr => repeat(e, 0, 1);
export const star = (e: Expr): Expr => repeat(e, 0, Infinity);
export const plus = (e: Expr): Expr => repeat(e, 1, Infinity);
export const ref = (name: string): Expr => ({ kind: 'ref', name });
export const bytes = (set: ByteSet): Expr => ({ kind: 'bytes', set });
export const chars = (ranges: readonly CodeRange[]): Expr => ({ kind: 'chars', ranges: normalizeRanges(ranges) });

const utf8 = new TextEncoder();
/** The exact UTF-8 bytes of `s`. */
export function literal(s: string): Expr {
  const b = utf8.encode(s);
  return seq(...Array.from(b, (x) => bytes(byteSet([x, x]))));
}

// ---------------------------------------------------------------------------------------
// Lowering to flat tables

/** Symbol encoding in `syms`: ≥ 0 terminal id; END = −1 ends an alternative; ≤ −2 rule −s−2. */
export const END = -1;

export interface LoweredGrammar {
  /** All alternatives laid end to end, each closed by END. A position is an index here. */
  readonly syms: Int32Array;
  /** Rule r's alternatives start at altStarts[ruleAlts[r] .. ruleAlts[r+1]). */
  readonly ruleAlts: Int32Array;
  readonly altStarts: Int32Array;
  readonly ruleNames: readonly string[];
  readonly terminals: readonly ByteSet[];
  readonly startRule: number;
}

/** The largest number of rules a grammar may lower to (bounded repetitions are unrolled). */
export const MAX_RULES = 200_000;

/** Flatten and check a grammar (see the module comment); throws GptforgeError naming the source and rule. */
export function lowerGrammar(g: Grammar): LoweredGrammar {
  const where = { file: g.source };
  const ruleIndex = new Map<string, number>();
  const names: string[] = [];
  const bodies: number[][][] = []; // rule → alternatives → symbols
  const termIndex = new Map<string, number>();
  const terms: ByteSet[] = [];
  const memo = new Map<Expr, number>();

  const newRule = (name: string): number => {
    if (names.length >= MAX_RULES) throw new GptforgeError(`the grammar lowers to more than ${MAX_RULES} rules (a bounded repetition too large?)`, where);
    names.push(name);
    bodies.push([]);
    return names.length - 1;
  };
  for (const name of g.rules.keys()) ruleIndex.set(name, newRule(name));
  if (!ruleIndex.has(g.start)) throw new GptforgeError(`the start rule ${g.start} is not defined`, where);

  const term = (set: ByteSet): number => {
    const k = byteSetKey(set);
    let t = termIndex.get(k);
    if (t === undefined) {
      t = terms.length;
      terms.push(set);
      termIndex.set(k, t);
    }
    return t;
  };
  const refSym = (r: number): number => -r - 2;

  // One symbol standing for `e`.
  const symOf = (e: Expr, ctx: string): number => {
    if (e.kind === 'bytes') return term(e.set);
    if (e.kind === 'ref') {
      const r = ruleIndex.get(e.name);
      if (r === undefined) throw new GptforgeError(`rule ${ctx} refers to the undefined rule ${e.name}`, where);
      return refSym(r);
    }
    const hit = memo.get(e);
    if (hit !== undefined) return hit;
    const r = newRule(`${ctx}~${names.length}`);
    const s = refSym(r);
    memo.set(e, s);
    bodies[r] = altsOf(e, ctx);
    return s;
  };
  const altsOf = (e: Expr, ctx: string): number[][] => {
    if (e.kind === 'alt') return e.items.map((x) => seqOf(x, ctx));
    if (e.kind === 'chars') {
      const alts: number[][] = [];
      for (const [lo, hi] of e.ranges) for (const sq of utf8Sequences(lo, hi)) alts.push(sq.map((r) => term(byteSet(r))));
      return alts;
    }
    return [seqOf(e, ctx)];
  };
  const seqOf = (e: Expr, ctx: string): number[] => {
    if (e.kind === 'seq') return e.items.flatMap((x) => seqOf(x, ctx));
    if (e.kind === 'repeat') {
      const x = symOf(e.item, ctx);
      const out: number[] = new Array<number>(e.min).fill(x);
      if (e.max === Infinity) {
        // S ::= x S | ε — right recursion in tail position: constant stack depth in the matcher
        const r = newRule(`${ctx}~${names.length}*`);
        bodies[r] = [[x, refSym(r)], []];
        out.push(refSym(r));
      } else if (e.max > e.min) {
        // O_k ::= x O_{k-1} | ε (nested, so x{0,k} stays unambiguous)
        let prev = -1;
        for (let k = 1; k <= e.max - e.min; k++) {
          const r = newRule(`${ctx}~${names.length}?`);
          bodies[r] = [prev < 0 ? [x] : [x, refSym(prev)], []];
          prev = r;
        }
        out.push(refSym(prev));
      }
      return out;
    }
    return [symOf(e, ctx)];
  };

  for (const [name, body] of g.rules) bodies[ruleIndex.get(name)!] = altsOf(body, name);

  const nRules = names.length;
  // Productive rules (derive some string); prune alternatives that use unproductive symbols.
  const productive = new Uint8Array(nRules);
  const symOk = (s: number): boolean => (s >= 0 ? !isEmptySet(terms[s]) : productive[-s - 2] === 1);
  for (let changed = true; changed; ) {
    changed = false;
    for (let r = 0; r < nRules; r++) {
      if (productive[r]) continue;
      if (bodies[r].some((a) => a.every(symOk))) {
        productive[r] = 1;
        changed = true;
      }
    }
  }
  const start = ruleIndex.get(g.start)!;
  if (!productive[start]) throw new GptforgeError(`no string satisfies this ${g.source ? 'constraint' : 'grammar'} (rule ${g.start} derives nothing)`, where);
  for (let r = 0; r < nRules; r++) bodies[r] = bodies[r].filter((a) => a.every(symOk));

  // Nullable rules, then left recursion through non-tail references.
  const nullable = new Uint8Array(nRules);
  for (let changed = true; changed; ) {
    changed = false;
    for (let r = 0; r < nRules; r++) {
      if (nullable[r]) continue;
      if (bodies[r].some((a) => a.every((s) => s < 0 && nullable[-s - 2]))) {
        nullable[r] = 1;
        changed = true;
      }
    }
  }
  // Edges r → q when q can be reached at the left of r without consuming input; `grow` when
  // something follows q in that alternative (the expansion pushes a continuation).
  const edges: number[][] = Array.from({ length: nRules }, () => []);
  const growEdges: [number, number][] = [];
  for (let r = 0; r < nRules; r++) {
    for (const a of bodies[r]) {
      for (let i = 0; i < a.length; i++) {
        const s = a[i];
        if (s >= 0) break;
        const q = -s - 2;
        edges[r].push(q);
        if (i < a.length - 1) growEdges.push([r, q]);
        if (!nullable[q]) break;
      }
    }
  }
  if (growEdges.length > 0) {
    // r is left-recursive with growth if some grow edge r → q has q ⇝ r.
    const reach = (from: number, target: number): boolean => {
      const seen = new Uint8Array(nRules);
      const stack = [from];
      while (stack.length) {
        const x = stack.pop()!;
        if (x === target) return true;
        if (seen[x]) continue;
        seen[x] = 1;
        for (const y of edges[x]) stack.push(y);
      }
      return false;
    };
    const checked = new Set<string>();
    for (const [r, q] of growEdges) {
      const k = `${r},${q}`;
      if (checked.has(k)) continue;
      checked.add(k);
      if (reach(q, r)) {
        const name = names[r].split('~')[0];
        throw new GptforgeError(`rule ${name} is left-recursive (it can expand to itself before consuming any input); rewrite it with repetition, e.g. a ::= b (op b)*`, where);
      }
    }
  }

  // Lay out.
  const syms: number[] = [];
  const ruleAlts = new Int32Array(nRules + 1);
  const altStarts: number[] = [];
  for (let r = 0; r < nRules; r++) {
    ruleAlts[r] = altStarts.length;
    for (const a of bodies[r]) {
      altStarts.push(syms.length);
      syms.push(...a, END);
    }
  }
  ruleAlts[nRules] = altStarts.length;
  return { syms: Int32Array.from(syms), ruleAlts, altStarts: Int32Array.from(altStarts), ruleNames: names, terminals: terms, startRule: start };
}
