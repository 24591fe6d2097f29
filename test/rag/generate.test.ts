import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { regexConstraint } from '../../src/infer/constrain/index.js';
import { renderPrompt } from '../../src/data/chat.js';
import { documentsAsFile, indexIngestFile, storeMetaFor, type IndexOptions } from '../../src/rag/indexer.js';
import { Retriever } from '../../src/rag/retrieve.js';
import { RagStore } from '../../src/rag/store.js';
import { indexLines } from './helpers.js';
import { citedNumbers, contextBlock, NO_ANSWER, parsePassagePrompt, passagePrompt, saysNoAnswer, stripCitations } from '../../src/rag/context.js';
import { answerWithRetrieval, defaultReplyTokens, DICTIONARY_TITLES, extractiveConstraint, extractiveGrammar, formatCitations, passageQuotes, passageSource, passageTitle, passageTitles, resolveCitations } from '../../src/rag/generate.js';
import { DICTIONARY_STORE_OPTIONS, openDictionaryStore } from '../../src/rag/effect.js';
import { dictionaryEntries } from '../../src/data/synthetic/passages.js';

test('context block: numbered one-line passages with sources, parsed back; the question alone without passages', () => {
  const passages = [
    { text: 'Cats purr\nand chase   mice.', source: 'animals.txt:1' },
    { text: 'Oak trees drop acorns.', source: 'plants.txt:1' },
  ];
  assert.equal(contextBlock(passages), 'Passages:\n[1] (animals.txt:1) Cats purr and chase mice.\n[2] (plants.txt:1) Oak trees drop acorns.');
  const prompt = passagePrompt('Who chases mice?', passages);
  assert.equal(prompt, 'Passages:\n[1] (animals.txt:1) Cats purr and chase mice.\n[2] (plants.txt:1) Oak trees drop acorns.\nQuestion: Who chases mice?');
  assert.deepEqual(parsePassagePrompt(prompt), {
    question: 'Who chases mice?',
    passages: [
      { source: 'animals.txt:1', text: 'Cats purr and chase mice.' },
      { source: 'plants.txt:1', text: 'Oak trees drop acorns.' },
    ],
  });
  assert.equal(passagePrompt('Who chases mice?', []), 'Who chases mice?');
  assert.equal(parsePassagePrompt('Who chases mice?'), undefined);
  assert.equal(parsePassagePrompt('Passages:\n[1] (a) x\n[3] (b) y\nQuestion: q'), undefined, 'numbering must run 1, 2, …');
});

test('context block: a titled passage is "[n] title: (source) text", parsed back with its title; untitled ones beside it as before; ":" and "()" dropped from a title', () => {
  const passages = [
    { text: 'Regret, as a noun: sadness.', source: 'dictionary:4127', title: 'regret' },
    { text: 'Oak trees drop acorns.', source: 'plants.txt:1' },
    { text: 'Odd.', source: 'x.md', title: 'a (b): c' },
  ];
  const prompt = passagePrompt('What does regret mean?', passages);
  assert.equal(prompt, 'Passages:\n[1] regret: (dictionary:4127) Regret, as a noun: sadness.\n[2] (plants.txt:1) Oak trees drop acorns.\n[3] a b c: (x.md) Odd.\nQuestion: What does regret mean?');
  assert.deepEqual(parsePassagePrompt(prompt)?.passages, [passages[0], passages[1], { ...passages[2], title: 'a b c' }]);
  // a text that itself reads "word: (…)" stays text when the passage has no title
  assert.deepEqual(parsePassagePrompt('Passages:\n[1] (a.md) b: (c) d\nQuestion: q')?.passages, [{ source: 'a.md', text: 'b: (c) d' }]);
});

