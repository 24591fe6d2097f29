import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hitJSON } from '../../src/cli/rag.js';
import { ragIndex, ragQuery } from '../../src/run/rag.js';

// rag19 #2: `rag query --json` printed `scores.bm25Relative` (camelCase) where docs/rag.md says to read `scores.bm25_relative`
test('rag query --json: nested score names in snake_case too — scores.bm25 raw, scores.bm25_relative in (0, 1] (what the cutoff compares)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-hitjson-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a.md'), 'Whales breathe air through a blowhole.\n\nCats purr and chase mice.\n');
  writeFileSync(join(dir, 'b.md'), 'Mice eat grain. Owls hunt mice at night.\n');
  const db = join(dir, 'kb.db');
  await ragIndex(db, { inputs: [dir] });
  for (const q of ['whales blowhole', 'mice']) {
    const hits = ragQuery(db, q, { k: 3 }).map(hitJSON);
    assert.ok(hits.length > 0, q);
    for (const h of hits) {
      const scores = h.scores as Record<string, number>;
      assert.deepEqual(Object.keys(scores).sort(), ['bm25', 'bm25_relative'], JSON.stringify(h));
      assert.equal(scores.bm25, h.score);
      assert.ok(scores.bm25_relative > 0 && scores.bm25_relative <= 1, JSON.stringify(scores));
      assert.ok('char_start' in h && !('charStart' in h));
      assert.deepEqual(Object.keys(h.ranks as object), ['bm25']);
    }
  }
});
