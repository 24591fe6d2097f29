import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rubricScore, TIE_MARGIN } from '../../src/data/labelers.js';
import { buildSftDataset, type SftMixtureConfig } from '../../src/data/sft.js';
import { TASKS, taskByName } from '../../src/data/synthetic/tasks.js';
import { spoiltCount, writeDemonstrations, WRITER_ERRORS, type WriterError } from '../../src/data/writers.js';
import type { Conversation } from '../../src/data/conversation.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { GptforgeError } from '../../src/util/errors.js';

const reply = (c: Conversation): { messages: Conversation['messages'] } => ({ messages: c.messages.slice(1) });

test('writers: the realised error rate is e_w within sampling error, per family and in all', () => {
  let spoilt = 0;
  let total = 0;
  for (const task of TASKS) {
    const examples = task.generate('train', 600, 11);
    const { report } = writeDemonstrations(examples, task, { writerErrorRate: 0.25 }, 5);
    const rate = spoiltCount(report) / report.total;
    // 600 draws: σ ≈ 0.018; 0.07 is about four σ
    assert.ok(Math.abs(rate - 0.25) < 0.07, `${task.name}: ${rate}`);
    spoilt += spoiltCount(report);
    total += report.total;
  }
  assert.ok(Math.abs(spoilt / total - 0.25) < 0.025, `all: ${spoilt / total}`);
});

test('writers: every mistake makes the demonstration worse by the rubric, a wrong answer fails the checker', () => {
  const seen = new Set<WriterError>();
  for (const task of TASKS) {
    const examples = task.generate('train', 150, 3);
    for (const only of WRITER_ERRORS) {
      const { conversations, report } = writeDemonstrations(examples, task, { writerErrorRate: 1, writerErrors: { [only]: 1, ...Object.fromEntries(WRITER_ERRORS.filter((e) => e !== only).map((e) => [e, 0])) } }, 9);
      if (report.errors[only] > 0) seen.add(only);
      conversations.forEach((c, i) => {
        if (c === examples[i].conversation) return; // the mistake did not apply (no tool to leave out)
        const before = rubricScore(examples[i].prompt, reply(examples[i].conversation), task.name);
        const after = rubricScore(examples[i].prompt, reply(c), task.name);
        assert.ok(after.score < before.score - TIE_MARGIN, `${task.name} ${only}: ${JSON.stringify(c.messages)} scored ${after.score} vs ${before.score}`);
        if (only === 'wrong_answer') assert.equal(after.correct, false, JSON.stringify(c.messages));
        if (only === 'no_tool_call') assert.ok(!c.messages.some((m) => m.tool_call || m.role === 'tool'));
      });
      // only the tool-using family can lose a tool call; every other mistake applies to all
      if (only !== 'no_tool_call' || task.usesTool) assert.ok(report.errors[only] >= 140, `${task.name} ${only}: ${report.errors[only]} of 150`);
    }
  }
  assert.deepEqual([...seen].sort(), [...WRITER_ERRORS].sort());
});

const tok = trainTokenizer(['What is 12 times 3? The answer is 36. A dog is a kind of animal. calculator: 12*3 '.repeat(30)], { vocabSize: 300 });
const mixture = (extra: Partial<SftMixtureConfig>): SftMixtureConfig => ({ sources: TASKS.map((t) => ({ task: t.name, weight: 1 })), examples: 400, testPerTask: 4, seed: 7, ...extra });

test("writers: e_w = 0 reproduces the perfect writers' data exactly; e_w > 0 is deterministic in the seed", () => {
  const ids = (cfg: SftMixtureConfig): string[] => buildSftDataset(tok, cfg, 4096).train.map((r) => r.ids.join(','));
  const plain = ids(mixture({}));
  assert.deepEqual(ids(mixture({ writerErrorRate: 0 })), plain);
  const noisy = ids(mixture({ writerErrorRate: 0.25 }));
  assert.deepEqual(ids(mixture({ writerErrorRate: 0.25 })), noisy);
  const changed = noisy.filter((x, i) => x !== plain[i]).length;
  assert.ok(changed > 0.15 * plain.length && changed < 0.35 * plain.length, `${changed} of ${plain.length} changed`);
  // the held-out conversations stay the perfect writers'
  const val = (cfg: SftMixtureConfig): string[] => [...buildSftDataset(tok, cfg, 4096).val.values()].flat().map((r) => r.ids.join(','));
  assert.deepEqual(val(mixture({ writerErrorRate: 0.5 })), val(mixture({})));
  const report = buildSftDataset(tok, mixture({ writerErrorRate: 0.25 }), 4096).report;
  assert.ok(report.every((r) => r.writerErrors !== undefined));
});

test('writers: a bad rate or mistake name is an error naming the field', () => {
  assert.throws(
    () => buildSftDataset(tok, mixture({ writerErrorRate: 1.5 }), 4096, 'mix.json'),
    (e: unknown) => e instanceof GptforgeError && /writerErrorRate/.test(e.message) && /mix\.json/.test(e.message),
  );
  assert.throws(
    () => buildSftDataset(tok, mixture({ writerErrorRate: 0.1, writerErrors: { typo: 1 } as never }), 4096, 'mix.json'),
    (e: unknown) => e instanceof GptforgeError && /writerErrors\.typo/.test(e.message),
  );
  // a misspelt source key is named, not read as a missing weight
  assert.throws(
    () => buildSftDataset(tok, { sources: [{ task: 'arithmetic', wieght: 1 } as never] }, 4096, 'mix.json'),
    (e: unknown) => e instanceof GptforgeError && e.field === 'sources[0].wieght' && /unknown key "wieght"; did you mean "weight"\?/.test(e.message),
  );
  // a misspelt task is named by file and field (under the preset's path), with the closest name
  assert.throws(
    () =>
      buildSftDataset(
        tok,
        {
          sources: [
            { task: 'arithmetic', weight: 1 },
            { task: 'definitons', weight: 1 },
          ],
        },
        4096,
        'preset.json',
        'sft.mixture.',
      ),
    (e: unknown) => e instanceof GptforgeError && e.message.startsWith('preset.json, field "sft.mixture.sources[1].task": unknown task "definitons"; did you mean "definitions"? (one of: '),
  );
  assert.equal(taskByName('arithmetic').usesTool, true);
});
