import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dictionaryEntry, dictionaryPages, EDITIONS } from '../../src/data/synthetic/dictionary.js';
import { CORE_WORDS, coreWords, fnv1a, splitOf, taskByName, wordFacts } from '../../src/data/synthetic/tasks.js';
import { BUILTIN_SOURCES } from '../../src/data/sources.js';
import { Rng } from '../../src/engine/rng.js';

const KNOWLEDGE = ['definitions', 'kinds', 'synonyms', 'antonyms'];

const pages = [...dictionaryPages()];
const text = pages.join('\n');

test('core vocabulary: the CORE_WORDS most used lemmas; the knowledge families ask only about them, in both splits', () => {
  const core = coreWords();
  assert.equal(core.size, CORE_WORDS);
  for (const w of ['run', 'take', 'make', 'good', 'time', 'man']) assert.ok(core.has(w), w);
  for (const w of ['xeric', 'commissary', 'wayside']) assert.ok(!core.has(w), w);
  for (const family of KNOWLEDGE) {
    for (const split of ['train', 'test'] as const) {
      for (const ex of taskByName(family).generate(split, 300, 5)) {
        const asked = (ex.prompt.toLowerCase().match(/[a-z][a-z'-]*/g) ?? []).filter((w) => core.has(w));
        assert.ok(asked.length > 0, `${family}/${split}: "${ex.prompt}" asks about no core word`);
      }
    }
  }
});

test('dictionary: every core word with facts, once per edition; each edition reworded and reordered', () => {
  const facts = [...coreWords()].map(wordFacts).filter((f) => f !== undefined && f.senses.length + f.synonyms.length > 0);
  assert.ok(facts.length > 0.9 * CORE_WORDS, `${facts.length} core words have facts`);
  const lines = text.split('\n');
  assert.equal(lines.length, EDITIONS * [...coreWords()].map(wordFacts).filter((f) => f !== undefined && (f.senses.length > 0 || f.kind !== undefined || f.synonyms.length > 0 || f.antonym !== undefined)).length);
  // the same word's editions are worded differently (templates and order drawn per edition)
  let reworded = 0;
  for (const f of facts.slice(0, 200)) {
    const eds = new Set(Array.from({ length: EDITIONS }, (_, e) => dictionaryEntry(f!, new Rng((fnv1a(f!.word) ^ (e * 0x9e3779b1)) >>> 0))));
    if (eds.size > 1) reworded++;
  }
  assert.ok(reworded >= 190, `${reworded}/200 words have differently worded editions`);
  // deterministic
  assert.deepEqual([...dictionaryPages()].slice(0, 3), pages.slice(0, 3));
  assert.ok(BUILTIN_SOURCES['wordnet-dictionary'], 'a built-in pretraining source');
});

test('dictionary: held-out words of every knowledge family are in it, stating the fact the answer needs', () => {
  for (const family of KNOWLEDGE) {
    const tests = taskByName(family).generate('test', 60, 3);
    let stated = 0;
    for (const ex of tests) {
      const answer = ex.conversation.messages[ex.conversation.messages.length - 1].content;
      const factOf = (w: string): string | undefined => {
        const f = wordFacts(w);
        return family === 'definitions' ? f?.senses[0]?.gloss : family === 'kinds' ? f?.kind : family === 'synonyms' ? f?.synonyms[0] : f?.antonym;
      };
      // the held-out core word of the prompt whose fact the reference answer uses
      const word = [...coreWords()].find((w) => splitOf(w) === 'test' && new RegExp(`\\b${w}\\b`, 'i').test(ex.prompt) && answer.includes(factOf(w) ?? '\u0000'));
      assert.ok(word, `${family}: the answer "${answer}" to "${ex.prompt}" uses the dictionary's fact about a held-out core word`);
      const fact = factOf(word)!;
      // every edition of the entry states it
      const mentions = text.split('\n').filter((line) => line.toLowerCase().includes(fact.toLowerCase()) && new RegExp(`\\b${word}\\b`, 'i').test(line)).length;
      if (mentions >= EDITIONS) stated++;
      // but never in the SFT answer's own words
      assert.ok(!text.includes(answer), `${family}: the SFT answer "${answer}" appears verbatim in the dictionary`);
    }
    assert.ok(stated >= 0.95 * tests.length, `${family}: ${stated}/${tests.length} held-out facts in every edition`);
  }
});
