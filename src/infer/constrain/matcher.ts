/**
 * The token-level matcher: a pushdown automaton over bytes run on the lowered grammar
 * (grammar.ts), determinized lazily, and walked against the vocabulary trie (trie.ts).
 *
 * Parser state. A configuration is a stack of grammar positions, kept as a hash-consed linked
 * list (node = (position, parent)); a parser state is the set of configurations whose top is
 * a terminal position (or the empty stack = the value is complete), closed under expanding
 * rule references and popping finished alternatives — the set-of-stacks scheme of llama.cpp's
 * grammar engine. A reference in tail position is expanded without pushing a continuation, so
 * `x*` runs in constant stack depth and its states recur.
 *
 * Speed. States are interned; the transition (state, byte class) → state is computed once and
 * kept in a flat table, so after warm-up stepping a byte is one array load (a lazily built DFA
 * over configurations). Bytes no terminal tells apart share a class. The mask for a state is a
 * preorder walk of the token trie that skips rejected subtrees (llguidance's approach), and is
 * cached per state: the mask depends on nothing else.
 */
import { GptforgeError } from '../../util/errors.js';
import type { TokenConstraint } from '../constraint.js';
import { hasByte } from './bytes.js';
import { END, lowerGrammar, type Grammar, type LoweredGrammar } from './grammar.js';
import { mergeRuns, SeqInterner, sortRange } from './intern.js';
import { plainAscii, plainBelow, plainIndex, type PlainIndex } from './plain.js';
import type { TokenTrie } from './trie.js';

/** State 0 is dead (no configuration left). */
export const DEAD = 0;

/** Empty arrays for fields that are filled on first use (a field that goes from undefined to an array changes its type, and V8 deoptimizes the code that read it). */
const NO_INTS = new Int32Array(0);
const NO_BYTES = new Uint8Array(0);

/**
 * Signatures → small ids, shared by every automaton and matcher, as int sequences (intern.ts):
 * a rule's reachable sub-grammar (`ruleSigs`), a frame configuration's rest of alternatives
 * (`configSigs`) and a frame state's set of configuration signatures (`frameSigs`). Bounded
 * (a long-running server compiles schema after schema): past SIGNATURE_IDS ids or
 * SIGNATURE_INTS stored ints in any of the three, new sequences get no id (no sharing), and at
 * the next frame signature asked for (`resetSignaturesIfFull`, the only entry) all three are
 * cleared together with the byte-set ids and the shared frame caches, and `signatureEpoch`
 * moves on. Ids are memoized per automaton and per matcher; each drops its memos when it sees
 * a new epoch, so a reused id never makes two different sub-grammars equal. Each interner's
 * arrays stay under ≈ 6 MiB (ids, sequences and table, with growth slack), so ≈ 18 MiB in all;
 * the 150-schema MaskBench sample holds ≈ 7k ids and 0.4M ints, so a reset comes every few
 * hundred schemas.
 */
let SIGNATURE_IDS = 1 << 16;
let SIGNATURE_INTS = 1 << 19;
const ruleSigs = new SeqInterner(SIGNATURE_IDS, SIGNATURE_INTS);
const configSigs = new SeqInterner(SIGNATURE_IDS, SIGNATURE_INTS);
const frameSigs = new SeqInterner(SIGNATURE_IDS, SIGNATURE_INTS);
let signatureEpoch = 0;

/** Clear every signature interner (and what holds their ids) when one of them is full. */
function resetSignaturesIfFull(): void {
  if (!ruleSigs.full && !configSigs.full && !frameSigs.full) return;
  ruleSigs.clear();
  configSigs.clear();
  frameSigs.clear();
  terminalIds.clear();
  signatureEpoch++; // shared frame caches and every memo of an older epoch are dropped on sight
}

/**
 * Signature interning's caps and state, for tests: `setSignatureLimits` changes the caps (ids
 * and stored ints per interner; takes effect at once, resets at the next full check);
 * `signatureStats` reports the epoch (how many resets so far) and the ids held.
 */
export function setSignatureLimits(ids: number, ints: number): void {
  SIGNATURE_IDS = ids;
  SIGNATURE_INTS = ints;
  for (const t of [ruleSigs, configSigs, frameSigs]) t.setLimits(ids, ints);
}
export function signatureStats(): { epoch: number; ids: number; ints: number; limits: { ids: number; ints: number } } {
  const all = [ruleSigs, configSigs, frameSigs];
  return { epoch: signatureEpoch, ids: all.reduce((n, t) => n + t.size, 0), ints: all.reduce((n, t) => n + t.storedInts, 0), limits: { ids: SIGNATURE_IDS, ints: SIGNATURE_INTS } };
}

/** Bound on the ints held by the per-node closure cache (16M ints = 64 MiB). */
const CLOSURE_CACHE_INTS = 16 * 1024 * 1024;

/**
 * Byte sets → global ids, so a terminal reads the same in every automaton's signatures: each
 * set's eight words interned (a string key per terminal, for every automaton's terminals, was
 * a tenth of what the bench's masks allocated on 4k). Uncapped: cleared with the signatures.
 */
const terminalIds = new SeqInterner(Number.MAX_SAFE_INTEGER);
/** Per terminal of `terminals`: its global id (see terminalIds). */
function terminalIdsOf(terminals: readonly Uint32Array[]): Int32Array {
  const out = new Int32Array(terminals.length);
  for (let t = 0; t < terminals.length; t++) {
    const set = terminals[t];
    for (let w = 0; w < 8; w++) terminalIds.push(set[w]);
    out[t] = terminalIds.intern();
  }
  return out;
}

/**
 * The most stack levels a frame inside a lexeme may take (see Automaton.frameLevels). A pattern
 * string's regex nests its groups a few levels deep inside the lexeme; at 3 levels the frame of
 * `^(KONG_\w+=\S+)*…$` (Github_hard o60309) ended inside `\S+`, after every character, and
 * popped at ≈ 77k of cl100k's trie nodes (9–19 ms a mask); a frame of the whole lexeme pops
 * only where a token closes the string. No lexeme of the bench's sample is deeper than 5 levels
 * (8 and 5 walk the same nodes there; 4 walks 0.07% fewer).
 */
const LEXEME_LEVELS = 8;

/** Ceiling on interned states before the matcher refuses to go on (a grammar that explodes). */
const MAX_STATES = 2_000_000;

export class Automaton {
  readonly g: LoweredGrammar;
  /** The grammar's position tables as own fields (LoweredGrammar objects may differ in shape; these loads sit in the hot functions). */
  private readonly syms: Int32Array;
  private readonly ruleAlts: Int32Array;
  private readonly altStarts: Int32Array;
  /** byte → class. */
  readonly classOf: Uint8Array;
  readonly numClasses: number;
  /** termAccepts[t * numClasses + c] = 1 when terminal t accepts class c. */
  private readonly termAccepts: Uint8Array;
  /** The same as bitsets: terminal t's classes are termClassBits[t * classWords .. + classWords). */
  private readonly termClassBits: Uint32Array;
  /** Words of a bitset over the byte classes (liveClasses). */
  readonly classWords: number;
  /** The terminals' byte sets in one array: terminal t's bytes are termBytes[8t .. 8t+8) (liveBytes). */
  private readonly termBytes: Uint32Array;
  // hash-consed stack nodes; node 0 = the empty stack
  private nodePos: Int32Array = new Int32Array(1024);
  private nodeParent: Int32Array = new Int32Array(1024);
  private numNodes = 1;
  // Interned states: state s's sorted configurations are pool[stateOff[s] .. + stateLen[s]).
  // One arena, not an Int32Array per state: every ArrayBuffer is a heap object with external
  // memory that survives into the old generation, and on cl100k they brought full collections
  // of ≈ 300 ms inside the timed masks.
  private pool: Int32Array = new Int32Array(1 << 16);
  private poolLen = 0;
  private stateOff: Int32Array = new Int32Array(1024);
  private stateLen: Int32Array = new Int32Array(1024);
  private numStates = 1;
  /**
   * Interned states by a hash of their sorted stack list: open addressing, slot → state id (0
   * empty: the dead state 0 is never looked up), and each state's hash in stateHash (a Map
   * from hash to id or ids was a tenth of the 4k vocabulary's mask time).
   */
  private stateTable: Int32Array = new Int32Array(2048);
  private stateHash: Int32Array = new Int32Array(1024);
  /**
   * trans[s * numClasses + c]: 1 + the next state, 0 = not computed yet (so a grown table needs
   * no fill: a new Int32Array is zeros). Grows; re-read after `computeTransition`.
   */
  trans: Int32Array;
  /** acceptFlags[s] = 1 when state s accepts (the empty stack is among its configurations). Grows; re-read after `computeTransition`. */
  acceptFlags: Uint8Array = new Uint8Array(64);
  readonly initial: number;
  /** lexemeAt[pos] = 1 when position pos lies in a lexeme rule (LoweredGrammar.lexeme); empty without lexemes (never undefined: one field type, no deoptimization). */
  private readonly lexemeAt: Uint8Array = NO_BYTES;

  constructor(grammar: Grammar | LoweredGrammar) {
    this.g = 'syms' in grammar ? grammar : lowerGrammar(grammar);
    this.syms = this.g.syms;
    this.ruleAlts = this.g.ruleAlts;
    this.altStarts = this.g.altStarts;
    const { lexeme } = this.g;
    if (lexeme !== undefined) {
      const at = new Uint8Array(this.g.syms.length);
      for (let r = 0; r < lexeme.length; r++) {
        if (lexeme[r] === 0) continue;
        const from = this.g.altStarts[this.g.ruleAlts[r]];
        const to = this.g.ruleAlts[r + 1] < this.g.altStarts.length ? this.g.altStarts[this.g.ruleAlts[r + 1]] : this.g.syms.length;
        at.fill(1, from, to);
      }
      this.lexemeAt = at;
    }
    // Byte classes: refine one class by every distinct terminal set.
    const classOf = new Int32Array(256);
    let numClasses = 1;
    const split = new Int32Array(512);
    for (const set of this.g.terminals) {
      split.fill(-1, 0, numClasses * 2);
      let next = 0;
      for (let b = 0; b < 256; b++) {
        const key = classOf[b] * 2 + ((set[b >>> 5] >>> (b & 31)) & 1);
        let c = split[key];
        if (c < 0) c = split[key] = next++;
        classOf[b] = c;
      }
      numClasses = next;
    }
    this.classOf = Uint8Array.from(classOf);
    this.numClasses = numClasses;
    const rep = new Int32Array(numClasses);
    for (let b = 255; b >= 0; b--) rep[classOf[b]] = b;
    this.termAccepts = new Uint8Array(this.g.terminals.length * numClasses);
    this.classWords = (numClasses + 31) >>> 5;
    this.termClassBits = new Uint32Array(this.g.terminals.length * this.classWords);
    this.termBytes = new Uint32Array(this.g.terminals.length * 8);
    this.g.terminals.forEach((set, t) => {
      this.termBytes.set(set.subarray(0, 8), t * 8);
      for (let c = 0; c < numClasses; c++) {
        if (!hasByte(set, rep[c])) continue;
        this.termAccepts[t * numClasses + c] = 1;
        this.termClassBits[t * this.classWords + (c >>> 5)] |= 1 << (c & 31);
      }
    });
    this.trans = new Int32Array(64 * numClasses);
    this.trans.fill(DEAD + 1, 0, numClasses);
    const { ruleAlts, altStarts, startRule } = this.g;
    const seeds: number[] = [];
    for (let a = ruleAlts[startRule]; a < ruleAlts[startRule + 1]; a++) seeds.push(this.node(altStarts[a], 0));
    this.initial = this.closure(seeds, seeds.length);
  }

  get stateCount(): number {
    return this.numStates;
  }

  /** Stack nodes hash-consed so far, (position, parent) pairs (bench counters: building states makes them). */
  get nodeCount(): number {
    return this.numNodes;
  }

  // open-addressing hash (pos, parent) → node id: Map with float keys was the hot spot
  // (pos + 1, parent, node) interleaved per slot, 0 = empty (a grown table needs no fill): one
  // cache line per probe, not three
  private ht: Int32Array = new Int32Array(3 * 4096);
  private htMask = 4095;
  /**
   * Per stack node whose top is a terminal: 1 + the node after it (its position advanced, or
   * its parent at an alternative's end); 0 not known yet. A function of the node (nodes are
   * hash-consed), asked by every transition that takes the terminal — a string body's
   * configuration for each of its dozens of byte classes — and the hash probe it saves was
   * the matcher's most frequent cache miss.
   */
  private nodeNext: Int32Array = new Int32Array(1024);
  /** Closure's visited marks, by node id (generation-stamped, so never cleared). */
  private seenGen: Int32Array = new Int32Array(1024);
  private gen = 0;

  private node(pos: number, parent: number): number {
    let h = (Math.imul(pos, 0x9e3779b1) ^ Math.imul(parent + 0x7f4a7c15, 0x85ebca77)) & this.htMask;
    const ht = this.ht;
    for (;;) {
      const p = ht[3 * h];
      if (p === 0) break;
      if (p === pos + 1 && ht[3 * h + 1] === parent) return ht[3 * h + 2];
      h = (h + 1) & this.htMask;
    }
    const n = this.numNodes++;
    if (n >= this.nodePos.length) {
      const p = new Int32Array(this.nodePos.length * 2);
      p.set(this.nodePos);
      this.nodePos = p;
      const q = new Int32Array(this.nodeParent.length * 2);
      q.set(this.nodeParent);
      this.nodeParent = q;
      const g = new Int32Array(this.nodePos.length);
      g.set(this.seenGen);
      this.seenGen = g;
      const m = new Int32Array(this.nodePos.length);
      m.set(this.mergeGen);
      this.mergeGen = m;
      const o = new Int32Array(this.nodePos.length).fill(-1);
      o.set(this.clOff);
      this.clOff = o;
      const l = new Int32Array(this.nodePos.length);
      l.set(this.clLen);
      this.clLen = l;
      const x = new Int32Array(this.nodePos.length);
      x.set(this.nodeNext);
      this.nodeNext = x;
    }
    this.nodePos[n] = pos;
    this.nodeParent[n] = parent;
    ht[3 * h] = pos + 1;
    ht[3 * h + 1] = parent;
    ht[3 * h + 2] = n;
    if (this.numNodes * 2 > this.htMask) this.rehash();
    return n;
  }

  private rehash(): void {
    const cap = (this.htMask + 1) * 2;
    const ht = (this.ht = new Int32Array(3 * cap)); // zeros: every slot empty
    this.htMask = cap - 1;
    for (let n = 1; n < this.numNodes; n++) {
      const pos = this.nodePos[n];
      const parent = this.nodeParent[n];
      let h = (Math.imul(pos, 0x9e3779b1) ^ Math.imul(parent + 0x7f4a7c15, 0x85ebca77)) & this.htMask;
      while (ht[3 * h] !== 0) h = (h + 1) & this.htMask;
      ht[3 * h] = pos + 1;
      ht[3 * h + 1] = parent;
      ht[3 * h + 2] = n;
    }
  }

  /**
   * Per stack node: its closure (sorted configurations), once computed (see closureOfNode), at
   * clPool[clOff[n] .. + clLen[n]) (clOff −1: not cached). One arena, cleared when it reaches
   * CLOSURE_CACHE_INTS.
   */
  private clPool: Int32Array = new Int32Array(1 << 16);
  private clPoolLen = 0;
  private clOff: Int32Array = new Int32Array(1024).fill(-1);
  private clLen: Int32Array = new Int32Array(1024);
  /** closure()'s union marks, by node id (generation-stamped; apart from seenGen, which closureOfNode uses meanwhile). */
  private mergeGen: Int32Array = new Int32Array(1024);
  private mergeCount = 0;
  /** Scratch: closureOfNode's work stack, closure()'s union, computeTransition's seeds. */
  private workBuf: Int32Array = new Int32Array(1024);
  private workBuf2: Int32Array = new Int32Array(1024);
  private unionBuf: Int32Array = new Int32Array(1024);
  private seedBuf: Int32Array = new Int32Array(256);

