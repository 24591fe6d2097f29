import { test } from 'node:test';
import assert from 'node:assert/strict';
import { distinctExamples, evalAnswerCount, evaluateTasks, fewShotPrompt, type EvalRow, type EvalSubject } from '../../src/eval/tasks.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import type { SyntheticTask, TaskExample } from '../../src/data/synthetic/task.js';
import { Rng } from '../../src/engine/rng.js';

/** A family with only `items` different test prompts, drawn with replacement like the real ones. */
function fewItems(items: number): SyntheticTask {
  return {
    name: 'few',
    description: 'test family',
    usesTool: false,
    generate(_split, n, seed): TaskExample[] {
      const rng = new Rng(seed);
      return Array.from({ length: n }, () => {
        const prompt = `question ${rng.int(items)}?`;
        return {
          prompt,
          conversation: {
            messages: [
              { role: 'user', content: prompt },
              { role: 'assistant', content: 'answer.' },
            ],
          },
        };
      });
    },
    check: () => true,
  };
}

test('distinctExamples: the chat family gets 50 different prompts where plain drawing repeats some', () => {
  const chat = taskByName('chat');
  const drawn = chat.generate('test', 50, 2024);
  assert.ok(new Set(drawn.map((e) => e.prompt)).size < 50, 'chat draws repeat prompts (the reason for distinctExamples)');
  const tests = distinctExamples(chat, 50, 2024);
  assert.equal(tests.length, 50);
  assert.equal(new Set(tests.map((e) => e.prompt)).size, 50);
  // the same seed gives the same prompts, and every family with enough items fills its quota
  assert.deepEqual(
    distinctExamples(chat, 50, 2024).map((e) => e.prompt),
    tests.map((e) => e.prompt),
  );
  for (const name of ['definitions', 'arithmetic', 'syllables']) assert.equal(new Set(distinctExamples(taskByName(name), 50, 7).map((e) => e.prompt)).size, 50, name);
  // a family whose plain draw has no repeats keeps exactly those prompts; chat keeps its plain draw's first occurrences, in order
  const defs = taskByName('definitions');
  assert.deepEqual(
    distinctExamples(defs, 50, 2024).map((e) => e.prompt),
    defs.generate('test', 50, 2024).map((e) => e.prompt),
  );
  const firstSeen = [...new Set(drawn.map((e) => e.prompt))];
  assert.deepEqual(
    tests.slice(0, firstSeen.length).map((e) => e.prompt),
    firstSeen,
  );
});

test('distinctExamples: a split with fewer items than asked for gives each once, and the progress count agrees', () => {
  const task = fewItems(3);
  const tests = distinctExamples(task, 10, 1);
  assert.deepEqual(tests.map((e) => e.prompt).sort(), ['question 0?', 'question 1?', 'question 2?']);
  const rows: EvalRow[] = [{ label: 'few', task }];
  const subjects = [
    { name: 'a', kind: 'chat' },
    { name: 'b', kind: 'chat' },
  ] as unknown as EvalSubject[];
  assert.equal(evalAnswerCount(rows, subjects, 10, 1), 2 * 3);
});

test("fewShotPrompt ends the answer at the line's end with OpenAI's `stop`, not the deprecated stopSequences alias", () => {
  const tok = trainTokenizer(['User: what is 2+2?\nAssistant: 4\n'.repeat(20)], { vocabSize: 280, specialTokens: ['<|bos|>', '<|eos|>'] });
  const p = fewShotPrompt(tok, [{ prompt: 'what is 2+2?', answer: '4' }], 'what is 3+3?');
  assert.deepEqual(p.stop, ['\n']);
  assert.ok(!('stopSequences' in p), 'the spread options carry stop alone');
  assert.deepEqual(p.stopIds, [tok.specialId('<|eos|>')]);
  assert.equal(p.ids[0], tok.specialId('<|bos|>'));
});

// speed46: a chat model's answers are decoded DECODE_BATCH_ROWS prompts at a time on one KV cache
test("evaluateTasks: a chat model's batched greedy answers are reply()'s one prompt at a time (learned positions: bit for bit)", () => {
  const task = taskByName('arithmetic');
  const tests = distinctExamples(task, 12, 5);
  const tok = trainTokenizer(
    [
      tests
        .map((e) => `${e.prompt} ${JSON.stringify(e.conversation)}`)
        .join(' ')
        .repeat(3),
    ],
    { vocabSize: 320 },
  );
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16, position: 'learned' }), { seed: 2 });
  const subject: EvalSubject = { name: 'chat', kind: 'chat', model, tok, tools: null };
  const table = evaluateTasks([{ label: 'arithmetic', task }], [subject], { perTask: 12, fewShot: 0, maxTokens: 8, seed: 5 });
  const engine = new ChatEngine(model, tok);
  const one = tests.slice(0, 3).map((e) => engine.reply({ messages: [{ role: 'user', content: e.prompt }] }, { temperature: 0, maxTokens: 8, tools: null }).text);
  assert.deepEqual(
    table.rows[0].cells.chat!.examples.map((x) => x.answer),
    one,
  );
  assert.equal(table.rows[0].cells.chat!.total, 12);
});
