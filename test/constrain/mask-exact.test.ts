/**
 * The fast mask (frames, shared frame cache, whole-subtree skips; matcher.ts) against the
 * straightforward reference — every token's bytes run through the automaton — on random walks
 * over schemas, regular expressions and GBNF grammars, on the 600-token test BPE and on
 * cl100k's 100k vocabulary (js-tiktoken's ranks, a devDependency: no download). Any speed-up
 * of the mask must keep this exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { clearSharedFrames, compileGrammar, GrammarConstraint, gbnfConstraint, regexConstraint, schemaConstraint, parseGbnf } from '../../src/infer/constrain/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { cl100kRankFileText } from '../tokenizer/corpus.js';
import { testTokenizer } from './helpers.js';

const SCHEMAS: { name: string; schema: unknown }[] = [
  {
    name: 'bounded strings, enum, integer range',
    schema: { type: 'object', properties: { id: { type: 'string', minLength: 2, maxLength: 12 }, kind: { enum: ['año', 'b"c', 'δ'] }, n: { type: 'integer', minimum: -5, maximum: 1200 } }, required: ['id', 'kind'], additionalProperties: false },
  },
  {
    name: 'extra keys beside declared ones, free values',
    schema: { type: 'object', properties: { name: { type: 'string' }, names: { type: 'array', items: { type: 'string', maxLength: 3 } } }, additionalProperties: { type: ['number', 'string', 'null'] } },
  },
  {
    name: 'pattern, date and recursion',
    schema: { $defs: { node: { type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]{2}-[0-9é]{1,3}$' }, on: { type: 'string', format: 'date' }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } }, required: ['code'] } }, $ref: '#/$defs/node' },
  },
  {
    // a format times a length counter (lengthbound.ts): hundreds of right-linear rules inside one lexeme
    name: 'formats with length bounds',
    schema: { type: 'object', properties: { e: { type: 'string', format: 'email', minLength: 5, maxLength: 24 }, t: { type: 'string', format: 'time', maxLength: 12 } }, additionalProperties: false },
  },
];

const GBNF = `root ::= "say " item ("," " "? item)* "."
item ::= [a-zà-ÿ]+ | "\\"" [^"\\n]{0,8} "\\"" | [0-9]+ ("." [0-9]{1,2})?
`;

/** Random walks from `base`, comparing the mask with every token's bytes run through the automaton at each step. */
function checkWalks(label: string, base: GrammarConstraint, vocabSize: number, walks: number, steps: number, rng: Rng): number {
  const m = base.matcher;
  const mask = new Uint32Array(Math.ceil(vocabSize / 32));
  let checked = 0;
  for (let w = 0; w < walks; w++) {
    const con = base.clone();
    for (let step = 0; step < steps && !con.mustEnd(); step++) {
      con.fillMask(mask);
      const allowed: number[] = [];
      for (let id = 0; id < vocabSize; id++) {
        const b = m.trie.tokenBytes(id);
        const ok = b !== undefined && b.length > 0 && m.automaton.run(con.stateId, b) !== 0;
        if (((mask[id >>> 5] >>> (id & 31)) & 1) !== (ok ? 1 : 0)) assert.fail(`${label}: token ${id} ${JSON.stringify(b && Buffer.from(b).toString('latin1'))} at walk ${w} step ${step}: mask ${!ok}, reference ${ok}`);
        if (ok) allowed.push(id);
      }
      checked++;
      if (allowed.length === 0) break;
      // now and then a token with a quote or a non-ASCII byte, so walks enter and leave strings
      // and stop inside UTF-8 characters (uniform picks on cl100k are mostly ASCII words)
      const special = rng.random() < 0.4 ? allowed.filter((id) => m.trie.tokenBytes(id)!.some((x) => x === 0x22 || x >= 0x80)) : [];
      const pool = special.length > 0 ? special : allowed;
      assert.ok(con.advance(pool[rng.int(pool.length)]));
    }
  }
  return checked;
}