  /**
   * The configurations one stack node expands to: references expanded and finished
   * alternatives popped until every top is a terminal (or the stack is empty). A function of
   * the node alone, so it is cached: the same continuation recurs in many states (a string's
   * next-character alternatives after every character), and re-expanding it was most of the
   * time spent building states. Returns its offset in clPool (length clLen[seed]); valid until
   * the next call.
   */
  private closureOfNode(seed: number): number {
    if (this.clOff[seed] >= 0) return this.clOff[seed];
    const { syms, ruleAlts, altStarts } = this;
    const gen = ++this.gen;
    // the result goes straight to the arena's end (no intermediate array); the work stack is scratch
    let at = this.clPoolLen;
    if (at > CLOSURE_CACHE_INTS) {
      // bounded: forget every cached closure (offsets handed out before this call are dead by contract)
      this.clOff.fill(-1);
      this.clPoolLen = at = 0;
    }
    let k = at;
    // Work items: a stack node (workPos −1, workPar the node), or a rule reference at the start
    // of an alternative as the pair (position, parent) — not hash-consed into a node: such a
    // stack is never a configuration, only expanded, and such nodes were over a fifth of the
    // nodes built (a cache miss each into the node table). Its pair is marked seen by
    // pairSeenBefore instead (the same identity: nodes are hash-consed by that pair).
    let workPos = this.workBuf;
    let workPar = this.workBuf2;
    let w = 0;
    workPos[w] = -1;
    workPar[w++] = seed;
    const pairGen = ++this.pairGen;
    this.pairCount = 0;
    while (w > 0) {
      --w;
      let pos = workPos[w];
      let parent = workPar[w];
      if (pos < 0) {
        const s = parent;
        if (this.seenGen[s] === gen) continue;
        this.seenGen[s] = gen;
        if (s === 0) {
          k = this.clPush(k, 0);
          continue;
        }
        pos = this.nodePos[s];
        const sym = syms[pos];
        if (sym >= 0) {
          k = this.clPush(k, s);
          continue;
        }
        parent = this.nodeParent[s];
        if (sym === END) {
          if (w >= workPos.length) [workPos, workPar] = this.growWork();
          workPos[w] = -1;
          workPar[w++] = parent;
          continue;
        }
      } else if (this.pairSeenBefore(pos, parent, pairGen)) continue;
      // expand the rule referenced at pos over the stack `parent`
      const r = -syms[pos] - 2;
      let rest = parent;
      if (syms[pos + 1] !== END) rest = this.node(pos + 1, rest);
      for (let a = ruleAlts[r]; a < ruleAlts[r + 1]; a++) {
        const q = altStarts[a];
        if (w >= workPos.length) [workPos, workPar] = this.growWork();
        if (syms[q] < END) {
          workPos[w] = q;
          workPar[w++] = rest;
        } else {
          workPos[w] = -1;
          workPar[w++] = syms[q] === END ? rest : this.node(q, rest);
        }
      }
    }
    sortRange(this.clPool, at, k);
    this.clPoolLen = k;
    this.clOff[seed] = at;
    this.clLen[seed] = k - at;
    return at;
  }

  /** clPool[k] = x (growing it); returns k + 1. */
  private clPush(k: number, x: number): number {
    if (k >= this.clPool.length) {
      const g = new Int32Array(this.clPool.length * 2);
      g.set(this.clPool);
      this.clPool = g;
    }
    this.clPool[k] = x;
    return k + 1;
  }

  /**
   * closureOfNode's seen set of (position, parent) pairs that are not nodes: open addressing,
   * a slot in use in this closure when pairStamp[slot] = pairGen (never cleared). True when
   * the pair was seen already in this closure; else marks it.
   */
  private pairPos: Int32Array = new Int32Array(256);
  private pairPar: Int32Array = new Int32Array(256);
  private pairStamp: Int32Array = new Int32Array(256);
  private pairGen = 0;
  private pairCount = 0;

  private pairSeenBefore(pos: number, parent: number, gen: number): boolean {
    if (2 * (this.pairCount + 1) > this.pairStamp.length) this.growPairs(gen);
    const mask = this.pairStamp.length - 1;
    let h = pairHash(pos, parent) & mask;
    for (;;) {
      if (this.pairStamp[h] !== gen) break;
      if (this.pairPos[h] === pos && this.pairPar[h] === parent) return true;
      h = (h + 1) & mask;
    }
    this.pairStamp[h] = gen;
    this.pairPos[h] = pos;
    this.pairPar[h] = parent;
    this.pairCount++;
    return false;
  }

  private growPairs(gen: number): void {
    const oldPos = this.pairPos;
    const oldPar = this.pairPar;
    const oldStamp = this.pairStamp;
    const size = oldStamp.length * 2;
    this.pairPos = new Int32Array(size);
    this.pairPar = new Int32Array(size);
    this.pairStamp = new Int32Array(size); // zeros: pairGen ≥ 1, so no slot reads as in use
    const mask = size - 1;
    for (let i = 0; i < oldStamp.length; i++) {
      if (oldStamp[i] !== gen) continue;
      let h = pairHash(oldPos[i], oldPar[i]) & mask;
      while (this.pairStamp[h] === gen) h = (h + 1) & mask;
      this.pairStamp[h] = gen;
      this.pairPos[h] = oldPos[i];
      this.pairPar[h] = oldPar[i];
    }
  }

  private growWork(): [Int32Array, Int32Array] {
    const g = new Int32Array(this.workBuf.length * 2);
    g.set(this.workBuf);
    const h = new Int32Array(g.length);
    h.set(this.workBuf2);
    this.workBuf = g;
    this.workBuf2 = h;
    return [g, h];
  }

  /** The interned state of the union of the closures of seeds[0 .. count). */
  private closure(seeds: ArrayLike<number>, count: number): number {
    if (count === 1) {
      const off = this.closureOfNode(seeds[0]);
      return this.intern(this.clPool, off, this.clLen[seeds[0]]);
    }
    const gen = ++this.mergeCount;
    let out = this.unionBuf;
    let k = 0;
    for (let i = 0; i < count; i++) {
      const seed = seeds[i];
      const off = this.closureOfNode(seed);
      const len = this.clLen[seed];
      const cl = this.clPool;
      const mark = this.mergeGen;
      for (let j = off; j < off + len; j++) {
        const x = cl[j];
        if (mark[x] === gen) continue;
        mark[x] = gen;
        if (k >= out.length) {
          const g = new Int32Array(out.length * 2);
          g.set(out);
          out = this.unionBuf = g;
        }
        out[k++] = x;
      }
    }
    sortRange(out, 0, k);
    return this.intern(out, 0, k);
  }

  /** The id of the state whose sorted configuration list is buf[off .. off + len) (interned on first sight: copied into the arena). */
  private intern(buf: Int32Array, off: number, len: number): number {
    if (len === 0) return DEAD;
    // intern by a hash of the sorted node list (a joined-string key was the main garbage source)
    let h = len;
    for (let i = off; i < off + len; i++) h = Math.imul(h ^ buf[i], 0x9e3779b1) ^ (h >>> 15);
    const table = this.stateTable;
    const tmask = table.length - 1;
    let slot = h & tmask;
    for (; ; slot = (slot + 1) & tmask) {
      const cand = table[slot];
      if (cand === 0) break;
      if (this.stateHash[cand] !== h || this.stateLen[cand] !== len) continue;
      const pool = this.pool;
      const so = this.stateOff[cand];
      let eq = true;
      for (let i = 0; i < len; i++) {
        if (pool[so + i] !== buf[off + i]) {
          eq = false;
          break;
        }
      }
      if (eq) return cand;
    }
    const id = this.numStates;
    if (id >= MAX_STATES) throw new GptforgeError(`the constraint's automaton grew past ${MAX_STATES} states (a highly ambiguous grammar?)`);
    this.numStates++;
    if (id >= this.stateOff.length) {
      const o = new Int32Array(this.stateOff.length * 2);
      o.set(this.stateOff);
      this.stateOff = o;
      const l = new Int32Array(this.stateLen.length * 2);
      l.set(this.stateLen);
      this.stateLen = l;
      const hs = new Int32Array(this.stateHash.length * 2);
      hs.set(this.stateHash);
      this.stateHash = hs;
    }
    if (this.poolLen + len > this.pool.length) {
      const g = new Int32Array(Math.max(this.poolLen + len, this.pool.length * 2));
      g.set(this.pool.subarray(0, this.poolLen));
      this.pool = g;
    }
    const pool = this.pool;
    for (let i = 0, o = this.poolLen; i < len; i++) pool[o + i] = buf[off + i];
    this.stateOff[id] = this.poolLen;
    this.stateLen[id] = len;
    this.poolLen += len;
    if (id >= this.acceptFlags.length) {
      const f = new Uint8Array(this.acceptFlags.length * 2);
      f.set(this.acceptFlags);
      this.acceptFlags = f;
    }
    this.acceptFlags[id] = buf[off] === 0 ? 1 : 0;
    this.stateHash[id] = h;
    table[slot] = id;
    if (2 * this.numStates > table.length) {
      // rehash at half full
      const t = new Int32Array(table.length * 2);
      const m = t.length - 1;
      for (let q = 1; q < this.numStates; q++) {
        let k = this.stateHash[q] & m;
        while (t[k] !== 0) k = (k + 1) & m;
        t[k] = q;
      }
      this.stateTable = t;
    }
    const need = (id + 1) * this.numClasses;
    if (need > this.trans.length) {
      const t = new Int32Array(Math.max(need, this.trans.length * 2));
      t.set(this.trans);
      this.trans = t;
    }
    return id;
  }

  /** The configurations (stack nodes) of state `s`; 0 = the empty stack. Do not modify. */
  stacks(s: number): Int32Array {
    return this.pool.subarray(this.stateOff[s], this.stateOff[s] + this.stateLen[s]);
  }

  /** The arena behind `stacks` (without a view per call): state s's configurations are stackPool[stackStart(s) .. + stackCount(s)); re-read after anything that may intern a state. */
  get stackPool(): Int32Array {
    return this.pool;
  }
  stackStart(s: number): number {
    return this.stateOff[s];
  }
  stackCount(s: number): number {
    return this.stateLen[s];
  }

  /** Top position and parent of a stack node. */
  nodeTop(n: number): number {
    return this.nodePos[n];
  }
  nodeBelow(n: number): number {
    return this.nodeParent[n];
  }

  /**
   * The frame of configuration `st`: its top `depth` stack nodes re-rooted on the empty stack
   * (a hash-consed node, so equal frames are the same id), and the stack below them. The
   * frame's state accepts where those levels have all finished; what follows depends on the
   * stack below — the context. A frame of one level (one rule alternative) is often a single
   * character, which would leave nearly every token to the context, hence several levels
   * (FRAME_LEVELS).
   * Returns the frame; the stack below and the level count are left in `frameBelow` and
   * `frameLevelCount` (no object per configuration: this runs for each of a state's
   * configurations, up to ≈ 1,700, on every new state's mask).
   */
  frameOf(st: number, depth: number): number {
    // memoized per configuration (for one depth: compute() asks FRAME_LEVELS only): a
    // configuration recurs in many states, and re-rooting it probed the node table per level
    if (depth !== this.frameMemoDepth) {
      this.frameMemoDepth = depth;
      this.frameMemo.fill(0);
    }
    if (st >= this.frameMemo.length) {
      const g = new Int32Array(Math.max(st + 1, this.frameMemo.length * 2));
      g.set(this.frameMemo);
      this.frameMemo = g;
      const b = new Int32Array(g.length);
      b.set(this.frameMemoBelow);
      this.frameMemoBelow = b;
    }
    const memo = this.frameMemo[st];
    if (memo !== 0) {
      this.frameBelow = this.frameMemoBelow[st];
      this.frameLevelCount = memo >>> 24;
      return (memo & 0xffffff) - 1;
    }
    const f = this.frameOfUncached(st, depth);
    if (f + 1 < 0x1000000 && this.frameLevelCount < 0x80) {
      this.frameMemo[st] = (this.frameLevelCount << 24) | (f + 1);
      this.frameMemoBelow[st] = this.frameBelow;
    }
    return f;
  }

  /** frameOf's memo per configuration node: (levels << 24) | (1 + frame node), 0 not known; frameMemoBelow: the stack below. */
  private frameMemo: Int32Array = new Int32Array(1024);
  private frameMemoBelow: Int32Array = new Int32Array(1024);
  private frameMemoDepth = -1;

  private frameOfUncached(st: number, depth: number): number {
    const levels = this.frameLevels(st, depth);
    let chain = this.chainBuf;
    if (levels > chain.length) chain = this.chainBuf = new Int32Array(levels);
    let k = 0;
    let n = st;
    while (n !== 0 && k < levels) {
      chain[k++] = this.nodePos[n];
      n = this.nodeParent[n];
    }
    let f = 0;
    for (let i = k - 1; i >= 0; i--) f = this.node(chain[i], f);
    this.frameBelow = n;
    this.frameLevelCount = k;
    return f;
  }

  /** frameOf's second and third results: the stack below the last frame and its level count. */
  frameBelow = 0;
  frameLevelCount = 0;
  private chainBuf: Int32Array = new Int32Array(8);

  /**
   * How many top levels of configuration `st` make its frame: `depth`, except inside a lexeme
   * (Grammar.lexemes: a string value or key), where the frame is the top levels that lie in
   * it — 2 to LEXEME_LEVELS — so it ends where the string does (a lexeme deeper than that: its
   * top LEXEME_LEVELS levels, so the frame still ends as late inside it as it may). Its walk (the string's whole
   * body: on cl100k ≈ 20k trie nodes and 87k tokens) is then the same wherever the string
   * stands, and for a plain string in every schema, instead of one walk per place; what follows
   * the closing quote is walked from the stack below, at the few tokens that cross it.
   */
  private frameLevels(st: number, depth: number): number {
    const lex = this.lexemeAt;
    if (lex.length === 0) return depth;
    let k = 0;
    for (let n = st; n !== 0 && k <= LEXEME_LEVELS && lex[this.nodePos[n]] !== 0; n = this.nodeParent[n]) k++;
    return k >= 2 ? Math.min(k, LEXEME_LEVELS) : depth;
  }

  /** The top level of stack node `n` alone, re-rooted on the empty stack (a one-level frame node). */
  topFrame(n: number): number {
    return this.node(this.nodePos[n], 0);
  }

  /** The state whose single configuration is node `n` (a frame; its top is a terminal). */
  frameState(n: number): number {
    this.seedBuf[0] = n;
    return this.closure(this.seedBuf, 1);
  }

  /** The state whose configurations are the frame nodes `ns` (each top a terminal): a frame group. */
  frameGroupState(ns: ArrayLike<number>, count: number = ns.length): number {
    return this.closure(ns, count);
  }

  /** Per terminal: its global id (terminalId). */
  private termIds: Int32Array = NO_INTS;
  /** The signature epoch of termIds and ruleSig (see resetSignaturesIfFull). */
  private sigEpoch = signatureEpoch;
  /** ruleSig[r]: global id of rule r's canonical sub-grammar, −1 too large, −2 not computed. */
  private ruleSig: Int32Array = NO_INTS;

  /**
   * The canonical form of the sub-grammar reachable from rule `r` — its alternatives and every
   * rule reachable from them, rules renumbered in discovery order, terminals by their global
   * ids — interned to a small global id (equal ids ⇔ equal sequences ⇔ isomorphic
   * sub-grammars), or −1 past `maxRules` rules. Computed once per rule. The sequence: per rule
   * in discovery order, −2 then its alternatives (symbols: terminal t as 2t, the k-th rule as
   * 2k + 1), each followed by −1; an optional chain as −3, its item, its capped length.
   */
  private ruleSignature(r0: number, maxRules: number, reach: number): number {
    const { syms, ruleAlts, altStarts } = this;
    const { terminals } = this.g;
    if (this.ruleSig.length === 0 || this.ruleSigReach !== reach) {
      this.ruleSig = new Int32Array(ruleAlts.length - 1).fill(-2);
      this.ruleSigReach = reach;
    }
    const memo = this.ruleSig[r0];
    if (memo !== -2) return memo;
    if (this.termIds.length === 0) this.termIds = terminalIdsOf(terminals);
    // The rules discovered so far, numbered in discovery order: sigRuleNo[r] (valid where
    // sigRuleGen[r] is this search's generation) and sigQueue[0 .. sigFound). Typed scratch
    // reused by every search: a Map, a queue array and a closure per search were half of what
    // a structural schema's masks allocated (most of these searches fail: a large schema's
    // rules reach more than maxRules others).
    if (this.sigRuleGen.length < ruleAlts.length - 1) {
      this.sigRuleGen = new Int32Array(ruleAlts.length - 1);
      this.sigRuleNo = new Int32Array(ruleAlts.length - 1);
    }
    if (this.sigQueue.length < Math.max(1, maxRules)) this.sigQueue = new Int32Array(Math.max(1, maxRules));
    const gen = ++this.sigGen;
    this.sigMaxRules = maxRules;
    this.sigRuleGen[r0] = gen;
    this.sigRuleNo[r0] = 0;
    this.sigQueue[0] = r0;
    this.sigFound = 1;
    const seq = ruleSigs;
    seq.truncate(0);
    let id = -1;
    out: {
      for (let i = 0; i < this.sigFound; i++) {
        const r = this.sigQueue[i];
        const chain = this.chainLength(r);
        if (chain > 0) {
          // x{0,k} (or x*) as one entry: within one token (at most `reach` bytes, each x at least
          // one — or empty, which changes nothing) k > reach cannot be told from reach + 1, so a
          // long bounded string (`maxLength: 255`) is one frame at every position but its last
          // `reach` characters, not one per position; and x* is the same frame as x{0,k} there.
          const x = this.sigCode(this.chainItem(r));
          if (x < 0) break out;
          seq.push(-3);
          seq.push(x);
          seq.push(Math.min(chain, reach + 1));
          continue;
        }
        seq.push(-2);
        for (let a = ruleAlts[r]; a < ruleAlts[r + 1]; a++) {
          for (let q = altStarts[a]; syms[q] !== END; q++) {
            const x = this.sigCode(syms[q]);
            if (x < 0) break out;
            seq.push(x);
          }
          seq.push(-1);
        }
      }
      id = seq.intern();
    }
    seq.truncate(0);
    this.ruleSig[r0] = id;
    return id;
  }

