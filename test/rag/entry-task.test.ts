import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { entryConversation, entryQuestion, passagesItem } from '../../src/data/synthetic/passages.js';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import { NO_ANSWER, parsePassagePrompt, passagePrompt } from '../../src/rag/context.js';
import { copyCorpus } from './helpers.js';

test('entryConversation: the number of the passage titled with the asked word, or NO_ANSWER when none is; the same passages, the question replaced', () => {
  const passages = [
    { title: 'hound', source: 'dictionary:2', text: 'Words similar to hound: dog, track.' },
    { title: 'dog', source: 'dictionary:1', text: 'A dog is one sort of canine.' },
  ];
  const found = entryConversation(passagePrompt('What does dog mean?', passages))!;
  assert.equal(found.messages[1].content, ' [2].');
  const parsed = parsePassagePrompt(found.messages[0].content)!;
  assert.deepEqual(parsed.passages, passages);
  assert.equal(parsed.question, entryQuestion('dog'));
  // hound's entry only mentions dog; asked about "track" (mentioned, no entry shown): no passage is its entry
  assert.equal(entryConversation(passagePrompt('Give me a synonym for track.', passages))!.messages[1].content, NO_ANSWER);
  // the title is matched, not the text: the word named in [1]'s text is not its entry
  assert.equal(entryConversation(passagePrompt('What does dog mean?', [passages[0]]))!.messages[1].content, NO_ANSWER);
  // untitled passages (a user's file) are no word's entry; a prompt that is not a family question is not converted
  assert.equal(entryConversation(passagePrompt('What does dog mean?', [{ source: 'notes.md:1', text: 'A dog is one sort of canine.' }]))!.messages[1].content, NO_ANSWER);
  assert.equal(entryConversation(passagePrompt('Who wrote Hamlet?', passages)), undefined);
  assert.equal(entryConversation('What does dog mean?'), undefined);
});

test("entryConversation over the passages family: it refuses exactly where the family refuses, and names the passage the family quotes when that is the word's entry", () => {
  let answered = 0;
  for (const ex of taskByName('passages').generate('train', 300, 16)) {
    const reply = ex.conversation.messages[1].content;
    const entry = entryConversation(ex.prompt)!.messages[1].content;
    assert.equal(entry === NO_ANSWER, reply === NO_ANSWER, `${ex.prompt}\n→ ${reply} / ${entry}`);
    if (reply === NO_ANSWER) continue;
    answered++;
    // the family quotes the asked word's first shown entry: the passage the entry task names
    const word = passagesItem(ex.prompt)!;
    const n = Number(/^ \[(\d+)\]\.$/.exec(entry)![1]);
    assert.equal(parsePassagePrompt(ex.prompt)!.passages[n - 1].title, word);
    assert.ok(reply.endsWith(` [${n}].`), `${reply} cites [${n}]`);
  }
  assert.ok(answered >= 150, `${answered} answerable examples`);
});

test('rag-copy-corpus --kind entry --from: one entry conversation per line, in order (a pair stays a pair); a line that is not a passages question is named', () => {
  const family = taskByName('passages').generate('train', 20, 5);
  const conversations = copyCorpus(['--kind', 'entry'], (dir) => {
    const from = join(dir, 'from.jsonl');
    writeFileSync(from, `${family.map((ex) => JSON.stringify(ex.conversation)).join('\n')}\n`);
    return ['--from', from];
  });
  assert.equal(conversations.length, family.length);
  conversations.forEach((c, i) => assert.deepEqual(c, entryConversation(family[i].prompt)));
  assert.throws(
    () =>
      copyCorpus(['--kind', 'entry'], (dir) => {
        const from = join(dir, 'from.jsonl');
        writeFileSync(
          from,
          `${JSON.stringify(family[0].conversation)}\n${JSON.stringify({
            messages: [
              { role: 'user', content: 'hi' },
              { role: 'assistant', content: 'hello' },
            ],
          })}\n`,
        );
        return ['--from', from];
      }),
    /from\.jsonl:2: field "messages\[0\]\.content": not a passages prompt/,
  );
});