function runAll(tok: Tokenizer, walks: number, steps: number): void {
  const rng = new Rng(tok.vocabSize);
  let checked = 0;
  for (const { name, schema } of SCHEMAS) checked += checkWalks(name, schemaConstraint(schema, tok), tok.vocabSize, walks, steps, rng);
  checked += checkWalks('regex', regexConstraint('(héllo|wörld|中文|[0-9]{2,4}|"[^"]{0,5}")( (héllo|[a-z]+|"x"))*', tok), tok.vocabSize, walks, steps, rng);
  checked += checkWalks('gbnf', gbnfConstraint(GBNF, tok), tok.vocabSize, walks, steps, rng);
  // the same grammar compiled again: its frames now come from the vocabulary's shared cache
  checked += checkWalks('gbnf (shared frames)', new GrammarConstraint(compileGrammar(parseGbnf(GBNF), tok)), tok.vocabSize, walks, steps, rng);
  assert.ok(checked >= walks * 6, `only ${checked} states checked`);
}

test('fast masks equal the token-by-token reference on the test BPE', () => {
  runAll(testTokenizer(), 6, 40);
});

let cl100k: Tokenizer | undefined;
function cl100kTok(): Tokenizer {
  if (!cl100k) {
    const { text, specials } = cl100kRankFileText();
    cl100k = Tokenizer.fromTiktoken(text, { pattern: 'cl100k', specialTokens: specials });
  }
  return cl100k;
}

test('fast masks equal the token-by-token reference on cl100k (100k tokens)', () => {
  runAll(cl100kTok(), 2, 16);
});

/** The mask of `con`'s state against every token's bytes run through the automaton. */
function assertExact(label: string, con: GrammarConstraint, vocabSize: number): void {
  const m = con.matcher;
  const mask = new Uint32Array(Math.ceil(vocabSize / 32));
  con.fillMask(mask);
  for (let id = 0; id < vocabSize; id++) {
    const b = m.trie.tokenBytes(id);
    const ok = b !== undefined && b.length > 0 && m.automaton.run(con.stateId, b) !== 0;
    if (((mask[id >>> 5] >>> (id & 31)) & 1) !== (ok ? 1 : 0)) assert.fail(`${label}: token ${id} ${JSON.stringify(b && Buffer.from(b).toString('latin1'))}: mask ${!ok}, reference ${ok}`);
  }
}

test('bounded strings longer than the longest token share frames, exactly, up to their last characters (cl100k)', () => {
  // x{0,k} with k above the longest token (128 bytes on cl100k) cannot be told from x* inside
  // one token, so those positions share one frame; the last 128 characters may not. Every
  // position from 0 to the bound, counting down through the cap, is compared with the reference.
  const tok = cl100kTok();
  const reach = 128;
  const schema = { type: 'object', properties: { s: { type: 'string', minLength: 2, maxLength: reach + 3 }, t: { type: 'string', pattern: '^a[0-9a-f ]{0,140}$' } }, required: ['s', 't'], additionalProperties: false };
  const con = schemaConstraint(schema, tok, { whitespace: 'compact' });
  const enc = new TextEncoder();
  assert.ok(con.advanceBytes(enc.encode('{"s":"')));
  const check = (i: number): boolean => i <= 4 || i % 16 === 0 || i >= reach - 3;
  for (let i = 0; i <= reach + 3; i++) {
    if (check(i)) assertExact(`maxLength ${reach + 3} after ${i} characters`, con, tok.vocabSize);
    if (i < reach + 3) assert.ok(con.advanceBytes(enc.encode(i % 7 === 3 ? ' ' : 'q')));
  }
  assert.ok(!con.advanceBytes(enc.encode('q')), 'past maxLength');
  assert.ok(con.advanceBytes(enc.encode('","t":"a')));
  for (let i = 0; i <= 140; i++) {
    if (check(i)) assertExact(`pattern {0,140} after ${i} characters`, con, tok.vocabSize);
    if (i < 140) assert.ok(con.advanceBytes(enc.encode(i % 5 === 0 ? ' ' : 'f')));
  }
  assert.ok(con.advanceBytes(enc.encode('"}')) && con.isComplete());
});