  /** ruleSignature's search: its generation, per rule the generation that numbered it and its number, the rules in discovery order, their count, the cap. */
  private sigGen = 0;
  private sigRuleGen: Int32Array = NO_INTS;
  private sigRuleNo: Int32Array = NO_INTS;
  private sigQueue: Int32Array = NO_INTS;
  private sigFound = 0;
  private sigMaxRules = 0;

  /** Symbol x's code in ruleSignature's current search: 2t for a terminal, 2k + 1 for the k-th rule discovered (discovering it); −1 past the cap. */
  private sigCode(x: number): number {
    if (x >= 0) return 2 * this.termIds[x];
    const rr = -x - 2;
    if (this.sigRuleGen[rr] === this.sigGen) return 2 * this.sigRuleNo[rr] + 1;
    // a rule known to reach more than maxRules: so does the searched one, which reaches all it
    // reaches (most frames of a large schema end here, instead of discovering 64 rules each first)
    if (this.sigFound >= this.sigMaxRules || this.ruleSig[rr] === -1) return -1;
    const k = this.sigFound++;
    this.sigRuleGen[rr] = this.sigGen;
    this.sigRuleNo[rr] = k;
    this.sigQueue[k] = rr;
    return 2 * k + 1;
  }

  private ruleSigReach = -1;
  /** Per rule: −1 not known yet, 0 not an optional chain, k > 0 an optional chain of length k (2³⁰: x*; see chainLength); −3 while being followed. */
  private chainLen: Int32Array = NO_INTS;

  /**
   * k when rule r is `x{0,k}` as lowering unrolls it (O_k ::= x O_{k−1} | ε, O_1 ::= x | ε;
   * grammar.ts), 2³⁰ for `x*` (S ::= x S | ε), else 0. Computed once per rule, iteratively
   * (chains run to thousands).
   */
  private chainLength(r: number): number {
    const { syms, ruleAlts, altStarts } = this;
    if (this.chainLen.length === 0) this.chainLen = new Int32Array(ruleAlts.length - 1).fill(-1);
    const len = this.chainLen;
    if (len[r] >= 0) return len[r];
    // follow the links down to a known rule or the chain's end, then fill lengths back up
    const path: number[] = [];
    let base = 0;
    let x0 = 0;
    for (let q = r; ; ) {
      if (len[q] === -3) {
        base = 1 << 30; // a loop back into the path: x* (S ::= x S | ε), a chain without end
        break;
      }
      if (len[q] >= 0) {
        base = len[q] > 0 && this.chainItem(q) === x0 ? len[q] : -1;
        break;
      }
      const a = ruleAlts[q];
      const ok = ruleAlts[q + 1] - a === 2 && syms[altStarts[a + 1]] === END && syms[altStarts[a]] !== END;
      const x = ok ? syms[altStarts[a]] : 0;
      if (!ok || (path.length > 0 && x !== x0)) {
        base = -1;
        if (!ok) len[q] = 0;
        break;
      }
      x0 = x;
      path.push(q);
      len[q] = -3; // on the path
      const next = syms[altStarts[a] + 1];
      if (next === END) break; // O_1 ::= x | ε
      if (next >= 0 || syms[altStarts[a] + 2] !== END) {
        base = -1;
        break;
      }
      q = -next - 2;
    }
    // base −1: the links below stop being one chain; the rules on the path are chains only from where they are whole
    for (let i = path.length - 1; i >= 0; i--) len[path[i]] = base < 0 ? 0 : base + (path.length - i);
    return len[r];
  }

  /** The repeated symbol of an optional chain rule. */
  private chainItem(r: number): number {
    return this.syms[this.altStarts[this.ruleAlts[r]]];
  }

  /** The terminals' global ids for the signatures, recomputed after the interners were cleared (every id memoized here may name another sequence then). */
  private signatureTerminalIds(): Int32Array {
    if (this.sigEpoch !== signatureEpoch) {
      this.sigEpoch = signatureEpoch;
      this.ruleSig = NO_INTS;
      this.termIds = NO_INTS;
    }
    if (this.termIds.length === 0) this.termIds = terminalIdsOf(this.g.terminals);
    return this.termIds;
  }

  /**
   * The canonical form of the sub-grammar frame node `n` runs on — the rest of the alternative
   * at each of its positions, top first (terminal t as 2t, a referenced rule as 2·its interned
   * sub-grammar id + 1, −1 after each position) — interned to a global id, or −1 when a
   * referenced rule reaches more than `maxRules` rules (or past the interner's cap). Equal ids
   * mean equal frame automata (up to renaming), so their masks can be shared, across schemas too.
   */
  frameSignature(n: number, reach: number, maxRules = 64): number {
    const { syms } = this;
    const keys = this.signatureTerminalIds();
    const seq = configSigs;
    seq.truncate(0);
    for (; n !== 0; n = this.nodeParent[n]) {
      for (let q = this.nodePos[n]; syms[q] !== END; q++) {
        const x = syms[q];
        if (x >= 0) seq.push(2 * keys[x]);
        else {
          const sig = this.ruleSignature(-x - 2, maxRules, reach);
          if (sig < 0) {
            seq.truncate(0);
            return -1;
          }
          seq.push(2 * sig + 1);
        }
      }
      seq.push(-1);
    }
    return seq.intern();
  }

  /** reachWalk's scratch: frontiers of trie nodes (a stack of them, one per point of its tree), continuations (position, parent; 0 none), the steps left. */
  private reachFront: Int32Array = new Int32Array((REACH_BUDGET + 2) * REACH_FRONT_MAX);
  private reachContPos: Int32Array = new Int32Array(REACH_BUDGET + LEXEME_LEVELS + 2);
  private reachContPar: Int32Array = new Int32Array(REACH_BUDGET + LEXEME_LEVELS + 2);
  private reachConts = 1;
  private reachSteps = 0;
  /** reachWalk's results: the trie nodes reached, reachNodes[0 .. reachNodeCount), and those where the frame ends (with children), reachPops[0 .. reachPopCount); unsorted, with repeats. */
  reachNodes: Int32Array = new Int32Array(REACH_BUDGET * REACH_FRONT_MAX);
  reachNodeCount = 0;
  reachPops: Int32Array = new Int32Array(REACH_BUDGET * REACH_FRONT_MAX);
  reachPopCount = 0;
  /** Statistics: configurations reachWalk followed through at least one rule reference (the rest ran on terminals alone). */
  reachThroughRules = 0;
  private reachBranched = false;
  /** The trie reachWalk last ran on, and its root's index among the wide nodes (TokenTrie.wide.rootIndex). */
  private reachTrie: TokenTrie | undefined = undefined;
  private reachRootWide = -1;

  /**
   * What the frame walk from the trie's root takes of frame node `n`, found by a walk of the
   * grammar over the trie instead of the automaton: n's rest — terminals, and the alternatives
   * of every rule it references, expanded in place — unfolded depth first as a tree of paths,
   * each carrying the set of trie nodes its bytes so far lead to (a terminal keeps the children
   * whose byte it accepts), until every path dies (a terminal that no trie path continues
   * through) or the frame ends. The trie nodes reached are exactly those where the
   * configuration is alive after the node's bytes (a path can stop only at a terminal, or at a
   * rule without alternatives: refused below), so they are the nodes the frame walk accepts, and
   * the nodes with children where a path ends the frame are its pops: results in reachNodes
   * and reachPops. On cl100k the places after an object's members (`,"name":…` where no token
   * spans `,"` into the name), behind whitespace, a value's alternatives or an optional member,
   * reach a few dozen nodes. False when the tree needs more than REACH_BUDGET steps (terminals
   * and references) or more than REACH_FRONT_MAX trie nodes at one point (a string body, a
   * number): such a configuration is left to frameSignature. It says nothing of a walk that
   * starts below the root (frameWalk's root copies).
   */
  reachWalk(n: number, trie: TokenTrie): boolean {
    if (n === 0) return false;
    // the frame node's levels below its top, as continuations (bottom first)
    let k = 0;
    for (let p = this.nodeParent[n]; p !== 0; p = this.nodeParent[p]) {
      if (k >= this.chainBuf.length) this.chainBuf = growTo(this.chainBuf, k);
      this.chainBuf[k++] = this.nodePos[p];
    }
    this.reachConts = 1;
    let cont = 0;
    for (let i = k - 1; i >= 0; i--) cont = this.reachCont(this.chainBuf[i], cont);
    this.reachSteps = REACH_BUDGET;
    this.reachBranched = false;
    this.reachNodeCount = 0;
    this.reachPopCount = 0;
    if (this.reachTrie !== trie) {
      this.reachTrie = trie;
      this.reachRootWide = trie.wide.rootIndex;
    }
    this.reachFront[0] = -1; // the root
    if (!this.reachVisit(this.nodePos[n], cont, 0, 1, trie)) return false;
    if (this.reachBranched) this.reachThroughRules++;
    return true;
  }

  /** A continuation (resume at position `pos`, then at `parent`), in reachWalk's scratch. */
  private reachCont(pos: number, parent: number): number {
    const i = this.reachConts++;
    if (i >= this.reachContPos.length) {
      this.reachContPos = growTo(this.reachContPos, i);
      this.reachContPar = growTo(this.reachContPar, i);
    }
    this.reachContPos[i] = pos;
    this.reachContPar[i] = parent;
    return i;
  }

  /**
   * reachWalk's depth-first walk from position q with continuation `cont`, the path's trie
   * nodes at reachFront[f0 .. f0 + nf): adds the nodes and pops its subtree reaches; false
   * when a bound is passed.
   */
  private reachVisit(q: number, cont: number, f0: number, nf: number, trie: TokenTrie): boolean {
    const { syms, ruleAlts, altStarts } = this;
    const { terminals } = this.g;
    const { byte, end } = trie;
    const { id: wideId, kidBytes, kidAt } = trie.wide;
    const front = this.reachFront;
    for (;;) {
      const x = syms[q];
      if (x === END) {
        if (cont === 0) {
          // the frame ends at every node this path reached: a pop at those with children
          if (this.reachPopCount + nf > this.reachPops.length) return false;
          for (let i = f0; i < f0 + nf; i++) {
            const p = front[i];
            if (p >= 0 && end[p] > p + 1) this.reachPops[this.reachPopCount++] = p;
          }
          return true;
        }
        q = this.reachContPos[cont];
        cont = this.reachContPar[cont];
        continue;
      }
      if (--this.reachSteps < 0) return false;
      if (x >= 0) {
        const set = terminals[x];
        const f1 = f0 + nf;
        let nn = 0;
        for (let i = f0; i < f1; i++) {
          const p = front[i];
          const w = p < 0 ? this.reachRootWide : wideId[p];
          if (w >= 0) {
            // a wide node (the root, a space…): its children on the terminal's bytes, by the byte index
            for (let j = 0; j < 8; j++) {
              for (let bits = set[j] & kidBytes[8 * w + j]; bits !== 0; bits &= bits - 1) {
                if (nn === REACH_FRONT_MAX) return false;
                front[f1 + nn++] = kidAt[256 * w + (j << 5) + 31 - Math.clz32(bits & -bits)];
              }
            }
            continue;
          }
          const e = end[p];
          for (let c = p + 1; c < e; c = end[c]) {
            const b = byte[c];
            if ((set[b >>> 5] & (1 << (b & 31))) === 0) continue;
            if (nn === REACH_FRONT_MAX) return false;
            front[f1 + nn++] = c;
          }
        }
        if (nn === 0) return true; // no trie path continues through this terminal: the path ends
        for (let i = 0; i < nn; i++) this.reachNodes[this.reachNodeCount++] = front[f1 + i];
        f0 = f1;
        nf = nn;
        q++;
        continue;
      }
      // a rule reference: each alternative, then what follows the reference (a reference in
      // tail position continues straight at `cont`, as closureOfNode expands it)
      const r = -x - 2;
      const a0 = ruleAlts[r];
      const a1 = ruleAlts[r + 1];
      if (a1 === a0) return false; // no alternative: the path is stuck, and the nodes it reached may be dead
      this.reachBranched = true;
      const after = syms[q + 1] === END ? cont : this.reachCont(q + 1, cont);
      for (let a = a0; a < a1; a++) if (!this.reachVisit(altStarts[a], after, f0, nf, trie)) return false;
      return true;
    }
  }

  private readonly resumeStates = new Map<number, number>();
  /** The state after popping to stack node `n` (its top is a continuation position). */
  resumeState(n: number): number {
    let s = this.resumeStates.get(n);
    if (s === undefined) {
      this.seedBuf[0] = n;
      s = this.closure(this.seedBuf, 1);
      this.resumeStates.set(n, s);
    }
    return s;
  }

  /** Statistics (bench): transitions computed (closures built), and transitions filled in beside them for classes s cannot tell from c. */
  transitionsComputed = 0;
  transitionsShared = 0;
  /** computeTransition's scratch: the classes s treats as c (classWords words), per terminal the call that last AND-ed it in. */
  private sameClasses: Uint32Array = new Uint32Array(8);
  private termStamp: Int32Array = NO_INTS;
  private termGen = 0;

  /**
   * The state after byte class `c` from state `s` (computed and stored on first use). The
   * successor depends only on which configurations of s accept c, so it is stored too for
   * every class that exactly the same configurations accept (the same seeds, the same
   * closure): a string body's state takes dozens of classes alike, and a frame walk stepped
   * each, interning the same large state again per class.
   */
  computeTransition(s: number, c: number): number {
    const { syms } = this;
    const nc = this.numClasses;
    const cw = this.classWords;
    const tcb = this.termClassBits;
    const same = this.sameClasses;
    for (let j = 0; j < cw; j++) same[j] = -1;
    if (this.termStamp.length === 0) this.termStamp = new Int32Array(this.g.terminals.length);
    const tstamp = this.termStamp;
    const gen = ++this.termGen;
    let seeds = this.seedBuf;
    let k = 0;
    const off = this.stateOff[s];
    const len = this.stateLen[s];
    for (let i = off; i < off + len; i++) {
      const st = this.pool[i];
      if (st === 0) continue;
      const pos = this.nodePos[st];
      const term = syms[pos];
      const takes = this.termAccepts[term * nc + c];
      if (tstamp[term] !== gen) {
        // the classes this terminal decides as it decides c
        tstamp[term] = gen;
        const b = term * cw;
        if (takes === 0) for (let j = 0; j < cw; j++) same[j] &= ~tcb[b + j];
        else for (let j = 0; j < cw; j++) same[j] &= tcb[b + j];
      }
      if (takes === 0) continue;
      let next = this.nodeNext[st] - 1;
      if (next < 0) {
        next = syms[pos + 1] === END ? this.nodeParent[st] : this.node(pos + 1, this.nodeParent[st]);
        this.nodeNext[st] = next + 1; // re-read the field: node() may have grown it
      }
      if (k >= seeds.length) {
        const g = new Int32Array(seeds.length * 2);
        g.set(seeds);
        seeds = this.seedBuf = g;
      }
      seeds[k++] = next;
    }
    const t = k === 0 ? DEAD : this.closure(seeds, k);
    this.transitionsComputed++;
    // every class in `same` (c among them) goes to t; none was computed before this call, or
    // c would have been filled beside it (the relation is symmetric)
    const tr = this.trans; // after closure: interning may have grown it
    const row = s * nc;
    let alike = -1;
    for (let j = 0; j < cw; j++) {
      for (let bits = same[j]; bits !== 0; bits &= bits - 1) {
        const d = (j << 5) | (31 - Math.clz32(bits & -bits));
        if (d >= nc) break;
        tr[row + d] = t + 1;
        alike++;
      }
    }
    this.transitionsShared += alike;
    return t;
  }

  /**
   * out[0 .. classWords) = the byte classes some configuration of state `s` accepts: every
   * other class leads to DEAD. One OR per configuration instead of a transition per class
   * (a frame's walk asks for every first byte's successor, and most are DEAD).
   */
  liveClasses(s: number, out: Uint32Array): void {
    const w = this.classWords;
    out.fill(0, 0, w);
    const { syms, termClassBits } = this;
    const pool = this.pool;
    for (let i = this.stateOff[s], e = i + this.stateLen[s]; i < e; i++) {
      const st = pool[i];
      if (st === 0) continue;
      const t = syms[this.nodePos[st]] * w;
      for (let j = 0; j < w; j++) out[j] |= termClassBits[t + j];
    }
  }

