import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatPrompts } from '../../src/data/synthetic/chat.js';
import { fnv1a } from '../../src/data/synthetic/split.js';
import { detectChatIntent, taskByName } from '../../src/data/synthetic/tasks.js';

// The chat family's frames (openers, closing sentences) multiply its prompts; they must keep
// every earlier item in its split (the reward model's cached held-out comparisons, and every
// trained model's test split, were made before them) and keep each prompt's intent readable.

/** The distinct prompts before frames, as `chat.generate` drew them at commit 1796c4d: count and FNV-1a of the sorted list. */
const BEFORE_FRAMES = { train: { count: 442, hash: 'ada1acb0' }, test: { count: 160, hash: '20499ab7' } };

const fingerprint = (prompts: string[]): { count: number; hash: string } => {
  const sorted = [...new Set(prompts)].sort();
  return { count: sorted.length, hash: fnv1a(sorted.join('\n')).toString(16) };
};

test('chat frames: the bare phrasings keep their split exactly; framed prompts are many more', () => {
  for (const split of ['train', 'test'] as const) {
    const all = chatPrompts(split);
    assert.deepEqual(fingerprint(all.filter((p) => p.frame === '{p}').map((p) => p.prompt)), BEFORE_FRAMES[split], split);
    assert.ok(new Set(all.map((p) => p.prompt)).size >= 5 * BEFORE_FRAMES[split].count, `${split}: ${all.length} prompts`);
  }
});

test('chat frames: train and test prompts are disjoint, and every prompt reads as its intent', () => {
  const train = chatPrompts('train');
  const test_ = chatPrompts('test');
  const trainSet = new Set(train.map((p) => p.prompt));
  for (const p of test_) assert.ok(!trainSet.has(p.prompt), `test prompt also in train: ${p.prompt}`);
  for (const p of [...train, ...test_]) assert.equal(detectChatIntent(p.prompt), p.intent, p.prompt);
  // a held-out frame is held out whatever the phrasing: no framed train prompt uses a test-only frame
  const trainFrames = new Set(train.map((p) => p.frame));
  const testOnly = [...new Set(test_.map((p) => p.frame))].filter((f) => !trainFrames.has(f));
  assert.ok(testOnly.length >= 3, `frames seen only in test: ${testOnly.join(' | ')}`);
});

test('chat frames: generate draws framed prompts, each with an answer its checker accepts', () => {
  const t = taskByName('chat');
  const train = t.generate('train', 600, 5);
  const framed = train.filter((ex) => !chatPrompts('train').some((p) => p.frame === '{p}' && p.prompt === ex.prompt));
  assert.ok(framed.length > 400, `${framed.length} of 600 framed`);
  for (const ex of train) {
    const m = ex.conversation.messages.at(-1)!;
    assert.ok(t.check(ex.prompt, String(m.content)), `${ex.prompt} → ${String(m.content)}`);
  }
});