test('keys outside `properties` in a second schema take the free key body from the vocabulary-wide copy, exactly (cl100k)', () => {
  // The free body of a key outside `properties` signs the same in every schema, so its
  // depth-1 walk of the trie (frameWalk's copy) is built by the first schema and shared: the
  // second schema here, with other names and another value type for its extra members, must
  // take it from the shared cache and still equal the reference at every key position.
  const tok = cl100kTok();
  const enc = new TextEncoder();
  const first = schemaConstraint({ type: 'object', properties: { name: { type: 'string' }, names: { type: 'integer' } }, additionalProperties: { type: 'number' } }, tok, { whitespace: 'compact' });
  // a string value first (its body is a copy of its own), then a key start
  for (const prefix of ['{"name":"', '{"']) {
    const con = first.clone();
    assert.ok(con.advanceBytes(enc.encode(prefix)), prefix);
    assertExact(`first schema after ${prefix}`, con, tok.vocabSize);
  }
  const second = schemaConstraint({ type: 'object', properties: { nation: { type: 'boolean' }, id: { type: 'string', maxLength: 4 } }, additionalProperties: { type: 'string' } }, tok, { whitespace: 'compact' });
  for (const prefix of ['{"', '{"na', '{"nat', '{"i', '{"nab', '{"x', '{"nation":true,"', '{"nation":true,"idx', '{"nation":true,"zz":"a","']) {
    const con = second.clone();
    assert.ok(con.advanceBytes(enc.encode(prefix)), prefix);
    assertExact(`second schema after ${prefix}`, con, tok.vocabSize);
  }
  assert.ok(second.matcher.sharedRootHits > 0, 'the second schema built its own copy');
});

test('a pattern string nested deeper than three levels is framed to its end: exact, and its frames walk no token past its characters (cl100k)', () => {
  // Github_hard o60309's pattern: `\S+` sits four stack levels deep inside the string lexeme.
  // Framed at three levels the frame ended inside `\S+` — after every character — and popped at
  // ≈ 77k trie nodes, each walked on from the levels below (9–19 ms a mask in the bench; here
  // ≈ 232k nodes against ≈ 17k); framed to the lexeme, it pops only where a token closes the string. In an array,
  // tokens such as `/",` cross the closing quote from inside `\S+`: those pops go on below.
  const tok = cl100kTok();
  const enc = new TextEncoder();
  const schema = { type: 'array', items: { type: 'string', pattern: '^(KONG_\\w+=\\S+)*(\\sKONG_\\w+=\\S+)*$' } };
  const con = schemaConstraint(schema, tok, { whitespace: 'compact' });
  assert.ok(con.advanceBytes(enc.encode('["')));
  const v0 = con.matcher.nodesVisited;
  const text = 'KONG_LOG_LEVEL=debug KONG_PROXY_ACCESS_LOG=/dev/stdout';
  for (let i = 0; i < text.length; i++) {
    if (i % 12 === 0) assertExact(`pattern after ${JSON.stringify(text.slice(0, i))}`, con, tok.vocabSize);
    assert.ok(con.advanceBytes(enc.encode(text[i])), text.slice(0, i + 1));
  }
  assertExact('pattern complete', con, tok.vocabSize);
  const nodes = con.matcher.nodesVisited - v0;
  assert.ok(con.advanceBytes(enc.encode('"]')) && con.isComplete());
  // a count of trie nodes, not a time: the same on every machine
  assert.ok(nodes < 80_000, `the pattern's masks walked ${nodes} trie nodes`);
});