  /**
   * out[at .. at + 8) = the 256-bit set of bytes some configuration of state `s` accepts:
   * every other byte leads to DEAD (liveClasses by byte, for the walk's jumps over a wide
   * node's rejected children).
   */
  liveBytes(s: number, out: Uint32Array, at: number): void {
    out.fill(0, at, at + 8);
    const { syms, termBytes } = this;
    const pool = this.pool;
    for (let i = this.stateOff[s], e = i + this.stateLen[s]; i < e; i++) {
      const st = pool[i];
      if (st === 0) continue;
      const t = syms[this.nodePos[st]] * 8;
      for (let j = 0; j < 8; j++) out[at + j] |= termBytes[t + j];
    }
  }

  step(s: number, byte: number): number {
    const c = this.classOf[byte];
    const t = this.trans[s * this.numClasses + c] - 1;
    return t >= 0 ? t : this.computeTransition(s, c);
  }

  /** True when the empty stack is among the state's configurations: the input so far is a complete match. */
  isAccepting(s: number): boolean {
    return this.acceptFlags[s] === 1;
  }

  /** True when the state accepts and no byte can extend it. */
  isFinal(s: number): boolean {
    return this.stateLen[s] === 1 && this.pool[this.stateOff[s]] === 0;
  }

  /** Run bytes from a state; DEAD if rejected. */
  run(s: number, bytes: ArrayLike<number>): number {
    for (let i = 0; i < bytes.length && s !== DEAD; i++) s = this.step(s, bytes[i]);
    return s;
  }

  /** Run bytes[from .. to) from a state; DEAD if rejected (a token's bytes in the trie's store, without a view). */
  runRange(s: number, bytes: Uint8Array, from: number, to: number): number {
    for (let i = from; i < to && s !== DEAD; i++) s = this.step(s, bytes[i]);
    return s;
  }

  /** Whole-string match over UTF-8 bytes (tests, validation). */
  matches(bytes: ArrayLike<number>): boolean {
    const s = this.run(this.initial, bytes);
    return s !== DEAD && this.isAccepting(s);
  }
}

/**
 * Stack levels in a mask frame outside a lexeme (see Automaton.frameOf). Three until round 23;
 * since pop lists are kept by content (TokenMatcher.popList), the level below a frame is a
 * continuation walk cached per (trie nodes, level state), shared by every frame that ends at
 * the same nodes, and two levels walk fewer frames, trie nodes and states (cl100k bench
 * sample: 9,917 → 6,998 frames, 1.31M → 1.15M trie nodes, 134k → 101k states; one level:
 * 4,131 frames but 1.40M trie nodes). The masks are the same at any depth.
 */
const FRAME_LEVELS = 2;

/** Frames shared across matchers of one vocabulary, by sub-grammar signature (bounded). */
/**
 * A token set: a bitset over the vocabulary (Uint32Array, ceil(V/32) words) when dense, else
 * the sorted ids (Int32Array) — most frames and states allow few tokens, and on a 100k
 * vocabulary a bitset per frame and state was most of the garbage collector's work.
 */
type TokenSet = Uint32Array | Int32Array;

/**
 * A state's mask: a token set, or a dense set shared with a frame plus the sorted ids it lacks
 * (see TokenMatcher.unionEnd).
 */
type MaskSet = TokenSet | { readonly base: Uint32Array; readonly extra: Int32Array };

/** The compact form of a bitset: its ids when they take fewer words than the bitset (a copy either way). */
/** The empty token set (and empty node list), shared: every ArrayBuffer allocated counts towards V8's external memory and brings its next collection closer. */
const NO_TOKENS = new Int32Array(0);

function compactSet(bits: Uint32Array): TokenSet {
  let count = 0;
  for (let w = 0; w < bits.length; w++) {
    let x = bits[w];
    if (x === 0) continue;
    // popcount (SWAR): a dense 100k-token set was ≈ 3k loop turns a bit at a time
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    count += Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
    if (count >= bits.length) return bits.slice();
  }
  if (count === 0) return NO_TOKENS;
  const ids = new Int32Array(count);
  let k = 0;
  for (let w = 0; w < bits.length; w++) {
    let x = bits[w];
    while (x !== 0) {
      const b = 31 - Math.clz32(x & -x);
      ids[k++] = w * 32 + b;
      x &= x - 1;
    }
  }
  return ids;
}

/**
 * compactSet for a scratch bitset whose nonzero words are listed in touched[0 .. n) (each once;
 * n = touched.length means the list overflowed and the whole bitset is scanned), and the
 * bitset cleared. The same result as compactSet(bits): a sparse frame on cl100k sets a few
 * dozen of its 3,134 words, and scanning and clearing them all was ≈ a tenth of the mask time.
 */
function takeSet(bits: Uint32Array, touched: Int32Array, n: number): TokenSet {
  if (n >= touched.length || 8 * n >= bits.length) {
    const out = compactSet(bits);
    bits.fill(0);
    return out;
  }
  let count = 0;
  for (let i = 0; i < n; i++) {
    let x = bits[touched[i]];
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    count += Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
  }
  if (count >= bits.length) {
    const out = bits.slice();
    bits.fill(0);
    return out;
  }
  if (count === 0) return NO_TOKENS;
  sortRange(touched, 0, n);
  const ids = new Int32Array(count);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const w = touched[i];
    let x = bits[w];
    bits[w] = 0;
    while (x !== 0) {
      const b = 31 - Math.clz32(x & -x);
      ids[k++] = w * 32 + b;
      x &= x - 1;
    }
  }
  return ids;
}

/** bits |= set. */
function orInto(bits: Uint32Array, set: TokenSet): void {
  if (set instanceof Int32Array) for (let i = 0; i < set.length; i++) bits[set[i] >>> 5] |= 1 << (set[i] & 31);
  else for (let i = 0; i < set.length; i++) bits[i] |= set[i];
}

interface Frame {
  accept: TokenSet;
  pops: Int32Array;
  /** The last mask computation that added `accept` to its union (see TokenMatcher.unionAdd). */
  stamp: number;
}

/**
 * Mask computations, numbered across all matchers (frames are shared between them). A state
 * of an object with many optional members beside additional ones has configurations for every
 * place an extra member may stand, and their groups mostly reach the same frame and the same
 * continuation walks: OR-ing a dense 100k-token set once per group was a third of such a
 * state's mask (Github_hard o31176 on cl100k).
 */
let orStamp = 0;

/** Per vocabulary: frames by signature id, valid in one signature epoch (ids are reused after a reset). */
const sharedFrames = new WeakMap<TokenTrie, SharedFrames>();
const SHARED_FRAMES_MAX = 4096;

/**
 * What one vocabulary shares across schemas, for one signature epoch: frames by signature, and
 * the root copies of frameWalk's shared path (`RootFull`, a depth-1 walk of the whole trie) by
 * the signature of the state they were walked in — the free body of a key outside `properties`
 * signs the same in every schema, so its ≈ 0.5–1 ms walk on cl100k is done once per
 * vocabulary, not once or twice per schema (the key masks were the most frequent of the slow
 * ones).
 */
interface SharedFrames {
  readonly epoch: number;
  readonly frames: Map<number, Frame>;
  readonly roots: Map<number, RootFull>;
}

/** Every depth-1 subtree walked as if its first byte led to one state: the tokens (a dense set) and the pops (frameWalk). */
interface RootFull {
  readonly bits: Uint32Array;
  readonly pops: Int32Array;
}

/** Bound on the shared root copies per vocabulary (each a dense set: 12.5 KB on cl100k). */
const SHARED_ROOTS_MAX = 256;

/** The shared caches of `trie` for the current signature epoch (a fresh pair after a reset). */
function sharedFor(trie: TokenTrie): SharedFrames {
  let byEpoch = sharedFrames.get(trie);
  if (byEpoch === undefined || byEpoch.epoch !== signatureEpoch) {
    byEpoch = { epoch: signatureEpoch, frames: new Map(), roots: new Map() };
    sharedFrames.set(trie, byEpoch);
  }
  return byEpoch;
}

/** Forget the frames shared across schemas for one vocabulary (benchmarks: cold starts). */
export function clearSharedFrames(trie: TokenTrie): void {
  sharedFrames.delete(trie);
}

/** Budget of the per-(state, first byte) subtree walks kept per matcher, in ints (16 MiB). */
const SUBTREE_CACHE_INTS = 4 * 1024 * 1024;

/** Bound on the pop lists a matcher keeps by content (TokenMatcher.popLists). */
const POP_LISTS_MAX = 1 << 16;

/** Mask cache budget per matcher, in 32-bit words (64 MiB). */
const MASK_CACHE_WORDS = 16 * 1024 * 1024;

/** An automaton bound to a vocabulary: computes and caches the token mask of each state. */
export class TokenMatcher {
  private readonly masks = new Map<number, MaskSet>();
  /** Scratch bitsets for compute() and frame() (zero between uses). */
  private readonly scratchMask: Uint32Array;
  private readonly scratchFrame: Uint32Array;
  private cachedWords = 0;
  private stateAt: Int32Array;
  /**
   * The walk's jumps over rejected children (TokenTrie.wide), per depth level d: wideOn[d] = 1
   * when the node the walk descended into at depth d is wide; then wideBits[8d .. 8d+8) = its
   * child bytes that its state accepts (some configuration does: the others lead to DEAD),
   * wideNode[d] its wide index and wideEnd[d] the end of its subtree.
   */
  private readonly wideOn: Uint8Array;
  private readonly wideNode: Int32Array;
  private readonly wideEnd: Int32Array;
  private readonly wideBits: Uint32Array;
  /** Per state: the bytes it accepts (Automaton.liveBytes) at liveByteBits[8s .. 8s+8), once liveByteKnown[s] = 1. */
  private liveByteBits: Uint32Array = new Uint32Array(8 * 1024);
  private liveByteKnown: Uint8Array = new Uint8Array(1024);
  /** Statistics for the bench: trie nodes visited by uncached walks, cache hits. */
  nodesVisited = 0;
  cacheHits = 0;
  sharedHits = 0;
  framesBuilt = 0;
  frameNodes = 0;
  sigNull = 0;

  constructor(
    readonly automaton: Automaton,
    readonly trie: TokenTrie,
  ) {
    this.stateAt = new Int32Array(trie.maxDepth + 1);
    this.wideOn = new Uint8Array(trie.maxDepth + 1);
    this.wideNode = new Int32Array(trie.maxDepth + 1);
    this.wideEnd = new Int32Array(trie.maxDepth + 1);
    this.wideBits = new Uint32Array((trie.maxDepth + 1) * 8);
    this.walkTrie = trie;
    this.scratchMask = new Uint32Array(trie.words);
    this.scratchFrame = new Uint32Array(trie.words);
    this.scratchCont = new Uint32Array(trie.words);
    this.touched = new Int32Array(trie.words);
    this.belowFull = this.walkBelow = plainBelow(trie);
  }

  /**
   * The words of the scratch bitset being walked into that went from zero to nonzero
   * (walk records them; takeSet reads them): touched[0 .. touchedN), touchedN = touched.length
   * when unknown (a dense set copied in, or more words than fit).
   */
  private readonly touched: Int32Array;
  private touchedN = 0;

  /**
   * Per top position: the tokens the frame accepts on its own (context-independent) and the trie
   * nodes where the frame can finish before the token does (the rest of the token then depends
   * on the stack below — XGrammar's context-independent / context-dependent split).
   */
  private readonly frames = new Map<number, Frame>();

  /** Write the allowed tokens of state `s` into `allowed` (a bitset; every word overwritten). */
  fillMask(s: number, allowed: Uint32Array): void {
    const m = this.mask(s);
    allowed.fill(0);
    const bits = m instanceof Uint32Array ? m : m instanceof Int32Array ? undefined : m.base;
    if (bits !== undefined) allowed.set(bits.length <= allowed.length ? bits : bits.subarray(0, allowed.length));
    const ids = m instanceof Int32Array ? m : m instanceof Uint32Array ? NO_TOKENS : m.extra;
    for (let i = 0; i < ids.length; i++) if (ids[i] >>> 5 < allowed.length) allowed[ids[i] >>> 5] |= 1 << (ids[i] & 31);
  }

  /** True when state `s` allows no token. */
  noTokens(s: number): boolean {
    const m = this.mask(s);
    if (m instanceof Int32Array) return m.length === 0;
    const bits = m instanceof Uint32Array ? m : m.base;
    if (!(m instanceof Uint32Array) && m.extra.length > 0) return false;
    for (let i = 0; i < bits.length; i++) if (bits[i] !== 0) return false;
    return true;
  }

  /** The allowed tokens of state `s` (shared; do not modify). */
  private mask(s: number): MaskSet {
    const hit = this.masks.get(s);
    if (hit) {
      this.cacheHits++;
      return hit;
    }
    const m = this.compute(s);
    // a base shared with a frame is not counted: the frame holds it anyway
    const words = m instanceof Uint32Array || m instanceof Int32Array ? m.length : m.extra.length + 4;
    if (this.cachedWords + words > MASK_CACHE_WORDS) {
      this.masks.clear();
      this.cachedWords = 0;
    }
    this.masks.set(s, m);
    this.cachedWords += words;
    return m;
  }

  /** mask(s) = ∪ over its configurations (pos, below): frame(pos).accept ∪ tokens continued below at frame(pos).pops. */
  private compute(s: number): MaskSet {
    const a = this.automaton;
    // Group the configurations by the stack below their frames: configurations that differ only
    // in their top levels (the alternatives of a string's next character, say) share one frame
    // walk and one set of continuation walks instead of one each.
    // Groups in typed scratch arrays (an open-addressing table on (below, levels), each group a
    // linked list of its configurations): a Map of arrays per new state was garbage.
    const cnt = a.stackCount(s);
    this.ensureGroupScratch(cnt);
    const size = this.grpTable.length;
    const hmask = size - 1;
    const stamp = ++this.grpStamp;
    const { grpTable, grpTableStamp, grpBelow, grpLevels, grpHead, grpNext, grpFrame } = this;
    let numGroups = 0;
    const start = a.stackStart(s);
    for (let i = 0; i < cnt; i++) {
      const st = a.stackPool[start + i]; // re-read: frameOf may not intern, but the pool is the automaton's to grow
      if (st === 0) continue;
      const frame = a.frameOf(st, FRAME_LEVELS);
      const below = a.frameBelow;
      const levels = a.frameLevelCount;
      let h = (Math.imul(below, 0x9e3779b1) ^ levels) & hmask;
      let g = -1;
      for (;;) {
        if (grpTableStamp[h] !== stamp) {
          g = numGroups++;
          grpTableStamp[h] = stamp;
          grpTable[h] = g;
          grpBelow[g] = below;
          grpLevels[g] = levels;
          grpHead[g] = -1;
          break;
        }
        const c = grpTable[h];
        if (grpBelow[c] === below && grpLevels[c] === levels) {
          g = c;
          break;
        }
        h = (h + 1) & hmask;
      }
      grpFrame[i] = frame;
      grpNext[i] = grpHead[g];
      grpHead[g] = i;
    }
    const or = ++orStamp;
    this.unionStart();
    const gather = this.grpGather;
    for (let g = 0; g < numGroups; g++) {
      const below = grpBelow[g];
      let k = 0;
      for (let i = grpHead[g]; i >= 0; i = grpNext[i]) gather[k++] = grpFrame[i];
      const f = this.frame(k === 1 ? a.frameState(gather[0]) : a.frameGroupState(gather, k));
      this.unionAdd(f, or);
      if (below !== 0 && f.pops.length > 0) this.continueAt(below, f.pops, or); // else nothing may follow the whole value
    }
    return this.unionEnd();
  }

  /**
   * The union a mask computation builds (unionStart, unionAdd per frame and continuation set,
   * unionEnd). Most masks of a JSON value are one dense set — a string body's, shared by its
   * frame — and a few sparse ones (the tokens that close the string and go on): those become
   * the dense set itself plus the ids it lacks, instead of a 12.5 KB copy per state on cl100k
   * (and its scan, OR and clearing); the copies were most of the long-lived garbage. Sparse
   * ids are gathered in `unionIds`; dense sets are OR'ed into the scratch bitset only once a
   * second one arrives (`unionMixed`).
   */
  private unionBase: Uint32Array | undefined;
  private unionMixed = false;
  private unionIds: Int32Array = new Int32Array(256);
  private unionIdCount = 0;
  /** Where each sparse set starts in unionIds (each is sorted: unionEnd merges them, mergeRuns), and mergeRuns' scratch. */
  private unionRuns: Int32Array = new Int32Array(16);
  private unionRunCount = 0;
  private unionTmp: Int32Array = new Int32Array(256);
  private unionSets = 0;
  private unionLast: TokenSet = NO_TOKENS;

