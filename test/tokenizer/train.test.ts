import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer, Tokenizer, DIGIT_PAIRS } from '../../src/tokenizer/index.js';
import { countChunks, trainBpe } from '../../src/tokenizer/train.js';
import { resolvePattern } from '../../src/tokenizer/patterns.js';
import { Rng } from '../../src/engine/rng.js';
import { mobyDick, multilingualText } from './corpus.js';

/** minbpe's algorithm, slowly: recount every pair after every merge. The oracle for the incremental trainer. */
function naiveBpe(chunks: Map<string, number>, numMerges: number, first: readonly [number, number][] = []): [number, number][] {
  const enc = new TextEncoder();
  const words = [...chunks].map(([c, f]) => ({ ids: Array.from(enc.encode(c)), f }));
  const merges: [number, number][] = [];
  for (let step = 0; step < numMerges; step++) {
    if (step < first.length) {
      rewrite(words, first[step], 256 + step);
      merges.push([...first[step]]);
      continue;
    }
    const counts = new Map<number, number>();
    for (const { ids, f } of words) for (let i = 0; i + 1 < ids.length; i++) counts.set(ids[i] * 2 ** 20 + ids[i + 1], (counts.get(ids[i] * 2 ** 20 + ids[i + 1]) ?? 0) + f);
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of counts) if (c > bestCount || (c === bestCount && k < best)) [best, bestCount] = [k, c];
    if (best < 0) break;
    const a = Math.floor(best / 2 ** 20);
    const b = best - a * 2 ** 20;
    merges.push([a, b]);
    rewrite(words, [a, b], 256 + step);
  }
  return merges;
}

function rewrite(words: { ids: number[] }[], [a, b]: readonly [number, number], z: number): void {
  for (const w of words) {
    const out: number[] = [];
    for (let i = 0; i < w.ids.length; i++) {
      if (i + 1 < w.ids.length && w.ids[i] === a && w.ids[i + 1] === b) {
        out.push(z);
        i++;
      } else out.push(w.ids[i]);
    }
    w.ids = out;
  }
}

test('incremental BPE training picks exactly the merges of a full recount (words, repeats, pattern "none")', () => {
  const rng = new Rng(3);
  const alphabet = ['a', 'b', 'ab', ' ', 'aa', 'é', '中', '😀', '\n', '1'];
  for (let trial = 0; trial < 20; trial++) {
    const texts: string[] = [];
    for (let d = 0; d < 5; d++) {
      let s = '';
      const n = 20 + rng.int(200);
      for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
      texts.push(s);
    }
    for (const pattern of ['gpt4', 'none']) {
      const chunks = countChunks(texts, resolvePattern(pattern));
      assert.deepEqual(trainBpe(chunks, 60).merges, naiveBpe(chunks, 60), `trial ${trial}, pattern ${pattern}`);
    }
  }
  const chunks = countChunks([multilingualText(60_000, 2)], resolvePattern('gpt4'));
  assert.deepEqual(trainBpe(chunks, 150).merges, naiveBpe(chunks, 150));
});

test('pattern "none" trains plain byte BPE on whole documents, and round-trips', () => {
  const docs = mobyDick()
    .slice(0, 400_000)
    .match(/[\s\S]{1,50000}/g)!;
  // its time is a benchmark figure (bench/tokenizer.ts "train pattern none"), not a test
  const tok = trainTokenizer(docs, { vocabSize: 1024, pattern: 'none' });
  assert.equal(tok.vocabSize, 1024);
  const s = docs[3];
  const ids = tok.encodeOrdinary(s);
  assert.equal(tok.decode(ids), s);
  assert.ok(Buffer.byteLength(s) / ids.length > 2.5);
  // merges cross word boundaries without a pre-split: some token contains a space inside
  assert.ok(ids.some((id) => /\S \S/.test(new TextDecoder().decode(tok.tokenBytes(id)))));
  const back = Tokenizer.fromJSON(tok.toJSON(), 'none.json');
  assert.equal(back.pattern, '');
  assert.deepEqual(back.encodeOrdinary(s), ids);
});

test('a corpus too small for the requested vocabulary stops early; ids stay dense, specials last', () => {
  const tok = trainTokenizer(['abab'], { vocabSize: 1000 });
  assert.ok(tok.vocabSize < 1000);
  assert.equal(tok.specialId('<|reward|>'), tok.vocabSize - 1);
});

test('required tokens are merged first, then counting goes on as a full recount would', () => {
  const chunks = countChunks([mobyDick().slice(0, 20_000), 'x 7327 * 9836 = 72068372, 1999 and 2024'], resolvePattern('gpt4'));
  const d = (c: string) => c.charCodeAt(0);
  // "72" and "83", then "7"+"2"→256 reused by the chain "720"
  const first: [number, number][] = [
    [d('7'), d('2')],
    [d('8'), d('3')],
    [256, d('0')],
    [d('q'), d('z')],
  ];
  const merges = trainBpe(chunks, 120, undefined, first).merges;
  assert.deepEqual(merges, naiveBpe(chunks, 120, first));
  assert.deepEqual(merges.slice(0, 4), first);
  assert.throws(() => trainBpe(chunks, 2, undefined, first), /required merges do not fit/);
});

test('digitPairs: with the gpt4 pattern every number becomes whole two-digit tokens, however rare its pairs', () => {
  const text = mobyDick().slice(0, 50_000);
  const plain = trainTokenizer([text], { vocabSize: 600, pattern: 'gpt4' });
  const paired = trainTokenizer([text], { vocabSize: 600, pattern: 'gpt4', requiredTokens: DIGIT_PAIRS });
  const pieces = (t: Tokenizer, s: string) => t.encode(s).map((id) => t.decode([id]));
  const numbers = '7327 * 9836 = 72068372; 05 99 123';
  assert.deepEqual(
    pieces(paired, numbers).filter((p) => /\d/.test(p)),
    ['73', '27', '98', '36', '72', '06', '83', '72', '05', '99', '12', '3'],
  );
  assert.ok(pieces(plain, numbers).filter((p) => /^\d$/.test(p)).length > 1, 'the sample alone leaves some pairs unmerged');
  assert.equal(paired.vocabSize, plain.vocabSize);
  assert.equal(paired.decode(paired.encode(numbers)), numbers);
  assert.throws(() => trainTokenizer([text], { vocabSize: 300, pattern: 'gpt4', requiredTokens: DIGIT_PAIRS }), /raise the vocabulary size/);
});
