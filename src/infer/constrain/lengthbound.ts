/**
 * A regular language of characters intersected with a length window: the strings of `e` whose
 * length in code points lies in [min, max] — JSON Schema's `format` together with `minLength` /
 * `maxLength`, which count code points (ajv's ucs2length; RFC 8259 strings are sequences of
 * code points, an escape being one).
 *
 * `e` is a character-level Expr (regexToExpr with utf8Chars: `chars` leaves, `seq`, `alt`,
 * `repeat`; no `bytes`, no `ref`). It becomes a Thompson NFA, then a DFA by subset construction
 * over the disjoint atoms of its character classes, minimized, then the product of that DFA with
 * a length counter 0 … cap (cap = max when finite, else min: past min the count no longer
 * matters and the counter stays there); a state whose every completion fits the window drops
 * the count altogether. States that cannot reach acceptance are dropped, so every prefix the
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

  // minimize (Moore's partition refinement): every DFA state becomes up to maxLength product
  // states, so equivalent ones would multiply (email's subset DFA has 15 states; the product
  // with maxLength 254, one grammar rule per state, was the compile's cost). The start's block is 0.
  {
    const n0 = dfaNext.length;
    let block: number[] = dfaAccept.map((acc) => (acc ? 1 : 0));
    for (let count = -1; ; ) {
      const ids = new Map<string, number>();
      const next = new Array<number>(n0);
      for (let d = 0; d < n0; d++) {
        let key = `${block[d]}`;
        for (let a = 0; a < atoms.length; a++) key += `,${dfaNext[d][a] < 0 ? -1 : block[dfaNext[d][a]]}`;
        let b = ids.get(key);
        if (b === undefined) ids.set(key, (b = ids.size));
        next[d] = b;
      }
      block = next;
      if (ids.size === count) break;
      count = ids.size;
    }
    // renumber so the start's block is 0, then rebuild the tables on blocks
    const order = new Map<number, number>([[block[0], 0]]);
    for (let d = 0; d < n0; d++) if (!order.has(block[d])) order.set(block[d], order.size);
    const nb = order.size;
    if (nb < n0) {
      const next: Int32Array[] = Array.from({ length: nb }, () => new Int32Array(atoms.length));
      const acc = new Array<boolean>(nb).fill(false);
      for (let d = 0; d < n0; d++) {
        const b = order.get(block[d]) as number;
        acc[b] = dfaAccept[d];
        for (let a = 0; a < atoms.length; a++) next[b][a] = dfaNext[d][a] < 0 ? -1 : (order.get(block[dfaNext[d][a]]) as number);
      }
      dfaNext.length = 0;
      dfaNext.push(...next);
      dfaAccept.length = 0;
      dfaAccept.push(...acc);
    }
  }

  // each DFA state's atoms merged by target, once: every product state (d, n) has d's classes
  // (normalizing per product state was most of the time: email × maxLength 254 is 3,236 states)
  const dfaEdges = dfaNext.map((next) => {
    const byTarget = new Map<number, CodeRange[]>();
    for (let a = 0; a < atoms.length; a++) {
      const d2 = next[a];
      if (d2 < 0) continue;
      let r = byTarget.get(d2);
      if (r === undefined) byTarget.set(d2, (r = []));
      r.push(atoms[a]);
    }
    return [...byTarget].map(([to, ranges]) => ({ ranges: normalizeRanges(ranges) as readonly CodeRange[], to }));
  });

  // per DFA state, the shortest and longest completion (Infinity: through a cycle; minRem
  // Infinity: a dead state). A product state (d, n) with n + minRem(d) ≥ min and n + maxRem(d) ≤ max
  // accepts exactly d's completions whatever n is: it becomes (d, FREE), and so do all its
  // successors — so a format whose own lengths fit the window (ipv4 and maxLength 15) stays its DFA.
  const nd = dfaNext.length;
  const minRem = new Array<number>(nd).fill(Infinity);
  const rev: number[][] = dfaNext.map(() => []);
  for (let d = 0; d < nd; d++) for (let a = 0; a < atoms.length; a++) if (dfaNext[d][a] >= 0) rev[dfaNext[d][a]].push(d);
  let frontier: number[] = [];
  for (let d = 0; d < nd; d++) {
    if (dfaAccept[d]) {
      minRem[d] = 0;
      frontier.push(d);
    }
  }
  for (let dist = 1; frontier.length > 0; dist++) {
    const next: number[] = [];
    for (const d of frontier) {
      for (const q of rev[d]) {
        if (minRem[q] === Infinity) {
          minRem[q] = dist;
          next.push(q);
        }
      }
    }
    frontier = next;
  }
  const maxRem = new Array<number>(nd).fill(-1); // -1 not known, -2 on the DFS path
  const longest = (d: number): number => {
    if (maxRem[d] >= 0 || maxRem[d] === Infinity) return maxRem[d];
    if (maxRem[d] === -2) return Infinity; // a cycle among live states
    maxRem[d] = -2;
    let best = dfaAccept[d] ? 0 : -Infinity;
    for (let a = 0; a < atoms.length; a++) {
      const q = dfaNext[d][a];
      if (q >= 0 && minRem[q] !== Infinity) best = Math.max(best, 1 + longest(q));
    }
    maxRem[d] = best;
    return best;
  };
  for (let d = 0; d < nd; d++) if (minRem[d] !== Infinity) longest(d);
  const isFree = (d: number, n: number): boolean => minRem[d] !== Infinity && n + minRem[d] >= min && (max === Infinity || n + maxRem[d] <= max);

  // product with the length counter: (dfa state, count), count ≤ cap, or FREE (above); distinct
  // DFA targets are distinct product targets
  const cap = max === Infinity ? min : max;
  const FREE = cap + 1;
  const width = cap + 2;
  const prodIndex = new Map<number, number>();
  const prodDfa: number[] = [];
  const prodCount: number[] = [];
  const prodEdges: { ranges: readonly CodeRange[]; to: number }[][] = [];
  const internP = (d: number, c: number): number => {
    const key = d * width + c;
    let id = prodIndex.get(key);
    if (id === undefined) {
      id = prodDfa.length;
      prodIndex.set(key, id);
      prodDfa.push(d);
      prodCount.push(c);
      prodEdges.push([]);
      if (prodDfa.length > MAX_BOUNDED_STATES) throw new GptforgeError(`more than ${MAX_BOUNDED_STATES} states (format × length)`);
    }
    return id;
  };
  internP(0, isFree(0, 0) ? FREE : 0);
  for (let p = 0; p < prodDfa.length; p++) {
    const c = prodCount[p];
    if (c === FREE) {
      for (const ed of dfaEdges[prodDfa[p]]) if (minRem[ed.to] !== Infinity) prodEdges[p].push({ ranges: ed.ranges, to: internP(ed.to, FREE) });
      continue;
    }
    if (max !== Infinity && c >= max) continue; // no room for another character
    const c2 = Math.min(c + 1, cap);
    for (const ed of dfaEdges[prodDfa[p]]) prodEdges[p].push({ ranges: ed.ranges, to: internP(ed.to, isFree(ed.to, c + 1) ? FREE : c2) });
  }
  const accepting = (p: number): boolean => dfaAccept[prodDfa[p]] && (prodCount[p] === FREE || prodCount[p] >= min);

  // keep the states from which an accepting one is reachable
  const preds: number[][] = prodDfa.map(() => []);
  for (let p = 0; p < prodDfa.length; p++) for (const ed of prodEdges[p]) preds[ed.to].push(p);
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

  // renumber the live states from 0 (the start first), dropping edges into dead ones
  const id = new Int32Array(prodDfa.length).fill(-1);
  const order: number[] = [];
  for (let p = 0; p < prodDfa.length; p++) {
    if (live[p]) {
      id[p] = order.length;
      order.push(p);
    }
  }
  const states: BoundedState[] = order.map((p) => ({
    accept: accepting(p),
    edges: prodEdges[p].filter((ed) => live[ed.to]).map((ed) => ({ ranges: ed.ranges, to: id[ed.to] })),
  }));
  return { start: 0, states, empty: false };
}
