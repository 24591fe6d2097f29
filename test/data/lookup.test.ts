import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitOf, taskByName, TASKS } from '../../src/data/synthetic/tasks.js';
import { lookupDocument, lookupKey, noteLines } from '../../src/data/synthetic/lookup.js';
import { NO_ANSWER, parsePassagePrompt, passagePrompt } from '../../src/rag/context.js';
import { Rng } from '../../src/engine/rng.js';

const task = taskByName('lookup');
const answerOf = (ex: { conversation: { messages: { content: string }[] } }): string => ex.conversation.messages[1].content;

test('lookup: opt-in, deterministic by seed, every example passes its checker, keys follow the split, ~30% unanswerable', () => {
  assert.ok(!TASKS.includes(task));
  assert.deepEqual(task.generate('train', 50, 7), task.generate('train', 50, 7));
  assert.notDeepEqual(task.generate('train', 50, 7), task.generate('train', 50, 8));
  const train = task.generate('train', 1000, 1);
  const held = task.generate('test', 400, 2);
  let none = 0;
  let hard = 0;
  for (const [split, exs] of [
    ['train', train],
    ['test', held],
  ] as const) {
    for (const ex of exs) {
      assert.ok(task.check(ex.prompt, answerOf(ex)), `fails its own checker: ${ex.prompt} → ${answerOf(ex)}`);
      const p = parsePassagePrompt(ex.prompt)!;
      const key = task.item!(ex.prompt)!;
      assert.equal(splitOf(key), split, `${split} prompt asks about ${key}`);
      const lines = p.passages.flatMap((x) => noteLines(x.text));
      assert.ok(lines.length >= 4 && lines.length <= 12, `${lines.length} lines`);
      for (const l of lines) assert.equal(splitOf(l.key), split, `${split} prompt shows key ${l.key}`);
      assert.equal(new Set(lines.map((l) => l.key)).size, lines.length, 'keys are distinct');
      if (answerOf(ex) === NO_ANSWER) {
        none++;
        assert.ok(!lines.some((l) => l.key === key));
        if (lines.some((l) => new RegExp(`\\b${key}\\b`).test(l.value))) hard++;
      }
    }
  }
  const rate = none / (train.length + held.length);
  assert.ok(rate > 0.24 && rate < 0.36, `${none} unanswerable`);
  assert.ok(hard / none > 0.3, `${hard} of ${none} unanswerable prompts name the key in a value`);
  assert.ok(new Set(train.map((e) => lookupKey(parsePassagePrompt(e.prompt)!.question))).size > 300);
});

test('lookup: the checker needs the asked line\'s value and its passage cited, and "don\'t say" exactly when no line has the key', () => {
  const passages = [
    { source: 'notes:1', text: 'anchor: to walk slowly. velvet: a hollow tube of light.' },
    { source: 'notes:2', text: 'harbor: a kind of fish. kettle: loud, noisy.' },
  ];
  const q = passagePrompt('What is kettle?', passages);
  assert.ok(task.check(q, 'kettle: loud, noisy [2].'));
  assert.ok(task.check(q, 'Loud,  noisy [2].'), 'case and spacing aside');
  assert.ok(!task.check(q, 'kettle: loud, noisy [1].'), 'wrong passage cited');
  assert.ok(!task.check(q, 'kettle: loud, noisy.'), 'no citation');
  assert.ok(!task.check(q, 'kettle: a kind of fish [2].'), "another line's value");
  assert.ok(!task.check(q, NO_ANSWER));
  const absent = passagePrompt('Look up loud.', passages);
  assert.ok(task.check(absent, NO_ANSWER), 'loud is in a value, not a key');
  assert.ok(!task.check(absent, 'kettle: loud, noisy [2].'));
  assert.ok(!task.check('What is kettle?', NO_ANSWER), 'no context block');
});

test('lookupDocument: notes then several questions and answers, deterministic by seed', () => {
  const doc = lookupDocument(new Rng(3), 'train', 4);
  assert.equal(doc, lookupDocument(new Rng(3), 'train', 4));
  const qs = doc.split('\n').filter((l) => l.startsWith('Question: '));
  const as = doc.split('\n').filter((l) => l.startsWith('Answer: '));
  assert.equal(qs.length, 4);
  assert.equal(as.length, 4);
  // each question/answer pair is a correct lookup over the notes
  const notes = doc.split('\nQuestion: ')[0];
  qs.forEach((line, i) => assert.ok(task.check(`${notes}\n${line}`, as[i].slice('Answer: '.length)), `${line} → ${as[i]}`));
});
