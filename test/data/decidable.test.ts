import { test } from 'node:test';
import assert from 'node:assert/strict';
import { correctnessSource, DECIDABLE_FAMILIES, KNOWLEDGE_FAMILIES } from '../../src/data/decidable.js';
import { TASKS } from '../../src/data/synthetic/tasks.js';
import { rmEvalMarkdown } from '../../src/run/rm-summary.js';

test('decidable: the default families split into decidable (calculator, the prompt) and knowledge families', () => {
  const decidable = TASKS.filter((t) => correctnessSource(t.name) === 'decidable').map((t) => t.name);
  assert.deepEqual(decidable.sort(), ['arithmetic', 'chat', 'rhymes', 'syllables']);
  assert.deepEqual(
    TASKS.filter((t) => correctnessSource(t.name) === 'knowledge')
      .map((t) => t.name)
      .sort(),
    [...KNOWLEDGE_FAMILIES].sort(),
  );
  assert.equal(correctnessSource(undefined), 'unknown');
  assert.equal(correctnessSource('skill-levels'), 'unknown', 'a family in neither list is not counted as knowledge');
  assert.ok(!KNOWLEDGE_FAMILIES.some((k) => k in DECIDABLE_FAMILIES));
});

test('decidable: the RM table reports decidable and knowledge pairs separately', () => {
  const md = rmEvalMarkdown({
    step: 10,
    accuracy: 0.7,
    accuracyClean: 0.75,
    pairs: 40,
    accuracyCleanBy: { correctness: { pairs: 30, correct: 21, accuracy: 0.7 }, preferences: { pairs: 10, correct: 9, accuracy: 0.9 } },
    accuracyCleanByContext: { decidable: { pairs: 25, correct: 22, accuracy: 0.88 }, knowledge: { pairs: 15, correct: 8, accuracy: 8 / 15 } },
    accuracyCleanByContextAndTerm: { 'decidable/correctness': { pairs: 5, correct: 2, accuracy: 0.4 }, 'decidable/preferences': { pairs: 20, correct: 20, accuracy: 1 } },
  });
  // the decidable pairs split by what decided them: the fact vs the form
  assert.match(md, /\| decidable pairs decided by correctness \| 40\.0% \| 5 \|/);
  assert.match(md, /\| decidable pairs decided by form [^|]*\| 100\.0% \| 20 \|/);
  assert.match(md, /\| decidable pairs [^|]*\| 88\.0% \| 25 \|/);
  assert.match(md, /\| knowledge pairs [^|]*\| 53\.3% \| 15 \|/);
  assert.match(md, /\| all pairs, noise-free \| 75\.0% \| 40 \|/);
});
