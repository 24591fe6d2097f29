import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitOf } from '../../src/data/synthetic/split.js';
import { mqarDocument, mqarDocuments, mqarPools } from '../../src/data/synthetic/mqar.js';
import { Rng } from '../../src/engine/rng.js';
import { GptforgeError } from '../../src/util/errors.js';
import { join } from 'node:path';
import { taskByName } from '../../src/data/synthetic/tasks.js';
import { NO_ANSWER } from '../../src/rag/context.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { coreWords } from '../../src/data/synthetic/words.js';
import { copyCorpus } from '../rag/helpers.js';

test('mqar: pools are one split, keys and values disjoint, the filter applied', () => {
  for (const split of ['train', 'test'] as const) {
    const p = mqarPools(split);
    assert.ok(p.keys.length >= 40 && p.values.length >= 40, `${split}: ${p.keys.length} keys, ${p.values.length} values`);
    for (const w of [...p.keys, ...p.values]) assert.equal(splitOf(w), split, `${split} pool holds ${w}`);
    const values = new Set(p.values);
    assert.ok(!p.keys.some((k) => values.has(k)), 'keys and values share no word');
  }
  const short = mqarPools('train', (w) => w.length <= 4);
  assert.ok(short.keys.every((w) => w.length <= 4) && short.values.every((w) => w.length <= 4));
  assert.throws(() => mqarPools('test', () => false), GptforgeError);
});