  private unionStart(): void {
    this.unionBase = undefined;
    this.unionMixed = false;
    this.unionIdCount = 0;
    this.unionRunCount = 0;
    this.unionSets = 0;
    this.unionLast = NO_TOKENS;
  }

  /** Add f's tokens, unless this computation (`stamp`: see orStamp) already did. */
  private unionAdd(f: Frame, stamp: number): void {
    if (f.stamp === stamp) return;
    f.stamp = stamp;
    const set = f.accept;
    if (set.length === 0) return;
    this.unionSets++;
    this.unionLast = set;
    if (set instanceof Int32Array) {
      if (this.unionIdCount + set.length > this.unionIds.length) {
        const g = new Int32Array(Math.max(this.unionIdCount + set.length, this.unionIds.length * 2));
        g.set(this.unionIds.subarray(0, this.unionIdCount));
        this.unionIds = g;
      }
      if (this.unionRunCount >= this.unionRuns.length) {
        const g = new Int32Array(this.unionRuns.length * 2);
        g.set(this.unionRuns);
        this.unionRuns = g;
      }
      this.unionRuns[this.unionRunCount++] = this.unionIdCount;
      this.unionIds.set(set, this.unionIdCount);
      this.unionIdCount += set.length;
    } else if (this.unionMixed) orInto(this.scratchMask, set);
    else if (this.unionBase === undefined) this.unionBase = set;
    else if (this.unionBase !== set) {
      this.unionMixed = true;
      orInto(this.scratchMask, this.unionBase);
      orInto(this.scratchMask, set);
      this.unionBase = undefined;
    }
  }

  /** mergeRuns' scratch, at least n ints. */
  private unionScratch(n: number): Int32Array {
    if (this.unionTmp.length < n) this.unionTmp = new Int32Array(Math.max(n, this.unionTmp.length * 2));
    return this.unionTmp;
  }

  private unionEnd(): MaskSet {
    // one set alone (the state's mask is its frame's: a string's body, say): shared, not copied
    if (this.unionSets <= 1) return this.unionLast;
    const ids = this.unionIds;
    const n = this.unionIdCount;
    const base = this.unionBase;
    if (base !== undefined) {
      // the dense set and the sorted ids it lacks
      // (filtered run by run, so each stays sorted and its new start is known; empty runs dropped)
      const runs = this.unionRuns;
      const nRuns = this.unionRunCount;
      let k = 0;
      let kept = 0;
      for (let r = 0; r < nRuns; r++) {
        const from = runs[r];
        const to = r + 1 < nRuns ? runs[r + 1] : n;
        const at = k;
        for (let i = from; i < to; i++) if (((base[ids[i] >>> 5] >>> (ids[i] & 31)) & 1) === 0) ids[k++] = ids[i];
        if (k > at) runs[kept++] = at;
      }
      if (k === 0) return base;
      const u = mergeRuns(ids, k, runs, kept, this.unionScratch(k));
      return { base, extra: ids.slice(0, u) };
    }
    const m = this.scratchMask;
    if (!this.unionMixed && n < m.length) {
      // sparse sets only: their ids sorted and deduplicated, as compactSet would give them (fewer ids than words), without the bitset's scan
      const u = mergeRuns(ids, n, this.unionRuns, this.unionRunCount, this.unionScratch(n));
      return u === 0 ? NO_TOKENS : ids.slice(0, u);
    }
    for (let i = 0; i < n; i++) m[ids[i] >>> 5] |= 1 << (ids[i] & 31);
    const out = compactSet(m);
    m.fill(0);
    return out;
  }

  // compute()'s grouping scratch (see there); per configuration: grpFrame, grpNext; per group: grpBelow, grpLevels, grpHead
  private grpTable: Int32Array = new Int32Array(64);
  private grpTableStamp: Int32Array = new Int32Array(64);
  private grpStamp = 0;
  private grpBelow: Int32Array = new Int32Array(32);
  private grpLevels: Int32Array = new Int32Array(32);
  private grpHead: Int32Array = new Int32Array(32);
  private grpNext: Int32Array = new Int32Array(32);
  private grpFrame: Int32Array = new Int32Array(32);
  private grpGather: Int32Array = new Int32Array(32);

  private ensureGroupScratch(n: number): void {
    if (n > this.grpFrame.length) {
      const cap = Math.max(n, this.grpFrame.length * 2);
      this.grpBelow = new Int32Array(cap);
      this.grpLevels = new Int32Array(cap);
      this.grpHead = new Int32Array(cap);
      this.grpNext = new Int32Array(cap);
      this.grpFrame = new Int32Array(cap);
      this.grpGather = new Int32Array(cap);
    }
    if (2 * n + 2 > this.grpTable.length) {
      let size = this.grpTable.length;
      while (size < 2 * n + 2) size *= 2;
      this.grpTable = new Int32Array(size);
      this.grpTableStamp = new Int32Array(size); // stamps restart at 0 with grpStamp ≥ 1: no stale hits
    }
  }

  /** Per stack node: 1 + the state of its top level alone (a one-level frame); 0 = not known yet. */
  private contState: Int32Array = new Int32Array(1024);
  /** Continuation walks: per list of trie nodes (a frame's pops), per one-level frame state. */
  private readonly contCache = new WeakMap<Int32Array, Map<number, Frame>>();
  /**
   * Pop lists by content (hash → the lists with that hash), so equal lists are one array and
   * contCache, keyed by the array, finds the walks below them: frames of different states often
   * end at the same trie nodes (the places after each optional member of an object, say), and
   * on cl100k over half the continuation walks repeated one already done for an equal list.
   * Bounded: cleared past POP_LISTS_MAX lists (a cleared list only costs its walks again).
   */
  private readonly popLists = new Map<number, Int32Array[]>();
  private popListCount = 0;

