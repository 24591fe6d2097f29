/**
 * Signature interning (intern.ts) and the frame sharing it drives (matcher.ts): equal int
 * sequences get one id and different ones different ids, compared exactly (not by hash); a
 * schema compiled again, or another schema with the same string value, takes its frames from
 * the vocabulary's shared cache instead of walking the trie again; the interners' bound: past
 * it they are cleared and ids reused, and masks stay exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { mergeRuns, SeqInterner } from '../../src/infer/constrain/intern.js';
import { schemaConstraint, type GrammarConstraint } from '../../src/infer/constrain/index.js';
import { setSignatureLimits, signatureStats } from '../../src/infer/constrain/matcher.js';
import { allowedList, testTokenizer } from './helpers.js';

function internOf(t: SeqInterner, xs: readonly number[]): number {
  for (const x of xs) t.push(x);
  return t.intern();
}

test('mergeRuns: sorted runs without repeats merge into the sorted union without repeats (as sort + dedupe), runs of any count and length', () => {
  const rng = new Rng(5);
  for (let trial = 0; trial < 400; trial++) {
    const runs = trial < 4 ? trial : 1 + rng.int(12); // 0, 1, 2, 3 runs, then up to 12
    const span = 1 + rng.int(trial % 2 === 0 ? 20 : 5000); // small spans: many ids shared between runs
    const a: number[] = [];
    const starts: number[] = [];
    for (let r = 0; r < runs; r++) {
      starts.push(a.length);
      const run = [...new Set(Array.from({ length: rng.int(40) + (r === 0 ? 1 : 0) }, () => rng.int(span)))].sort((x, y) => x - y);
      a.push(...run);
    }
    const want = [...new Set(a)].sort((x, y) => x - y);
    const buf = new Int32Array(a.length + 3).fill(-7);
    buf.set(a);
    const n = mergeRuns(buf, a.length, Int32Array.from(starts), starts.length, new Int32Array(a.length));
    assert.deepEqual(Array.from(buf.subarray(0, n)), want, `trial ${trial}: ${runs} runs`);
    assert.deepEqual(Array.from(buf.subarray(a.length)), [-7, -7, -7], 'nothing written past n');
  }
});

test('SeqInterner: one id per distinct sequence, exactly, through growth and rehashing', () => {
  // the default size and a tiny one (room for 4 ids: the matcher's small interners grow from few), before and after clear()
  for (const t of [new SeqInterner(1 << 20), new SeqInterner(1 << 20, Number.MAX_SAFE_INTEGER, 4)]) {
    for (const round of [0, 1]) {
      if (round === 1) t.clear();
      const rng = new Rng(11 + round);
      const ids = new Map<string, number>();
      for (let i = 0; i < 20_000; i++) {
        // short sequences over a small alphabet: many repeats, many near-misses (prefixes, swaps)
        const xs = Array.from({ length: rng.int(6) }, () => rng.int(5) - 2);
        const key = xs.join(',');
        const id = internOf(t, xs);
        const seen = ids.get(key);
        if (seen === undefined) {
          assert.equal(id, ids.size, `a new sequence [${key}] gets the next id`);
          ids.set(key, id);
        } else assert.equal(id, seen, `[${key}] again`);
      }
      assert.equal(t.size, ids.size);
      assert.equal(internOf(t, []), ids.get(''));
    }
  }
});

test('SeqInterner: sortUnique makes a set canonical; truncate drops; the cap stops new ids only', () => {
  const t = new SeqInterner(3);
  for (const x of [5, 1, 5, 3, 1]) t.push(x);
  t.sortUnique(0);
  const a = t.intern();
  assert.equal(internOf(t, [1, 3, 5]), a);
  t.push(9);
  t.truncate(0);
  assert.equal(internOf(t, [1, 3, 5]), a, 'truncated elements are gone');
  const b = internOf(t, [2]);
  const c = internOf(t, [4]);
  assert.deepEqual([a, b, c], [0, 1, 2]);
  assert.equal(internOf(t, [6]), -1, 'past the cap a new sequence has no id');
  // long sets take the built-in sort, short ones an insertion sort: the same canonical form
  const u = new SeqInterner(100);
  const rng = new Rng(5);
  for (const n of [5, 31, 32, 33, 80]) {
    const xs = Array.from({ length: n }, () => rng.int(40) - 10);
    for (const x of xs) u.push(x);
    u.sortUnique(0);
    const id = u.intern();
    const set = [...new Set(xs)].sort((p, q) => p - q);
    assert.equal(internOf(u, set), id, `a set of ${n}`);
  }
  assert.equal(internOf(t, [4]), c, 'known sequences keep theirs');
});

test('frames are shared across compilations by signature id, and the masks agree', () => {
  const tok = testTokenizer();
  const schema = { type: 'object', properties: { note: { type: 'string' }, n: { type: 'integer' } }, required: ['note', 'n'] };
  // the same string value in another schema and place: its body's frame has the same signature
  const other = { type: 'array', items: { type: 'string' } };
  const walk = (s: unknown, text: string): { built: number; unshareable: number; hits: number; masks: number[][] } => {
    const c = schemaConstraint(s, tok, { whitespace: 'compact' });
    const masks: number[][] = [];
    for (const id of tok.encodeOrdinary(text)) {
      masks.push(allowedList(c, tok.vocabSize));
      assert.ok(c.advance(id), `${text}: token ${id}`);
    }
    return { built: c.matcher.framesBuilt, unshareable: c.matcher.sigNull, hits: c.matcher.sharedHits, masks };
  };
  const text = '{"note":"héllo wörld, the quick fox","n":12}';
  const first = walk(schema, text);
  const again = walk(schema, text);
  assert.ok(first.built > first.unshareable);
  // frames whose sub-grammar reaches more than 64 rules have no signature and are walked again
  assert.equal(again.built, again.unshareable, 'the second compilation walks no frame that has a signature');
  assert.ok(again.unshareable < first.built / 2);
  assert.ok(again.hits > 0);
  assert.deepEqual(again.masks, first.masks);
  const arr = walk(other, '["héllo wörld, the quick fox"]');
  assert.ok(arr.hits > 0, 'the string body frame is shared with the other schema');
});

test('SeqInterner: the ints budget caps too, and clear() starts over', () => {
  const t = new SeqInterner(100, 6);
  assert.equal(internOf(t, [1, 2, 3]), 0);
  assert.equal(internOf(t, [4, 5, 6]), 1);
  assert.ok(t.full);
  assert.equal(internOf(t, [7]), -1, 'past the ints budget a new sequence has no id');
  assert.equal(internOf(t, [4, 5, 6]), 1, 'known sequences keep theirs');
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.storedInts, 0);
  assert.ok(!t.full);
  assert.equal(internOf(t, [7]), 0, 'ids start again from 0');
  assert.equal(internOf(t, [1, 2, 3]), 1);
});

test('signature interners bounded: cleared when full, ids reused, masks still exact (stale memos dropped)', () => {
  const tok = testTokenizer();
  /** The allowed tokens by running every token's bytes through the automaton (the reference). */
  const reference = (c: GrammarConstraint): number[] => {
    const out: number[] = [];
    for (let id = 0; id < tok.vocabSize; id++) {
      const b = c.matcher.trie.tokenBytes(id);
      if (b !== undefined && b.length > 0 && c.matcher.automaton.run(c.stateId, b) !== 0) out.push(id);
    }
    return out;
  };
  const saved = signatureStats().limits;
  // tiny caps: the interners fill and are cleared every few frames, so ids are reused constantly;
  // a memo (per automaton, per matcher) or shared frame kept across a reset would hand one
  // schema's frame to another's — the interleaved walks below catch that
  setSignatureLimits(12, 400);
  const epoch0 = signatureStats().epoch;
  try {
    const schemas: [unknown, unknown][] = [
      [
        { type: 'object', properties: { note: { type: 'string', maxLength: 9 }, n: { type: 'integer' } }, required: ['note', 'n'] },
        { note: 'héllo "x"', n: -12 },
      ],
      [{ type: 'array', items: { type: 'string', minLength: 3 } }, ['wörld', 'abc', 'a b c d']],
      [
        { type: 'object', properties: { on: { type: 'string', format: 'date' }, k: { enum: ['a', 'b"c'] } } },
        { on: '2024-02-29', k: 'b"c', extra: [1, 'two'] },
      ],
      [
        { type: 'object', additionalProperties: { type: 'number' } },
        { alpha: 1.5, beta: -2, gamma: 3e2 },
      ],
    ];
    // round robin, one token each, over two passes (the second compiled afresh): each matcher's
    // memos outlive resets triggered by the others
    let checked = 0;
    for (let pass = 0; pass < 2; pass++) {
      const runs = schemas.map(([schema, value]) => ({ c: schemaConstraint(schema, tok), ids: tok.encodeOrdinary(JSON.stringify(value)), at: 0 }));
      for (let live = true; live; ) {
        live = false;
        for (const r of runs) {
          if (r.at >= r.ids.length) continue;
          live = true;
          assert.deepEqual(allowedList(r.c, tok.vocabSize), reference(r.c), `schema ${runs.indexOf(r)} token ${r.at} (pass ${pass})`);
          assert.ok(r.c.advance(r.ids[r.at++]));
          checked++;
        }
      }
    }
    assert.ok(checked > 40);
    const st = signatureStats();
    assert.ok(st.epoch - epoch0 >= 3, `the interners were cleared ${st.epoch - epoch0} times`);
    assert.ok(st.ids <= 3 * 12, `ids held ${st.ids}`);
  } finally {
    setSignatureLimits(saved.ids, saved.ints);
  }
});
