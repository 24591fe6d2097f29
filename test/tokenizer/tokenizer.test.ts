import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer, trainTokenizer, SPECIAL_TOKENS, encodeBatch } from '../../src/tokenizer/index.js';
import { Rng } from '../../src/engine/rng.js';
import { mobyDick, multilingualText } from './corpus.js';

const book = mobyDick();
const trainText = book.slice(0, 400_000);
const tok = trainTokenizer([trainText], { vocabSize: 1000 });

test('training is deterministic; vocab = 256 bytes + merges + specials; specials come last', () => {
  const again = trainTokenizer([trainText], { vocabSize: 1000 });
  assert.equal(again.hash(), tok.hash());
  assert.equal(tok.vocabSize, 1000);
  SPECIAL_TOKENS.forEach((s, i) => assert.equal(tok.specialId(s), 1000 - SPECIAL_TOKENS.length + i));
  // BPE compresses English well beyond one byte per token
  const ids = tok.encodeOrdinary(book.slice(500_000, 600_000));
  assert.ok(Buffer.byteLength(book.slice(500_000, 600_000)) / ids.length > 2.5);
});

test('special tokens are never produced by merging, even when their text is in the training data', () => {
  const t = trainTokenizer(['<|bos|> hello <|eos|> '.repeat(500)], { vocabSize: 300 });
  const ids = t.encodeOrdinary('<|bos|> hello');
  for (const s of SPECIAL_TOKENS) assert.ok(!ids.includes(t.specialId(s)));
  assert.equal(t.decode(ids), '<|bos|> hello');
});

test('tiktoken special-token semantics: error by default, allowed sets, plain text', () => {
  const s = 'hi <|bos|> there <|eos|>';
  assert.throws(() => tok.encode(s), /special token <\|bos\|> at offset 3, which is not allowed/);
  const all = tok.encode(s, { allowedSpecial: 'all' });
  assert.ok(all.includes(tok.specialId('<|bos|>')) && all.includes(tok.specialId('<|eos|>')));
  const some = tok.encode(s, { allowedSpecial: new Set(['<|bos|>']), disallowedSpecial: 'plain' });
  assert.ok(some.includes(tok.specialId('<|bos|>')) && !some.includes(tok.specialId('<|eos|>')));
  assert.deepEqual(tok.encode(s, { disallowedSpecial: 'plain' }), tok.encodeOrdinary(s));
  assert.equal(tok.decode(all), s);
});

test('round trip on 10,000 random strings (astral planes, lone surrogates → U+FFFD, controls)', () => {
  const rng = new Rng(7);
  const pick = (): number => {
    const r = rng.random();
    if (r < 0.3) return 32 + rng.int(95); // ASCII
    if (r < 0.4) return rng.int(32); // controls
    if (r < 0.6) return 0x80 + rng.int(0x800); // 2-byte
    if (r < 0.75) return 0x800 + rng.int(0xd000); // BMP incl. CJK
    if (r < 0.85) return 0xd800 + rng.int(0x800); // lone surrogates
    if (r < 0.95) return 0x10000 + rng.int(0xfffff); // astral
    return 0xe000 + rng.int(0x2000);
  };
  for (let i = 0; i < 10_000; i++) {
    const n = rng.int(40);
    let s = '';
    for (let j = 0; j < n; j++) s += String.fromCodePoint(pick());
    const wellFormed = (s as unknown as { toWellFormed(): string }).toWellFormed();
    assert.equal(tok.decode(tok.encodeOrdinary(s)), wellFormed, `string #${i}: ${JSON.stringify(s)}`);
  }
});

test('streaming decode never emits half a UTF-8 character', () => {
  const s = 'a😀b中文é🇫🇷 end';
  const ids = tok.encodeOrdinary(s);
  const d = tok.createStreamDecoder();
  const pieces = ids.map((id) => d.push(id));
  pieces.push(d.flush());
  for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `piece ${JSON.stringify(p)} contains a replacement character`);
  assert.equal(pieces.join(''), s);
  // an emoji is 4 byte tokens here: the first three push nothing
  const emoji = tok.encodeOrdinary('😀');
  const d2 = tok.createStreamDecoder();
  const outs = emoji.map((id) => d2.push(id));
  assert.ok(outs.slice(0, -1).every((o) => o === '') && outs[outs.length - 1] === '😀');
});

