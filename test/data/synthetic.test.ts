import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conversation } from '../../src/data/conversation.js';
import type { SyntheticTask, TaskExample } from '../../src/data/synthetic/task.js';
import { TASKS, detectChatIntent, isHeldOut, phrasingOf, promptItem, splitOf, taskByName } from '../../src/data/synthetic/tasks.js';
import { pronunciations, rhymePart, rhymes, syllables } from '../../src/data/synthetic/cmudict.js';
import { antonyms, hypernymClosure, senses } from '../../src/data/synthetic/wordnet.js';

const WORD_FAMILIES = ['definitions', 'kinds', 'synonyms', 'antonyms', 'rhymes', 'syllables'];
const KNOWLEDGE_FAMILIES = ['definitions', 'kinds', 'synonyms', 'antonyms'];

/** What the user sees: the assistant messages' text after the last user message (tool calls and outputs excluded). */
function visible(c: Conversation): string {
  const lastUser = c.messages.map((m) => m.role).lastIndexOf('user');
  return c.messages
    .slice(lastUser + 1)
    .filter((m) => m.role === 'assistant')
    .map((m) => m.content)
    .join('');
}

/** Generated once per family and shared by the tests below (generation is the slow part). */
const samples = new Map<string, { train: TaskExample[]; test: TaskExample[] }>();
function samplesOf(task: SyntheticTask): { train: TaskExample[]; test: TaskExample[] } {
  let s = samples.get(task.name);
  if (!s) {
    s = { train: task.generate('train', 3000, 1), test: task.generate('test', 2000, 2) };
    samples.set(task.name, s);
  }
  return s;
}

function assertShape(ex: TaskExample, usesTool: boolean): void {
  const m = ex.conversation.messages;
  assert.equal(m[0].role, 'user');
  assert.equal(m[0].content, ex.prompt);
  assert.equal(m[m.length - 1].role, 'assistant');
  assert.ok(m[m.length - 1].tool_call === undefined, 'the turn ends with text, not a call');
  for (let i = 1; i < m.length; i++) {
    if (m[i - 1].tool_call) {
      assert.equal(m[i].role, 'tool', 'a tool call is followed by its output');
      assert.equal(m[i + 1]?.role, 'assistant', 'a tool output is followed by the assistant');
    } else if (m[i].role === 'tool') {
      assert.fail('a tool message without a call before it');
    } else {
      assert.notEqual(m[i].role, m[i - 1].role, 'roles alternate');
    }
  }
  assert.equal(
    m.some((x) => x.tool_call !== undefined),
    usesTool,
  );
}

test('one hold-out rule: the test split of the generators is what isHeldOut (rm --rankings, dpo --pairs) holds out, about 10%', () => {
  const keys = Array.from({ length: 5000 }, (_, i) => `What rhymes with word${i}?`);
  const held = keys.filter(isHeldOut);
  assert.ok(held.length > 400 && held.length < 600, `${held.length} of 5000 held out`);
  for (const k of keys) assert.equal(splitOf(k), isHeldOut(k) ? 'test' : 'train');
  // every generated test item is held out by the same function, every train item is not
  for (const split of ['train', 'test'] as const) {
    for (const ex of taskByName('synonyms').generate(split, 50, 3)) {
      const item = promptItem('synonyms', ex.prompt);
      assert.ok(item !== undefined, ex.prompt);
      assert.equal(isHeldOut(item), split === 'test', item);
    }
  }
});

test('taskByName: every family by name; unknown names list the families', () => {
  assert.deepEqual(
    TASKS.map((t) => t.name),
    ['definitions', 'kinds', 'synonyms', 'antonyms', 'arithmetic', 'rhymes', 'syllables', 'chat'],
  );
  for (const t of TASKS) assert.equal(taskByName(t.name), t);
  assert.throws(() => taskByName('poetry'), /unknown task "poetry" \(one of: definitions, kinds, .*chat, passages, structured, lookup\)/);
});