  /** `list` as an Int32Array, the same array for equal contents (see popLists). */
  private popList(list: readonly number[]): Int32Array {
    const n = list.length;
    if (n === 0) return NO_TOKENS;
    let h = n;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ list[i], 0x9e3779b1) ^ (h >>> 15);
    let bucket = this.popLists.get(h);
    if (bucket !== undefined) {
      for (const cand of bucket) {
        if (cand.length !== n) continue;
        let i = 0;
        while (i < n && cand[i] === list[i]) i++;
        if (i === n) return cand;
      }
    } else {
      if (this.popListCount >= POP_LISTS_MAX) {
        this.popLists.clear();
        this.popListCount = 0;
      }
      bucket = [];
      this.popLists.set(h, bucket);
    }
    const out = Int32Array.from(list);
    bucket.push(out);
    this.popListCount++;
    return out;
  }
  private readonly scratchCont: Uint32Array;

  /**
   * mask |= the tokens below the trie nodes `pops` (where a frame has finished) that the stack
   * `below` accepts. The stack is split again, one level at a time: the level's own walk over
   * those subtrees is cached per (pops, level state), and only where that level finishes too is
   * the next one walked. Many configurations differ only deep in the stack (an object with many
   * optional members, say, where an extra member may stand after any of them) and their
   * continuations past a string's closing quote are then one cached walk, not one walk each.
   * The tokens go to the computation's union (unionAdd); `or`: its stamp.
   */
  private continueAt(below: number, pops: Int32Array, or: number): void {
    const a = this.automaton;
    const end = this.trie.end;
    for (;;) {
      if (below >= this.contState.length) {
        const g = new Int32Array(Math.max(below + 1, this.contState.length * 2));
        g.set(this.contState);
        this.contState = g;
      }
      let state = this.contState[below] - 1;
      if (state < 0) {
        state = a.frameState(a.topFrame(below));
        this.contState[below] = state + 1;
      }
      let byState = this.contCache.get(pops);
      if (byState === undefined) {
        byState = new Map();
        this.contCache.set(pops, byState);
      }
      let c = byState.get(state);
      if (c === undefined) {
        const acc = this.scratchCont;
        const next: number[] = [];
        this.touchedN = 0;
        // a level that may be empty (its rest nullable) lets the next one start at the same nodes
        const empty = a.isAccepting(state);
        for (let k = 0; k < pops.length; k++) {
          if (empty) next.push(pops[k]);
          this.walk(state, pops[k] + 1, end[pops[k]], acc, next);
        }
        c = { accept: takeSet(acc, this.touched, this.touchedN), pops: this.popList(next), stamp: 0 };
        byState.set(state, c);
      }
      this.unionAdd(c, or);
      const under = a.nodeBelow(below);
      if (under === 0 || c.pops.length === 0) return;
      below = under;
      pops = c.pops;
    }
  }

  /** Statistics: configurations whose frame walk from the trie's root is known by what it reaches (Automaton.reachWalk). */
  reachSigned = 0;
  /**
   * Per frame state: 2 + its signature id (see signatureOf), 1 not shareable, 0 not computed;
   * frameSigOf for walks from the trie's root, rootSigOf for walks below it (root copies).
   */
  private frameSigOf: Int32Array = new Int32Array(1024);
  private rootSigOf: Int32Array = new Int32Array(1024);
  /**
   * Per frame node: 2 + its configuration signature id, 1 not shareable, 0 not computed:
   * configSigOf by what it reaches where that is known (see reachedOf), else by structure;
   * structSigOf by structure alone (Automaton.frameSignature).
   */
  private configSigOf: Int32Array = new Int32Array(1024);
  private structSigOf: Int32Array = new Int32Array(1024);
  /**
   * Per frame node: what its frame walk from the root reaches (Automaton.reachWalk), as the
   * sorted trie nodes reached, −1, the sorted pops, at reachArena[reachAt[n] − 1 ..) (length
   * reachLen[n]); reachAt 0 not computed, −1 not known (a bound passed).
   */
  private reachAt: Int32Array = new Int32Array(1024);
  private reachLen: Int32Array = new Int32Array(1024);
  private reachArena: Int32Array = new Int32Array(1 << 14);
  private reachArenaLen = 0;
  /** The signature epoch of the memos above (see resetSignaturesIfFull). */
  private sigEpoch = signatureEpoch;

  /**
   * Frame node n's reach (see reachAt): its offset in reachArena, or −1 when not known. The
   * nodes and pops are sorted and repeat-free, so two configurations that reach the same trie
   * nodes and pop at the same ones read the same, however their grammars differ.
   */
  private reachedOf(n: number): number {
    if (n >= this.reachAt.length) {
      this.reachAt = growTo(this.reachAt, n);
      this.reachLen = growTo(this.reachLen, n);
    }
    const at = this.reachAt[n];
    if (at !== 0) return at < 0 ? -1 : at - 1;
    const a = this.automaton;
    if (!a.reachWalk(n, this.trie)) {
      this.reachAt[n] = -1;
      return -1;
    }
    const nodes = a.reachNodes;
    const nn = a.reachNodeCount;
    const pops = a.reachPops;
    const np = a.reachPopCount;
    sortRange(nodes, 0, nn);
    sortRange(pops, 0, np);
    if (this.reachArenaLen + nn + np + 1 > this.reachArena.length) this.reachArena = growTo(this.reachArena, 2 * (this.reachArenaLen + nn + np + 1));
    const arena = this.reachArena;
    const off = this.reachArenaLen;
    let k = off;
    for (let i = 0; i < nn; i++) if (i === 0 || nodes[i] !== nodes[i - 1]) arena[k++] = nodes[i];
    arena[k++] = -1;
    for (let i = 0; i < np; i++) if (i === 0 || pops[i] !== pops[i - 1]) arena[k++] = pops[i];
    this.reachArenaLen = k;
    this.reachAt[n] = off + 1;
    this.reachLen[n] = k - off;
    this.reachSigned++;
    return off;
  }

  /**
   * The id of a frame state's canonical form; −1 not shareable. `fromRoot`: for a walk from
   * the trie's root (a frame). When every configuration's reach is known (reachedOf), the
   * state is signed by their union — the trie nodes reached and the pops, as sorted sets
   * (interned as −6, nodes…, −1, pops…; the other form holds no negative int): equal unions
   * are equal frame walks on this trie, whatever the grammars. Else by its configurations'
   * signatures as a sorted set (a set of stacks runs each independently): a configuration's
   * reach (interned as −6, …) where known, else its sub-grammar (Automaton.frameSignature).
   * Without `fromRoot` (a root copy: the state walked below every depth-1 node) by sub-grammars
   * alone, which hold wherever the walk starts; root copies and frames are kept apart.
   */
  private signatureOf(frameState: number, fromRoot = true): number {
    if (frameState >= this.frameSigOf.length) this.frameSigOf = growTo(this.frameSigOf, frameState);
    if (frameState >= this.rootSigOf.length) this.rootSigOf = growTo(this.rootSigOf, frameState);
    resetSignaturesIfFull();
    if (this.sigEpoch !== signatureEpoch) {
      // ids memoized before a reset may name other sequences now
      this.sigEpoch = signatureEpoch;
      this.frameSigOf.fill(0);
      this.rootSigOf.fill(0);
      this.configSigOf.fill(0);
      this.structSigOf.fill(0);
    }
    const memos = fromRoot ? this.frameSigOf : this.rootSigOf;
    const memo = memos[frameState];
    if (memo !== 0) return memo - 2;
    const a = this.automaton;
    const start = a.stackStart(frameState);
    const count = a.stackCount(frameState);
    const pool = a.stackPool; // neither signature interns a state: the arena stays put
    const seq = frameSigs;
    seq.truncate(0);
    let sig = count === 0 ? -1 : -2;
    if (fromRoot && count > 0) {
      // the union of the configurations' reaches, when every one is known
      let all = true;
      for (let i = 0; i < count && all; i++) all = this.reachedOf(pool[start + i]) >= 0;
      if (all) {
        const arena = this.reachArena;
        seq.push(-6);
        for (let i = 0; i < count; i++) {
          const n = pool[start + i];
          for (let j = this.reachAt[n] - 1; arena[j] !== -1; j++) seq.push(arena[j]);
        }
        seq.sortUnique(1);
        seq.push(-1);
        const m = seq.mark;
        for (let i = 0; i < count; i++) {
          const n = pool[start + i];
          const off = this.reachAt[n] - 1;
          let j = off;
          while (arena[j] !== -1) j++;
          for (j++; j < off + this.reachLen[n]; j++) seq.push(arena[j]);
        }
        seq.sortUnique(m);
        sig = seq.intern();
        memos[frameState] = sig + 2;
        return sig;
      }
    }
    for (let i = 0; i < count; i++) {
      const n = pool[start + i];
      if (n >= this.configSigOf.length) this.configSigOf = growTo(this.configSigOf, n);
      if (n >= this.structSigOf.length) this.structSigOf = growTo(this.structSigOf, n);
      let c = (fromRoot ? this.configSigOf[n] : this.structSigOf[n]) - 2;
      if (c === -2) {
        if (fromRoot) {
          const off = this.reachedOf(n);
          if (off >= 0) {
            const cs = configSigs;
            cs.truncate(0);
            cs.push(-6);
            for (let j = off; j < off + this.reachLen[n]; j++) cs.push(this.reachArena[j]);
            c = cs.intern();
          } else c = this.structSignature(n);
          this.configSigOf[n] = c + 2;
        } else c = this.structSignature(n);
      }
      if (c < 0) {
        sig = -1;
        break;
      }
      seq.push(c);
    }
    if (sig === -1) seq.truncate(0);
    else {
      seq.sortUnique(0);
      sig = seq.intern();
    }
    memos[frameState] = sig + 2;
    return sig;
  }

  /** Frame node n's signature by its sub-grammar alone (Automaton.frameSignature), memoized in structSigOf. */
  private structSignature(n: number): number {
    let c = this.structSigOf[n] - 2;
    if (c === -2) {
      c = this.automaton.frameSignature(n, this.trie.maxDepth);
      this.structSigOf[n] = c + 2;
    }
    return c;
  }

  /** The masks of a frame state, computed by one trie walk on first use (or found in the vocabulary's shared cache). */
  private frame(frameState: number): Frame {
    let f = this.frames.get(frameState);
    if (!f) {
      // Frames with the same sub-grammar are shared through a per-vocabulary cache (every
      // plain string, number or `{"type": "string", "maxLength": 20}` value is the same frame;
      // and every place whose configurations reach the same trie nodes: see signatureOf).
      const sig = this.signatureOf(frameState);
      const shared = sharedFor(this.trie).frames;
      f = sig >= 0 ? shared.get(sig) : undefined;
      if (!f) {
        const accept = this.scratchFrame;
        const pops: number[] = [];
        const v0 = this.nodesVisited;
        this.touchedN = 0;
        this.frameWalk(frameState, accept, pops);
        this.framesBuilt++;
        this.frameNodes += this.nodesVisited - v0;
        if (sig < 0) this.sigNull++;
        f = { accept: takeSet(accept, this.touched, this.touchedN), pops: this.popList(pops), stamp: 0 };
        if (sig >= 0) {
          if (shared.size >= SHARED_FRAMES_MAX) shared.clear();
          shared.set(sig, f);
        }
      } else this.sharedHits++;
      this.frames.set(frameState, f);
    }
    return f;
  }

  /** The trie's depth-1 nodes (its children of the root), in order; built on first use. */
  private rootKids: Int32Array = NO_INTS;
  /** The byte class of each of rootKids' first bytes. */
  private rootKidClass: Int32Array = NO_INTS;
  /** Per state: times it was the common successor of a frame's first byte (see frameWalk). */
  private readonly rootSeen = new Map<number, number>();
  /** Per state s: every depth-1 subtree walked as if its first byte led to s (see frameWalk). */
  private readonly rootFull = new Map<number, RootFull>();
  /** Statistics: root copies found in the vocabulary's shared cache (see SharedFrames). */
  sharedRootHits = 0;
  /** frameWalk's per byte class tables (see there) and scratch for the distinct successors. */
  private classByte: Int32Array = new Int32Array(0);
  private classTokens: Int32Array = new Int32Array(0);
  private classSucc: Int32Array = new Int32Array(0);
  private readonly scratchSeen: Int32Array = new Int32Array(256);
  private readonly scratchCover: Int32Array = new Int32Array(256);
  /** Statistics: first-byte classes frameWalk left unstepped (no configuration takes them), and its walks from the per-class first-byte lists. */
  deadClassesSkipped = 0;
  /** The byte classes some first byte of the trie has (those with a classByte). */
  private firstByteClasses = 0;
  fewKidWalks = 0;
  /** rootKids' indices by byte class (see frameWalk). */
  private classKidStart: Int32Array = NO_INTS;
  private classKids: Int32Array = NO_INTS;
  private readonly scratchKids: Int32Array = new Int32Array(FEW_KIDS);
  /** frameWalk's live byte classes (Automaton.liveClasses; ≤ 256 classes). */
  private readonly scratchLive: Uint32Array = new Uint32Array(8);

  /**
   * The frame walk from the trie's root in state `x`. Many frames lead on most first bytes to
   * one state — every character but a few that leaves a key outside `properties` enters the same
   * free string body — so the walk of the subtrees under those bytes is shared: once a state
   * s is seen twice as the successor of the first bytes holding at least half the tokens (once,
   * when s is a plain loop), the walk of every depth-1 subtree from s is kept (`rootFull`; per
   * vocabulary by s's signature, `SharedFrames.roots`), and a frame leading to s copies
   * it, clears the subtrees whose first byte leads elsewhere and walks those alone. Exact: each
   * depth-1 subtree's tokens depend only on the state its first byte leads to.
   */
  private frameWalk(x: number, accept: Uint32Array, pops: number[]): void {
    const trie = this.trie;
    const { byte, end, tokStart, tokOrder } = trie;
    const a = this.automaton;
    const nc = a.numClasses;
    let kids = this.rootKids;
    if (kids.length === 0) {
      const list: number[] = [];
      for (let n = 0; n < trie.size; n = end[n]) list.push(n);
      kids = this.rootKids = Int32Array.from(list);
      this.rootKidClass = Int32Array.from(list, (c) => a.classOf[byte[c]]);
      // per byte class: a first byte of it and the tokens below its first bytes (−1 byte: none)
      this.classByte = new Int32Array(nc).fill(-1);
      this.classTokens = new Int32Array(nc);
      this.classSucc = new Int32Array(nc);
      for (const c of kids) {
        const k = a.classOf[byte[c]];
        if (this.classByte[k] < 0) {
          this.classByte[k] = byte[c];
          this.firstByteClasses++;
        }
        this.classTokens[k] += tokStart[end[c]] - tokStart[c];
      }
      // per byte class, the indices in rootKids of its first bytes (CSR: classKids[classKidStart[k] ..
      // classKidStart[k + 1]), ascending)
      const start = new Int32Array(nc + 1);
      for (let i = 0; i < kids.length; i++) start[this.rootKidClass[i] + 1]++;
      for (let k = 0; k < nc; k++) start[k + 1] += start[k];
      const fill = start.slice(0, nc);
      const byClass = new Int32Array(kids.length);
      for (let i = 0; i < kids.length; i++) byClass[fill[this.rootKidClass[i]]++] = i;
      this.classKidStart = start;
      this.classKids = byClass;
    }
    // The successor of each first byte's class, and the one holding the most tokens: one step
    // per class, not per first byte (on a byte-level vocabulary every byte starts a token, and
    // this ran for every frame walked).
    const { classByte, classTokens, classSucc: succ } = this;
    let best = DEAD;
    let bestTokens = 0;
    let distinct = 0;
    const seenSucc = this.scratchSeen;
    const seenCover = this.scratchCover;
    const live = this.scratchLive;
    a.liveClasses(x, live);
    const classKidStart = this.classKidStart;
    let liveKids = 0;
    // only the live classes are visited (a structural frame takes a few of ≈ 80): the others
    // lead to DEAD (no configuration takes them), set at once, not stepped
    succ.fill(DEAD, 0, nc);
    let stepped = 0;
    for (let w = 0, cw = a.classWords; w < cw; w++) {
      for (let bits = live[w]; bits !== 0; bits &= bits - 1) {
        const k = (w << 5) | (31 - Math.clz32(bits & -bits));
        if (classByte[k] < 0) continue;
        stepped++;
        const t = a.step(x, classByte[k]);
        succ[k] = t;
        if (t === DEAD) continue;
        liveKids += classKidStart[k + 1] - classKidStart[k];
        let j = 0;
        while (j < distinct && seenSucc[j] !== t) j++;
        if (j === distinct) {
          seenSucc[distinct] = t;
          seenCover[distinct++] = 0;
        }
        const cov = (seenCover[j] += classTokens[k]);
        if (cov > bestTokens) {
          bestTokens = cov;
          best = t;
        }
      }
    }
    this.deadClassesSkipped += this.firstByteClasses - stepped;
    const cls = a.classOf;
    let full = best === DEAD || 2 * bestTokens < tokOrder.length ? undefined : this.rootFull.get(best);
    if (full === undefined && best !== DEAD && 2 * bestTokens >= tokOrder.length) {
      // a state with a signature: its copy is shared by every schema of this vocabulary. Built
      // once the state is seen twice, or on first sight when it is a plain loop (a free string
      // body: its copy costs a few thousand nodes on cl100k, and a key's is met again in every
      // schema) — other states' copies can cost a walk of the whole trie
      const sig = this.signatureOf(best, false);
      const roots = sharedFor(trie).roots; // after signatureOf: a full interner has reset the epoch
      full = sig >= 0 ? roots.get(sig) : undefined;
      if (full !== undefined) {
        this.sharedRootHits++;
        this.rootFull.set(best, full);
      } else {
        const seen = (this.rootSeen.get(best) ?? 0) + 1;
        this.rootSeen.set(best, seen);
        if (seen >= 2 || (sig >= 0 && !this.automaton.isAccepting(best) && (best < this.plainLoop.length && this.plainLoop[best] !== 0 ? this.plainLoop[best] : this.plainLoopOf(best)) === 1)) {
          full = this.buildRootFull(best);
          if (sig >= 0) {
            if (roots.size >= SHARED_ROOTS_MAX) roots.clear();
            roots.set(sig, full);
          }
        }
      }
    }
    if (full === undefined) {
      if (this.plainWalk(x, accept, pops)) return;
      // only the runs of first bytes that lead somewhere: most frames (structural places) take
      // a few of the root's ≈ 256 children, whose entries lie far apart in the trie's arrays
      if (liveKids <= FEW_KIDS) {
        // a structural place takes a few first bytes: their subtrees from the per-class lists,
        // in trie order (pops stay sorted), not a scan of every first byte
        const idx = this.scratchKids;
        let n = 0;
        const classKids = this.classKids;
        for (let w = 0, cw = a.classWords; w < cw; w++) {
          for (let bits = live[w]; bits !== 0; bits &= bits - 1) {
            const k = (w << 5) | (31 - Math.clz32(bits & -bits));
            if (classByte[k] < 0 || succ[k] === DEAD) continue;
            for (let j = classKidStart[k]; j < classKidStart[k + 1]; j++) idx[n++] = classKids[j];
          }
        }
        sortRange(idx, 0, n);
        this.fewKidWalks++;
        for (let i = 0; i < n; ) {
          let j = i + 1;
          while (j < n && idx[j] === idx[j - 1] + 1) j++;
          const last = idx[j - 1] + 1;
          this.walk(x, kids[idx[i]], last < kids.length ? kids[last] : trie.size, accept, pops);
          i = j;
        }
        return;
      }
      const kidClass = this.rootKidClass;
      for (let i = 0; i < kids.length; ) {
        if (succ[kidClass[i]] === DEAD) {
          i++;
          continue;
        }
        let j = i + 1;
        while (j < kids.length && succ[kidClass[j]] !== DEAD) j++;
        this.walk(x, kids[i], j < kids.length ? kids[j] : trie.size, accept, pops);
        i = j;
      }
      return;
    }
    // Classes whose first bytes lead elsewhere than `best` in every frame of this kind — DEAD
    // (a tab or a control character in a key), or a state already met as such (the states a
    // non-ASCII lead byte, an escape or the closing quote lead to are the same from every name
    // prefix) — are folded into a copy of `full` kept per (best, those classes and states): a
    // frame copies it and walks only the subtrees whose state is new (the letter continuing a
    // name), instead of clearing and refilling the others token by token (on cl100k the tab
    // subtree alone is ≈ 150 tokens, the non-ASCII ones thousands).
    const fold = this.foldedBase(x, best, full, succ, accept);
    const foldedClass = this.foldedClass;
    this.touchedN = this.touched.length; // dense: takeSet scans it all
    let p = 0;
    const fp = full.pops;
    for (let i = 0; i < kids.length; i++) {
      const c = kids[i];
      const e = end[c];
      const k = cls[byte[c]];
      const t = succ[k];
      // a subtree's tokens and pops depend only on the state its first byte leads to: kept per
      // (state, first byte), so the subtrees every name prefix leaves by the same shared rule
      // (a non-ASCII character, an escape, the closing quote) are walked once per matcher; and
      // one found equal to the copy's own (a character that leaves the names, then the free
      // body) is left as copied
      const key = t * 256 + byte[c];
      let hit = t === best || t === DEAD ? undefined : this.subtreeWalks.get(key);
      if (t === best || (hit !== undefined && hit.sameAs === best)) {
        while (p < fp.length && fp[p] < c) p++;
        while (p < fp.length && fp[p] < e) pops.push(fp[p++]);
        continue;
      }
      if (foldedClass[k] === fold) {
        // the folded copy holds this subtree's tokens already: only its pops (a walk evicted
        // from subtreeWalks since is walked again below, into the same tokens)
        if (t === DEAD) continue;
        if (hit !== undefined) {
          for (let j = 0; j < hit.pops.length; j++) pops.push(hit.pops[j]);
          continue;
        }
      }
      const k0 = tokStart[c];
      const ke = tokStart[e];
      for (let q = k0; q < ke; q++) {
        const id = tokOrder[q];
        accept[id >>> 5] &= ~(1 << (id & 31));
      }
      if (t === DEAD) continue;
      if (hit !== undefined) {
        const ids = hit.accept;
        for (let j = 0; j < ids.length; j++) accept[ids[j] >>> 5] |= 1 << (ids[j] & 31);
        for (let j = 0; j < hit.pops.length; j++) pops.push(hit.pops[j]);
      } else hit = this.subtreeWalk(x, key, c, e, accept, pops);
      if (hit.checkedFor !== best) {
        hit.checkedFor = best;
        hit.sameAs = this.sameAsFull(hit, full, k0, ke, c, e) ? best : -1;
      }
    }
  }

  /**
   * Depth-1 subtree [c, e) walked in frame state x (its first byte leads to the state of `key`),
   * into `accept` (where the subtree's tokens are clear) and `pops`; kept in subtreeWalks.
   */
  private subtreeWalk(x: number, key: number, c: number, e: number, accept: Uint32Array, pops: number[]): SubtreeWalk {
    const { tokStart, tokOrder } = this.trie;
    const k0 = tokStart[c];
    const ke = tokStart[e];
    const p0 = pops.length;
    this.walk(x, c, e, accept, pops);
    let cnt = 0;
    for (let k = k0; k < ke; k++) {
      const id = tokOrder[k];
      if (((accept[id >>> 5] >>> (id & 31)) & 1) !== 0) cnt++;
    }
    const ids = cnt === 0 ? NO_TOKENS : new Int32Array(cnt);
    for (let k = k0, j = 0; k < ke; k++) {
      const id = tokOrder[k];
      if (((accept[id >>> 5] >>> (id & 31)) & 1) !== 0) ids[j++] = id;
    }
    const hit: SubtreeWalk = { accept: ids, pops: pops.length === p0 ? NO_TOKENS : Int32Array.from(pops.slice(p0)), checkedFor: -1, sameAs: -1 };
    this.subtreeInts += ids.length + hit.pops.length + 8;
    if (this.subtreeInts > SUBTREE_CACHE_INTS) {
      this.subtreeWalks.clear(); // bounded, like the other caches
      this.subtreeInts = 0;
    }
    this.subtreeWalks.set(key, hit);
    return hit;
  }

  /** frameWalk's folded copies of rootFull: per `best` state, the states met as other first bytes' successors and the copies by folded classes (see foldedBase). */
  private readonly rootFolds = new Map<number, { seen: Set<number>; bases: Map<number, Uint32Array> }>();
  /** foldedBase's keys (folded classes and their states) as ids, cleared with the copies. */
  private readonly foldKeys = new SeqInterner(1 << 20, Number.MAX_SAFE_INTEGER, 2 * ROOT_FOLDS_MAX);
  private rootFoldCount = 0;
  /** Per byte class: the stamp (foldStamp) of the frame that folded it. */
  private foldedClass: Int32Array = new Int32Array(256);
  private foldStamp = 0;
  /** Statistics: folded copies built, and frames that found theirs. */
  foldsBuilt = 0;
  foldHits = 0;

  /**
   * Writes into `accept` the copy path's starting set for frame state x: rootFull `full` (every
   * depth-1 subtree as if its first byte led to `best`) with the subtrees of the folded classes
   * replaced by their own walks — a class is folded when its first bytes lead to DEAD, or to a
   * state other than `best` already met so in an earlier frame with this `best` (a state seen
   * once is a name's next letter, new in every frame; one seen again recurs). The copy is kept
   * per (best, folded classes and their states), bounded per matcher (ROOT_FOLDS_MAX copies).
   * Returns the stamp marking the folded classes in foldedClass. Exact: each depth-1 subtree's
   * tokens depend only on the state its first byte leads to, and the key names that state for
   * every folded class.
   */
  private foldedBase(x: number, best: number, full: RootFull, succ: Int32Array, accept: Uint32Array): number {
    const a = this.automaton;
    const nc = a.numClasses;
    const { classByte, foldedClass } = this;
    const stamp = ++this.foldStamp;
    if (this.rootFoldCount >= ROOT_FOLDS_MAX) {
      // bounded (each copy a dense set: 12.5 KB on cl100k); the keys' ids go with them
      for (const r of this.rootFolds.values()) r.bases.clear();
      this.foldKeys.clear();
      this.rootFoldCount = 0;
    }
    let rf = this.rootFolds.get(best);
    if (rf === undefined) {
      rf = { seen: new Set(), bases: new Map() };
      this.rootFolds.set(best, rf);
    }
    // the key, (class, state) per folded class in class order, as an interned int sequence (a
    // string built per frame was a tenth of what a structural schema's masks allocated)
    const keys = this.foldKeys;
    keys.truncate(0);
    for (let k = 0; k < nc; k++) {
      if (classByte[k] < 0) continue;
      const t = succ[k];
      if (t === best) continue;
      if (t === DEAD || rf.seen.has(t)) {
        foldedClass[k] = stamp;
        keys.push(k);
        keys.push(t);
      } else rf.seen.add(t);
    }
    const key = keys.intern(); // ≤ ROOT_FOLDS_MAX ids between clears: never −1
    const base = rf.bases.get(key);
    if (base !== undefined) {
      this.foldHits++;
      accept.set(base);
      return stamp;
    }
    // build it: the copy, each folded subtree cleared and walked (or taken from subtreeWalks)
    accept.set(full.bits);
    const { byte, end, tokStart, tokOrder } = this.trie;
    const kids = this.rootKids;
    const cls = a.classOf;
    const scratchPops: number[] = [];
    for (let i = 0; i < kids.length; i++) {
      const c = kids[i];
      const k = cls[byte[c]];
      if (foldedClass[k] !== stamp) continue;
      const e = end[c];
      for (let q = tokStart[c], qe = tokStart[e]; q < qe; q++) {
        const id = tokOrder[q];
        accept[id >>> 5] &= ~(1 << (id & 31));
      }
      const t = succ[k];
      if (t === DEAD) continue;
      const hit = this.subtreeWalks.get(t * 256 + byte[c]);
      if (hit !== undefined) for (let j = 0; j < hit.accept.length; j++) accept[hit.accept[j] >>> 5] |= 1 << (hit.accept[j] & 31);
      else {
        scratchPops.length = 0;
        this.subtreeWalk(x, t * 256 + byte[c], c, e, accept, scratchPops);
      }
    }
    rf.bases.set(key, accept.slice());
    this.rootFoldCount++;
    this.foldsBuilt++;
    return stamp;
  }

  /** The trie `walk` steps through: `trie`, or the plain index's trie of the other tokens during plainWalk. */
  private walkTrie: TokenTrie;
  private plain: PlainIndex | undefined;
  /** Per frame state: its plain length class (see plainWalk), −1 none. */
  private readonly plainClass = new Map<number, number>();
  private readonly plainStates: number[] = [];
  /** PLAIN_SEQS with one byte per byte class of each range (the automaton's classes). */
  private plainReps: number[][][] | undefined;

  /**
   * A frame walked from the root in a state where every plain character (plain.ts) leads to one
   * and the same state, for k characters in a row, and then to none (a string body with k
   * characters left: `maxLength`) or back to itself (past `minLength`): the plain tokens of
   * ≤ k characters are accepted as one precomputed set, those longer rejected, and only the
   * tokens that are not plain are walked, in a trie of their own (≈ a tenth of cl100k's nodes);
   * their pops are mapped back to the full trie. Exact: a plain token's bytes pass only through
   * the chain's states and the states inside one character, none of them accepting (checked),
   * so it adds no pop, and it is accepted iff its character count fits the chain. The counted
   * string bodies whose states never repeat walked ≈ 210k of cl100k's 217k nodes each.
   * False (nothing written) when the state has no such chain (structural places, patterns) or
   * takes no plain character.
   */
  private plainWalk(x: number, accept: Uint32Array, pops: number[]): boolean {
    if (this.trie.size < PLAIN_MIN_NODES) return false;
    let k = this.plainClass.get(x);
    if (k === undefined) {
      k = this.plainChain(x);
      this.plainClass.set(x, k);
    }
    // not one chain of states, but no plain text ends the frame or kills it (an unanchored
    // pattern's partial matches beside its `.*`): every plain token is accepted, as in a loop
    if (k < 0 && this.plainLiveOf(x)) k = this.plainIdx().maxChars;
    // k = 0 (no plain character allowed: a structural place, a full string) walks few nodes anyway
    if (k <= 0) return false;
    const idx = this.plainIdx();
    accept.set(idx.upTo[k]);
    this.touchedN = this.touched.length; // dense: takeSet scans it all
    const p0 = pops.length;
    // When every state of the chain rejects the control bytes (a JSON string body), the tokens
    // whose first non-plain event is a control byte die there, and those cut inside a character
    // are accepted by count (cutUpTo): only the tokens with a quote, a backslash or non-UTF-8
    // bytes are walked — cl100k's `quoted` trie has 3.3k nodes against the 11.1k of `rest`
    // (its ≈ 8k others mostly newlines and tabs), and a counted body is walked at every position.
    const byCount = (k < idx.maxChars || !idx.cutBeyond) && this.chainControlsDead(x);
    if (byCount) {
      const cut = idx.cutUpTo[k];
      for (let w = 0; w < cut.length; w++) accept[w] |= cut[w];
    }
    const sub = byCount ? idx.quoted : idx.rest;
    this.walkTrie = sub;
    this.walkBelow = byCount ? this.belowQuoted : this.belowRest;
    try {
      this.walk(x, 0, sub.size, accept, pops);
    } finally {
      this.walkTrie = this.trie;
      this.walkBelow = this.belowFull;
    }
    const map = byCount ? idx.quotedToFull : idx.restToFull;
    for (let i = p0; i < pops.length; i++) pops[i] = map[pops[i]];
    return true;
  }

  /** Per state: 1 when it and every state its plain characters lead to, in a row, reject every control byte (chainControlsDead), 2 not, 0 not known. */
  private ctlChain: Uint8Array = new Uint8Array(1024);

  /**
   * True when x and the states after each further plain character (plainStep, until none is
   * allowed or the state repeats) all reject the control bytes: then a token that reaches a
   * control byte after plain text dies there, whatever its count. Memoized per state; the
   * chain of a counted body is followed once (its later positions start inside it).
   */
  private chainControlsDead(x: number): boolean {
    const path = this.plainStates; // plainChain's scratch: free again here
    path.length = 0;
    let t = x;
    let ok = true;
    for (;;) {
      if (t >= this.ctlChain.length) {
        const g = new Uint8Array(Math.max(t + 1, this.ctlChain.length * 2));
        g.set(this.ctlChain);
        this.ctlChain = g;
      }
      const known = this.ctlChain[t];
      if (known !== 0) {
        ok = known === 1;
        break;
      }
      path.push(t);
      if (!this.controlsDead(t)) {
        ok = false;
        break;
      }
      const u = this.plainStep(t);
      if (u === -1) {
        ok = false;
        break;
      }
      if (u === DEAD || u === t) break; // the last place, or a loop
      if (path.length > this.plain!.maxChars + 1) {
        // longer than any token's plain run: x holds (no token reaches further), the states after
        // it are not known to for their own longer reach
        this.ctlChain[x] = 1;
        return true;
      }
      t = u;
    }
    // a state's answer is its own test and the rest of the chain's
    for (let i = path.length - 1; i >= 0; i--) this.ctlChain[path[i]] = ok ? 1 : 2;
    return ok;
  }

  /**
   * The number of plain characters state x takes in a row through single-successor states
   * (capped at the longest plain token), −1 when some step is not uniform. The states of the
   * chain get theirs too (the next masks of a counted string start there).
   */
  private plainChain(x: number): number {
    const idx = this.plainIdx();
    const chain = this.plainStates;
    chain.length = 0;
    let t = x;
    let k = idx.maxChars; // capped: only x's count is known
    for (let i = 0; i < idx.maxChars; i++) {
      const known = i > 0 ? this.plainClass.get(t) : undefined;
      if (known !== undefined && known < idx.maxChars) {
        k = known < 0 ? -1 : known + i;
        break;
      }
      const u = this.plainStep(t);
      chain.push(t);
      if (u === -1) {
        k = -1;
        break;
      }
      if (u === DEAD) {
        k = i;
        break;
      }
      if (u === t) {
        for (const c of chain) this.plainClass.set(c, idx.maxChars);
        return idx.maxChars;
      }
      t = u;
    }
    if (k !== idx.maxChars) for (let i = 1; i < chain.length; i++) this.plainClass.set(chain[i], k < 0 ? -1 : k - i);
    return k;
  }

  /** The one state every plain character leads t to (DEAD when none is allowed), or −1 when they differ or one passes an accepting state. */
  private plainStep(t: number): number {
    const a = this.automaton;
    // one byte per byte class of each range: the transitions depend on the class only
    let reps = this.plainReps;
    if (reps === undefined) {
      reps = this.plainReps = PLAIN_SEQS.map((seq) => {
        const levels: number[][] = [];
        for (let j = 0; j < seq.length; j += 2) {
          const seen = new Set<number>();
          const bytes: number[] = [];
          for (let b = seq[j]; b <= seq[j + 1]; b++) {
            if (seen.has(a.classOf[b])) continue;
            seen.add(a.classOf[b]);
            bytes.push(b);
          }
          levels.push(bytes);
        }
        return levels;
      });
    }
    let res = -2;
    let cur: number[] = [];
    let next: number[] = [];
    for (const levels of reps) {
      cur.length = 0;
      cur.push(t);
      for (let j = 0; j < levels.length; j++) {
        const last = j + 1 === levels.length;
        const bytes = levels[j];
        next.length = 0;
        for (const s of cur) {
          for (const b of bytes) {
            const u = a.step(s, b);
            if (u !== DEAD && a.isAccepting(u)) return -1;
            if (last || u === DEAD) {
              if (res === -2) res = u;
              else if (res !== u) return -1;
            } else if (!next.includes(u)) {
              if (next.length === 8) return -1;
              next.push(u);
            }
          }
        }
        const swap = cur;
        cur = next;
        next = swap;
      }
    }
    return res === -2 ? DEAD : res;
  }

  /** True when a subtree walk's tokens and pops equal those of rootFull `full` in subtree [c, e) (token slots [k0, ke)). */
  private sameAsFull(hit: SubtreeWalk, full: RootFull, k0: number, ke: number, c: number, e: number): boolean {
    const { tokOrder } = this.trie;
    let cnt = 0;
    for (let k = k0; k < ke; k++) {
      const id = tokOrder[k];
      if (((full.bits[id >>> 5] >>> (id & 31)) & 1) !== 0) cnt++;
    }
    if (cnt !== hit.accept.length) return false;
    const ids = hit.accept; // indexed: an iterator per call was garbage
    for (let j = 0; j < ids.length; j++) if (((full.bits[ids[j] >>> 5] >>> (ids[j] & 31)) & 1) === 0) return false;
    let q = 0;
    const fp = full.pops;
    while (q < fp.length && fp[q] < c) q++;
    let j = 0;
    for (; q < fp.length && fp[q] < e; q++, j++) if (j >= hit.pops.length || hit.pops[j] !== fp[q]) return false;
    return j === hit.pops.length;
  }

  /** frameWalk's copy path: per (state, first byte) the tokens and pops of that depth-1 subtree walked in the state. */
  private readonly subtreeWalks = new Map<number, SubtreeWalk>();
  private subtreeInts = 0;

  /** Every depth-1 subtree walked as if its first byte led to state `s` (tokens and pops); see frameWalk. */
  private buildRootFull(s: number): RootFull {
    const trie = this.trie;
    const { end, token, hasMore } = trie;
    const bits = new Uint32Array(trie.words);
    const pops: number[] = [];
    const accepting = this.automaton.isAccepting(s);
    // a plain loop (a free string body) takes every subtree whose text below is plain whole
    const loops = !accepting && (s < this.plainLoop.length && this.plainLoop[s] !== 0 ? this.plainLoop[s] : this.plainLoopOf(s)) === 1;
    const { tokStart, tokOrder } = trie;
    const split = loops && this.plain !== undefined;
    for (const c of this.rootKids) {
      if (split && this.belowFull[c] === 0 && plainAscii(trie.byte[c])) {
        this.plainKid(s, trie.byte[c], bits, pops);
        continue;
      }
      if (loops && this.belowFull[c] !== 0) {
        for (let k = tokStart[c], e = tokStart[end[c]]; k < e; k++) {
          const x = tokOrder[k];
          bits[x >>> 5] |= 1 << (x & 31);
        }
        continue;
      }
      const id = token[c];
      if (id >= 0) {
        bits[id >>> 5] |= 1 << (id & 31);
        if (hasMore[c] !== 0) for (const y of trie.more.get(c)!) bits[y >>> 5] |= 1 << (y & 31);
      }
      if (accepting && end[c] > c + 1) pops.push(c);
      this.walk(s, c + 1, end[c], bits, pops);
    }
    const full: RootFull = { bits, pops: Int32Array.from(pops) };
    this.rootFull.set(s, full);
    return full;
  }

  /**
   * Per state: 0 none yet, k > 0 its self-loop record at selfLoopBits[16(k−1) ..): 8 words of
   * bytes tested, 8 words of bytes on which the state steps to itself. Bytes are tested on
   * demand, only those found below the node asked about (testing all 256 would create the
   * transitions — and states — of bytes the walk never meets). Typed arrays: this runs inside
   * the walk's hot loop.
   */
  private selfLoopAt: Int32Array = new Int32Array(1024);
  private selfLoopBits: Uint32Array = new Uint32Array(16 * 256);
  private selfLoopCount = 0;
  /**
   * Depth-1 node with plain ASCII byte `b`, reached in plain loop `t` (a free string body): its
   * plain tokens are accepted from the plain index's list (their text after b is plain: t
   * returns to itself through them, never accepting), and only the others are walked, in the
   * trie of the other tokens, their pops mapped back to the full trie. A subtree such as the
   * space-prefixed one (≈ 44k tokens) otherwise made the walk descend wherever a token below
   * held a newline, a tab or a quote (runs of spaces before a newline, code): ≈ 7k nodes.
   */
  private plainKid(t: number, b: number, mask: Uint32Array, pops: number[] | null): void {
    const idx = this.plain!;
    // A loop that rejects every control byte (a JSON string body) also takes the tokens that
    // end inside a character (a live prefix of a plain one) and rejects those reaching a
    // control byte first, unwalked: only the tokens whose first non-plain event is a quote, a
    // backslash or non-UTF-8 bytes are walked (plain.ts, `quoted`).
    const ctl = this.controlsDead(t);
    this.setIds(idx.kidPlain[b], mask);
    if (ctl) this.setIds(idx.kidCut[b], mask);
    const sub = ctl ? idx.quoted : idx.rest;
    const rn = ctl ? idx.quotedKid[b] : idx.restKid[b];
    if (rn < 0) return;
    const map = ctl ? idx.quotedToFull : idx.restToFull;
    const p0 = pops === null ? 0 : pops.length;
    const saved = this.walkTrie;
    const savedBelow = this.walkBelow;
    this.walkTrie = sub;
    this.walkBelow = ctl ? this.belowQuoted : this.belowRest;
    try {
      this.walk(t, rn + 1, sub.end[rn], mask, pops);
    } finally {
      this.walkTrie = saved;
      this.walkBelow = savedBelow;
    }
    if (pops !== null) for (let i = p0; i < pops.length; i++) pops[i] = map[pops[i]];
  }

  /** The walk enters wide node n (depth d) in state t: level d's jumps set up (see wideOn). */
  private wideEnter(t: number, n: number, d: number): void {
    const trie = this.walkTrie;
    const w = trie.wide.id[n];
    const kidBytes = trie.wide.kidBytes;
    if (t >= this.liveByteKnown.length) this.growLiveBytes(t);
    const lb = this.liveByteBits;
    if (this.liveByteKnown[t] === 0) {
      this.automaton.liveBytes(t, lb, 8 * t);
      this.liveByteKnown[t] = 1;
    }
    const bits = this.wideBits;
    for (let j = 0; j < 8; j++) bits[8 * d + j] = lb[8 * t + j] & kidBytes[8 * w + j];
    this.wideNode[d] = w;
    this.wideEnd[d] = trie.end[n];
    this.wideOn[d] = 1;
  }

  private growLiveBytes(s: number): void {
    const cap = Math.max(s + 1, this.liveByteKnown.length * 2);
    const k = new Uint8Array(cap);
    k.set(this.liveByteKnown);
    this.liveByteKnown = k;
    const b = new Uint32Array(8 * cap);
    b.set(this.liveByteBits);
    this.liveByteBits = b;
  }

  /** mask |= the ids, the touched words recorded (see touched). */
  private setIds(ids: Int32Array, mask: Uint32Array): void {
    const touched = this.touched;
    const cap = touched.length;
    let nt = this.touchedN;
    for (let i = 0; i < ids.length; i++) {
      const x = ids[i];
      const wi = x >>> 5;
      const old = mask[wi];
      if (old === 0 && nt < cap) touched[nt++] = wi;
      mask[wi] = old | (1 << (x & 31));
    }
    this.touchedN = nt;
  }

  /** Per state: 1 when every control byte (below U+0020) leads it nowhere, 2 when some does not, 0 not known yet. */
  private ctlDead: Uint8Array = new Uint8Array(1024);
  private controlsDead(t: number): boolean {
    if (t >= this.ctlDead.length) {
      const g = new Uint8Array(Math.max(t + 1, this.ctlDead.length * 2));
      g.set(this.ctlDead);
      this.ctlDead = g;
    }
    let v = this.ctlDead[t];
    if (v === 0) {
      v = 1;
      for (let b = 0; b < 0x20 && v === 1; b++) if (this.automaton.step(t, b) !== DEAD) v = 2;
      this.ctlDead[t] = v;
    }
    return v === 1;
  }

  /** Per state: 1 when every plain character returns it to itself through non-accepting states (plainStep), 2 when not, 0 not known yet. */
  private plainLoop: Uint8Array = new Uint8Array(1024);
  /** plainBelow of the full trie and of the plain index's trie of the other tokens (empty until plainWalk first runs). */
  private readonly belowFull: Uint8Array;
  private belowRest: Uint8Array = NO_BYTES;
  private belowQuoted: Uint8Array = NO_BYTES;
  /** plainBelow of `walkTrie` (switched with it). */
  private walkBelow: Uint8Array;

  /** plainLoop[t], computed (may create states and transitions: re-read the automaton's tables). */
  private plainLoopOf(t: number): number {
    if (t >= this.plainLoop.length) {
      const g = new Uint8Array(Math.max(t + 1, this.plainLoop.length * 2));
      g.set(this.plainLoop);
      this.plainLoop = g;
    }
    const lp = this.plainStep(t) === t ? 1 : 2;
    this.plainLoop[t] = lp;
    return lp;
  }

  /**
   * Per state: 1 when every plain text (plain.ts: whole plain characters, the last possibly cut)
   * leads it only through live, non-accepting states, 2 when not (or not found within
   * PLAIN_LIVE_MAX states), 0 not known yet. A plain loop (plainLoop) is such a state; so is a
   * state that plain characters move between several, never dying and never ending the frame:
   * an unanchored `pattern` (`.*P.*`), whose configurations track partial matches of P beside
   * the leading `.*` (and, once P matched, the trailing one) and change after every character
   * that could begin or continue P. Every plain token is then accepted and passes no accepting
   * state (no pop): plainWalk takes them as one set and walks only the others, as for a loop.
   * (Asked at every walk node instead, the searches from key states — hundreds of name-prefix
   * states each — cost more than the nodes they saved: journal, round 17.)
   */
  private plainLive: Uint8Array = new Uint8Array(1024);
  /** plainLiveOf's scratch: the states found (a queue), each one's parent in it, and the generation marks. */
  private readonly liveQueue: number[] = [];
  private readonly liveParent: number[] = [];
  private liveSeen: Int32Array = new Int32Array(1024);
  private liveGen = 0;

  /**
   * plainLive[t], computed by following every plain character (one byte per byte class of
   * each UTF-8 range, as plainStep) from t through the states it reaches; each is checked
   * live and not accepting, including the states inside a multi-byte character. On success
   * every state found is plain-live too (all it reaches was followed); on a dead or accepting
   * state, the states on the path to it are not. May create states and transitions: re-read
   * the automaton's tables after.
   */
  private plainLiveOf(t: number): boolean {
    const a = this.automaton;
    const grow = (x: number): void => {
      if (x >= this.plainLive.length) {
        const g = new Uint8Array(Math.max(x + 1, this.plainLive.length * 2));
        g.set(this.plainLive);
        this.plainLive = g;
      }
      if (x >= this.liveSeen.length) this.liveSeen = growTo(this.liveSeen, x);
    };
    grow(t);
    if (this.plainLive[t] !== 0) return this.plainLive[t] === 1;
    this.plainStep(t); // builds plainReps (one byte per byte class of each range, per level)
    const reps = this.plainReps!;
    const queue = this.liveQueue;
    const parent = this.liveParent;
    queue.length = 0;
    parent.length = 0;
    const gen = ++this.liveGen;
    queue.push(t);
    parent.push(-1);
    this.liveSeen[t] = gen;
    let failAt = -1; // the queue index whose successor died or accepted
    let capped = false;
    let cur: number[] = [];
    let next: number[] = [];
    search: for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi];
      for (const levels of reps) {
        cur.length = 0;
        cur.push(s);
        for (let j = 0; j < levels.length; j++) {
          const last = j + 1 === levels.length;
          next.length = 0;
          for (const x of cur) {
            for (const b of levels[j]) {
              const u = a.step(x, b);
              if (u === DEAD || a.isAccepting(u)) {
                failAt = qi;
                break search;
              }
              if (!last) {
                if (!next.includes(u)) {
                  if (next.length === 16) {
                    capped = true;
                    break search;
                  }
                  next.push(u);
                }
                continue;
              }
              grow(u);
              const known = this.plainLive[u];
              if (known === 1 || this.liveSeen[u] === gen) continue;
              if (known === 2) {
                failAt = qi;
                break search;
              }
              if (queue.length === PLAIN_LIVE_MAX) {
                capped = true;
                break search;
              }
              this.liveSeen[u] = gen;
              queue.push(u);
              parent.push(qi);
            }
          }
          const swap = cur;
          cur = next;
          next = swap;
        }
      }
    }
    if (failAt >= 0) {
      // every state on the path from t reaches the dead or accepting one
      for (let i = failAt; i >= 0; i = parent[i]) this.plainLive[queue[i]] = 2;
    } else if (capped) {
      // not known: none of the states found is tried again (each would follow the same many)
      for (const q of queue) this.plainLive[q] = 2;
    } else for (const q of queue) this.plainLive[q] = 1;
    return failAt < 0 && !capped;
  }

  /** The plain index of the trie (built once per trie) and the plainBelow of its trie of other tokens. */
  private plainIdx(): PlainIndex {
    let idx = this.plain;
    if (idx === undefined) {
      idx = this.plain = plainIndex(this.trie);
      this.belowRest = plainBelow(idx.rest);
      this.belowQuoted = plainBelow(idx.quoted);
    }
    return idx;
  }

  /** True when state `s` steps to itself on every byte below node n (TokenTrie.belowBytes). */
  private loopsOver(s: number, n: number): boolean {
    if (s >= this.selfLoopAt.length) {
      const g = new Int32Array(Math.max(s + 1, this.selfLoopAt.length * 2));
      g.set(this.selfLoopAt);
      this.selfLoopAt = g;
    }
    let k = this.selfLoopAt[s];
    if (k === 0) {
      if (16 * (this.selfLoopCount + 1) > this.selfLoopBits.length) {
        const g = new Uint32Array(this.selfLoopBits.length * 2);
        g.set(this.selfLoopBits);
        this.selfLoopBits = g;
      }
      k = this.selfLoopAt[s] = ++this.selfLoopCount;
    }
    const sub = this.walkTrie.belowBytes;
    const bits = this.selfLoopBits;
    const o = n * 8;
    const known = 16 * (k - 1);
    const yes = known + 8;
    for (let w = 0; w < 8; w++) {
      const need = sub[o + w] & ~bits[yes + w];
      if (need === 0) continue;
      if ((need & bits[known + w]) !== 0) return false; // a byte below is known not to loop
      let rest = need;
      while (rest !== 0) {
        const low = rest & -rest;
        rest ^= low;
        const byte = w * 32 + (31 - Math.clz32(low));
        bits[known + w] |= low;
        if (this.automaton.step(s, byte) !== s) return false;
        bits[yes + w] |= low;
      }
    }
    return true;
  }

  /**
   * Walk trie nodes [from, to) — a run of whole subtrees whose parent is at depth
   * depth[from] − 1 in state `s` — setting the bits of accepted tokens in `mask`; with `pops`,
   * also list the nodes with children where the state accepts (the frame may end there).
   */
  private walk(s: number, from: number, to: number, mask: Uint32Array, pops: number[] | null): void {
    if (from >= to) return;
    const trie = this.walkTrie;
    const { byte, depth, end, token, hasMore, tokStart, tokOrder } = trie;
    const below = this.walkBelow;
    const a = this.automaton;
    const nc = a.numClasses;
    const cls = a.classOf;
    const stateAt = this.stateAt;
    stateAt[depth[from] - 1] = s;
    const { id: wideId, kidAt } = trie.wide;
    const wideOn = this.wideOn;
    const wideBits = this.wideBits;
    // the run's parent: jumped over as below when the run is all of a wide node's children (a
    // continuation's walk below a pop), else not this walk's to know
    const d0 = depth[from] - 1;
    wideOn[d0] = 0;
    if (from > 0 && depth[from - 1] === d0 && to === end[from - 1] && wideId[from - 1] >= 0) this.wideEnter(s, from - 1, d0);
    let tr = a.trans;
    let acc = a.acceptFlags;
    let n = from;
    let visited = 0;
    const touched = this.touched;
    const cap = touched.length;
    let nt = this.touchedN;
    // The hot loop of mask computation: typed-array loads only (a Map lookup per token and a
    // call per node cost ~100 ns/node on cl100k's 216k-node trie).
    while (n < to) {
      const d = depth[n];
      if (wideOn[d - 1] !== 0) {
        // n's parent is wide: on to its first child from n on whose byte the parent's state
        // accepts, past the others unvisited (each would lead to DEAD and be skipped whole)
        const b = byte[n];
        const at = (d - 1) * 8;
        let wd = b >>> 5;
        let bits = wideBits[at + wd] & (-1 << (b & 31));
        while (bits === 0 && wd < 7) bits = wideBits[at + ++wd];
        if (bits === 0) {
          n = this.wideEnd[d - 1];
          continue;
        }
        const nb = wd * 32 + 31 - Math.clz32(bits & -bits);
        if (nb !== b) n = kidAt[this.wideNode[d - 1] * 256 + nb];
      }
      visited++;
      const c = cls[byte[n]];
      let t = tr[stateAt[d - 1] * nc + c] - 1;
      if (t < 0) {
        t = a.computeTransition(stateAt[d - 1], c);
        tr = a.trans;
        acc = a.acceptFlags;
      }
      if (t === DEAD) {
        n = end[n];
        continue;
      }
      stateAt[d] = t;
      // t steps to itself on every byte below n (string content, say): n's whole subtree is
      // accepted in state t without stepping through it — only its tokens' bits are set. Tried
      // where n's first child steps t to itself (a cheap filter; the walk steps it next anyway),
      // so also at the node that first enters the looping state (a string body entered by a
      // name prefix that a key left, or a minLength string reaching its minimum).
      const first = n + 1;
      if (end[n] > first && (pops === null || acc[t] === 0)) {
        // every token's text below n is plain (plainBelow) and t returns to itself on every
        // plain character (a free string body): n's subtree is accepted whole, as below — the
        // subtrees that hold a non-ASCII character, which the byte test below never takes
        // (known for t, or tested where n's first child steps t to itself: a cheap filter
        // that keeps the test off structural states)
        const nb = below[n];
        if (d === 1 && nb === 0 && trie === this.trie && this.plain !== undefined && plainAscii(byte[n])) {
          // a depth-1 subtree in a plain loop: its plain tokens as a list, the others walked apart (plainKid)
          let lp = t < this.plainLoop.length ? this.plainLoop[t] : 0;
          if (lp === 0) lp = this.plainLoopOf(t);
          if (lp === 1) {
            this.touchedN = nt;
            this.plainKid(t, byte[n], mask, pops);
            nt = this.touchedN;
            tr = a.trans;
            acc = a.acceptFlags;
            n = end[n];
            continue;
          }
          tr = a.trans;
          acc = a.acceptFlags;
        }
        // whole: n's subtree is taken at once — its text below is plain and t is a known plain
        // loop, or t steps to itself through n's first child and then on every byte below
        let whole = nb !== 0 && t < this.plainLoop.length && this.plainLoop[t] === 1;
        if (!whole) {
          let u = tr[t * nc + cls[byte[first]]] - 1;
          if (u < 0) {
            u = a.computeTransition(t, cls[byte[first]]);
            tr = a.trans;
            acc = a.acceptFlags;
          }
          if (u === t) {
            whole = (nb !== 0 && (t >= this.plainLoop.length || this.plainLoop[t] === 0) && this.plainLoopOf(t) === 1) || this.loopsOver(t, n);
            tr = a.trans; // testing bytes may have computed transitions (and grown the tables)
            acc = a.acceptFlags;
          }
        }
        if (whole) {
          for (let k = tokStart[n], e = tokStart[end[n]]; k < e; k++) {
            const x = tokOrder[k];
            const wi = x >>> 5;
            const old = mask[wi];
            if (old === 0 && nt < cap) touched[nt++] = wi;
            mask[wi] = old | (1 << (x & 31));
          }
          n = end[n];
          continue;
        }
      }
      const id = token[n];
      if (id >= 0) {
        const wi = id >>> 5;
        const old = mask[wi];
        if (old === 0 && nt < cap) touched[nt++] = wi;
        mask[wi] = old | (1 << (id & 31));
        if (hasMore[n] !== 0) {
          for (const x of trie.more.get(n)!) {
            if (mask[x >>> 5] === 0) nt = cap; // rare (duplicate tokens): give up the list
            mask[x >>> 5] |= 1 << (x & 31);
          }
        }
      }
      if (end[n] > n + 1) {
        if (pops !== null && acc[t] !== 0) pops.push(n);
        // descending into n: at a wide node, only the children whose byte t accepts are visited
        if (wideId[n] >= 0) this.wideEnter(t, n, d);
        else wideOn[d] = 0;
      }
      n++;
    }
    this.touchedN = nt;
    this.nodesVisited += visited;
  }
}

