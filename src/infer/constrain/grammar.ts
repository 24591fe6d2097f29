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
  /**
   * Rules that are lexemes: self-contained tokens of the language (a JSON string value or key),
   * whose end is a natural place to split a token's work between the lexeme and what follows it
   * (the matcher's frames; see matcher.ts). A hint for speed only: the language is unchanged.
   */
  readonly lexemes?: ReadonlySet<string>;
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
/** One shared Expr per byte value, so lowering dedupes terminals by identity. */
const BYTE: readonly Expr[] = Array.from({ length: 256 }, (_, b) => bytes(byteSet([b, b])));
/** The exact UTF-8 bytes of `s`. */
export function literal(s: string): Expr {
  const b = utf8.encode(s);
  return seq(...Array.from(b, (x) => BYTE[x]));
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
  /** lexeme[r] = 1 when rule r is one of the grammar's lexemes or a sub-rule lowered from one (Grammar.lexemes); absent when there are none. */
  readonly lexeme?: Uint8Array;
}

/** The largest number of rules a grammar may lower to (bounded repetitions are unrolled). */
export const MAX_RULES = 200_000;

/** Flatten and check a grammar (see the module comment); throws GptforgeError naming the source and rule. */
export function lowerGrammar(g: Grammar): LoweredGrammar {
  const where = { file: g.source };
  const ruleIndex = new Map<string, number>();
  const names: string[] = [];
  const lexemeOf: number[] = []; // rule → 1 when a lexeme or lowered from one
  const lexemes = g.lexemes;
  const bodies: number[][][] = []; // rule → alternatives → symbols
  const termIndex = new Map<string, number>();
  const terms: ByteSet[] = [];
  const memo = new Map<Expr, number>();

  const newRule = (name: string, ctx = name): number => {
    if (names.length >= MAX_RULES) throw new GptforgeError(`the grammar lowers to more than ${MAX_RULES} rules (a bounded repetition too large?)`, where);
    names.push(name);
    lexemeOf.push(lexemes?.has(ctx) ? 1 : 0);
    bodies.push([]);
    return names.length - 1;
  };
  for (const name of g.rules.keys()) ruleIndex.set(name, newRule(name));
  if (!ruleIndex.has(g.start)) throw new GptforgeError(`the start rule ${g.start} is not defined`, where);

  const termById = new Map<ByteSet, number>();
  const term = (set: ByteSet): number => {
    let t = termById.get(set);
    if (t !== undefined) return t;
    const k = byteSetKey(set);
    t = termIndex.get(k);
    if (t === undefined) {
      t = terms.length;
      terms.push(set);
      termIndex.set(k, t);
    }
    termById.set(set, t);
    return t;
  };
  const charsMemo = new Map<string, number>();
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
    // character classes: shared structurally (the same class recurs across a schema)
    const ck = e.kind === 'chars' ? e.ranges.map((r) => `${r[0]}-${r[1]}`).join(',') : undefined;
    if (ck !== undefined) {
      const c = charsMemo.get(ck);
      if (c !== undefined) {
        memo.set(e, c);
        return c;
      }
    }
    const r = newRule(`${ctx}~${names.length}`, ctx);
    const s = refSym(r);
    memo.set(e, s);
    if (ck !== undefined) charsMemo.set(ck, s);
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
        const r = newRule(`${ctx}~${names.length}*`, ctx);
        bodies[r] = [[x, refSym(r)], []];
        out.push(refSym(r));
      } else if (e.max > e.min) {
        // O_k ::= x O_{k-1} | ε (nested, so x{0,k} stays unambiguous)
        let prev = -1;
        for (let k = 1; k <= e.max - e.min; k++) {
          const r = newRule(`${ctx}~${names.length}?`, ctx);
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
  const productive = fixpoint(bodies, (t) => !isEmptySet(terms[t]));
  const start = ruleIndex.get(g.start)!;
  if (!productive[start]) throw new GptforgeError(`no string satisfies this ${g.source ? 'constraint' : 'grammar'} (rule ${g.start} derives nothing)`, where);
  const symOk = (s: number): boolean => (s >= 0 ? !isEmptySet(terms[s]) : productive[-s - 2] === 1);
  for (let r = 0; r < nRules; r++) if (bodies[r].some((a) => !a.every(symOk))) bodies[r] = bodies[r].filter((a) => a.every(symOk));

  // Nullable rules, then left recursion through non-tail references.
  const nullable = fixpoint(bodies, () => false);
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
    // A grow edge r → q is left recursion iff q reaches r, i.e. both lie in one strongly
    // connected component of the left-edge graph (Tarjan's algorithm, iterative).
    const comp = sccs(edges);
    for (const [r, q] of growEdges) {
      if (comp[r] === comp[q]) {
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
  // one object shape whether or not there are lexemes (two shapes made the matcher's hot
  // functions polymorphic, and V8 deoptimized them whenever a schema of the other kind came)
  const lexeme = lexemes && lexemes.size > 0 ? Uint8Array.from(lexemeOf) : undefined;
  return { syms: Int32Array.from(syms), ruleAlts, altStarts: Int32Array.from(altStarts), ruleNames: names, terminals: terms, startRule: start, lexeme };
}

/** Strongly connected component id of each node (Tarjan, iterative to survive deep graphs). */
function sccs(edges: readonly number[][]): Int32Array {
  const n = edges.length;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const comp = new Int32Array(n).fill(-1);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  let counter = 0;
  let compCount = 0;
  const callStack: [number, number][] = [];
  for (let root = 0; root < n; root++) {
    if (index[root] >= 0) continue;
    callStack.push([root, 0]);
    index[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    while (callStack.length > 0) {
      const top = callStack[callStack.length - 1];
      const v = top[0];
      if (top[1] < edges[v].length) {
        const w = edges[v][top[1]++];
        if (index[w] < 0) {
          index[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = 1;
          callStack.push([w, 0]);
        } else if (onStack[w]) low[v] = Math.min(low[v], index[w]);
        continue;
      }
      callStack.pop();
      if (callStack.length > 0) {
        const u = callStack[callStack.length - 1][0];
        low[u] = Math.min(low[u], low[v]);
      }
      if (low[v] === index[v]) {
        let w: number;
        do {
          w = stack.pop()!;
          onStack[w] = 0;
          comp[w] = compCount;
        } while (w !== v);
        compCount++;
      }
    }
  }
  return comp;
}

/**
 * The least set of rules with an alternative whose every symbol qualifies (a terminal when
 * `terminalOk`, a rule already in the set): productive rules, or nullable ones with
 * `terminalOk` false. Worklist, linear in the grammar size.
 */
function fixpoint(bodies: readonly number[][][], terminalOk: (t: number) => boolean): Uint8Array {
  const n = bodies.length;
  const inSet = new Uint8Array(n);
  const need: number[] = [];
  const altRule: number[] = [];
  const occ: number[][] = Array.from({ length: n }, () => []);
  const queue: number[] = [];
  for (let r = 0; r < n; r++) {
    for (const a of bodies[r]) {
      const id = need.length;
      altRule.push(r);
      let k = 0;
      let blocked = false;
      for (const s of a) {
        if (s >= 0) {
          if (!terminalOk(s)) blocked = true;
        } else {
          k++;
          occ[-s - 2].push(id);
        }
      }
      need.push(blocked ? Infinity : k);
      if (!blocked && k === 0 && !inSet[r]) {
        inSet[r] = 1;
        queue.push(r);
      }
    }
  }
  while (queue.length > 0) {
    const q = queue.pop()!;
    for (const id of occ[q]) {
      if (--need[id] === 0) {
        const r = altRule[id];
        if (!inSet[r]) {
          inSet[r] = 1;
          queue.push(r);
        }
      }
    }
  }
  return inSet;
}
