import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkLines } from '../../src/rag/lines.js';
import type { StoredChunk } from '../../src/rag/store.js';

test('chunkLines: the lines a chunk spans, read again when the file changes (same size too), null once the chunk is gone', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-chunklines-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'notes.md');
  const text = '# Pets\n\nCats purr.\nDogs bark.\n\nFish swim.\n';
  writeFileSync(path, text);
  const chunkText = 'Cats purr.\nDogs bark.\n';
  const start = text.indexOf(chunkText);
  const chunk = { id: 1, path, source: 'dir', text: chunkText, charStart: start, charEnd: start + chunkText.length } as StoredChunk;
  assert.deepEqual(chunkLines(chunk), { line: 3, line_end: 4 });
  assert.deepEqual(chunkLines(chunk), { line: 3, line_end: 4 }, 'a second request: the same answer');
  // the same size, another mtime: read again (the chunk, at the same offsets, is now on lines 4–5)
  const edited = '#\nPets\n\nCats purr.\nDogs bark.\n\nFish swim.\n';
  assert.equal(edited.length, text.length);
  writeFileSync(path, edited);
  utimesSync(path, new Date(), new Date(Date.now() + 5000));
  assert.deepEqual(chunkLines(chunk), { line: 4, line_end: 5 });
  // another size: read again; the old offsets no longer hold the chunk
  writeFileSync(path, 'Fish swim.\n' + text);
  assert.deepEqual(chunkLines(chunk), { line: null, line_end: null });
  rmSync(path);
  assert.deepEqual(chunkLines(chunk), { line: null, line_end: null }, 'a deleted file');
  // a JSONL document's own line needs no file
  assert.deepEqual(chunkLines({ ...chunk, line: 12 }), { line: 12, line_end: 12 });
});
