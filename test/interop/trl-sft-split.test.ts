import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConversation } from '../../src/data/chat.js';
import { sftConversations } from '../../src/data/export.js';
import { buildSftDataset, type SftMixtureConfig } from '../../src/data/sft.js';
import type { Conversation } from '../../src/data/conversation.js';
import { smallTokenizer, tempDir } from './fixtures.js';

const conv = (i: number): Conversation => ({
  messages: [
    { role: 'user', content: `What is item ${i}?` },
    { role: 'assistant', content: `Item ${i} is number ${i}.` },
  ],
});

test('export --format trl: a user file is split as the SFT stage splits it (valFraction held out as test, left out of train)', () => {
  const dir = tempDir();
  const file = join(dir, 'mine.jsonl');
  const all = Array.from({ length: 30 }, (_, i) => conv(i));
  writeFileSync(file, all.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const cfg: SftMixtureConfig = { sources: [{ path: file, weight: 1 }], examples: 60, valFraction: 0.2, seed: 7 };
  const { train, test: held } = sftConversations(cfg, 'preset.json');
  assert.equal(held.length, 6, '20% of 30');
  assert.equal(train.length, 24, 'each remaining conversation once');
  const key = (c: Conversation) => c.messages[0].content;
  assert.deepEqual(new Set([...train, ...held].map(key)), new Set(all.map(key)), 'together: the whole file');
  assert.ok(!held.some((c) => train.map(key).includes(key(c))), 'disjoint');
  // the very conversations the SFT stage holds out for its validation loss
  const tok = smallTokenizer();
  const ds = buildSftDataset(tok, cfg, 512);
  const stageHeld = ds.val.get('mine')!.map((r) => r.ids.join(','));
  assert.deepEqual(
    held.map((c) => renderConversation(tok, c).ids.join(',')),
    stageHeld,
  );
  // and none of them is trained on
  const trained = new Set(ds.train.map((r) => r.ids.join(',')));
  assert.ok(!stageHeld.some((ids) => trained.has(ids)));
  // valFraction 0: nothing held out, as in training
  assert.equal(sftConversations({ ...cfg, valFraction: 0 }, 'preset.json').test.length, 0);
  assert.throws(() => sftConversations({ ...cfg, valFraction: 1 }, 'preset.json'), /valFraction must be a number in \[0, 1\)/);
});
