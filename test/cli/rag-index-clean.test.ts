import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './fixture.js';

/** A first `rag index` that fails leaves no empty store behind; a failed re-index keeps the store it found. */
test('rag index: a failed first run removes the store it created; an existing store is kept', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-clean-'));
  try {
    const db = join(dir, 'x.db');
    const run = (input: string) => spawnSync(process.execPath, [CLI, 'rag', 'index', '--input', input, '--db', db], { encoding: 'utf8', timeout: 30_000 });
    const bad = run(join(dir, 'nope/'));
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, /no such file or directory/);
    assert.deepEqual(readdirSync(dir), [], 'no store, no -wal/-shm');
    writeFileSync(join(dir, 'a.txt'), 'hello world, a small text to index.\n');
    assert.equal(run(join(dir, 'a.txt')).status, 0);
    assert.equal(run(join(dir, 'nope/')).status, 1);
    assert.ok(existsSync(db), 'the store a failed re-index found is kept');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
