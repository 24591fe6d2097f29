import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { dictionaryEntries, entrySource, passageHoldsAnswer, passagesReferences, passagesTask } from '../../src/data/synthetic/passages.js';
import { NO_ANSWER, parsePassagePrompt } from '../../src/rag/context.js';
import { ANSWER_CAUSES, copyProbe, diagnoseAnswer, diagnoseRemoved, effectCausesMarkdown, lookupProbe, mqarProbe, effectMarkdown, ExcludingRetriever, measureEffect, measurePassagesFamily, openDictionaryStore, REMOVED_CAUSES } from '../../src/rag/effect.js';
import { passageSource } from '../../src/rag/generate.js';
import { lookupDocument } from '../../src/data/synthetic/lookup.js';
import { mqarDocuments, mqarPools } from '../../src/data/synthetic/mqar.js';
import { Rng } from '../../src/engine/rng.js';
import { Retriever } from '../../src/rag/retrieve.js';

test('effect: the dictionary store holds one entry a chunk, labelled as the passages family labels them; excluded chunks never come back', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-effect-'));
  try {
    const store = openDictionaryStore(join(root, 'd.db'));
    const entries = dictionaryEntries();
    assert.equal(store.count(), entries.length);
    const chunks = store.allChunks();
    for (const c of chunks.slice(0, 200)) {
      const e = entries[c.line! - 1];
      assert.equal(c.text, e.text);
      assert.equal(passageSource(c), entrySource(e));
    }
    const water = new Set(entries.filter((e) => e.word === 'water').map((e) => e.line));
    const plain = new Retriever(store).retrieve('What does water mean?', { k: 3 });
    assert.ok(
      plain.some((c) => water.has(c.line!)),
      "BM25 finds the word's entry",
    );
    const without = new ExcludingRetriever(new Retriever(store), (c) => water.has(c.line!)).retrieve('What does water mean?', { k: 3 });
    assert.equal(without.length, 3);
    assert.ok(without.every((c) => !water.has(c.line!)));
    // another word's entry can hold the answer ("Words similar to belt: bang, …"): the strict removal drops it too
    const bang = 'Tell me another way to say bang.';
    const isBang = (c: { line?: number }) => entries[c.line! - 1].word === 'bang';
    const loose = new ExcludingRetriever(new Retriever(store, undefined, { dropFrameWords: true }), isBang).retrieve(bang, { k: 20 });
    assert.ok(
      loose.some((c) => passageHoldsAnswer(bang, c.text)),
      "belt's entry names bang and its synonym",
    );
    const strict = new ExcludingRetriever(new Retriever(store, undefined, { dropFrameWords: true }), (c) => isBang(c) || passageHoldsAnswer(bang, c.text)).retrieve(bang, { k: 20 });
    assert.ok(strict.length > 0 && strict.every((c) => !passageHoldsAnswer(bang, c.text)));
    // exclusions nest: one over another drops what either names (rag-copy-corpus's refusals over its test-split exclusion)
    const top = strict[0].line;
    const nested = new ExcludingRetriever(new ExcludingRetriever(new Retriever(store, undefined, { dropFrameWords: true }), (c) => c.line === top), (c) => isBang(c) || passageHoldsAnswer(bang, c.text)).retrieve(bang, { k: 20 });
    assert.ok(!nested.some((c) => c.line === top), 'the inner exclusion holds');
    assert.deepEqual(
      nested.slice(0, strict.length - 1).map((c) => c.line),
      strict.slice(1).map((c) => c.line),
    );
    assert.equal(openDictionaryStore(join(root, 'd.db')).count(), entries.length, 'reopening does not index twice');
    store.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('effect: measureEffect scores the three conditions per family (a random model: the machinery, not the numbers)', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-effect-'));
  try {
    const store = openDictionaryStore(join(root, 'd.db'));
    const tok = trainTokenizer(
      [
        dictionaryEntries()
          .slice(0, 300)
          .map((e) => e.text)
          .join('\n'),
      ],
      { vocabSize: 400 },
    );
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 2 });
    let calls = 0;
    // the benches' retrieval (frame words dropped): some questions then have no passage left once the word's entries go
    const rows = measureEffect(model, tok, store, { perFamily: 3, maxTokens: 6, keepAnswers: true, dropFrameWords: true, onAnswer: () => calls++ });
    assert.deepEqual(
      rows.map((r) => r.family),
      ['definitions', 'kinds', 'synonyms'],
    );
    assert.equal(
      calls,
      rows.reduce((n, r) => n + r.without.total, 0),
    );
    for (const r of rows) {
      assert.equal(r.without.total, 3);
      for (const c of [r.without, r.withRetrieval, r.grounded, r.retrieved, r.removed]) assert.ok(c.correct >= 0 && c.correct <= c.total && c.accuracy === c.correct / c.total);
      assert.ok(r.grounded.correct <= Math.min(r.withRetrieval.correct, r.retrieved.correct), 'grounded = right, cited and retrieved');
      assert.equal(r.examples.length, 3);
      // every question diagnosed once in each condition, the kept answers agreeing with the counts
      assert.equal(
        ANSWER_CAUSES.reduce((n, c) => n + r.causes[c], 0),
        r.without.total,
      );
      assert.equal(r.causes.right, r.withRetrieval.correct);
      // refusals are the model's or, with no passage left, NO_ANSWER without it
      assert.equal(r.removedCauses.refused + r.removedCauses.empty, r.removed.correct);
      for (const a of r.answers ?? []) assert.equal(a.removedCause === 'empty', parsePassagePrompt(a.removedPrompt) === undefined, a.removedPrompt);
      assert.equal(r.removedCauses['no-passages'], 0, 'the bare question is never put to the model by default');
      assert.equal(
        REMOVED_CAUSES.reduce((n, c) => n + r.removedCauses[c], 0),
        r.without.total,
      );
      assert.equal(r.answers?.length, r.without.total);
      assert.equal(r.removedStrict.total, r.without.total);
      assert.equal(r.answers!.filter((a) => a.diagnosis.cause === 'not-retrieved').length, r.causes['not-retrieved']);
    }
    assert.ok(rows.reduce((n, r) => n + r.removedCauses.empty, 0) >= 1, 'a removal that leaves no passage is answered without the model');
    assert.match(effectCausesMarkdown(rows), /\| \*\*all\*\* \| (\d+ \| ){11}\d+ \|$/m);
    assert.ok(rows.reduce((n, r) => n + r.retrieved.correct, 0) >= 6, "BM25 retrieves the asked word's entry for most questions");
    assert.match(effectMarkdown(rows), /\| \*\*all\*\* \| \d+% \(\d+\/9\) \|/);
    const fam = measurePassagesFamily(model, tok, 4, { maxTokens: 6 });
    assert.equal(fam.total + fam.tooLong, 4);
    assert.ok(fam.correct <= fam.total);
    // split by the reference reply: answerable + "don't say" = all scored prompts
    assert.equal(fam.answerable.total + fam.unanswerable.total, fam.total);
    assert.equal(fam.answerable.correct + fam.unanswerable.correct, fam.correct);
    const look = measurePassagesFamily(model, tok, 3, { maxTokens: 6, task: 'lookup' });
    assert.equal(look.total + look.tooLong, 3);
    assert.equal(look.answerable.total + look.unanswerable.total, look.total);
    store.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/**
 * A hand-written copier: logits +10 on the token that followed the earlier position whose
 * preceding tokens match the current ones longest (at least `minMatch`, up to 12) —
 * induction by prefix matching, what a model that reads its context does.
 */
function inductionModel(V: number, minMatch: number): Pick<GPT, 'config' | 'forward'> {
  return {
    config: makeConfig({ vocabSize: V, blockSize: 512, nLayer: 1, nHead: 1, nEmbd: 8 }),
    forward(ids: Int32Array, _B: number, T: number) {
      const data = new Float32Array(T * V);
      for (let t = 0; t < T; t++) {
        let best = -1;
        let bestLen = minMatch - 1;
        for (let j = t - 1; j >= 0; j--) {
          let len = 0;
          while (len < 12 && j - len >= 0 && ids[j - len] === ids[t - len]) len++;
          if (len > bestLen) {
            bestLen = len;
            best = j;
          }
        }
        if (best >= 0) data[t * V + ids[best + 1]] = 10;
      }
      return { data } as unknown as ReturnType<GPT['forward']>;
    },
  };
}

test('copyProbe: a model that copies (a hand-written induction rule) has a far lower loss on the repeat; a random model has ≈ ln V on both', () => {
  const tok = trainTokenizer(['Words: Again: the cat sat on the mat, a dog ran far away. '.repeat(30)], { vocabSize: 300 });
  const V = tok.vocabSize;
  const inducer = inductionModel(V, 3);
  const copy = copyProbe(inducer, tok, 8);
  const short = copyProbe(inducer, tok, 8, 99, { min: 4, max: 12 });
  assert.ok(short.repeat < 0.5 * short.first, `copier, short lists: first ${short.first}, repeat ${short.repeat}`);
  assert.throws(() => copyProbe(inducer, tok, 8, 99, { min: 5, max: 4 }), /1 ≤ min ≤ max/);
  // after <|bos|> or a whole earlier document (only the list's tokens scored): still a copier
  for (const prefix of ['bos', 'document'] as const) {
    const p = copyProbe(inducer, tok, 8, 99, { min: 4, max: 12 }, prefix);
    assert.ok(p.first > Math.log(V) - 3 && p.repeat < 0.5 * p.first, `copier after ${prefix}: first ${p.first}, repeat ${p.repeat}`);
  }
  assert.ok(copy.first > Math.log(V) - 3 && copy.repeat < 0.5 * copy.first, `copier: first ${copy.first}, repeat ${copy.repeat}`);
  const random = copyProbe(new GPT(makeConfig({ vocabSize: V, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 2 }), tok, 8);
  assert.ok(Math.abs(random.first - Math.log(V)) < 0.7 && Math.abs(random.repeat - random.first) < 0.5, `random: first ${random.first}, repeat ${random.repeat}, ln V ${Math.log(V)}`);
});

test('lookupProbe: a model that copies what followed the key in the notes scores the value, and not after a wrong key; a random model scores neither', () => {
  const rng = new Rng(4);
  const tok = trainTokenizer(
    Array.from({ length: 60 }, () => lookupDocument(rng, 'test', 3)),
    { vocabSize: 600 },
  );
  const V = tok.vocabSize;
  const looker = inductionModel(V, 2);
  const p = lookupProbe(looker, tok, 30);
  assert.ok(p.examples >= 15, `${p.examples} lookups`);
  assert.ok(p.valueFirst.accuracy > 0.8 && p.valueRest.accuracy > 0.8, `looker: first ${p.valueFirst.accuracy}, rest ${p.valueRest.accuracy}`);
  assert.ok(p.valueWrongKey.accuracy < 0.3, `looker, first value token after a wrong key: ${p.valueWrongKey.accuracy} vs ${p.valueFirst.accuracy}`);
  assert.ok(Math.abs(p.value.accuracy - (p.valueFirst.accuracy * p.valueFirst.tokens + p.valueRest.accuracy * p.valueRest.tokens) / p.value.tokens) < 1e-9);
  const random = lookupProbe(new GPT(makeConfig({ vocabSize: V, blockSize: 512, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 }), tok, 30, 2024, 'chat');
  assert.ok(random.value.accuracy < 0.1, `random: ${random.value.accuracy}`);
});

test('mqarProbe: a model that copies what followed the current token earlier scores the queried values, not after a swapped key, not the list values; a random model scores none', () => {
  const tok = trainTokenizer(
    mqarDocuments('test', 300, 1, mqarPools('test'), 12, 12).map((d) => d.text),
    { vocabSize: 800 },
  );
  const V = tok.vocabSize;
  // logits: +10 on the token that followed the latest earlier occurrence of the current token
  const looker = {
    config: makeConfig({ vocabSize: V, blockSize: 256, nLayer: 1, nHead: 1, nEmbd: 8 }),
    forward(ids: Int32Array, _B: number, T: number) {
      const data = new Float32Array(T * V);
      for (let t = 0; t < T; t++)
        for (let j = t - 1; j >= 0; j--)
          if (ids[j] === ids[t]) {
            data[t * V + ids[j + 1]] = 10;
            break;
          }
      return { data } as unknown as ReturnType<GPT['forward']>;
    },
  };
  for (const form of ['text', 'chat'] as const)
    for (const sep of ['', ':']) {
      const p = mqarProbe(looker, tok, { n: 20, sep, pairs: 8, form });
      assert.ok(p.documents === 20 && p.value.tokens === 160, `${form}: ${p.documents} documents, ${p.value.tokens} values`);
      assert.ok(p.chance > 0 && p.chance < 0.2, `chance ${p.chance}`);
      if (sep === '') assert.ok(p.value.accuracy > 0.95, `${form} looker: ${p.value.accuracy}`);
      else assert.ok(p.value.accuracy < 0.2, `a one-back looker cannot skip the ':' (it copies what followed the last ':'): ${p.value.accuracy}`);
      assert.ok(p.wrongKey.accuracy < 0.2 && p.listValue.accuracy < 0.2, `${form}, sep '${sep}': wrong key ${p.wrongKey.accuracy}, list ${p.listValue.accuracy}`);
    }
  const random = mqarProbe(new GPT(makeConfig({ vocabSize: V, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 3 }), tok, { n: 10 });
  assert.ok(random.value.accuracy < 0.2 && Math.abs(random.value.loss - Math.log(V)) < 1, `random: ${random.value.accuracy}, ${random.value.loss}`);
});

test("diagnoseAnswer: references are the family's own replies, holding passages as passageHoldsAnswer says; each failure is told by its cause (refused, wrong passage, wrong start, broken copy, not retrieved)", () => {
  const examples = passagesTask().generate('test', 60, 11);
  const tok = trainTokenizer([examples.map((ex) => `${ex.prompt} ${ex.conversation.messages[1].content}`).join('\n')], { vocabSize: 500 });
  const words = (t: string): string[] => t.split(/\s+/).filter((w) => w !== '');
  let answerable = 0;
  let cases = 0;
  for (const ex of examples) {
    const reference = ex.conversation.messages[1].content;
    const refs = passagesReferences(ex.prompt)!;
    const passages = parsePassagePrompt(ex.prompt)!.passages;
    if (reference === NO_ANSWER) {
      assert.deepEqual(refs, []);
      assert.equal(diagnoseAnswer(tok, ex.prompt, ' cat [1].', false).cause, 'not-retrieved');
      assert.equal(diagnoseRemoved(ex.prompt, NO_ANSWER), 'refused');
      assert.equal(diagnoseRemoved(ex.prompt, `${words(passages[0].text).slice(1, 6).join(' ')} [1].`), 'distractor');
      assert.equal(diagnoseRemoved(ex.prompt, 'zzz qqq [1].'), 'other');
      assert.equal(diagnoseRemoved(parsePassagePrompt(ex.prompt)!.question, 'zzz qqq [1].'), 'no-passages', 'the bare question: nothing was shown');
      assert.equal(diagnoseRemoved(parsePassagePrompt(ex.prompt)!.question, NO_ANSWER, false), 'empty', 'nothing shown, NO_ANSWER without the model');
      assert.equal(diagnoseRemoved(parsePassagePrompt(ex.prompt)!.question, NO_ANSWER), 'refused', "the model's own refusal of the bare question");
      continue;
    }
    answerable++;
    // the family's reference is the quote of the first passage that holds the answer
    assert.equal(refs[0].reply, reference);
    const question = parsePassagePrompt(ex.prompt)!.question;
    passages.forEach((p, i) =>
      assert.equal(
        passageHoldsAnswer(question, p.text),
        refs.some((r) => r.n === i + 1),
      ),
    );
    const ids = tok.encode(reference, { disallowedSpecial: 'plain' });
    const right = diagnoseAnswer(tok, ex.prompt, reference, true);
    assert.deepEqual([right.cause, right.matched, right.length, right.source], ['right', ids.length, ids.length, refs[0].n]);
    assert.equal(diagnoseAnswer(tok, ex.prompt, NO_ANSWER, false).cause, 'refused');
    // a broken copy: the quote's first half, then words of no passage
    const half = tok.decode(ids.slice(0, Math.ceil(ids.length / 2)));
    const broken = diagnoseAnswer(tok, ex.prompt, `${half} zzz qqq [1].`, false);
    assert.equal(broken.cause, 'diverged', half);
    assert.ok(broken.matched >= 1 && broken.matched < ids.length, `${broken.matched} of ${ids.length}`);
    // the wrong passage: a quote of a distractor, from its second word (a sentence that names other things)
    const other = passages.findIndex((_, i) => !refs.some((r) => r.n === i + 1));
    if (other >= 0) {
      const d = diagnoseAnswer(tok, ex.prompt, `${words(passages[other].text).slice(1, 9).join(' ')} [${other + 1}].`, false);
      assert.deepEqual([d.cause, d.source], ['distractor', other + 1]);
      cases++;
    }
    // the right passage, the wrong start: its last sentence's last words when they begin with another token
    const holding = passages[refs[0].n - 1].text;
    const tail = words(holding).slice(-5).join(' ');
    const startsElsewhere = refs.every((r) => tok.encode(` ${tail}`, { disallowedSpecial: 'plain' })[0] !== tok.encode(r.reply, { disallowedSpecial: 'plain' })[0]);
    const onlyHolding = passages.every((p, i) => refs.some((r) => r.n === i + 1) || !p.text.includes(tail.split(' ').slice(0, 3).join(' ')));
    if (startsElsewhere && onlyHolding) {
      const f = diagnoseAnswer(tok, ex.prompt, ` ${tail} [${refs[0].n}]`, false);
      assert.deepEqual([f.cause, f.matched], ['first-token', 0], tail);
      cases++;
    }
  }
  assert.ok(answerable >= 30 && cases >= 30, `${answerable} answerable prompts, ${cases} distractor / first-token cases`);
  assert.throws(() => diagnoseAnswer(tok, 'What does dog mean?', 'x', false), /not a passages prompt/);
});
