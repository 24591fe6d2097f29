import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMixtureConfig, resolveSourcePaths } from '../../src/data/mixture.js';
import { expandInputs } from '../../src/util/files.js';

// README's example source "~/notes/**/*.md" and paths relative to the mixture file (newcomer24 #3)
const root = mkdtempSync(join(tmpdir(), 'gf-mix-paths-'));
after(() => rmSync(root, { recursive: true, force: true }));
const home = join(root, 'home');
mkdirSync(join(home, 'notes', 'sub'), { recursive: true });
writeFileSync(join(home, 'notes', 'sub', 'a.md'), 'x');
const mixDir = join(root, 'mixtures');
mkdirSync(join(mixDir, 'data'), { recursive: true });
writeFileSync(join(mixDir, 'data', 'chats.jsonl'), '{"text":"x"}\n');
const write = (paths: string[]): string => {
  const f = join(mixDir, `m${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify({ sources: [{ name: 'mine', paths, weight: 1 }], tokenBudget: 1000 }));
  return f;
};

test('a mixture source path: ~ is the home directory, a relative one is taken beside the mixture file', () => {
  const was = process.env.HOME;
  process.env.HOME = home;
  try {
    const c = loadMixtureConfig(write(['~/notes/**/*.md', 'data/chats.jsonl']));
    assert.deepEqual(c.sources[0].paths, [join(home, 'notes/**/*.md'), join(mixDir, 'data/chats.jsonl')]);
    assert.deepEqual(expandInputs(c.sources[0].paths!), [join(home, 'notes', 'sub', 'a.md'), join(mixDir, 'data', 'chats.jsonl')]);
  } finally {
    process.env.HOME = was;
  }
});

test('a source path found nowhere is refused with the mixture file, the field and both absolute paths tried', () => {
  const f = write(['data/chats.jsonl', 'nowhere/*.md']);
  // loading keeps it (a file a later step writes may not exist yet); the strict check data prepare runs refuses it
  assert.deepEqual(loadMixtureConfig(f).sources[0].paths, [join(mixDir, 'data/chats.jsonl'), 'nowhere/*.md']);
  assert.throws(
    () => resolveSourcePaths(loadMixtureConfig(f), f, { strict: true }),
    (e: Error) => {
      assert.ok(e.message.includes(f), e.message);
      assert.match(e.message, /sources\[0\]\.paths\[1\]/);
      assert.ok(e.message.includes(join(process.cwd(), 'nowhere/*.md')) && e.message.includes(join(mixDir, 'nowhere/*.md')), e.message);
      return true;
    },
  );
});

test('"no such file" from an input list shows the absolute path a relative one was looked for at', () => {
  assert.throws(
    () => expandInputs(['no-such-dir-xyz/a.txt']),
    (e: Error) => e.message.includes(join(process.cwd(), 'no-such-dir-xyz/a.txt')),
  );
});
