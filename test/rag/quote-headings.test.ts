import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractiveGrammar, passageQuotes, withoutHeadings } from '../../src/rag/generate.js';

// rag19 #4: a Markdown heading was quotable as (or ran into) the answer sentence
test("extractive quotes leave Markdown headings out: '# Title' and setext headings are no sentence and do not run into the next", () => {
  const text = '# Cats\nCats purr and chase mice.\n\n## Diet ##\nThey eat fish.\n\nHabits\n======\nThey sleep.\n   ###\nDone.';
  assert.equal(withoutHeadings('# A\nB.\nC\n---\nD.'), '\nB.\n\n\nD.');
  const quotes = passageQuotes(text);
  for (const q of quotes) assert.ok(!/#|Diet|Habits|=|Cats Cats/.test(q), JSON.stringify(q));
  for (const q of ['Cats purr and chase mice', 'They eat fish', 'They sleep', 'Done']) assert.ok(quotes.includes(q), q);
  // '#hashtag' (no space) is text, not a heading, as CommonMark reads it
  assert.ok(passageQuotes('#hashtag here.').includes('hashtag here'));
  const g = extractiveGrammar([{ text }]);
  assert.ok(![...g.rules.values()].some((e) => JSON.stringify(e).includes('# Cats')));
});