test('save/load tokenizer.json round trip; char mode; bad input names the file and entry', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-tok-'));
  try {
    const p = join(dir, 'tokenizer.json');
    tok.save(p);
    const back = Tokenizer.load(p);
    assert.equal(back.hash(), tok.hash());
    const sample = book.slice(700_000, 720_000);
    assert.deepEqual(back.encodeOrdinary(sample), tok.encodeOrdinary(sample));

    const chars = trainTokenizer(['hello world'], { vocabSize: 0, mode: 'char', specialTokens: [] });
    assert.equal(chars.vocabSize, 8);
    const cp = join(dir, 'char.json');
    chars.save(cp);
    assert.deepEqual(Tokenizer.load(cp).encode('hello'), chars.encode('hello'));
    assert.throws(() => chars.encode('xyz'), /character "x" \(U\+0078\) is not in this character-level vocabulary/);

    const bad = (name: string, content: string): string => {
      const f = join(dir, name);
      writeFileSync(f, content);
      return f;
    };
    assert.throws(() => Tokenizer.load(bad('a.json', '{ nope')), /a\.json:1: not valid JSON: an invalid symbol at column 3/);
    assert.throws(() => Tokenizer.load(bad('b.json', JSON.stringify({ model: { type: 'WordPiece', vocab: {} } }))), /b\.json, field "model\.type": unsupported model type "WordPiece"/);
    const j = JSON.parse(tok.toJSON());
    j.model.merges[5] = 'Ġzzz q';
    assert.throws(() => Tokenizer.load(bad('c.json', JSON.stringify(j))), /c\.json, field "model\.merges\[5\]": merge "Ġzzz q" refers to unknown token "Ġzzz"/);
    const j2 = JSON.parse(tok.toJSON());
    j2.model.vocab.Ġzzz = 3;
    assert.throws(() => Tokenizer.load(bad('d.json', JSON.stringify(j2))), /d\.json.*duplicate id 3/);
    assert.throws(() => Tokenizer.load(bad('e.tiktoken', 'IQ== 0\nIg== 0\n')), /e\.tiktoken:2: duplicate rank 0/);
    const j3 = JSON.parse(tok.toJSON());
    j3.added_tokens[1].id = j3.added_tokens[0].id;
    assert.throws(() => Tokenizer.load(bad('f.json', JSON.stringify(j3))), /f\.json, field "added_tokens": special tokens <\|bos\|> and <\|eos\|> share id 986/);
    const j5 = JSON.parse(tok.toJSON());
    j5.normalizer = { type: 'NFKC' };
    assert.throws(() => Tokenizer.load(bad('h.json', JSON.stringify(j5))), /h\.json, field "normalizer": unsupported normalizer "NFKC"/);
    j5.normalizer = null;
    j5.pre_tokenizer.pretokenizers[1].add_prefix_space = true;
    assert.throws(() => Tokenizer.load(bad('i.json', JSON.stringify(j5))), /i\.json, field "pre_tokenizer\.pretokenizers\[1\]\.add_prefix_space"/);
    const j4 = JSON.parse(tok.toJSON());
    j4.model.merges[7] = 'only-one-part';
    assert.throws(() => Tokenizer.load(bad('g.json', JSON.stringify(j4))), /g\.json, field "model\.merges\[7\]": merge "only-one-part" is not "left right"/);
    assert.throws(() => tok.decode([5, 99999]), /token id 99999 is out of range/);
    assert.throws(() => trainTokenizer(['abc'], { vocabSize: 200 }), /vocab size 200 is too small: .* 256 byte tokens \+ 14 special tokens = 270/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('batch encode over worker threads equals sequential encoding', async () => {
  const texts = multilingualText(1_300_000, 3).match(/[\s\S]{1,5000}/g)!;
  const batched = await encodeBatch(tok, texts, { threads: 2 });
  assert.equal(batched.length, texts.length);
  for (let i = 0; i < texts.length; i += 17) assert.deepEqual(Array.from(batched[i]), tok.encodeOrdinary(texts[i]));
});

test('the compact byte store: tokenBytes and byteStore agree for every id; saving rebuilds the same file', () => {
  const tok = trainTokenizer([mobyDick().slice(0, 20_000)], { vocabSize: 400 });
  const store = tok.byteStore;
  for (let id = 0; id < tok.vocabSize; id++) assert.deepEqual(store.bytes.subarray(store.start[id], store.end[id]), tok.tokenBytes(id), `id ${id}`);
  assert.deepEqual(tok.tokenBytes(tok.specialId('<|eos|>')), new TextEncoder().encode('<|eos|>'));
  assert.throws(() => tok.tokenBytes(tok.vocabSize), /out of range/);
  assert.throws(() => tok.tokenBytes(1.5), /out of range/);
  const json = tok.toJSON();
  assert.equal(tok.toJSON(), json);
  const back = Tokenizer.fromJSON(json);
  assert.equal(back.toJSON(), json);
  assert.equal(back.hash(), tok.hash());
  assert.deepEqual(back.decodeBytes([1, 300, 2]), tok.decodeBytes([1, 300, 2]));
  const chars = trainTokenizer(['abcab'], { vocabSize: 0, mode: 'char' });
  assert.equal(new TextDecoder().decode(chars.tokenBytes(chars.encode('c')[0])), 'c');
});