/** A depth-1 subtree walked in one state (TokenMatcher.frameWalk): its tokens and pops; sameAs: the rootFull state whose copy holds the same (checkedFor: the last one compared), −1 none. */
interface SubtreeWalk {
  readonly accept: Int32Array;
  readonly pops: Int32Array;
  checkedFor: number;
  sameAs: number;
}

/** Folded copies of a frame's root set kept per matcher (frameWalk's copy path; see foldedBase). */
const ROOT_FOLDS_MAX = 64;

/** plainLiveOf follows at most this many states from one (else: not known live, walked as before). */
const PLAIN_LIVE_MAX = 256;

/**
 * The most trie nodes at one point of its tree Automaton.reachWalk follows (past it: a string
 * body, a number; left to frameSignature). On the cl100k bench sample (round 25, with
 * REACH_BUDGET 256) 4, 8 and 16 walk 3,604 (64 steps: 4,531), 2,682 and 2,666 frames.
 */
const REACH_FRONT_MAX = 8;

/** The most steps (terminals and rule references) Automaton.reachWalk takes for one configuration. */
const REACH_BUDGET = 256;

/** A frame walk whose first bytes number at most this many takes them from the per-class lists (frameWalk). */
const FEW_KIDS = 32;

/**
 * Tries smaller than this walk whole (plainWalk): on the 4k vocabulary (7.5k nodes) a full walk
 * costs ≤ ≈ 0.3 ms and the chain bookkeeping did not pay (mean +5–10% in the bench).
 */
