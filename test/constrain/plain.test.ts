/**
 * plain.ts: which token bytes are plain JSON string text (whole UTF-8 characters, no quote,
 * backslash or control character) and how many characters they hold, against TextDecoder's
 * strict decoding; the length classes and the trie of the other tokens. The masks that use
 * them are compared with the token-by-token reference in mask-exact.test.ts (cl100k).
 * plainBelow: per trie node, whether every token's text below it is plain (its last character
 * possibly cut short), against a reference built on TextDecoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { EVENT_CONTROL, EVENT_CUT, EVENT_NONE, EVENT_OTHER, firstEvent, plainBelow, plainChars, plainIndex } from '../../src/infer/constrain/plain.js';
import { TokenTrie } from '../../src/infer/constrain/trie.js';

const strict = new TextDecoder('utf-8', { fatal: true });

function reference(b: Uint8Array): number {
  let s: string;
  try {
    s = strict.decode(b);
  } catch {
    return -1;
  }
  if (/["\\\u0000-\u001f]/.test(s)) return -1;
  return [...s].length;
}

test('plainChars agrees with strict UTF-8 decoding on random and edge byte strings', () => {
  const rng = new Rng(17);
  const edges = [[0xe0, 0x9f, 0x80], [0xe0, 0xa0, 0x80], [0xed, 0xa0, 0x80], [0xed, 0x9f, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [0xc1, 0xbf], [0xc2, 0x80], [0x7f], [0x1f], [0x22], [0x5c], [0xe2, 0x82], [0x61, 0xf0, 0x9f, 0x98, 0x80]];
  const cases = edges.map((e) => Uint8Array.from(e));
  const pool = [0x20, 0x21, 0x22, 0x41, 0x5c, 0x7f, 0x0a, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
  for (let i = 0; i < 20_000; i++) {
    const n = 1 + rng.int(6);
    cases.push(Uint8Array.from({ length: n }, () => pool[rng.int(pool.length)]));
  }
  for (const b of cases) assert.equal(plainChars(b, 0, b.length), reference(b), `bytes ${[...b].map((x) => x.toString(16)).join(' ')}`);
});

test('plainIndex: length classes by character count, the other tokens as their own trie mapped onto the full one', () => {
  const enc = new TextEncoder();
  const words = ['a', 'ab', 'abc', 'é', 'éé', '"', 'a"', '\\n', ' x', '\n', 'δδδδ'].map((w) => enc.encode(w));
  words.push(Uint8Array.from([0xce])); // a cut character
  const trie = new TokenTrie(words);
  const idx = plainIndex(trie);
  assert.equal(idx.maxChars, 4);
  const has = (c: number, id: number): boolean => ((idx.upTo[c][id >>> 5] >>> (id & 31)) & 1) === 1;
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((c) => words.map((_, id) => (has(c, id) ? 1 : 0)).join('')),
    ['000000000000', '100100000000', '110110001000', '111110001000', '111110001010'],
  );
  const restIds = [...idx.rest.tokOrder].sort((x, y) => x - y);
  assert.deepEqual(restIds, [5, 6, 7, 9, 11]);
  for (let n = 0; n < idx.rest.size; n++) {
    const f = idx.restToFull[n];
    assert.equal(trie.byte[f], idx.rest.byte[n]);
    assert.equal(trie.depth[f], idx.rest.depth[n]);
  }
  // per plain ASCII first byte, its plain tokens (a" is not one); none for other bytes
  const byteOf = (ch: string): number => ch.charCodeAt(0);
  assert.deepEqual(
    [...idx.kidPlain[byteOf('a')]].sort((x, y) => x - y),
    [0, 1, 2],
  );
  assert.deepEqual([...idx.kidPlain[byteOf(' ')]], [8]);
  assert.equal(idx.kidPlain[byteOf('"')].length, 0);
  assert.equal(idx.kidPlain[0xce].length, 0);
  // the rest trie's depth-1 node per first byte: 'a' (for a"), '"', '\\', '\n', 0xce; none for ' ' or 'x'
  for (const b of [byteOf('a'), byteOf('"'), byteOf('\\'), byteOf('\n'), 0xce]) {
    const r = idx.restKid[b];
    assert.ok(r >= 0 && idx.rest.depth[r] === 1 && idx.rest.byte[r] === b, `byte ${b}`);
  }
  assert.equal(idx.restKid[byteOf(' ')], -1);
  assert.equal(idx.restKid[byteOf('x')], -1);
});

/** Reference for plainBelow's per-suffix test: plain text (reference ≥ 0) or plain text and then a proper prefix of one plain non-ASCII character (some completion decodes strictly). */
function plainOrCut(b: Uint8Array): boolean {
  if (reference(b) >= 0) return true;
  for (let k = 1; k <= 3 && k <= b.length; k++) {
    const head = b.subarray(0, b.length - k);
    if (reference(head) < 0) continue;
    const tail = b.subarray(b.length - k);
    const lead = tail[0];
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (need <= k) continue;
    const fills = [0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf];
    const missing = need - k;
    for (let m = 0; m < fills.length ** missing; m++) {
      const ch = new Uint8Array(need);
      ch.set(tail);
      for (let j = 0, r = m; j < missing; j++, r = Math.floor(r / fills.length)) ch[k + j] = fills[r % fills.length];
      if (reference(ch) === 1) return true;
    }
  }
  return false;
}