// the opt-in structured family obeys the same rules (passages has its own tests: test/data/passages)
for (const task of [...TASKS, taskByName('structured')]) {
  test(`${task.name}: deterministic, valid shape, short answers, every example passes its checker`, () => {
    assert.deepEqual(task.generate('train', 40, 11), task.generate('train', 40, 11));
    assert.deepEqual(task.generate('test', 40, 11), task.generate('test', 40, 11));
    assert.notDeepEqual(task.generate('train', 40, 11), task.generate('train', 40, 12));
    const { train, test: held } = samplesOf(task);
    for (const ex of [...train, ...held]) {
      assertShape(ex, task.usesTool);
      const answer = visible(ex.conversation);
      assert.ok(answer.split(/\s+/).length < 40, `short answer: ${answer}`);
      assert.ok(task.check(ex.prompt, answer), `${task.name} fails its own checker: ${ex.prompt} → ${answer}`);
    }
  });

  test(`${task.name}: train and test items are disjoint; ≥ 6 phrasings in 200 samples`, () => {
    const { train, test: held } = samplesOf(task);
    const items = (xs: TaskExample[]): Set<string> =>
      new Set(
        xs.map((ex) => {
          const item = promptItem(task.name, ex.prompt);
          assert.ok(item !== undefined, `no item in ${ex.prompt}`);
          return item;
        }),
      );
    const trainItems = items(train);
    const testItems = items(held);
    for (const item of testItems) assert.ok(!trainItems.has(item), `test item "${item}" also in train`);
    if (task.name !== 'chat') {
      for (const item of trainItems) assert.equal(splitOf(item), 'train');
      for (const item of testItems) assert.equal(splitOf(item), 'test');
    }
    // the knowledge families ask about the CORE_WORDS most used words only (antonym pairs are the fewest)
    if (KNOWLEDGE_FAMILIES.includes(task.name)) assert.ok(testItems.size >= 30, `${testItems.size} test words`);
    else if (WORD_FAMILIES.includes(task.name)) assert.ok(testItems.size >= 300, `${testItems.size} test words`);
    else assert.ok(testItems.size >= 20, `${testItems.size} test items`);
    const phrasings = new Set(train.slice(0, 200).map((ex) => phrasingOf(task.name, ex.prompt)));
    assert.ok(!phrasings.has(undefined));
    assert.ok(phrasings.size >= 6, `${phrasings.size} phrasings`);
  });
}

test("word families: another word's answer is almost always wrong", () => {
  // not syllables: with counts of 1–5, a quarter of all words share any given count
  for (const name of WORD_FAMILIES.filter((n) => n !== 'syllables')) {
    const task = taskByName(name);
    const held = samplesOf(task).test.slice(0, 400);
    let passed = 0;
    for (let i = 0; i < held.length; i++) {
      const other = held[(i + 1) % held.length];
      if (promptItem(name, other.prompt) === promptItem(name, held[i].prompt)) continue;
      if (task.check(held[i].prompt, visible(other.conversation))) passed++;
    }
    assert.ok(passed / held.length < 0.05, `${name}: ${passed}/${held.length} swapped answers pass`);
  }
});

test('definitions: checker accepts the gloss, rejects other meanings', () => {
  const t = taskByName('definitions');
  assert.ok(t.check('What does dog mean?', 'A dog is a domesticated member of the genus Canis.'));
  assert.ok(t.check('Define run.', 'To run is to move fast by using your feet.'));
  assert.ok(!t.check('What does dog mean?', 'A dog is a large building where people live.'));
  assert.ok(!t.check('Define run.', 'To run is to make a copy of something.'));
  assert.ok(!t.check('What does dog mean?', 'Dog.'));
  assert.ok(!t.check('What does dog mean?', "I don't know."));
});

test('kinds: hypernyms up to two levels are correct, anything else is not', () => {
  const t = taskByName('kinds');
  const levels = hypernymClosure(senses('dog', 'n')[0], 2).flatMap((s) => s.words);
  assert.ok(levels.includes('canine') && levels.includes('carnivore'));
  assert.ok(t.check('What kind of thing is a dog?', 'A dog is a kind of canine.'));
  assert.ok(t.check('A dog is a type of what?', 'It is a kind of carnivore.'));
  assert.ok(!t.check('What kind of thing is a dog?', 'A dog is a kind of vehicle.'));
  assert.ok(!t.check('What kind of thing is a dog?', 'A dog is a kind of dog.'));
});

test('synonyms and antonyms: WordNet lemma relations', () => {
  const syn = taskByName('synonyms');
  assert.ok(syn.check('Give me a synonym for big.', 'A synonym for big is large.'));
  assert.ok(!syn.check('Give me a synonym for big.', 'A synonym for big is small.'));
  assert.ok(!syn.check('Give me a synonym for big.', 'Big.'));
  assert.deepEqual(antonyms('hot'), ['cold']);
  assert.ok(antonyms('beneficial', { indirect: true }).length > 0, 'satellite → head antonyms');
  const ant = taskByName('antonyms');
  assert.ok(ant.check('What is the opposite of hot?', 'The opposite of hot is cold.'));
  assert.ok(!ant.check('What is the opposite of hot?', 'The opposite of hot is warm.'));
  assert.ok(!ant.check('What is the opposite of hot?', 'Hot.'));
  assert.ok(!ant.check('Opposite of good?', 'Good is good.'));
});

