import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { expandInputs } from '../../src/util/files.js';

test('expandInputs: files, directories and globs (*, **, {a,b}) sorted and deduplicated; absolute patterns give absolute paths; a glob matching nothing names itself', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-files-'));
  try {
    for (const f of ['a.md', 'b.txt', 'sub/c.md', 'sub/deep/d.md', 'sub/.hidden.md', 'e.json']) {
      mkdirSync(join(root, f, '..'), { recursive: true });
      writeFileSync(join(root, f), 'x');
    }
    const md = ['.md', '.txt'];
    assert.deepEqual(expandInputs([join(root, '*.md')], { extensions: md }), [join(root, 'a.md')]);
    assert.deepEqual(
      expandInputs([join(root, '**/*.md')], { extensions: md }),
      ['a.md', 'sub/.hidden.md', 'sub/c.md', 'sub/deep/d.md'].map((f) => join(root, f)),
    );
    assert.deepEqual(expandInputs([join(root, '*.{md,txt}'), join(root, 'a.md')], { extensions: md }), [join(root, 'a.md'), join(root, 'b.txt')]);
    assert.deepEqual(
      expandInputs([join(root, 'sub')], { extensions: md }),
      ['sub/.hidden.md', 'sub/c.md', 'sub/deep/d.md'].map((f) => join(root, f)),
    );
    const rel = relative(process.cwd(), root);
    assert.deepEqual(expandInputs([`${rel}/sub/*.md`], { extensions: md }), [join(rel, 'sub/.hidden.md'), join(rel, 'sub/c.md')]);
    assert.throws(() => expandInputs([join(root, '*.parquet')], { extensions: ['.parquet'] }), /the glob matches no \.parquet files/);
    assert.throws(() => expandInputs([join(root, 'nope.md')]), /no such file or directory/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
