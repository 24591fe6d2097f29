import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer, Tokenizer } from '../../src/tokenizer/index.js';
import { countChunks, trainBpe } from '../../src/tokenizer/train.js';
import { resolvePattern } from '../../src/tokenizer/patterns.js';
import { Rng } from '../../src/engine/rng.js';
import { mobyDick, multilingualText } from './corpus.js';

/** minbpe's algorithm, slowly: recount every pair after every merge. The oracle for the incremental trainer. */
function naiveBpe(chunks: Map<string, number>, numMerges: number): [number, number][] {
  const enc = new TextEncoder();
  const words = [...chunks].map(([c, f]) => ({ ids: Array.from(enc.encode(c)), f }));
  const merges: [number, number][] = [];
  for (let step = 0; step < numMerges; step++) {
    const counts = new Map<number, number>();
    for (const { ids, f } of words) for (let i = 0; i + 1 < ids.length; i++) counts.set(ids[i] * 2 ** 20 + ids[i + 1], (counts.get(ids[i] * 2 ** 20 + ids[i + 1]) ?? 0) + f);
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of counts) if (c > bestCount || (c === bestCount && k < best)) [best, bestCount] = [k, c];
    if (best < 0) break;
    const a = Math.floor(best / 2 ** 20);
    const b = best - a * 2 ** 20;
    const z = 256 + step;
    merges.push([a, b]);
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
  return merges;
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
  const docs = mobyDick().slice(0, 400_000).match(/[\s\S]{1,50000}/g)!;
  const t0 = performance.now();
  const tok = trainTokenizer(docs, { vocabSize: 1024, pattern: 'none' });
  assert.ok(performance.now() - t0 < 10_000, 'pattern "none" training should take seconds, not minutes');
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
