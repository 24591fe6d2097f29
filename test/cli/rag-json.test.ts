import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, withDocs } from '../rag/helpers.js';

test('rag query --json names its fields in snake_case, as the server does (char_start, not charStart)', () =>
  withDocs('gf-rag-json-', { 'a.md': 'Ephemeral means lasting a very short time.\n' }, ({ docs, db }) => {
    const idx = runCli(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(idx.status, 0, idx.stderr);
    const r = runCli(['rag', 'query', '--db', db, 'ephemeral', '--json']);
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
  }));
