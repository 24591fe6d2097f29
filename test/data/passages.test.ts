import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promptItem, splitOf, taskByName, TASKS, wordFacts } from '../../src/data/synthetic/tasks.js';
import { dictionaryEntries, entrySource, passagesItem, passagesPhrasing } from '../../src/data/synthetic/passages.js';
import { citedNumbers, NO_ANSWER, parsePassagePrompt, passagePrompt } from '../../src/rag/context.js';

const task = taskByName('passages');
const answerOf = (ex: { conversation: { messages: { content: string }[] } }): string => ex.conversation.messages[1].content;

test('passages: opt-in (not in the default TASKS), deterministic, every example passes its checker, short answers, ≥ 6 question phrasings', () => {
  assert.ok(!TASKS.includes(task));
  assert.deepEqual(task.generate('train', 40, 11), task.generate('train', 40, 11));
  assert.notDeepEqual(task.generate('train', 40, 11), task.generate('train', 40, 12));
  const train = task.generate('train', 1500, 1);
  const held = task.generate('test', 500, 2);
  for (const ex of [...train, ...held]) {
    assert.deepEqual(
      ex.conversation.messages.map((m) => m.role),
      ['user', 'assistant'],
    );
    assert.equal(ex.conversation.messages[0].content, ex.prompt);
    assert.ok(answerOf(ex).split(/\s+/).length < 40);
    assert.ok(task.check(ex.prompt, answerOf(ex)), `fails its own checker: ${ex.prompt} → ${answerOf(ex)}`);
  }
  const trainWords = new Set(train.map((e) => passagesItem(e.prompt)!));
  const testWords = new Set(held.map((e) => passagesItem(e.prompt)!));
  for (const w of testWords) assert.ok(!trainWords.has(w), `test word ${w} also in train`);
  assert.ok(testWords.size >= 30, `${testWords.size} test words`);
  const phrasings = new Set(train.slice(0, 200).map((e) => passagesPhrasing(e.prompt)));
  assert.ok(!phrasings.has(undefined) && phrasings.size >= 6, `${phrasings.size} phrasings`);
});

test('passages: dictionary entries numbered 1…N, every core word in every edition', () => {
  const entries = dictionaryEntries();
  assert.ok(entries.length > 4000, `${entries.length} entries`);
  entries.forEach((e, i) => assert.equal(e.line, i + 1));
  const water = entries.filter((e) => e.word === 'water');
  assert.equal(water.length, 4);
  assert.equal(new Set(water.map((e) => e.text)).size, 4, 'each edition worded differently');
  assert.equal(entrySource(water[0]), `dictionary:${water[0].line}`);
});

test("passages: answerable prompts hold the word's entry and the answer cites it; about 30% hold none and say so", () => {
  const entries = dictionaryEntries();
  // (an entry of a single fact can read the same in two editions: a text names a word, not always one line)
  const byText = new Map(entries.map((e) => [e.text, e]));
  const sources = new Map<string, string[]>();
  for (const e of entries) sources.set(e.text, [...(sources.get(e.text) ?? []), entrySource(e)]);
  const ex = task.generate('train', 600, 3);
  let none = 0;
  for (const e of ex) {
    const p = parsePassagePrompt(e.prompt)!;
    assert.ok(p.passages.length === 2 || p.passages.length === 3);
    const word = passagesItem(e.prompt)!;
    assert.ok(wordFacts(word), word);
    const own = p.passages.map((x, i) => (byText.get(x.text)!.word === word ? i + 1 : 0)).filter((i) => i > 0);
    for (const x of p.passages) {
      const entry = byText.get(x.text)!;
      assert.ok(sources.get(x.text)!.includes(x.source), 'the source names the entry');
      assert.equal(x.title, entry.word, "every passage is headed by its entry's word ([1] regret: …)");
      assert.equal(splitOf(entry.word), 'train', `a training prompt shows only train-split entries: ${entry.word}`);
    }
    const answer = answerOf(e);
    if (own.length === 0) {
      none++;
      assert.equal(answer, NO_ANSWER);
    } else {
      assert.deepEqual(citedNumbers(answer), [own[0]]);
    }
  }
  assert.ok(none / ex.length > 0.22 && none / ex.length < 0.38, `${none} of ${ex.length} unanswerable`);
});

test('passages: the checker needs the right claim, a citation of a passage that holds it, and "don\'t say" exactly when none does', () => {
  const ex = task.generate('test', 300, 5);
  // a definitions question whose passages hold one entry of the word and a distractor
  const answerable = ex.find((e) => {
    const p = parsePassagePrompt(e.prompt)!;
    const own = p.passages.filter((x) => dictionaryEntries().some((d) => d.word === passagesItem(e.prompt) && d.text === x.text));
    return answerOf(e) !== NO_ANSWER && /What does|Define|meaning|mean/.test(p.question) && own.length === 1 && p.passages.length >= 2;
  })!;
  const none = ex.find((e) => answerOf(e) === NO_ANSWER)!;
  const good = answerOf(answerable);
  const n = citedNumbers(good)[0];
  const p = parsePassagePrompt(answerable.prompt)!;
  assert.ok(task.check(answerable.prompt, good));
  assert.ok(!task.check(answerable.prompt, good.replace(/ \[\d+\]/, '')), 'no citation');
  const wrong = p.passages.findIndex((_, i) => i + 1 !== n && !citedNumbers(good).includes(i + 1)) + 1;
  if (!p.passages[wrong - 1].text.includes(passagesItem(answerable.prompt)!)) assert.ok(!task.check(answerable.prompt, good.replace(`[${n}]`, `[${wrong}]`)), 'cites a distractor');
  assert.ok(!task.check(answerable.prompt, good.replace(`[${n}]`, '[7]')), 'cites a passage that is not there');
  assert.ok(!task.check(answerable.prompt, NO_ANSWER), 'says nothing when the answer is there');
  assert.ok(!task.check(answerable.prompt, `The word ${passagesItem(answerable.prompt)} means a large building with many rooms [${n}].`), 'a wrong claim, rightly cited');
  assert.ok(task.check(none.prompt, NO_ANSWER));
  assert.ok(task.check(none.prompt, 'Sorry, the passages do not say.'));
  assert.ok(!task.check(none.prompt, good), 'an answer where the passages hold none');
  // the same question with the word's entry removed flips what is correct
  const word = passagesItem(answerable.prompt)!;
  const kept = p.passages.filter((x) => !dictionaryEntries().some((e) => e.word === word && e.text === x.text));
  const removed = passagePrompt(p.question, kept);
  assert.ok(task.check(removed, NO_ANSWER) && !task.check(removed, good.replace(/\[\d+\]/, '[1]')));
});

