/**
 * A regular language of characters intersected with a length window: the strings of `e` whose
 * length in code points lies in [min, max] — JSON Schema's `format` together with `minLength` /
 * `maxLength`, which count code points (ajv's ucs2length; RFC 8259 strings are sequences of
 * code points, an escape being one).
 *
 * `e` is a character-level Expr (regexToExpr with utf8Chars: `chars` leaves, `seq`, `alt`,
 * `repeat`; no `bytes`, no `ref`). It becomes a Thompson NFA, then a DFA by subset construction
 * over the disjoint atoms of its character classes, then the product of that DFA with a length
 * counter 0 … cap (cap = max when finite, else min: past min the count no longer matters and
 * the counter stays there). States that cannot reach acceptance are dropped, so every prefix the
 * result allows can still be finished. The caller writes each state as a right-linear rule
 * (grammar.ts expands a reference in tail position without a stack push), so the language is
 * exact and the matcher's configurations stay one per state.
 */
import { GptforgeError } from '../../util/errors.js';
import { MAX_CODE_POINT, normalizeRanges, type CodeRange } from './bytes.js';
import type { Expr } from './grammar.js';

/** One state of the bounded automaton: whether it may end the string, and its edges by character class (one edge per target). */
export interface BoundedState {
  readonly accept: boolean;
  readonly edges: readonly { readonly ranges: readonly CodeRange[]; readonly to: number }[];
}

/** The bounded automaton: states[start] is where the string begins; `empty` when no string of `e` has a length in [min, max]. */
export interface BoundedLanguage {
  readonly start: number;
  readonly states: readonly BoundedState[];
  readonly empty: boolean;
}

/** Refused above this many product states (each becomes a grammar rule). */
export const MAX_BOUNDED_STATES = 20_000;

interface Nfa {
  /** Per NFA state: ε-successors, and character edges (ranges, target). */
  eps: number[][];
  edges: { ranges: readonly CodeRange[]; to: number }[][];
}

function newState(n: Nfa): number {
  n.eps.push([]);
  n.edges.push([]);
  return n.eps.length - 1;
}

/** Thompson construction: a fragment from `from` to a fresh end state, returned. */
function build(n: Nfa, e: Expr, from: number): number {
  switch (e.kind) {
    case 'chars': {
      const to = newState(n);
      if (e.ranges.length > 0) n.edges[from].push({ ranges: e.ranges, to });
      return to;
    }
    case 'seq': {
      let at = from;
      for (const x of e.items) at = build(n, x, at);
      return at;
    }
    case 'alt': {
      const end = newState(n);
      for (const x of e.items) {
        const s = newState(n);
        n.eps[from].push(s);
        n.eps[build(n, x, s)].push(end);
      }
      return end;
    }
    case 'repeat': {
      let at = from;
      for (let i = 0; i < e.min; i++) at = build(n, e.item, at);
      if (e.max === Infinity) {
        // at —ε→ loop —item→ back to loop; loop —ε→ end
        const loop = newState(n);
        n.eps[at].push(loop);
        n.eps[build(n, e.item, loop)].push(loop);
        const end = newState(n);
        n.eps[loop].push(end);
        return end;
      }
      const end = newState(n);
      for (let i = e.min; i < e.max; i++) {
        n.eps[at].push(end);
        at = build(n, e.item, at);
      }
      n.eps[at].push(end);
      return end;
    }
    case 'bytes':
    case 'ref':
      throw new GptforgeError(`internal: boundLength takes a character-level expression without rules (found "${e.kind}")`);
  }
}

function closure(n: Nfa, set: readonly number[]): number[] {
  const seen = new Set<number>(set);
  const stack = [...set];
  while (stack.length > 0) {
    const s = stack.pop() as number;
    for (const t of n.eps[s]) {
      if (!seen.has(t)) {
        seen.add(t);
        stack.push(t);
      }
    }
  }
  return [...seen].sort((a, b) => a - b);
}

/** Disjoint atoms covering every class boundary of the NFA's edges: [lo, hi] pairs, sorted. */
function atomsOf(n: Nfa): CodeRange[] {
  const cuts = new Set<number>([0, MAX_CODE_POINT + 1]);
  for (const list of n.edges) {
    for (const ed of list) {
      for (const [lo, hi] of ed.ranges) {
        cuts.add(lo);
        cuts.add(hi + 1);
      }
    }
  }
  const xs = [...cuts].sort((a, b) => a - b);
  const atoms: CodeRange[] = [];
  for (let i = 0; i + 1 < xs.length; i++) atoms.push([xs[i], xs[i + 1] - 1]);
  return atoms;
}

function covers(ranges: readonly CodeRange[], cp: number): boolean {
  for (const [lo, hi] of ranges) if (lo <= cp && cp <= hi) return true;
  return false;
}

