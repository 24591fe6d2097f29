import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer, trainTokenizer } from '../../src/tokenizer/index.js';
import { cl100kRankFileText, mobyDick, multilingualText, rankFileText } from './corpus.js';

test('cl100k_base from its tiktoken rank file reproduces js-tiktoken ids exactly on ≥ 1 MB of multilingual text', () => {
  const { text, specials } = cl100kRankFileText();
  const ours = Tokenizer.fromTiktoken(text, { pattern: 'cl100k', specialTokens: specials, sourceName: 'cl100k_base.tiktoken' });
  const ref = new Tiktoken(cl100k);
  const sample = multilingualText(1_050_000, 11);
  assert.ok(Buffer.byteLength(sample) >= 1_000_000);
  const a = ours.encodeOrdinary(sample);
  const b = ref.encode(sample);
  assert.equal(a.length, b.length, 'token counts differ');
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`first difference at token ${i}: ours ${a[i]} vs js-tiktoken ${b[i]}`);
  assert.equal(
    ours.decode(a),
    sample.replace(/[\uD800-\uDFFF]/g, (c) => c),
  ); // sample is well-formed
  // special tokens with tiktoken's rules
  const withSpecial = 'hello<|endoftext|>world';
  assert.deepEqual(ours.encode(withSpecial, { allowedSpecial: 'all' }), ref.encode(withSpecial, 'all'));
  // loaded from a file named after the encoding: its pattern and specials come with it
  const dir = mkdtempSync(join(tmpdir(), 'gf-tik-'));
  try {
    const file = join(dir, 'cl100k_base.tiktoken');
    writeFileSync(file, text);
    const loaded = Tokenizer.load(file);
    assert.equal(loaded.specialId('<|endofprompt|>'), 100276);
    assert.equal(loaded.pattern, ours.pattern);
    assert.deepEqual(loaded.encodeOrdinary(sample.slice(0, 50_000)), ours.encodeOrdinary(sample.slice(0, 50_000)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cl100k saved as tokenizer.json reloads with tiktoken semantics, and Hugging Face tokenizers.js agrees on it', () => {
  const { text, specials } = cl100kRankFileText();
  const ours = Tokenizer.fromTiktoken(text, { pattern: 'cl100k', specialTokens: specials, sourceName: 'cl100k_base.tiktoken' });
  const json = ours.toJSON();
  const back = Tokenizer.fromJSON(json, 'cl100k.json');
  assert.equal(back.hash(), ours.hash());
  assert.equal(back.vocabSize, ours.vocabSize);
  assert.equal(back.specialId('<|endoftext|>'), 100257);
  const sample = multilingualText(200_000, 12);
  const ids = ours.encodeOrdinary(sample);
  assert.deepEqual(back.encodeOrdinary(sample), ids);
  const hf = new HfTokenizer(JSON.parse(json), {});
  assert.deepEqual(hf.encode(sample, { add_special_tokens: false }).ids, ids);
});

test('our tokenizer.json loads in Hugging Face tokenizers.js and gives the same ids', () => {
  const book = mobyDick();
  const tok = trainTokenizer([book.slice(0, 300_000)], { vocabSize: 800 });
  const hf = new HfTokenizer(JSON.parse(tok.toJSON()), {});
  const sample = book.slice(300_000, 360_000) + multilingualText(20_000, 5);
  const ours = tok.encodeOrdinary(sample);
  const theirs = hf.encode(sample, { add_special_tokens: false }).ids;
  assert.deepEqual(theirs, ours);
  // special tokens are added tokens there too
  const s = '<|user_start|>hi<|user_end|>';
  assert.deepEqual(hf.encode(s, { add_special_tokens: false }).ids, tok.encode(s, { allowedSpecial: 'all' }));
});

test('GPT-2 and o200k rank files reproduce js-tiktoken ids (their own pre-split patterns)', async () => {
  const sample = multilingualText(250_000, 21);
  for (const [name, pattern] of [
    ['gpt2', 'gpt2'],
    ['o200k_base', 'o200k'],
  ] as const) {
    const { text, specials } = rankFileText(name);
    const ours = Tokenizer.fromTiktoken(text, { pattern, specialTokens: specials, sourceName: `${name}.tiktoken` });
    const ranks = (await import(`js-tiktoken/ranks/${name}`)) as { default: TiktokenBPE };
    const ref = new Tiktoken(ranks.default);
    assert.deepEqual(ours.encodeOrdinary(sample), ref.encode(sample), name);
    assert.deepEqual(ours.encode('a<|endoftext|>b', { allowedSpecial: 'all' }), ref.encode('a<|endoftext|>b', 'all'), name);
  }
});