const PLAIN_MIN_NODES = 50_000;

/**
 * The UTF-8 forms of the plain characters (plain.ts: U+0020 … U+10FFFF but the quote, the
 * backslash and the surrogates), each a list of byte ranges (lo, hi) per byte (RFC 3629 §4).
 */
const PLAIN_SEQS: readonly (readonly number[])[] = [
  [0x20, 0x21],
  [0x23, 0x5b],
  [0x5d, 0x7f],
  [0xc2, 0xdf, 0x80, 0xbf],
  [0xe0, 0xe0, 0xa0, 0xbf, 0x80, 0xbf],
  [0xe1, 0xec, 0x80, 0xbf, 0x80, 0xbf],
  [0xed, 0xed, 0x80, 0x9f, 0x80, 0xbf],
  [0xee, 0xef, 0x80, 0xbf, 0x80, 0xbf],
  [0xf0, 0xf0, 0x90, 0xbf, 0x80, 0xbf, 0x80, 0xbf],
  [0xf1, 0xf3, 0x80, 0xbf, 0x80, 0xbf, 0x80, 0xbf],
  [0xf4, 0xf4, 0x80, 0x8f, 0x80, 0xbf, 0x80, 0xbf],
];

/** `a` grown (zero-filled) so that index i fits. */
function growTo(a: Int32Array, i: number): Int32Array {
  const g = new Int32Array(Math.max(i + 1, a.length * 2));
  g.set(a);
  return g;
}

/** A TokenConstraint over a TokenMatcher: the state is one interned automaton state. */
export class GrammarConstraint implements TokenConstraint {
  constructor(
    readonly matcher: TokenMatcher,
    private state: number = matcher.automaton.initial,
  ) {}

  fillMask(allowed: Uint32Array): void {
    this.matcher.fillMask(this.state, allowed);
  }

  advance(token: number): boolean {
    const trie = this.matcher.trie;
    const from = token >= 0 && token < trie.bytesStart.length ? trie.bytesStart[token] : -1;
    const to = from < 0 ? from : trie.bytesEnd[token];
    if (to <= from) return false;
    const t = this.matcher.automaton.runRange(this.state, trie.bytes, from, to);
    if (t === DEAD) return false;
    this.state = t;
    return true;
  }

  /** Consume raw bytes (text forced into the output); false (state unchanged) if rejected. */
  advanceBytes(bytes: ArrayLike<number>): boolean {
    const t = this.matcher.automaton.run(this.state, bytes);
    if (t === DEAD) return false;
    this.state = t;
    return true;
  }

  isComplete(): boolean {
    return this.matcher.automaton.isAccepting(this.state);
  }

  mustEnd(): boolean {
    const a = this.matcher.automaton;
    if (!a.isAccepting(this.state)) return false;
    if (a.isFinal(this.state)) return true;
    // Complete but bytes could follow: the row must end if no whole token can.
    return this.matcher.noTokens(this.state);
  }

  clone(): GrammarConstraint {
    return new GrammarConstraint(this.matcher, this.state);
  }

  /** The interned automaton state (tests, debugging). */
  get stateId(): number {
    return this.state;
  }
}

/** The hash of a (position, parent) pair in the closure's open-addressing table (pairSeenBefore, growPairs). */
function pairHash(pos: number, parent: number): number {
  return Math.imul(pos, 0x9e3779b1) ^ Math.imul(parent + 0x7f4a7c15, 0x85ebca77);
}
