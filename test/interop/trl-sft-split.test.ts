import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConversation } from '../../src/data/chat.js';
import { sftConversations } from '../../src/data/export.js';
import { buildSftDataset, type SftMixtureConfig } from '../../src/data/sft.js';
import type { Conversation } from '../../src/data/conversation.js';
import { smallTokenizer, tempDir } from './fixtures.js';

const conv = (i: number, tag = 'item'): Conversation => ({
  messages: [
    { role: 'user', content: `What is ${tag} ${i}?` },
    { role: 'assistant', content: `${tag} ${i} is number ${i}.` },
  ],
});

test('export --format trl: a user file is split as the SFT stage splits it (valFraction held out as test, left out of train)', () => {
  const dir = tempDir();
  const file = join(dir, 'mine.jsonl');
  const all = Array.from({ length: 30 }, (_, i) => conv(i));
  writeFileSync(file, all.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const cfg: SftMixtureConfig = { sources: [{ path: file, weight: 1 }], examples: 60, valFraction: 0.2, seed: 7 };
  const tok = smallTokenizer();
  const { train, test: held } = sftConversations(tok, cfg, 512, 'preset.json');
  assert.equal(held.length, 6, '20% of 30');
  assert.equal(train.length, 24, 'each remaining conversation once');
  const key = (c: Conversation) => c.messages[0].content;
  assert.deepEqual(new Set([...train, ...held].map(key)), new Set(all.map(key)), 'together: the whole file');
  assert.ok(!held.some((c) => train.map(key).includes(key(c))), 'disjoint');
  // and none of the held-out ones is trained on
  const ds = buildSftDataset(tok, cfg, 512);
  const stageHeld = ds.val.get('mine')!.map((r) => r.ids.join(','));
  const trained = new Set(ds.train.map((r) => r.ids.join(',')));
  assert.ok(!stageHeld.some((ids) => trained.has(ids)));
  // valFraction 0: nothing held out, as in training
  assert.equal(sftConversations(tok, { ...cfg, valFraction: 0 }, 512, 'preset.json').test.length, 0);
  assert.throws(() => sftConversations(tok, { ...cfg, valFraction: 1 }, 512, 'preset.json'), /valFraction must be a number in \[0, 1\)/);
});

test("export --format trl reads the mixture with the stage's loader: its test split is the stage's held-out conversations (skips, writers, in-memory sources)", () => {
  const dir = tempDir();
  const file = join(dir, 'mine.jsonl');
  const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify(conv(i)));
  // too long for a row of 64 tokens: skipped by training with onBad skip, so it must not shift the export's split
  lines.splice(
    2,
    0,
    JSON.stringify({
      messages: [
        { role: 'user', content: 'Tell me everything.' },
        { role: 'assistant', content: 'word '.repeat(200) },
      ],
    }),
  );
  writeFileSync(file, lines.join('\n') + '\n');
  const cfg: SftMixtureConfig = {
    sources: [
      { task: 'arithmetic', weight: 1 },
      { path: file, weight: 1 },
      { conversations: Array.from({ length: 12 }, (_, i) => conv(i, 'thing')), weight: 1, name: 'inline' },
    ],
    examples: 300,
    testPerTask: 4,
    valFraction: 0.2,
    onBad: 'skip',
    writerErrorRate: 0.5,
    seed: 3,
  };
  const tok = smallTokenizer();
  const maxTokens = 64;
  const ids = (c: Conversation): string => renderConversation(tok, c).ids.join(',');
  const exported = sftConversations(tok, cfg, maxTokens, 'preset.json');
  const ds = buildSftDataset(tok, cfg, maxTokens);
  // the test split: exactly the stage's held-out conversations, source by source
  const stageHeld = [...ds.val.values()].flat().map((r) => r.ids.join(','));
  assert.deepEqual(exported.test.map(ids), stageHeld);
  assert.equal(ds.val.get('inline')?.length, 2, 'an in-memory source is held out like a file');
  assert.equal(exported.skips.length, 1, 'the long line is skipped, as training skips it');
  // the task's training conversations, spoilt by the same simulated writers
  const stageTask = ds.train.filter((r) => r.source === 'arithmetic').map((r) => r.ids.join(','));
  const exportedTask = exported.train.slice(0, stageTask.length).map(ids);
  assert.deepEqual(exportedTask, stageTask);
  assert.ok(
    (ds.report.find((r) => r.name === 'arithmetic')?.writerErrors ? Object.values(ds.report.find((r) => r.name === 'arithmetic')!.writerErrors!) : []).some((n) => n > 0),
    'some demonstrations spoilt',
  );
  // the user sources' distinct training conversations, each once
  const stageUser = new Set(ds.train.filter((r) => r.source !== 'arithmetic').map((r) => r.ids.join(',')));
  const exportedUser = exported.train.slice(stageTask.length).map(ids);
  assert.equal(exportedUser.length, 30 - 4 + 12 - 2, 'the file holds out testPerTask (4), the in-memory source 20% of 12');
  assert.deepEqual(new Set(exportedUser), stageUser);
});
