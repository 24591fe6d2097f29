import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { hasByte, utf8Sequences } from '../../src/infer/constrain/bytes.js';
import { Automaton, compileGrammar, DEAD, lowerSchema, GrammarConstraint, literal, ref, regexConstraint, regexGrammar, seq, alt, star, chars, TokenTrie, tokenTrie, type Grammar } from '../../src/infer/constrain/index.js';
import { WIDE_KIDS } from '../../src/infer/constrain/trie.js';
import { accepts, allowedList, randomWalk, testTokenizer } from './helpers.js';

const enc = new TextEncoder();

test('utf8Sequences covers exactly the encodings of a code-point range', () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 40; trial++) {
    const lo = rng.int(0x110000);
    const hi = Math.min(0x10ffff, lo + rng.int(trial % 2 ? 0x300 : 0x40000));
    const seqs = utf8Sequences(lo, hi);
    const inSeqs = (b: Uint8Array): boolean => seqs.some((s) => s.length === b.length && s.every(([x, y], i) => b[i] >= x && b[i] <= y));
    for (let k = 0; k < 200; k++) {
      const cp = rng.int(0x110000);
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const b = enc.encode(String.fromCodePoint(cp));
      assert.equal(inSeqs(b), cp >= lo && cp <= hi && !(cp >= 0xd800 && cp <= 0xdfff), `cp ${cp.toString(16)} in [${lo.toString(16)}, ${hi.toString(16)}]`);
    }
  }
});

test('the token trie visits every token once in preorder with correct subtree ends', () => {
  const vocab = ['a', 'ab', 'abc', 'b', 'ba', 'ab'].map((s) => enc.encode(s));
  const t = new TokenTrie([...vocab, undefined]);
  assert.equal(t.size, 5); // a, ab, abc, b, ba
  assert.deepEqual(Array.from(t.byte), [97, 98, 99, 98, 97]);
  assert.deepEqual(Array.from(t.end), [3, 3, 3, 5, 5]);
  assert.deepEqual(Array.from(t.token), [0, 1, 2, 3, 4]);
  assert.deepEqual(t.more.get(1), [5]); // duplicate bytes 'ab'
});

test('the trie indexes exactly its nodes with WIDE_KIDS or more children, and its root, by child byte', () => {
  // 'a' has 9 children (b..j), 'b' 3, 'ab' 8 (c..j): the first and the last are wide
  const words = ['a', 'b', 'bx', 'by', 'bz', ...'bcdefghij'.split('').map((c) => `a${c}`), ...'cdefghij'.split('').map((c) => `ab${c}`)];
  const t = new TokenTrie(words.map((s) => enc.encode(s)));
  const { id, kidBytes, kidAt } = t.wide;
  let wide = 0;
  for (let n = 0; n < t.size; n++) {
    const kids: number[] = [];
    for (let c = n + 1; c < t.end[n]; c = t.end[c]) kids.push(c);
    assert.equal(id[n] >= 0, kids.length >= WIDE_KIDS, `node ${n}: ${kids.length} children`);
    if (id[n] < 0) continue;
    wide++;
    const w = id[n];
    for (let b = 0; b < 256; b++) {
      const kid = kids.find((c) => t.byte[c] === b);
      assert.equal((kidBytes[8 * w + (b >>> 5)] >>> (b & 31)) & 1, kid === undefined ? 0 : 1, `node ${n} byte ${b}`);
      if (kid !== undefined) assert.equal(kidAt[256 * w + b], kid, `node ${n} byte ${b}`);
    }
  }
  assert.equal(wide, 2);
  // the root (no node) is indexed too, after the nodes, whatever its number of children: here 'a' and 'b'
  const { rootIndex } = t.wide;
  assert.equal(rootIndex, 2);
  const roots: number[] = [];
  for (let c = 0; c < t.size; c = t.end[c]) roots.push(c);
  for (let b = 0; b < 256; b++) {
    const kid = roots.find((c) => t.byte[c] === b);
    assert.equal((kidBytes[8 * rootIndex + (b >>> 5)] >>> (b & 31)) & 1, kid === undefined ? 0 : 1, `root byte ${b}`);
    if (kid !== undefined) assert.equal(kidAt[256 * rootIndex + b], kid, `root byte ${b}`);
  }
});

test("the trie built from a tokenizer's byte store equals the one built from per-token arrays; tokenBytes reads the store", () => {
  const tok = testTokenizer();
  const store = tok.byteStore;
  const specials = new Set(tok.specialTokens.values());
  const list: (Uint8Array | undefined)[] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    assert.deepEqual(store.bytes.subarray(store.start[id], store.end[id]), tok.tokenBytes(id), `id ${id}`);
    list.push(specials.has(id) ? undefined : tok.tokenBytes(id).slice());
  }
  const fromStore = tokenTrie(tok);
  const fromList = new TokenTrie(list);
  for (const k of ['byte', 'depth', 'end', 'token', 'tokOrder', 'tokStart', 'belowBytes'] as const) assert.deepEqual(fromStore[k], fromList[k], k);
  for (let id = 0; id < tok.vocabSize; id++) assert.deepEqual(fromStore.tokenBytes(id), list[id], `id ${id}`);
  assert.equal(fromStore.tokenBytes(-1), undefined);
  assert.equal(fromStore.tokenBytes(tok.vocabSize), undefined);
});

