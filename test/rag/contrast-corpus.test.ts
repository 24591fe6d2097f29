import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dictionaryEntries, passagesItem, passagesReferences } from '../../src/data/synthetic/passages.js';
import { promptItem, splitOf, taskByName } from '../../src/data/synthetic/tasks.js';
import { NO_ANSWER, parsePassagePrompt, passagePrompt } from '../../src/rag/context.js';
import { ExcludingRetriever, openDictionaryStore } from '../../src/rag/effect.js';
import { passageSource } from '../../src/rag/generate.js';
import { Retriever } from '../../src/rag/retrieve.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { copyCorpus } from './helpers.js';

const passages = taskByName('passages');

test('passages: a synonyms answer quotes the "Words similar to w: …" sentence when the passage has one, not an earlier gloss that names a synonym', () => {
  // adopt's second edition: "As a verb, to adopt is to choose and follow. … Words similar to adopt: follow, espouse, borrow."
  const entry = dictionaryEntries().find((e) => e.word === 'adopt' && /^As a verb, to adopt is to choose and follow\..*Words similar to adopt: /.test(e.text));
  assert.ok(entry, 'the dictionary entry the case needs');
  const question = 'Give me a synonym for adopt.';
  assert.equal(promptItem('synonyms', question), 'adopt');
  const refs = passagesReferences(passagePrompt(question, [{ text: entry.text, source: 'dictionary:1' }]))!;
  assert.equal(refs[0].reply, ' adopt: follow, espouse, borrow [1].');
  // a definitions question over the same passage still quotes the gloss stated first
  assert.equal(passagesReferences(passagePrompt('What does adopt mean?', [{ text: entry.text, source: 'dictionary:1' }]))![0].reply, ' adopt is to choose and follow [1].');
  // the family's own examples: whenever the cited passage lists "Words similar to w:", that is the quote
  let listed = 0;
  for (const ex of passages.generate('train', 300, 31)) {
    const p = parsePassagePrompt(ex.prompt)!;
    const word = passagesItem(ex.prompt)!;
    const reply = ex.conversation.messages[1].content;
    if (promptItem('synonyms', p.question) === undefined || reply === NO_ANSWER) continue;
    const n = Number(/\[(\d+)\]\.$/.exec(reply)![1]);
    if (!p.passages[n - 1].text.includes(`Words similar to ${word}: `)) continue;
    listed++;
    assert.ok(reply.startsWith(` ${word}: `), `${p.question} → ${reply}`);
  }
  assert.ok(listed >= 10, `${listed} synonyms answers over a passage with the list`);
});

test('rag-copy-corpus --kind retrieved --contrast [--vary]: pairs over one shown block, the asked word answered and a word it only mentions refused (and back); --vary shows passages beyond the top k', () => {
  const tokenizer = (dir: string): string[] => {
    const tokPath = join(dir, 'tok.json');
    trainTokenizer(
      dictionaryEntries()
        .slice(0, 400)
        .map((e) => e.text),
      { vocabSize: 900, pattern: 'gpt4' },
    ).save(tokPath);
    return ['--tokenizer', tokPath];
  };
  const args = ['--kind', 'retrieved', '--format', 'chat', '--contrast', '--no-answer', '50', '--examples', '80', '--seed', '4'];
  const plain = copyCorpus(args, tokenizer);
  assert.equal(plain.length, 80);
  // --vary: the same questions' blocks drawn from a wider pool — more distinct blocks, the same pair rules
  const varied = copyCorpus([...args, '--vary'], tokenizer);
  // an answerable question's block: BM25's top 3 (train-split entries) without --vary; with it, passages from further down too
  const dir = mkdtempSync(join(tmpdir(), 'gf-contrast-'));
  try {
    const store = openDictionaryStore(join(dir, 'd.db'));
    const entries = dictionaryEntries();
    const bm25 = new ExcludingRetriever(new Retriever(store, undefined, { dropFrameWords: true }), (c) => splitOf(entries[c.line! - 1].word) === 'test');
    const beyondTop3 = (cs: typeof plain): number =>
      cs.filter((c, i) => {
        if (i % 2 === 1 || c.messages[1].content === NO_ANSWER) return false;
        const p = parsePassagePrompt(c.messages[0].content)!;
        const top = new Set(bm25.retrieve(p.question, { k: 3 }).map((h) => passageSource(h)));
        return p.passages.some((x) => !top.has(x.source));
      }).length;
    assert.equal(beyondTop3(plain), 0);
    assert.ok(beyondTop3(varied) >= 3, `${beyondTop3(varied)} answerable blocks with --vary show a passage beyond BM25's top 3`);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const convs of [plain, varied]) checkPairs(convs);
});

const block = (content: string): string => content.slice(0, content.lastIndexOf('\nQuestion: '));

/** Each pair: one shown block, two words, one answer and one refusal, both passing the family's checker, as the --contrast docstring says. */
function checkPairs(convs: readonly { messages: { content: string }[] }[]): void {
  const owners = new Map(dictionaryEntries().map((e) => [e.text, e.word]));
  let fromRefusal = 0;
  for (let i = 0; i < convs.length; i += 2) {
    const [a, b] = [convs[i], convs[i + 1]];
    assert.equal(block(a.messages[0].content), block(b.messages[0].content), 'one block, two questions');
    const replies = [a.messages[1].content, b.messages[1].content];
    assert.equal(replies.filter((r) => r === NO_ANSWER).length, 1, `one answer, one refusal: ${replies.join(' | ')}`);
    const words = [a, b].map((c) => passagesItem(c.messages[0].content)!);
    assert.notEqual(words[0], words[1]);
    const shown = parsePassagePrompt(a.messages[0].content)!.passages.map((p) => p.text);
    for (const text of shown) assert.equal(splitOf(owners.get(text)!), 'train', 'train-split entries only');
    for (const c of [a, b]) assert.ok(passages.check(c.messages[0].content, c.messages[1].content), `fails the family's checker: ${c.messages[0].content} → ${c.messages[1].content}`);
    const refused = words[replies.indexOf(NO_ANSWER)];
    assert.ok(!shown.some((t) => owners.get(t) === refused), `${refused}'s own entry is shown`);
    if (a.messages[1].content === NO_ANSWER) {
      // a strict-removal block, then the word whose entry a shown passage is, answered
      fromRefusal++;
      assert.ok(
        shown.some((t) => owners.get(t) === words[1]),
        `${words[1]}'s entry is not shown`,
      );
    } else {
      // an answerable block, then a word it only mentions (a hard negative), refused
      assert.ok(
        shown.some((t) => new RegExp(`\\b${refused}\\b`, 'i').test(t)),
        `${refused} is not named in the block`,
      );
    }
  }
  // both directions occur: pairs built from a strict-removal block (refusal first) and from an answerable one
  assert.ok(fromRefusal >= 5 && fromRefusal <= 35, `${fromRefusal} of 40 pairs start from a refusal`);
}