test('mqar: documents are deterministic by seed; every query repeats its pair, keys distinct, queries distinct', () => {
  const pools = mqarPools('train');
  assert.deepEqual(mqarDocuments('train', 20, 3, pools, 16, 16), mqarDocuments('train', 20, 3, pools, 16, 16));
  assert.notDeepEqual(mqarDocuments('train', 20, 3, pools, 16, 16), mqarDocuments('train', 20, 4, pools, 16, 16));
  assert.notDeepEqual(
    mqarDocuments('train', 20, 3, pools, 16, 16),
    mqarDocuments('test', 20, 3, mqarPools('test'), 16, 16).map((d) => d),
    'the split is folded into the seed',
  );
  for (const sep of ['', ':']) {
    for (const d of mqarDocuments('train', 50, 9, pools, 12, 8, sep)) {
      assert.equal(d.pairs.length, 12);
      assert.equal(new Set(d.pairs.map((p) => p.key)).size, 12, 'keys distinct');
      assert.equal(new Set(d.queries).size, 8, 'queries distinct');
      const [list, queries] = d.text.split('\n');
      const join = (ps: { key: string; value: string }[]): string => ps.map((p) => `${p.key}${sep} ${p.value}`).join(sep === '' ? ' ' : ', ');
      assert.equal(list, `Pairs: ${join(d.pairs)}.`);
      assert.equal(queries, `Queries: ${join(d.queries.map((i) => d.pairs[i]))}.`);
    }
  }
  // a query's value is the token after its key's first occurrence (what an induction head copies)
  const d = mqarDocument(new Rng(5), pools, 16, 16);
  const words = d.text
    .replace(/[.:\n]|Pairs|Queries/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
  for (let i = 32; i < words.length; i += 2) assert.equal(words[i + 1], words[words.indexOf(words[i]) + 1]);
  assert.throws(() => mqarDocument(new Rng(1), pools, 4, 5), GptforgeError);
  assert.throws(() => mqarDocument(new Rng(1), pools, 0, 0), GptforgeError);
});

test("rag-copy-corpus --format chat --no-answer 10: the family's conversations with refusals cut to about 10%, every answerable one kept valid", () => {
  const convs = copyCorpus(['--kind', 'lookup', '--format', 'chat', '--no-answer', '10', '--examples', '400', '--seed', '3']);
  assert.equal(convs.length, 400);
  const task = taskByName('lookup');
  const refusals = convs.filter((c) => c.messages[1].content === NO_ANSWER).length;
  assert.ok(refusals >= 30 && refusals <= 40, `${refusals} of 400 refusals`);
  for (const c of convs) assert.ok(task.check(c.messages[0].content, c.messages[1].content));
});

test('rag-copy-corpus --kind repeat --format chat: the list in the user turn, the same words as the reply with one leading space', () => {
  const convs = copyCorpus(['--kind', 'repeat', '--format', 'chat', '--min-words', '3', '--max-words', '6', '--examples', '200', '--seed', '5']);
  assert.equal(convs.length, 200);
  const lengths = new Set<number>();
  for (const c of convs) {
    assert.deepEqual(
      c.messages.map((m) => m.role),
      ['user', 'assistant'],
    );
    const m = /^Words: ([a-z]+(?: [a-z]+)*)\.\nSay the words again\.$/.exec(c.messages[0].content);
    assert.ok(m, c.messages[0].content);
    // the copy, with the leading space that makes its first token the list's (quotedReply)
    assert.equal(c.messages[1].content, ` ${m[1]}.`);
    lengths.add(m[1].split(' ').length);
  }
  assert.deepEqual([...lengths].sort(), [3, 4, 5, 6]);
});

test('rag-copy-corpus --kind repeat --sep , --format chat: the words comma-separated in the list and in the copy', () => {
  const convs = copyCorpus(['--kind', 'repeat', '--sep', ',', '--format', 'chat', '--min-words', '3', '--max-words', '5', '--examples', '50', '--seed', '6']);
  assert.equal(convs.length, 50);
  for (const c of convs) {
    const m = /^Words: ([a-z]+(?:, [a-z]+)+)\.\nSay the words again\.$/.exec(c.messages[0].content);
    assert.ok(m, c.messages[0].content);
    const n = m[1].split(', ').length;
    assert.ok(n >= 3 && n <= 5, m[1]);
    assert.equal(c.messages[1].content, ` ${m[1]}.`);
  }
});

test('rag-copy-corpus --kind mqar --format chat: the pair list in the user turn, every key queried once with its own value as the reply', () => {
  const convs = copyCorpus(['--kind', 'mqar', '--format', 'chat', '--pairs', '4', '--queries', '4', '--examples', '50', '--seed', '7'], (dir) => {
    // a tokenizer under which many core words are one token after a space
    const words = [...coreWords()].sort().slice(0, 300);
    const tokPath = join(dir, 'tokenizer.json');
    trainTokenizer([` ${words.join(' ')}`.repeat(4)], { vocabSize: 900, pattern: 'gpt4' }).save(tokPath);
    return ['--tokenizer', tokPath];
  });
  assert.equal(convs.length, 50);
  for (const c of convs) {
    const m = /^Pairs: ([a-z ]+)\.\nSay each again with its pair\.$/.exec(c.messages[0].content);
    assert.ok(m, c.messages[0].content);
    const pairs = m[1].split(' ');
    assert.equal(pairs.length, 8);
    const valueOf = new Map<string, string>();
    for (let i = 0; i < 8; i += 2) valueOf.set(pairs[i], pairs[i + 1]);
    assert.ok(c.messages[1].content.startsWith(' ') && c.messages[1].content.endsWith('.'), c.messages[1].content);
    const reply = c.messages[1].content.slice(1, -1).split(' ');
    assert.equal(reply.length, 8);
    const asked = new Set<string>();
    for (let i = 0; i < 8; i += 2) {
      assert.equal(reply[i + 1], valueOf.get(reply[i]), `${reply[i]} answered ${reply[i + 1]}`);
      asked.add(reply[i]);
    }
    assert.equal(asked.size, 4);
  }
});

test('rag-copy-corpus --kind mqar --any-length --sep : --format chat: train-split words of any token length as keys and values, in the notes\' "key: value," layout, each queried key with its own value', () => {
  const convs = copyCorpus(['--kind', 'mqar', '--any-length', '--sep', ':', '--format', 'chat', '--pairs', '6', '--queries', '6', '--examples', '40', '--seed', '9']);
  assert.equal(convs.length, 40);
  const seen = new Set<string>();
  for (const c of convs) {
    const m = /^Pairs: (.+)\.\nSay each again with its pair\.$/.exec(c.messages[0].content);
    assert.ok(m, c.messages[0].content);
    const valueOf = new Map(m[1].split(', ').map((kv) => kv.split(': ') as [string, string]));
    assert.equal(valueOf.size, 6);
    const reply = c.messages[1].content;
    assert.ok(reply.startsWith(' ') && reply.endsWith('.'), reply);
    const asked = reply
      .slice(1, -1)
      .split(', ')
      .map((kv) => kv.split(': '));
    assert.equal(asked.length, 6);
    for (const [k, v] of asked) {
      assert.equal(v, valueOf.get(k), `${k} answered ${v}`);
      assert.equal(splitOf(k), 'train');
      seen.add(k);
    }
  }
  // far more distinct keys than the one-token pools hold (every train-split core word is eligible)
  assert.ok(seen.size > 150, `${seen.size} distinct keys`);
});
