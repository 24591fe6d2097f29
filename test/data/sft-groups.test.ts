import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RenderedConversation } from '../../src/data/chat.js';
import { buildSftDataset, PackedLoader, type SftItem } from '../../src/data/sft.js';
import type { Conversation } from '../../src/data/conversation.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { GptforgeError } from '../../src/util/errors.js';

/**
 * SftSourceConfig.groupSize: consecutive conversations (a contrast pair) drawn as whole groups
 * and laid out by PackedLoader on consecutive rows of one batch (docs/journal/rag.md
 * "Fifteenth attempt": the pairs were shuffled thousands of steps apart before).
 */

const T = 31;
const B = 5;
const PAD = 0;

/** An item whose every token is `id` (so a row's first token names the item that starts it). */
const item = (id: number, len: number, group?: number): RenderedConversation & { group?: number } => ({ ids: Array(len).fill(id), mask: Array(len).fill(1), ...(group !== undefined ? { group } : {}) });

/** Every batch's row starts (the first token of each of its B rows) for `n` batches. */
function rowStarts(loader: PackedLoader, n: number): number[][] {
  return Array.from({ length: n }, () => {
    const b = loader.next();
    return Array.from({ length: B }, (_, r) => b.inputs[r * T]);
  });
}

test('PackedLoader: a group starts each member on its own row, on consecutive rows of one batch, across epochs; a resume sees the same batches', () => {
  const items: (RenderedConversation & { group?: number })[] = [];
  // 30 groups: pairs and every fourth a triple (ids 100+), members of 20 tokens (two never share a row of 32), and short ungrouped items (ids 1–81)
  const size = (g: number): number => (g % 4 === 0 ? 3 : 2);
  for (let g = 0; g < 30; g++) for (let m = 0; m < size(g); m++) items.push(item(100 + 10 * g + m, 20, g));
  for (let i = 1; i < 82; i++) items.push(item(i, 3 + (i % 5)));
  const loader = new PackedLoader(items, B, T, PAD, 7);
  const rowsPerEpoch = loader.rowsPerEpoch;
  assert.notEqual(rowsPerEpoch % B, 0, 'epochs that end mid-batch (the offset case)');
  const batches = rowStarts(loader, Math.ceil((3 * rowsPerEpoch) / B) + 2); // three epochs and more
  const groupOf = (id: number): number => Math.floor((id - 100) / 10);
  let seen = 0;
  batches.forEach((starts, bi) => {
    const members = starts.filter((id) => id >= 100);
    for (const id of new Set(members.map(groupOf))) {
      const rows = starts.map((s, r) => (s >= 100 && groupOf(s) === id ? r : -1)).filter((r) => r >= 0);
      assert.equal(rows.length, size(id), `batch ${bi}: group ${id} split across batches (${starts})`);
      assert.equal(rows[rows.length - 1] - rows[0], rows.length - 1, `batch ${bi}: group ${id} not on consecutive rows (${starts})`);
      seen++;
    }
  });
  assert.ok(seen >= 3 * 30, `${seen} groups seen`);
  // a resume from any saved position, across an epoch's end, gives the same batches
  const a = new PackedLoader(items, B, T, PAD, 7);
  for (let i = 0; i < Math.ceil(rowsPerEpoch / B) + 1; i++) a.next();
  const saved = JSON.parse(JSON.stringify(a.state()));
  const b = new PackedLoader(items, B, T, PAD, 7);
  b.restore(saved);
  assert.deepEqual(rowStarts(b, 6), rowStarts(a, 6));
});

test('PackedLoader: without groups the rows pack best-fit as before (several conversations a row)', () => {
  const items = Array.from({ length: 40 }, (_, i) => item(i + 1, 5 + (i % 7)));
  const loader = new PackedLoader(items, B, T, PAD, 3);
  assert.ok(loader.rowsPerEpoch < items.length / 2, `${loader.rowsPerEpoch} rows for 40 short items`);
  assert.equal(loader.state().offset, undefined);
});

const convs = (n: number): Conversation[] =>
  Array.from({ length: n }, (_, i) => ({
    messages: [
      { role: 'user', content: `question ${i}` },
      { role: 'assistant', content: `answer ${i}` },
    ],
  }));
const tok = trainTokenizer(
  convs(20).flatMap((c) => c.messages.map((m) => m.content)),
  { vocabSize: 300 },
);
const answerOf = (it: SftItem): string => tok.decode(it.ids.filter((_, i) => it.mask[i] === 1));

test('buildSftDataset: groupSize keeps consecutive conversations together — drawn as whole groups, one group id each', () => {
  const d = buildSftDataset(
    tok,
    {
      sources: [
        { conversations: convs(10), weight: 1, groupSize: 2 },
        { conversations: convs(7), weight: 1 },
      ],
      examples: 26,
      seed: 5,
    },
    200,
  );
  const grouped = d.train.filter((it) => it.group !== undefined);
  assert.equal(grouped.length, 14, '13 → 7 whole pairs');
  for (let i = 0; i < grouped.length; i += 2) {
    assert.equal(grouped[i].group, grouped[i + 1].group);
    const n = Number(/answer (\d+)/.exec(answerOf(grouped[i]))![1]);
    assert.equal(n % 2, 0, 'a group starts at an even line');
    assert.match(answerOf(grouped[i + 1]), new RegExp(`answer ${n + 1}\\b`), 'its partner is the next line');
  }
  assert.equal(new Set(grouped.map((it) => it.group)).size, 7);
  assert.ok(d.train.filter((it) => it.group === undefined).length > 0);
});

test('buildSftDataset: groupSize refused on a task, when not whole, or when a line would be skipped — naming the field', () => {
  const err = (cfg: Parameters<typeof buildSftDataset>[1], re: RegExp): void =>
    assert.throws(
      () => buildSftDataset(tok, cfg, 200, 'm.json'),
      (e: unknown) => e instanceof GptforgeError && re.test(e.message) && /groupSize/.test(e.message),
    );
  err({ sources: [{ task: 'chat', weight: 1, groupSize: 2 }] }, /file or conversations source/);
  err({ sources: [{ conversations: convs(5), weight: 1, groupSize: 2 }] }, /not whole groups of 2/);
  err({ sources: [{ conversations: convs(4), weight: 1, groupSize: 0 }] }, /whole number ≥ 1/);
  const bad = [...convs(3), { messages: [{ role: 'user', content: 'no reply' }] } as Conversation];
  err({ sources: [{ conversations: bad, weight: 1, groupSize: 2 }], onBad: 'skip' }, /shift every later group/);
});

test('buildSftDataset: the held-out split of a grouped source takes whole groups, never half a pair', () => {
  const d = buildSftDataset(tok, { sources: [{ conversations: convs(40), weight: 1, groupSize: 2 }], examples: 60, seed: 3 }, 200);
  const held = [...d.val.values()].flat().map((it) => Number(/answer (\d+)/.exec(answerOf(it))![1]));
  assert.equal(held.length, 4, '10% of 20 pairs = 2 pairs');
  const heldSet = new Set(held);
  for (const n of held) assert.ok(heldSet.has(n % 2 === 0 ? n + 1 : n - 1), `answer ${n} held out without its partner (${held})`);
  const trained = new Set(d.train.map((it) => Number(/answer (\d+)/.exec(answerOf(it))![1])));
  for (const n of held) assert.ok(!trained.has(n), `answer ${n} both held out and trained on`);
  assert.equal(d.train.length % 2, 0);
});