test("structural masks jump over a wide trie node's rejected children: exact, and far fewer trie nodes walked (cl100k)", () => {
  // After `{"a":`, `[1,` or `{"b":[true` a few bytes are live; the walk below a wide node (≥
  // WIDE_KIDS children: a space, a quote) goes from one accepted child to the next instead of
  // visiting every rejected one (≈ 70% of the nodes walked before, journal round 21).
  const tok = cl100kTok();
  const enc = new TextEncoder();
  const schema = { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'array', items: { type: ['boolean', 'null'] } }, c: { enum: ['x y', 'ü', '"q'] } }, additionalProperties: false };
  const con = schemaConstraint(schema, tok, { whitespace: 'flexible' });
  clearSharedFrames(con.matcher.trie); // no frame from an earlier test: the count is this schema's own
  const v0 = con.matcher.nodesVisited;
  let masks = 0;
  for (const prefix of ['', '{', '{"a"', '{"a":', '{"a": 12', '{"a": 12,', '{"a": 12, "b": [', '{"a": 12, "b": [true', '{"a": 12, "b": [true, ', '{"a": 12, "b": [true, null]', '{"a": 12, "b": [true, null], "c": ', '{"a": 12, "b": [true, null], "c": "', '{"a": 12, "b": [true, null], "c": "x']) {
    const c = con.clone();
    assert.ok(c.advanceBytes(enc.encode(prefix)), prefix);
    assertExact(`after ${JSON.stringify(prefix)}`, c, tok.vocabSize);
    masks++;
  }
  const nodes = con.matcher.nodesVisited - v0;
  // a count of trie nodes, not a time: the same on every machine (2,809 with the jumps, round 21)
  assert.ok(nodes < 4_000, `${masks} structural masks walked ${nodes} trie nodes`);
});

/**
 * A large object (47 members, nested objects, keys with non-ASCII characters and escaped
 * quotes, enums with non-ASCII values): its frames reach more than 64 rules, so none has a
 * signature by its sub-grammar (since round 25 most are signed by the trie nodes they reach
 * instead: Automaton.reachWalk), and most are structural places with a few first bytes — the paths frameWalk takes
 * from the configurations' live byte classes and the per-class first-byte lists. Walks enter
 * and leave keys and values (tokens crossing a key's closing quote into `":`, a value into `,"`)
 * and stop inside UTF-8 characters.
 */
function largeObject(): unknown {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (let i = 0; i < 47; i++) {
    const key = i % 5 === 1 ? `ключ${i}` : i % 7 === 2 ? `q"${i}` : i % 3 === 0 ? `bookmark${i}Height` : `k${i}`;
    const kinds: unknown[] = [{ type: 'number' }, { type: 'boolean' }, { type: 'string', minLength: 1 }, { enum: ['año', 'b"c', 'δx', 7] }, { type: 'object', properties: { [`in${i}`]: { type: 'integer' }, ä: { type: 'string' } }, required: [`in${i}`], additionalProperties: false }];
    properties[key] = kinds[i % kinds.length];
    if (i % 4 !== 3) required.push(key);
  }
  return { type: 'object', properties, required, additionalProperties: { type: 'integer' } };
}

test('a large object: structural frames from their live first bytes equal the token-by-token reference (test BPE and cl100k)', () => {
  for (const [tok, walks, steps] of [
    [testTokenizer(), 8, 60],
    [cl100kTok(), 3, 40],
  ] as const) {
    const con = schemaConstraint(largeObject(), tok);
    const checked = checkWalks(`large object (V=${tok.vocabSize})`, con, tok.vocabSize, walks, steps, new Rng(7 + tok.vocabSize));
    assert.ok(checked >= walks * 10, `only ${checked} states checked`);
    // the paths under test ran: classes left unstepped, first bytes from the per-class lists
    const m = con.matcher;
    assert.ok(m.deadClassesSkipped > 0 && m.fewKidWalks > 0, `dead ${m.deadClassesSkipped}, few ${m.fewKidWalks}`);
  }
});

