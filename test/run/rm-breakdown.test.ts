import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracyByDecidingTerm } from '../../src/run/rm.js';
import { taskExamples } from '../../src/train/comparisons.js';
import type { Completion, Ranking } from '../../src/data/preferences.js';
import type { RenderedRankings } from '../../src/train/reward.js';

const reply = (content: string): Completion => ({ messages: [{ role: 'assistant', content }] });

// rlhf47: rm-eval.json splits the held-out pairs by family and deciding term, so a decidable
// figure under target names the family (and whether its form or its fact) that holds it down
test('accuracyByDecidingTerm: byFamilyAndTerm splits every pair by family and term, and sums to the other splits', () => {
  const items = taskExamples('test', 16, 5, ['chat', 'definitions']);
  const rankings: Ranking[] = items.map((it) => {
    const demo = it.example.conversation.messages.slice(1).find((m) => m.role === 'assistant')!.content;
    // right and well-formed, wrong and well-formed, wrong and not well-formed: one correctness
    // pair (demo vs the first wrong one), one form pair (the two wrong ones), one more correctness pair
    return { prompt: it.prompt, task: it.task, completions: [reply(demo), reply('Zebra quartz.'), reply('zebra quartz')] };
  });
  // ids carry the reply's index: the scorer puts the right reply first and the two wrong ones the
  // wrong way round, so every correctness pair is right and every form pair wrong
  const rendered: RenderedRankings = {
    rendered: rankings.map(() => ({ completions: [[0], [1], [2]] })),
    sources: rankings.map((_, i) => i),
    dropped: 0,
    tied: 0,
    pairs: 3 * rankings.length,
    tiedPairs: 0,
  };
  const scorer = (seqs: readonly number[][]): number[] => seqs.map((s) => (s[0] === 0 ? 10 : s[0]));
  const split = accuracyByDecidingTerm(scorer, rankings, rendered, 0);
  const sum = (t: Record<string, { pairs: number; correct: number }>): { pairs: number; correct: number } => Object.values(t).reduce((a, b) => ({ pairs: a.pairs + b.pairs, correct: a.correct + b.correct }), { pairs: 0, correct: 0 });
  assert.deepEqual(sum(split.byFamilyAndTerm), sum(split.byTerm));
  for (const [k, t] of Object.entries(split.byFamilyAndTerm)) {
    const [family, term] = k.split('/');
    assert.ok(['chat', 'definitions'].includes(family), k);
    assert.equal(t.accuracy, t.correct / t.pairs, k);
    if (term === 'correctness') assert.deepEqual({ pairs: t.pairs, correct: t.correct }, { pairs: split.correctnessByFamily[family].pairs, correct: split.correctnessByFamily[family].correct }, k);
  }
  // the chat demonstration is right to the chat checker: its two correctness pairs ordered right, the form pair wrong
  assert.equal(split.byFamilyAndTerm['chat/correctness'].accuracy, 1);
  assert.equal(split.byFamilyAndTerm['chat/preferences'].accuracy, 0);
});
