import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dictionaryEntry, dictionaryPages, EDITIONS } from '../../src/data/synthetic/dictionary.js';
import { CORE_WORDS, coreWords, promptItem, splitOf, taskByName, wordFacts, type WordFacts } from '../../src/data/synthetic/tasks.js';
import { BUILTIN_SOURCES } from '../../src/data/sources.js';

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
        const asked = promptItem(family, ex.prompt);
        assert.ok(asked !== undefined && core.has(asked), `${family}/${split}: "${ex.prompt}" asks about "${asked}", not a core word`);
      }
    }
  }
});

test('dictionary: every core word with facts, once per edition; each edition reworded and reordered', () => {
  const facts = [...coreWords()].map(wordFacts).filter((f): f is WordFacts => f !== undefined);
  assert.ok(facts.length > 0.9 * CORE_WORDS, `${facts.length} core words have facts`);
  assert.equal(text.split('\n').length, EDITIONS * facts.length);
  // the same word's editions are worded differently (templates and order drawn per edition)
  let reworded = 0;
  for (const f of facts.slice(0, 200)) {
    const eds = new Set(Array.from({ length: EDITIONS }, (_, e) => dictionaryEntry(f, e)));
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
      const word = promptItem(family, ex.prompt);
      assert.ok(word !== undefined && splitOf(word) === 'test' && coreWords().has(word), `${family}: "${ex.prompt}" asks about a held-out core word`);
      const f = wordFacts(word);
      const fact = family === 'definitions' ? f?.senses[0]?.gloss : family === 'kinds' ? f?.kind : family === 'synonyms' ? f?.synonyms[0] : f?.antonym;
      assert.ok(fact !== undefined && answer.includes(fact), `${family}: the answer "${answer}" uses the dictionary's fact "${fact}" about ${word}`);
      // every edition of the entry states it
      const mentions = text.split('\n').filter((line) => line.toLowerCase().includes(fact.toLowerCase()) && new RegExp(`\\b${word}\\b`, 'i').test(line)).length;
      if (mentions >= EDITIONS) stated++;
      // but never in the SFT answer's own words
      assert.ok(!text.includes(answer), `${family}: the SFT answer "${answer}" appears verbatim in the dictionary`);
    }
    assert.ok(stated >= 0.95 * tests.length, `${family}: ${stated}/${tests.length} held-out facts in every edition`);
  }
});