/**
 * The strings of character-level `e` with min ≤ length ≤ max (code points). Throws GptforgeError
 * when the product exceeds MAX_BOUNDED_STATES (the caller refuses the keyword with its pointer).
 */
export function boundLength(e: Expr, min: number, max: number): BoundedLanguage {
  const nfa: Nfa = { eps: [], edges: [] };
  const start = newState(nfa);
  const final = build(nfa, e, start);
  const atoms = atomsOf(nfa);

  // subset construction over the atoms
  const dfaIndex = new Map<string, number>();
  const dfaSets: number[][] = [];
  const dfaAccept: boolean[] = [];
  const dfaNext: Int32Array[] = []; // per DFA state, per atom: the next DFA state, -1 = none
  const intern = (set: number[]): number => {
    const key = set.join(',');
    let id = dfaIndex.get(key);
    if (id === undefined) {
      id = dfaSets.length;
      dfaIndex.set(key, id);
      dfaSets.push(set);
      dfaAccept.push(set.includes(final));
      dfaNext.push(new Int32Array(atoms.length).fill(-1));
      if (dfaSets.length > MAX_BOUNDED_STATES) throw new GptforgeError(`the format's automaton has more than ${MAX_BOUNDED_STATES} states`);
    }
    return id;
  };
  intern(closure(nfa, [start]));
  for (let d = 0; d < dfaSets.length; d++) {
    for (let a = 0; a < atoms.length; a++) {
      const cp = atoms[a][0];
      const to: number[] = [];
      for (const s of dfaSets[d]) for (const ed of nfa.edges[s]) if (covers(ed.ranges, cp)) to.push(ed.to);
      if (to.length > 0) dfaNext[d][a] = intern(closure(nfa, to));
    }
  }

  // product with the length counter: (dfa state, count), count ≤ cap
  const cap = max === Infinity ? min : max;
  const prodIndex = new Map<number, number>();
  const prodDfa: number[] = [];
  const prodCount: number[] = [];
  const prodNext: Int32Array[] = [];
  const width = cap + 1;
  const internP = (d: number, c: number): number => {
    const key = d * width + c;
    let id = prodIndex.get(key);
    if (id === undefined) {
      id = prodDfa.length;
      prodIndex.set(key, id);
      prodDfa.push(d);
      prodCount.push(c);
      prodNext.push(new Int32Array(atoms.length).fill(-1));
      if (prodDfa.length > MAX_BOUNDED_STATES) throw new GptforgeError(`more than ${MAX_BOUNDED_STATES} states (format × length)`);
    }
    return id;
  };
  internP(0, 0);
  for (let p = 0; p < prodDfa.length; p++) {
    const c = prodCount[p];
    if (max !== Infinity && c >= max) continue; // no room for another character
    const c2 = Math.min(c + 1, cap);
    for (let a = 0; a < atoms.length; a++) {
      const d2 = dfaNext[prodDfa[p]][a];
      if (d2 >= 0) prodNext[p][a] = internP(d2, c2);
    }
  }
  const accepting = (p: number): boolean => dfaAccept[prodDfa[p]] && prodCount[p] >= min;

  // keep the states from which an accepting one is reachable
  const preds: number[][] = prodDfa.map(() => []);
  for (let p = 0; p < prodDfa.length; p++) for (let a = 0; a < atoms.length; a++) if (prodNext[p][a] >= 0) preds[prodNext[p][a]].push(p);
  const live = new Uint8Array(prodDfa.length);
  const stack: number[] = [];
  for (let p = 0; p < prodDfa.length; p++) {
    if (accepting(p)) {
      live[p] = 1;
      stack.push(p);
    }
  }
  while (stack.length > 0) {
    const p = stack.pop() as number;
    for (const q of preds[p]) {
      if (!live[q]) {
        live[q] = 1;
        stack.push(q);
      }
    }
  }
  if (!live[0]) return { start: 0, states: [], empty: true };

  // renumber the live states from 0 (the start first) and merge each state's atoms by target
  const id = new Int32Array(prodDfa.length).fill(-1);
  const order: number[] = [];
  for (let p = 0; p < prodDfa.length; p++) {
    if (live[p]) {
      id[p] = order.length;
      order.push(p);
    }
  }
  const states: BoundedState[] = order.map((p) => {
    const byTarget = new Map<number, CodeRange[]>();
    for (let a = 0; a < atoms.length; a++) {
      const q = prodNext[p][a];
      if (q < 0 || !live[q]) continue;
      let r = byTarget.get(id[q]);
      if (r === undefined) byTarget.set(id[q], (r = []));
      r.push(atoms[a]);
    }
    return { accept: accepting(p), edges: [...byTarget].map(([to, ranges]) => ({ ranges: normalizeRanges(ranges), to })) };
  });
  return { start: 0, states, empty: false };
}