test('passageTitle: a dictionary entry\'s word in the store rag/effect.ts builds (flagged titles: dictionary-entries, kept on reopening), none in a user store — even for a file at path "dictionary" with the same lines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-titles-'));
  try {
    const e = dictionaryEntries().find((x) => x.word === 'water')!;
    const built = openDictionaryStore(join(dir, 'dict.db'));
    assert.equal(built.meta.titles, DICTIONARY_TITLES);
    const [hit] = new Retriever(built).retrieve(e.text, { k: 1 });
    assert.equal(hit.line, e.line);
    assert.equal(passageTitle(hit, built), 'water');
    assert.equal(passageTitles(built)(hit), 'water');
    assert.equal(passageTitle({ path: 'dictionary', line: undefined }, built), undefined);
    assert.equal(passageTitle({ path: 'dictionary', line: 10 ** 9 }, built), undefined);
    built.close();
    const reopened = RagStore.open(join(dir, 'dict.db'), { readonly: true });
    assert.equal(passageTitle(hit, reopened), 'water', "the flag is the store's: kept on reopening");
    reopened.close();
    // a user's file indexed at path "dictionary", source "dictionary", the entries' own lines: untitled
    const user = RagStore.open(join(dir, 'user.db'), { meta: storeMetaFor(DICTIONARY_STORE_OPTIONS) });
    indexIngestFile(user, documentsAsFile('dictionary', [{ text: e.text, line: e.line }]), { ...DICTIONARY_STORE_OPTIONS, source: 'dictionary' });
    const [own] = new Retriever(user).retrieve(e.text, { k: 1 });
    assert.deepEqual([own.path, own.line], ['dictionary', e.line]);
    assert.equal(user.meta.titles, undefined);
    assert.equal(passageTitle(own, user), undefined);
    user.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('citations: [1], [2, 3] and [1][2] parsed in order of first use, stripped for checkers; "the passages don\'t say" recognised', () => {
  assert.deepEqual(citedNumbers('Cats chase mice [2]. Owls too [1, 3][2].'), [2, 1, 3]);
  assert.deepEqual(citedNumbers('No citation here.'), []);
  assert.equal(stripCitations('A dog is a kind of canine [2].'), 'A dog is a kind of canine.');
  assert.equal(stripCitations('Cats [1, 2] purr [3].'), 'Cats purr.');
  assert.ok(saysNoAnswer(NO_ANSWER));
  assert.ok(saysNoAnswer('Sorry, the passages do not say what a dog is.'));
  assert.ok(saysNoAnswer('The passages don’t say.'));
  assert.ok(!saysNoAnswer('The word dog means a canine [1].'));
  const r = resolveCitations('x [2] y [5] z [1]', ['a', 'b', 'c']);
  assert.deepEqual(r.cited, [
    { n: 2, item: 'b' },
    { n: 1, item: 'a' },
  ]);
  assert.deepEqual(r.unresolved, [5]);
  assert.equal(passageSource({ path: 'builtin:wordnet-dictionary', line: 12 }), 'wordnet-dictionary:12');
  assert.equal(passageSource({ path: '/kb/notes/pets.md', line: undefined }), 'pets.md');
});

const animals = ['Cats purr and chase mice around the house.', 'Dogs bark loudly and fetch sticks in the park.', 'Owls hunt mice at night in the forest.'];
const plants = ['Oak trees drop acorns in autumn.', 'Cacti store water in the desert.'];
const tok = trainTokenizer([[...animals, ...plants, 'Passages: Question: who chases mice? [1] [2] [3] (animals.txt:1)'].join('\n').repeat(20)], { vocabSize: 400 });

function withStore(fn: (store: RagStore) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-gen-'));
  try {
    const opts: IndexOptions = { chunkSize: 40, chunkOverlap: 0 };
    const store = RagStore.open(join(root, 'kb.db'), { meta: storeMetaFor(opts) });
    indexLines(store, '/kb/animals.txt', animals, opts, 'zoo');
    indexLines(store, '/kb/plants.txt', plants, opts, 'garden');
    try {
      fn(store);
    } finally {
      store.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test("answerWithRetrieval: retrieved chunks in the user turn, the reply's [n] resolved to their files and lines, the history keeps the plain question", () => {
  withStore((store) => {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 3 });
    const engine = new ChatEngine(model, tok);
    // a random model, forced by a regex to answer with citations: the resolution is what is tested
    const a = answerWithRetrieval(engine, new Retriever(store), { messages: [{ role: 'user', content: 'who chases mice?' }] }, { k: 3, temperature: 0, maxTokens: 24, constraint: regexConstraint('Cats do \\[2\\]\\[9\\]\\.', tok) });
    assert.equal(a.text, 'Cats do [2][9].');
    assert.equal(a.passages.length, 2, 'only the two chunks that mention mice match');
    assert.deepEqual(new Set(a.passages.map((p) => p.text)), new Set([animals[0], animals[2]]));
    assert.equal(
      a.prompt,
      passagePrompt(
        'who chases mice?',
        a.passages.map((p) => ({ text: p.text, source: passageSource(p) })),
      ),
    );
    assert.match(a.prompt, /^Passages:\n\[1\] \(animals\.txt:[13]\) .*mice.*\n\[2\] \(animals\.txt:[13]\) .*\nQuestion: who chases mice\?$/);
    assert.equal(a.citations.length, 1);
    assert.equal(a.citations[0].n, 2);
    assert.equal(a.citations[0].chunk.id, a.passages[1].id);
    assert.equal(a.citations[0].source, passageSource(a.passages[1]));
    assert.deepEqual(a.unresolved, [9]);
    const lines = formatCitations(a);
    assert.match(lines[0], /^\[2\] \/kb\/animals\.txt:[13] \(chars 0–\d+\)$/);
    assert.match(lines[1], /^\[9\] \(no such passage/);
    assert.deepEqual(
      a.conversation.messages.map((m) => [m.role, m.content]),
      [
        ['user', 'who chases mice?'],
        ['assistant', 'Cats do [2][9].'],
      ],
    );
    assert.throws(() => answerWithRetrieval(engine, new Retriever(store), { messages: [{ role: 'assistant', content: 'hi' }] }), /must end with a user message/);
    // filters reach the retriever
    const g = answerWithRetrieval(engine, new Retriever(store), 'acorns water mice', { k: 5, filter: { source: 'garden' }, temperature: 0, maxTokens: 4 });
    assert.ok(g.passages.length === 2 && g.passages.every((p) => p.source === 'garden'));
  });
});

test('answerWithRetrieval: passages that do not fit the context beside the question and the reply are dropped, worst first', () => {
  withStore((store) => {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 4 });
    const engine = new ChatEngine(model, tok);
    const retriever = new Retriever(store);
    const all = retriever.retrieve('mice acorns water bark', { k: 5 });
    assert.equal(all.length, 5);
    const a = answerWithRetrieval(engine, retriever, 'mice acorns water bark', { k: 5, temperature: 0, maxTokens: 16 });
    assert.ok(a.passages.length >= 1 && a.passages.length < 5, `${a.passages.length} passages`);
    assert.deepEqual(
      a.passages.map((p) => p.id),
      all.slice(0, a.passages.length).map((p) => p.id),
      'the best ones kept',
    );
    assert.ok(renderPrompt(tok, { messages: [{ role: 'user', content: a.prompt }] }).length + 16 <= 64);
    const more = passagePrompt(
      'mice acorns water bark',
      all.slice(0, a.passages.length + 1).map((p) => ({ text: p.text, source: passageSource(p) })),
    );
    assert.ok(renderPrompt(tok, { messages: [{ role: 'user', content: more }] }).length + 16 > 64, 'one more passage would not fit');
  });
});

test('answerWithRetrieval with rerank: the reranker sees `candidates` chunks and its best k are shown, in its order', () => {
  withStore((store) => {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 3 });
    const retriever = new Retriever(store);
    const all = retriever.retrieve('mice acorns water bark', { k: 5 });
    let seen = 0;
    // a stand-in reranker that puts the retriever's worst first
    const reranker = {
      rerank: <C>(_q: string, chunks: readonly C[]): C[] => {
        seen = chunks.length;
        return [...chunks].reverse();
      },
    };
    const a = answerWithRetrieval(new ChatEngine(model, tok), retriever, 'mice acorns water bark', { k: 2, temperature: 0, maxTokens: 4, rerank: { reranker, candidates: 5 } });
    assert.equal(seen, 5);
    assert.deepEqual(
      a.passages.map((p) => p.id),
      [all[4].id, all[3].id],
    );
  });
});

