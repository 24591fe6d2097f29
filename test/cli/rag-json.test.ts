import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './fixture.js';

test('rag query --json names its fields in snake_case, as the server does (char_start, not charStart)', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-json-'));
  try {
    const docs = join(root, 'docs');
    mkdirSync(docs);
    writeFileSync(join(docs, 'a.md'), 'Ephemeral means lasting a very short time.\n');
    const db = join(root, 'kb.db');
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    const idx = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(idx.status, 0, idx.stderr);
    const r = run(['rag', 'query', '--db', db, 'ephemeral', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const hits = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.equal(hits.length, 1);
    const h = hits[0];
    assert.equal(h.char_start, 0);
    assert.equal(h.char_end, String(h.text).length);
    assert.equal(typeof h.byte_end, 'number');
    assert.match(String(h.text), /^Ephemeral means/);
    assert.equal(typeof h.score, 'number');
    for (const k of Object.keys(h)) assert.doesNotMatch(k, /[A-Z]/, `camelCase key ${k}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