test('places whose difference no token reaches share a frame walk: exact, fresh and from the shared cache (test BPE and cl100k)', () => {
  // after each member of the large object a place takes `,"name":…` or `}`: no token runs far
  // into the names, so these configurations are signed by the terminals tokens reach
  // (Automaton.reachWalk) and most such places share one walk; a second compile takes
  // them from the vocabulary's shared cache. Every mask against the token-by-token reference.
  for (const [tok, walks, steps] of [
    [testTokenizer(), 6, 60],
    [cl100kTok(), 2, 40],
  ] as const) {
    const first = schemaConstraint(largeObject(), tok);
    let checked = checkWalks(`reach signatures (V=${tok.vocabSize})`, first, tok.vocabSize, walks, steps, new Rng(11 + tok.vocabSize));
    assert.ok(first.matcher.reachSigned > 0, 'no configuration signed by what it reaches');
    const again = schemaConstraint(largeObject(), tok);
    checked += checkWalks(`reach signatures, shared (V=${tok.vocabSize})`, again, tok.vocabSize, walks, steps, new Rng(13 + tok.vocabSize));
    assert.ok(again.matcher.sharedHits > 0, 'no frame from the shared cache');
    assert.ok(checked >= walks * 20, `only ${checked} states checked`);
  }
});

test('an unanchored pattern: its partial matches beside `.*` take every plain token without a walk, exactly (cl100k)', () => {
  // JSONSchemaBench Github_easy o36222: a uuid `pattern` without anchors matches anywhere
  // (`.*P.*`), so after the opening quote and once P has matched the state is not a loop —
  // its configurations track partial matches of P — yet no plain text kills it or ends the
  // string (plainLiveOf): every plain token is accepted and only the others are walked (its
  // two big masks walked ≈ 172k trie nodes each before). `^[a-z]*q.*$` is the contrast: plain
  // characters other than letters are dead at its start (one taken as live there fails its
  // first mask), and after `q` it is live again.
  const tok = cl100kTok();
  const enc = new TextEncoder();
  const uuid = '[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}';
  const schema = { type: 'object', properties: { id: { type: 'string', pattern: uuid }, tag: { type: 'string', pattern: '^[a-z]*q.*$' }, n: { type: 'integer' } }, required: ['id', 'tag', 'n'], additionalProperties: false };
  const con = schemaConstraint(schema, tok, { whitespace: 'compact' });
  assert.ok(con.advanceBytes(enc.encode('{"id":"')));
  const v0 = con.matcher.nodesVisited;
  const id = 'x 123e4567-e89b-12d3-a456-426614174000 ü"';
  for (let i = 0; i < id.length; i++) {
    if (i < 4 || i % 9 === 0 || i >= id.length - 4) assertExact(`unanchored uuid after ${JSON.stringify(id.slice(0, i))}`, con, tok.vocabSize);
    assert.ok(con.advanceBytes(enc.encode(id[i])), id.slice(0, i + 1));
  }
  const nodes = con.matcher.nodesVisited - v0;
  assert.ok(con.advanceBytes(enc.encode(',"tag":"')));
  for (const [i, ch] of [...'abqé9 '].entries()) {
    assertExact(`^[a-z]*q.*$ after ${i} characters`, con, tok.vocabSize);
    assert.ok(con.advanceBytes(enc.encode(ch)));
  }
  assertExact('^[a-z]*q.*$ complete', con, tok.vocabSize);
  assert.ok(con.advanceBytes(enc.encode('","n":7}')) && con.isComplete());
  // a count of trie nodes, not a time: the same on every machine (≈ 31k; ≈ 363k walking the plain tokens)
  assert.ok(nodes < 100_000, `the unanchored pattern's masks walked ${nodes} trie nodes`);
});