/** A chat engine that counts its reply() calls. */
function countingEngine(model: GPT): { engine: ChatEngine; calls: () => number } {
  const engine = new ChatEngine(model, tok);
  let n = 0;
  const reply = engine.reply.bind(engine);
  engine.reply = (...args: Parameters<ChatEngine['reply']>) => {
    n++;
    return reply(...args);
  };
  return { engine, calls: () => n };
}

test("answerWithRetrieval with no passage to show (none retrieved, or none fits): NO_ANSWER without calling the model, as LlamaIndex's synthesizer answers an empty node list; emptyContext 'generate' asks the model", () => {
  withStore((store) => {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 3 });
    const { engine, calls } = countingEngine(model);
    const retriever = new Retriever(store);
    const q = 'zebra giraffe?';
    assert.equal(retriever.retrieve(q, { k: 3 }).length, 0, 'no chunk shares a word with the question');
    const streamed: string[] = [];
    const a = answerWithRetrieval(
      engine,
      retriever,
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: q },
        ],
      },
      { k: 3, temperature: 0, onText: (d) => streamed.push(d) },
    );
    assert.equal(calls(), 0, 'the model is not called');
    assert.equal(a.text, NO_ANSWER);
    assert.equal(a.generated, false);
    assert.deepEqual([a.passages.length, a.retrieved, a.citations.length, a.unresolved.length], [0, 0, 0, 0]);
    assert.deepEqual(streamed, [NO_ANSWER], 'a streaming caller still gets the text');
    assert.equal(a.prompt, q);
    assert.deepEqual(a.reply.messages, [{ role: 'assistant', content: NO_ANSWER }]);
    assert.equal(a.reply.stopReason, 'end');
    // the reply's tokens are what the model would have written: the text, then <|assistant_end|>, none sampled
    assert.equal(a.reply.ids[a.reply.ids.length - 1], tok.specialId('<|assistant_end|>'));
    assert.equal(tok.decode(a.reply.ids.slice(0, -1)), NO_ANSWER);
    assert.deepEqual(new Set(a.reply.sampled), new Set([0]));
    assert.deepEqual(
      a.conversation.messages.map((m) => m.content),
      ['Be brief.', q, NO_ANSWER],
    );
    // the old behaviour on request: the model answers the bare question
    const g = answerWithRetrieval(engine, retriever, q, { k: 3, temperature: 0, maxTokens: 4, emptyContext: 'generate' });
    assert.equal(calls(), 1);
    assert.equal(g.generated, true);
    assert.equal(g.prompt, q);
    // retrieved, but none fits beside the question and the reply: nothing shown either
    const small = countingEngine(new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 3 }));
    const one = passagePrompt('who chases mice?', [{ text: animals[0], source: 'animals.txt:1' }]);
    assert.ok(renderPrompt(tok, { messages: [{ role: 'user', content: one }] }).length + 16 > 32, 'one passage does not fit');
    const n = answerWithRetrieval(small.engine, retriever, 'who chases mice?', { k: 3, temperature: 0, maxTokens: 16 });
    assert.deepEqual([n.retrieved, n.passages.length, n.generated, n.text, small.calls()], [2, 0, false, NO_ANSWER, 0]);
    // with a passage shown the model answers as before
    const shown = answerWithRetrieval(engine, retriever, 'who chases mice?', { k: 3, temperature: 0, maxTokens: 4 });
    assert.ok(shown.passages.length > 0 && shown.generated);
    assert.equal(calls(), 2);
  });
});