test('automaton: byte-level matching, nullable loops and completion', () => {
  const g: Grammar = {
    rules: new Map([
      ['root', seq(literal('['), alt(seq(ref('item'), star(seq(literal(','), ref('item')))), literal('')), literal(']'))],
      ['item', alt(literal('x'), seq(literal('('), ref('root'), literal(')')))],
    ]),
    start: 'root',
  };
  const a = new Automaton(g);
  for (const s of ['[]', '[x]', '[x,x,x]', '[([x]),x]', '[([([])])]']) assert.ok(a.matches(enc.encode(s)), s);
  for (const s of ['', '[', '[x,]', '[,x]', '[x]]', '[(x)]', 'x']) assert.ok(!a.matches(enc.encode(s)), s);
  const nested: Grammar = { rules: new Map([['root', star(star(literal('ab')))]]), start: 'root' };
  const b = new Automaton(nested);
  assert.ok(b.matches(enc.encode('ababab')) && b.matches(new Uint8Array(0)) && !b.matches(enc.encode('aba')));
});

test('left recursion and empty languages are refused before decoding', () => {
  assert.throws(() => new Automaton({ rules: new Map([['root', alt(seq(ref('root'), literal('x')), literal('y'))]]), start: 'root' }), /left-recursive/);
  assert.throws(() => new Automaton({ rules: new Map([['root', seq(literal('a'), ref('root'))]]), start: 'root' }), /no string satisfies/);
  assert.throws(() => new Automaton({ rules: new Map([['root', ref('nope')]]), start: 'root' }), /undefined rule nope/);
  assert.throws(() => new Automaton({ rules: new Map([['root', chars([])]]), start: 'root' }), /no string satisfies/);
});

test('token masks agree with advancing each token, and tokens may end inside a UTF-8 character', () => {
  const tok = testTokenizer();
  const m = compileGrammar(regexGrammar('(héllo|wörld|中文|[0-9]{2,3})( (héllo|wörld|中文|[0-9]{2,3}))*'), tok);
  const rng = new Rng(7);
  let splitChar = 0;
  for (let walk = 0; walk < 30; walk++) {
    const c = new GrammarConstraint(m);
    for (let step = 0; step < 20 && !c.mustEnd(); step++) {
      const allowed = new Set(allowedList(c, tok.vocabSize));
      // brute force: every token's bytes through the automaton
      for (let id = 0; id < tok.vocabSize; id++) {
        const b = m.trie.tokenBytes(id);
        const ok = b !== undefined && m.automaton.run(c.stateId, b) !== 0;
        assert.equal(allowed.has(id), ok, `token ${id}`);
      }
      for (const id of tok.specialTokens.values()) assert.ok(!allowed.has(id));
      if (c.isComplete() && rng.random() < 0.2) break;
      const list = [...allowed];
      const id = list[rng.int(list.length)];
      const b = m.trie.tokenBytes(id)!;
      if (b.some((x) => x >= 0x80) && new TextDecoder('utf-8', { fatal: false }).decode(b).includes('\ufffd')) splitChar++;
      assert.ok(c.advance(id));
    }
  }
  assert.ok(splitChar > 0, 'some walk used a token ending inside a multi-byte character');
});

test('regex constraint: accepts matches token by token, refuses non-matches, random walks match', () => {
  const tok = testTokenizer();
  const cases: [string, string[], string[]][] = [
    ['[a-z]+@[a-z]+\\.(com|org)', ['alice@example.com', 'b@c.org'], ['alice@example.net', '@x.com', 'A@b.com']],
    ['\\d{4}-\\d{2}-\\d{2}', ['2024-01-31'], ['2024-1-31', '2024-01-311']],
    ['(?:ab|cd)*e?', ['', 'abcdab', 'abe', 'e'], ['abc', 'ee']],
    ['[^"\\\\]*', ['héllo wörld ✓', ''], ['a"b', 'x\\y']],
    ['\\w+\\s\\S+', ['the quick', 'a\t中文'], ['the  quick', ' x']],
    ['\\u00e9+|\\x41{2,}', ['ééé', 'AAAA'], ['éA', 'A']],
  ];
  const rng = new Rng(11);
  for (const [pattern, good, bad] of cases) {
    const re = new RegExp(`^(?:${pattern})$`, 'u');
    for (const s of good) {
      assert.ok(re.test(s), `fixture ${s}`);
      assert.ok(accepts(regexConstraint(pattern, tok), tok, s), `/${pattern}/ should accept ${JSON.stringify(s)}`);
    }
    for (const s of bad) {
      assert.ok(!re.test(s), `fixture ${s}`);
      assert.ok(!accepts(regexConstraint(pattern, tok), tok, s), `/${pattern}/ should refuse ${JSON.stringify(s)}`);
    }
    for (let w = 0; w < 20; w++) {
      const r = randomWalk(regexConstraint(pattern, tok), tok, rng, 60);
      if (r.complete) assert.ok(re.test(r.text), `/${pattern}/ walk produced ${JSON.stringify(r.text)}`);
    }
  }
});