test('plainBelow: a node is marked iff every token below it continues with plain text (the last character possibly cut)', () => {
  const enc = new TextEncoder();
  const rng = new Rng(5);
  const pool = [0x20, 0x22, 0x41, 0x61, 0x5c, 0x0a, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xce, 0xe0, 0xe2, 0xed, 0xf0, 0xf4, 0xff];
  const seen = new Set<string>();
  const words: Uint8Array[] = [];
  const add = (w: Uint8Array): void => {
    const k = w.join(',');
    if (!seen.has(k)) {
      seen.add(k);
      words.push(w);
    }
  };
  for (const w of ['a', 'ab', 'abc', 'é', 'éé', 'a"', 'ab"c', '\\n', ' x', ' xé', 'δδδδ', '€']) add(enc.encode(w));
  add(Uint8Array.from([0x61, 0xe2, 0x82])); // "a" then a cut "€"
  add(Uint8Array.from([0x61, 0xed, 0xa0])); // "a" then a surrogate's start: not plain
  for (let i = 0; i < 3000; i++) add(Uint8Array.from({ length: 1 + rng.int(5) }, () => pool[rng.int(pool.length)]));
  const trie = new TokenTrie(words);
  const below = plainBelow(trie);
  let marked = 0;
  for (let n = 0; n < trie.size; n++) {
    const d = trie.depth[n];
    let want = true;
    for (let k = trie.tokStart[n]; k < trie.tokStart[trie.end[n]] && want; k++) want = plainOrCut(trie.tokenBytes(trie.tokOrder[k])!.subarray(d));
    assert.equal(below[n] === 1, want, `node ${n} (depth ${d})`);
    if (want && trie.end[n] > n + 1) marked++;
  }
  assert.ok(marked > 50, `${marked} inner nodes marked`);
});

/** Reference for firstEvent: the longest plain prefix (TextDecoder), then what follows it. */
function eventReference(b: Uint8Array): number {
  let j = b.length;
  while (j > 0 && reference(b.subarray(0, j)) < 0) j--;
  if (j === b.length) return EVENT_NONE;
  const r = b.subarray(j);
  if (r[0] < 0x20) return EVENT_CONTROL;
  if (r[0] === 0x22 || r[0] === 0x5c) return EVENT_OTHER;
  return plainOrCut(r) ? EVENT_CUT : EVENT_OTHER;
}

test('firstEvent: the first thing that is not a plain character, against strict UTF-8 decoding', () => {
  const rng = new Rng(23);
  const pool = [0x20, 0x09, 0x0a, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xf0, 0xf4, 0xf5];
  const seen = [0, 0, 0, 0];
  for (let i = 0; i < 20_000; i++) {
    const b = Uint8Array.from({ length: 1 + rng.int(6) }, () => pool[rng.int(pool.length)]);
    const want = eventReference(b);
    seen[want]++;
    assert.equal(firstEvent(b, 0, b.length), want, `bytes ${[...b].map((x) => x.toString(16)).join(' ')}`);
  }
  assert.ok(
    seen.every((n) => n > 100),
    `each event occurs: ${seen.join(', ')}`,
  );
});

test('plainIndex: cut tokens per first byte, and the trie of the tokens a loop must still walk', () => {
  const enc = new TextEncoder();
  const words = ['ab', 'a"', 'a\\x', 'a\n', 'a€', ' x', '"', '\t'].map((w) => enc.encode(w));
  words.push(Uint8Array.from([0x61, 0xe2, 0x82])); // 8: "a" and a cut "€"
  words.push(Uint8Array.from([0x61, 0xe2, 0x41])); // 9: "a" and a broken sequence
  words.push(Uint8Array.from([0x61, 0x0a, 0x22])); // 10: a control byte before the quote
  const trie = new TokenTrie(words);
  const idx = plainIndex(trie);
  const a = 'a'.charCodeAt(0);
  assert.deepEqual(
    [...idx.kidPlain[a]].sort((x, y) => x - y),
    [0, 4],
  );
  assert.deepEqual([...idx.kidCut[a]], [8]);
  assert.deepEqual(
    [...idx.quoted.tokOrder].sort((x, y) => x - y),
    [1, 2, 6, 9],
  );
  for (let n = 0; n < idx.quoted.size; n++) {
    const f = idx.quotedToFull[n];
    assert.equal(trie.byte[f], idx.quoted.byte[n]);
    assert.equal(trie.depth[f], idx.quoted.depth[n]);
  }
  assert.ok(idx.quotedKid[a] >= 0 && idx.quoted.byte[idx.quotedKid[a]] === a);
  assert.equal(idx.quotedKid[' '.charCodeAt(0)], -1);
});