test("answerWithRetrieval: the reply's default length is 3/16 of the context (48 at 256, 24 at 128), so a short context keeps passages a fixed 48 would crowd out", () => {
  assert.deepEqual([256, 128, 64, 1024, 16].map(defaultReplyTokens), [48, 24, 12, 192, 8]);
  withStore((store) => {
    const retriever = new Retriever(store);
    const q = 'mice acorns water bark';
    const all = retriever.retrieve(q, { k: 5 });
    // how many of the best passages fit a context beside `room` tokens of reply
    const fits = (ctx: number, room: number): number => {
      let n = 0;
      while (
        n < all.length &&
        renderPrompt(tok, {
          messages: [
            {
              role: 'user',
              content: passagePrompt(
                q,
                all.slice(0, n + 1).map((p) => ({ text: p.text, source: passageSource(p) })),
              ),
            },
          ],
        }).length +
          room <=
          ctx
      )
        n++;
      return n;
    };
    for (const ctx of [64, 96]) {
      const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: ctx, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 5 });
      const a = answerWithRetrieval(new ChatEngine(model, tok), retriever, q, { k: 5, temperature: 0 });
      assert.equal(a.passages.length, fits(ctx, defaultReplyTokens(ctx)), `context ${ctx}`);
      assert.ok(a.passages.length > fits(ctx, Math.min(48, ctx / 2)), `context ${ctx}: more passages than the old fixed 48 left room for`);
      assert.ok(a.reply.ids.length <= defaultReplyTokens(ctx) + 1, 'the reply is held to the default too');
    }
  });
});

test('passageQuotes: each sentence without its period, whole and from every later word on', () => {
  assert.deepEqual(passageQuotes('Regret, as a noun: sadness. Words similar to regret: sorrow, rue.'), [
    'Regret, as a noun: sadness',
    'as a noun: sadness',
    'a noun: sadness',
    'noun: sadness',
    'sadness',
    'Words similar to regret: sorrow, rue',
    'similar to regret: sorrow, rue',
    'to regret: sorrow, rue',
    'regret: sorrow, rue',
    'sorrow, rue',
    'rue',
  ]);
  assert.deepEqual(passageQuotes("A well-known cat's toy."), ["A well-known cat's toy", "well-known cat's toy", "cat's toy", 'toy'], 'no quote starts inside a word');
});