test('a key typed letter by letter beside declared names: folded copies of the free key body equal the token-by-token reference (test BPE and cl100k)', () => {
  // Every name prefix of a key outside `properties` is a new frame on frameWalk's copy path:
  // its first bytes lead to the free key body (the copy) except the name's next letters (new
  // states), the quote, an escape, the non-ASCII lead bytes (states met again at every prefix)
  // and the control characters (DEAD). The recurring ones are folded into a copy kept per
  // matcher; a fold that lost a subtree's own tokens, or kept the copy's, fails here.
  const names = ['bookmarkThumbHeight', 'bookmarkThumbWidth', 'bookmarkEnabled', 'bookmärk', 'booking', 'b"q', 'limitLocales'];
  const properties: Record<string, unknown> = {};
  for (const n of names) properties[n] = { type: 'boolean' };
  const schema = { type: 'object', properties, additionalProperties: { type: 'integer' } };
  const enc = new TextEncoder();
  for (const tok of [testTokenizer(), cl100kTok()]) {
    const con = schemaConstraint(schema, tok, { whitespace: 'compact' });
    const typed = ['{"', '{"bookmarkEnabled":true,"'];
    for (const start of typed) {
      for (const key of ['bookmarkThumbHeigh', 'bookmärkX', 'limitLocalez', 'b\\"q']) {
        const c = con.clone();
        assert.ok(c.advanceBytes(enc.encode(start)), start);
        const bytes = enc.encode(key);
        for (let i = 0; i < bytes.length; i++) {
          assertExact(`V=${tok.vocabSize} ${start}${new TextDecoder().decode(bytes.subarray(0, i))}`, c, tok.vocabSize);
          assert.ok(c.advanceBytes(bytes.subarray(i, i + 1)), `${key} byte ${i}`);
        }
      }
    }
    const m = con.matcher;
    assert.ok(m.foldsBuilt > 0 && m.foldHits > 0, `folds built ${m.foldsBuilt}, found ${m.foldHits}`);
    // each frame on its own too (a state's mask is a union over its groups, and the group of a
    // key's escape and non-ASCII alternatives covers those subtrees again): a frame accepts
    // exactly the tokens its state runs through without dying, and pops exactly at the trie
    // nodes with more below where its state accepts (where the stack below takes over)
    const frames = (m as unknown as { frames: Map<number, { accept: Uint32Array | Int32Array; pops: Int32Array }> }).frames;
    const { end, byte, size } = m.trie;
    const a = m.automaton;
    assert.ok(frames.size > 10, `${frames.size} frames`);
    for (const [x, f] of frames) {
      const has = new Uint8Array(tok.vocabSize);
      if (f.accept instanceof Int32Array) for (const id of f.accept) has[id] = 1;
      else for (let id = 0; id < tok.vocabSize; id++) has[id] = (f.accept[id >>> 5] >>> (id & 31)) & 1;
      for (let id = 0; id < tok.vocabSize; id++) {
        const b = m.trie.tokenBytes(id);
        const ok = b !== undefined && b.length > 0 && m.automaton.run(x, b) !== 0;
        if (has[id] !== (ok ? 1 : 0)) assert.fail(`V=${tok.vocabSize} frame ${x}: token ${id} ${JSON.stringify(b && Buffer.from(b).toString('latin1'))}: frame ${!ok}, reference ${ok}`);
      }
      const pops: number[] = [];
      const path: number[] = []; // the trie nodes above n (preorder walk), with their states in pathState
      const pathState: number[] = [];
      for (let n = 1; n < size; ) {
        while (path.length > 0 && end[path[path.length - 1]] <= n) {
          path.pop();
          pathState.pop();
        }
        const s = a.step(pathState.length > 0 ? pathState[pathState.length - 1] : x, byte[n]);
        if (s === 0) {
          n = end[n];
          continue;
        }
        if (a.isAccepting(s) && end[n] > n + 1) pops.push(n);
        path.push(n);
        pathState.push(s);
        n++;
      }
      assert.deepEqual(
        [...f.pops].sort((p, q) => p - q),
        pops,
        `V=${tok.vocabSize} frame ${x}: pops`,
      );
    }
  }
});