test('passages: held-out questions ask about test-split words only', () => {
  for (const e of task.generate('test', 200, 9)) assert.equal(splitOf(passagesItem(e.prompt)!), 'test');
});

test('passages: the answer quotes the cited passage — a verbatim span of one sentence, from the asked word on (or the whole sentence), stating a fact', () => {
  let fromWord = 0;
  let answerable = 0;
  for (const e of task.generate('train', 400, 13)) {
    const reply = answerOf(e);
    if (reply === NO_ANSWER) continue;
    // one leading space, so the reply's first word is the passage's token (context.ts quotedReply)
    assert.ok(reply.startsWith(' ') && !reply.startsWith('  '), `a quote starts with one space: "${reply}"`);
    const answer = reply.trimStart();
    answerable++;
    const p = parsePassagePrompt(e.prompt)!;
    const cited = p.passages[citedNumbers(answer)[0] - 1].text;
    const quote = /^(.*) \[\d+\]\.$/.exec(answer)?.[1];
    assert.ok(quote !== undefined && cited.includes(`${quote}.`), `"${quote}" is not a sentence end of the cited passage: ${cited}`);
    const word = passagesItem(e.prompt)!;
    if (quote.toLowerCase().startsWith(word)) fromWord++;
    else assert.ok(cited.startsWith(quote) || cited.includes(`. ${quote}.`), `neither from the word nor a whole sentence: ${quote}`);
    const { facts } = questionFacts(p.question);
    assert.ok(
      facts.some((f) => quote.includes(f)),
      `${quote} states none of ${facts.join(' | ')}`,
    );
  }
  assert.ok(fromWord / answerable > 0.7, `${fromWord} of ${answerable} quotes start at the asked word`);
});

/** The family a passages question is asked in and its facts, found independently of the generator (the families' own prompt parsers). */
function questionFacts(question: string): { family: string; word: string; facts: string[] } {
  for (const family of ['definitions', 'kinds', 'synonyms']) {
    const word = promptItem(family, question);
    if (word === undefined) continue;
    const f = wordFacts(word)!;
    const facts = family === 'definitions' ? f.senses.map((s) => s.gloss) : family === 'kinds' ? [f.kind!] : f.synonyms;
    return { family, word, facts };
  }
  throw new Error(`not a knowledge question: ${question}`);
}

test('passages: a "don\'t say" example really lacks the answer — no passage both names the word and states any of its facts', () => {
  let none = 0;
  for (const split of ['train', 'test'] as const) {
    for (const e of task.generate(split, 800, 21)) {
      if (answerOf(e) !== NO_ANSWER) continue;
      none++;
      const p = parsePassagePrompt(e.prompt)!;
      const { word, facts } = questionFacts(p.question);
      const names = new RegExp(`(^|[^a-z'-])${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^a-z'-])`);
      for (const x of p.passages) {
        const t = x.text.toLowerCase();
        assert.ok(!(names.test(t) && facts.some((f) => t.includes(f.toLowerCase()))), `"${p.question}" is answered by ${x.text}`);
        assert.ok(!dictionaryEntries().some((d) => d.word === word && d.text === x.text), `the word's own entry is shown: ${x.text}`);
      }
    }
  }
  assert.ok(none > 300, `${none} unanswerable examples`);
});

test('passages: the answer passage sits at every rank among the distractors, and the cited fact is the one the question asks for', () => {
  const rank = new Map<string, number>();
  for (const e of task.generate('train', 1200, 22)) {
    const answer = answerOf(e);
    if (answer === NO_ANSWER) continue;
    const p = parsePassagePrompt(e.prompt)!;
    const n = citedNumbers(answer)[0];
    const key = `${n} of ${p.passages.length}`;
    rank.set(key, (rank.get(key) ?? 0) + 1);
    const { family, facts } = questionFacts(p.question);
    // the reply states one of the asked family's facts, verbatim from the cited passage
    const stated = facts.filter((f) => answer.includes(f) && p.passages[n - 1].text.includes(f));
    assert.ok(stated.length > 0, `${family}: "${answer}" states no fact of ${p.passages[n - 1].text}`);
  }
  for (const key of ['1 of 2', '2 of 2', '1 of 3', '2 of 3', '3 of 3']) assert.ok((rank.get(key) ?? 0) >= 20, `answer passage at ${key}: ${rank.get(key) ?? 0} examples (${[...rank].join(', ')})`);
});