test('extractive decoding: a random model\'s reply is "The passages don\'t say." or a quote of a shown passage with its own [n]', () => {
  withStore((store) => {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 3 });
    const engine = new ChatEngine(model, tok);
    let quotes = 0;
    for (const [i, q] of ['who chases mice?', 'what do owls hunt?', 'where do cacti store water?', 'what do oak trees drop?', 'who barks?'].entries()) {
      for (const temperature of [0, 1.5]) {
        const a = answerWithRetrieval(engine, new Retriever(store), q, { k: 3, temperature, seed: i, maxTokens: 40, extractive: true });
        if (a.text === NO_ANSWER) continue;
        const m = /^(.*) \[(\d)\]\.$/.exec(a.text);
        assert.ok(m, `not a cited quote: ${JSON.stringify(a.text)}`);
        const n = Number(m[2]);
        assert.ok(n >= 1 && n <= a.passages.length, `cites [${n}] of ${a.passages.length}`);
        assert.ok(passageQuotes(a.passages[n - 1].text).includes(m[1]), `"${m[1]}" is not a quote of passage ${n}: ${a.passages[n - 1].text}`);
        assert.equal(a.reply.constraintComplete, true);
        quotes++;
      }
    }
    assert.ok(quotes > 0, 'some replies quote (a random model does not always refuse)');
    // without it the same random model writes anything
    const free = answerWithRetrieval(engine, new Retriever(store), 'who chases mice?', { k: 3, temperature: 1.5, seed: 1, maxTokens: 20 });
    assert.ok(free.text !== NO_ANSWER && !/\[\d\]\.$/.test(free.text), free.text);
    // the grammar alone: its own complete values, and nothing else
    const c = extractiveConstraint(tok, [{ text: 'Cats purr. Dogs bark.' }]);
    for (const ok of [NO_ANSWER, ' Cats purr [1].', ' bark [1].']) {
      const k = c.clone() as typeof c;
      assert.ok(k.advanceBytes(new TextEncoder().encode(ok)) && k.isComplete(), ok);
    }
    for (const bad of [' Cats bark [1].', ' purr [2].', 'Cats purr [1].', ' urr [1].']) {
      const k = c.clone() as typeof c;
      assert.ok(!(k.advanceBytes(new TextEncoder().encode(bad)) && k.isComplete()), bad);
    }
  });
});

test("extractive grammar: the same language as passageQuotes lists (every quote of every sentence, with its [n]), at a size linear in a sentence's length", () => {
  const passages = [{ text: "Cats purr and chase mice. A cat's well-known nap: long." }, { text: 'Dogs bark at night. Dogs bark.' }];
  const c = extractiveConstraint(tok, passages);
  const accepts = (s: string): boolean => {
    const k = c.clone() as typeof c;
    return k.advanceBytes(new TextEncoder().encode(s)) && k.isComplete();
  };
  passages.forEach((p, i) => {
    const quotes = passageQuotes(p.text);
    assert.ok(quotes.length >= 6, `${quotes.length} quotes`);
    for (const q of quotes) assert.ok(accepts(` ${q} [${i + 1}].`), q);
    // a quote with the other passage's number, or a span that stops before the sentence's end, or starts inside a word
    for (const q of quotes) assert.ok(!accepts(` ${q} [${2 - i}].`) || passageQuotes(passages[1 - i].text).includes(q), `${q} [${2 - i}]`);
  });
  for (const bad of [' Cats purr [1].', ' purr and chase [1].', ' s well-known nap: long [1].', ' known nap: long [1].', ' Dogs bark at night. Dogs bark [2].', ' at night [1].']) assert.ok(!accepts(bad), bad);
  assert.ok(accepts(' well-known nap: long [1].'));
  // size: four times the words, about four times the grammar (listing every suffix would be sixteen)
  const words = 'the river runs past an old stone mill where children play under tall green trees and birds sing'.split(' ');
  const size = (n: number): number => JSON.stringify([...extractiveGrammar([{ text: `${Array.from({ length: n }, (_, i) => words[(i * 7) % words.length]).join(' ')}.` }]).rules]).length;
  const ratio = size(400) / size(100);
  assert.ok(ratio < 6, `grammar grows ${ratio.toFixed(1)}× for 4× the words`);
});