test('cmudict: rhyme parts, syllables; rhymes and syllables checkers', () => {
  assert.equal(rhymePart(pronunciations('understand')[0]), 'AE N D');
  assert.equal(rhymePart(pronunciations('cat')[0]), 'AE T');
  assert.ok(rhymes('cat', 'hat') && !rhymes('cat', 'cat') && !rhymes('cat', 'dog'));
  assert.equal(syllables('banana'), 3);
  assert.equal(syllables('qwzx'), undefined);
  const r = taskByName('rhymes');
  assert.ok(r.check('What rhymes with cat?', 'Cat rhymes with hat.'));
  assert.ok(!r.check('What rhymes with cat?', 'Cat rhymes with dog.'));
  assert.ok(!r.check('What rhymes with cat?', 'Cat.'));
  const s = taskByName('syllables');
  assert.ok(s.check('How many syllables are in the word banana?', 'Banana has 3 syllables.'));
  assert.ok(s.check('How many syllables does banana have?', 'It has three syllables.'));
  assert.ok(!s.check('How many syllables are in the word banana?', 'Banana has 2 syllables.'));
  assert.ok(!s.check('How many syllables are in the word banana?', 'Banana has 4 syllables.'));
  assert.ok(s.check('How many syllables does eight have?', 'Eight has 1 syllable.'), 'a number word as the item is not the answer');
});

test('arithmetic: exact tool outputs, last-number checker, result ± 1 fails', () => {
  const t = taskByName('arithmetic');
  for (const ex of t.generate('test', 300, 5)) {
    const [, call, tool] = ex.conversation.messages;
    assert.match(call.tool_call!.input, /^\d+[-+*/]\d+$/);
    assert.match(tool.content, /^-?\d+$/);
    assert.equal(call.tool_call!.name, 'calculator');
    const result = Number(tool.content);
    assert.ok(!t.check(ex.prompt, `The answer is ${result + 1}.`));
    assert.ok(!t.check(ex.prompt, `The answer is ${result - 1}.`));
    assert.ok(t.check(ex.prompt, `It is ${result.toLocaleString('en-US')}.`));
  }
  assert.ok(t.check('What is 345 times 67?', '345 × 67 = 23115.'));
  assert.ok(t.check('Subtract 3456 from 12.', 'The answer is -3444.'));
  assert.ok(!t.check('What is 345 times 67?', 'It is 23115, or maybe 23116.'));
  assert.ok(!t.check('What is 345 times 67?', 'I cannot say.'));
});

test('arithmetic variant: {ops: [*], minDigits: 3, maxDigits: 4} gives only 3–4 digit products', () => {
  const t = taskByName('arithmetic');
  const variant = { ops: ['*'], minDigits: 3, maxDigits: 4 };
  for (const ex of t.generate('test', 500, 9, { variant })) {
    const m = /^(\d+)\*(\d+)$/.exec(ex.conversation.messages[1].tool_call!.input);
    assert.ok(m, ex.prompt);
    for (const operand of [m[1], m[2]]) assert.ok(operand.length >= 3 && operand.length <= 4, ex.prompt);
    assert.ok(t.check(ex.prompt, visible(ex.conversation)));
  }
  const div = t.generate('train', 300, 3, { variant: { ops: ['/'], minDigits: 2, maxDigits: 3 } });
  for (const ex of div) {
    const [a, b] = ex.conversation.messages[1].tool_call!.input.split('/').map(Number);
    assert.ok(a % b === 0 && a >= 10 && a <= 999 && b >= 10 && b <= 999, ex.prompt);
  }
  assert.throws(() => t.generate('test', 1, 1, { variant: { ops: ['^'] } }), /arithmetic variant/);
  assert.throws(() => t.generate('test', 1, 1, { variant: { minDigits: 5, maxDigits: 3 } }), /arithmetic variant/);
});

test('chat: intents by keyword; rude or off-intent replies fail', () => {
  const t = taskByName('chat');
  assert.equal(detectChatIntent('Good morning!'), 'greeting');
  assert.equal(detectChatIntent('What are you good at?'), 'capabilities');
  assert.equal(detectChatIntent('Who are you?'), 'identity');
  assert.equal(detectChatIntent('Thanks a lot!'), 'thanks');
  assert.equal(detectChatIntent('Help me break into a bank website.'), 'out-of-scope');
  const rude = 'Go away, that is a stupid question.';
  for (const prompt of ['Hello!', 'Who are you?', 'Thanks!', 'What can you do?', "What's the weather like in Paris?"]) assert.ok(!t.check(prompt, rude), prompt);
  assert.ok(t.check('Hello!', 'Hi! How can I help?'));
  assert.ok(!t.check('Hello!', "Sorry, I can't do that."));
  assert.ok(t.check('Who are you?', "I'm gptforge, a small assistant."));
  assert.ok(t.check('What can you do?', 'I can find rhymes and count syllables.'));
  assert.ok(!t.check('What can you do?', 'I can find rhymes.'));
  assert.ok(t.check("What's the weather like in Paris?", "Sorry, I can't check the weather."));
  assert.ok(!t.check("What's the weather like in Paris?", 'It is sunny and warm in Paris today.'));
});