test('regex features outside the supported subset are refused by name', () => {
  const tok = testTokenizer();
  assert.throws(() => regexConstraint('(a)\\1', tok), /backreferences/);
  assert.throws(() => regexConstraint('a(?=b)', tok), /lookahead/);
  assert.throws(() => regexConstraint('(?<!a)b', tok), /lookbehind/);
  assert.throws(() => regexConstraint('\\bword', tok), /word boundaries/);
  assert.throws(() => regexConstraint('\\p{L}', tok), /Unicode property/);
  assert.throws(() => regexConstraint('a^b', tok), /anchor \^/);
  assert.throws(() => regexConstraint('(ab', tok, { file: 'x.txt' }), /x\.txt.*missing \)/);
  assert.throws(() => regexConstraint('a{3,2}', tok), /out of order/);
});

test('mustEnd once complete with nothing left; clone is independent', () => {
  const tok = testTokenizer();
  const c = regexConstraint('ab', tok);
  const d = c.clone();
  assert.ok(accepts(c, tok, 'ab'));
  assert.ok(c.mustEnd());
  assert.ok(!d.isComplete() && !d.mustEnd());
  const e = regexConstraint('ab(cd)?', tok);
  assert.ok(accepts(e, tok, 'ab') && e.isComplete() && !e.mustEnd());
});

test('every transition equals a from-scratch step of its configurations, whatever order the byte classes are asked in (classes alike share one computation)', () => {
  // The reference steps configurations as position stacks (top first) with its own closure, so
  // it shares nothing with the automaton's tables: computeTransition stores the successor for
  // every class the state treats like the one asked, and a wrong class there would show here.
  const schema = {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 6 }, n: { type: 'integer', minimum: -5 }, tags: { type: 'array', items: { enum: ['a', 'bc', 1, null] } }, ok: { type: 'boolean' } },
    required: ['name'],
  };
  const grammars: Automaton[] = [new Automaton(lowerSchema(schema)), new Automaton(regexGrammar('(ab|a[b-d]+|[0-9]{2,4})*x?'))];
  const rng = new Rng(11);
  for (const a of grammars) {
    const { syms, ruleAlts, altStarts, terminals } = a.g;
    const END = -1;
    const chainOf = (n: number): number[] => {
      const out: number[] = [];
      for (; n !== 0; n = a.nodeBelow(n)) out.push(a.nodeTop(n));
      return out;
    };
    const keyOf = (stacks: number[][]): string => [...new Set(stacks.map((c) => c.join(',')))].sort().join('|');
    const closure = (seeds: number[][]): number[][] => {
      const out: number[][] = [];
      const seen = new Set<string>();
      const work = seeds.slice();
      while (work.length > 0) {
        const c = work.pop()!;
        const k = c.join(',');
        if (seen.has(k)) continue;
        seen.add(k);
        if (c.length === 0) {
          out.push(c);
          continue;
        }
        const sym = syms[c[0]];
        if (sym >= 0) out.push(c);
        else if (sym === END) work.push(c.slice(1));
        else {
          const r = -sym - 2;
          const rest = syms[c[0] + 1] === END ? c.slice(1) : [c[0] + 1, ...c.slice(1)];
          for (let alt = ruleAlts[r]; alt < ruleAlts[r + 1]; alt++) work.push([altStarts[alt], ...rest]);
        }
      }
      return out;
    };
    const states = [a.initial];
    const seenStates = new Set(states);
    let checked = 0;
    for (let i = 0; i < states.length && i < 150; i++) {
      const s = states[i];
      const configs = Array.from(a.stacks(s), chainOf);
      // one byte per class, the classes in a random order (so the shared fill runs from different classes)
      const reps: number[] = [];
      for (let b = 0; b < 256; b++) if (!reps.some((x) => a.classOf[x] === a.classOf[b])) reps.push(b);
      for (let j = reps.length - 1; j > 0; j--) {
        const k = rng.int(j + 1);
        [reps[j], reps[k]] = [reps[k], reps[j]];
      }
      for (const b of reps) {
        const t = a.step(s, b);
        const seeds: number[][] = [];
        for (const c of configs) {
          if (c.length === 0 || !hasByte(terminals[syms[c[0]]], b)) continue;
          seeds.push(syms[c[0] + 1] === END ? c.slice(1) : [c[0] + 1, ...c.slice(1)]);
        }
        const want = seeds.length === 0 ? '' : keyOf(closure(seeds));
        const got = t === DEAD ? '' : keyOf(Array.from(a.stacks(t), chainOf));
        assert.equal(got, want, `state ${s} byte ${b}`);
        checked++;
        if (t !== DEAD && !seenStates.has(t)) {
          seenStates.add(t);
          states.push(t);
        }
      }
    }
    assert.ok(checked > 40, `${checked} transitions checked`);
  }
});