/**
 * Places whose configurations run through rule references before tokens stop reaching them
 * (Automaton.reachWalk, round 25: a configuration signed by the trie nodes it reaches): the
 * whitespace after `:`, then a value that is one of two alternatives (`true` or `"x"`, `null`
 * or `"x"`, …). A signature that lost the nodes reached inside a rule's expansion fails here
 * (`{"p` then takes no `":`), as does one that lost the pops (`"}` taken where the object
 * cannot end: the random walks below). An instance fed byte
 * by byte, every mask against the token-by-token reference, fresh and then from the shared
 * cache; then random walks over members with enums, arrays and optional members, and over a
 * GBNF grammar with nullable rules, alternatives that end inside tokens and right-recursive
 * rules (a digit run: past the step budget, left to frameSignature).
 */
test('configurations signed through rule references share walks exactly, fresh and shared (test BPE and cl100k)', () => {
  const twoOf = { type: 'object', properties: { p: { enum: [true, 'x'] }, q: { enum: [null, 'x'] }, r: { enum: [false, 'x'] }, s: { enum: [true, 'y'] } }, required: ['p', 'q'], additionalProperties: false };
  const text = '{"p": true, "q": null, "r": "x", "s": true}';
  const properties: Record<string, unknown> = {};
  for (let i = 0; i < 14; i++) {
    const v = ['a1', 'a2', 'b1', 'b2', 'ab', 'a'][i % 6];
    properties[`m${i}`] = i % 4 === 0 ? { enum: [v, `${v}x`, 3] } : i % 4 === 1 ? { type: 'boolean' } : i % 4 === 2 ? { type: 'array', items: { enum: [v, null] }, maxItems: 2 } : { const: v };
  }
  const members = { type: 'object', properties, required: ['m0', 'm3', 'm5', 'm8'], additionalProperties: false };
  const gbnf = `root ::= "(" ws list ws ")" | "[" ws item? ws "]"
list ::= item (ws "," ws item)*
item ::= "a" tail | "ab" | "b" tail "c"? | num
tail ::= "" | "1" | "12" | "2" tail
num ::= [0-9] | [0-9] num
ws ::= " "? | "\\n"
`;
  const enc = new TextEncoder();
  for (const [tok, walks, steps] of [
    [testTokenizer(), 6, 60],
    [cl100kTok(), 2, 40],
  ] as const) {
    clearSharedFrames(schemaConstraint(twoOf, tok).matcher.trie); // every frame of this test walked afresh first
    for (const round of ['fresh', 'shared']) {
      const con = schemaConstraint(twoOf, tok, { whitespace: 'flexible' });
      for (let i = 0; i <= text.length; i++) {
        assertExact(`reach signatures, two alternatives, ${round} (V=${tok.vocabSize}), after ${JSON.stringify(text.slice(0, i))}`, con, tok.vocabSize);
        if (i < text.length) assert.ok(con.advanceBytes(enc.encode(text[i])), text.slice(0, i + 1));
      }
      assert.ok(con.matcher.automaton.reachThroughRules > 0 || round === 'shared', 'no configuration signed through a rule reference');
    }
    for (const [label, make] of [
      ['members', () => schemaConstraint(members, tok, { whitespace: 'flexible' })],
      ['gbnf', () => gbnfConstraint(gbnf, tok)],
    ] as const) {
      const first = make();
      let checked = checkWalks(`reach signatures, ${label} (V=${tok.vocabSize})`, first, tok.vocabSize, walks, steps, new Rng(17 + tok.vocabSize));
      assert.ok(first.matcher.automaton.reachThroughRules > 0, `${label}: no configuration signed through a rule reference`);
      const again = make();
      checked += checkWalks(`reach signatures, ${label}, shared (V=${tok.vocabSize})`, again, tok.vocabSize, walks, steps, new Rng(19 + tok.vocabSize));
      assert.ok(again.matcher.sharedHits > 0, `${label}: no frame from the shared cache`);
      assert.ok(checked >= walks * 10, `${label}: only ${checked} states checked`);
    }
  }
});
