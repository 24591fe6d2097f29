import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ragIndex, ragQuery } from '../../src/run/rag.js';
import { runCli, withDocs } from '../rag/helpers.js';

/**
 * The path filter has one name: `pathGlob` (library, as SearchFilter's), `--path-glob` (CLI); the
 * old `path` / `--path` still filter, and both given and different is an error naming both.
 */
const FILES = { 'a.md': 'Ephemeral means lasting a very short time.\n', 'b.txt': 'An ephemeral stream flows only after rain.\n' };
const names = (hits: { path: string }[]): string[] => hits.map((h) => h.path.replace(/.*[\\/]/, '')).sort();

test('ragQuery: pathGlob filters by a glob over the file path; path is its deprecated alias; both and different is an error', () =>
  withDocs('gf-rag-glob-', FILES, async ({ docs, db }) => {
    await ragIndex(db, { inputs: [docs] });
    assert.deepEqual(names(ragQuery(db, 'ephemeral')), ['a.md', 'b.txt']);
    assert.deepEqual(names(ragQuery(db, 'ephemeral', { pathGlob: '*.md' })), ['a.md']);
    assert.deepEqual(names(ragQuery(db, 'ephemeral', { path: '*.txt' })), ['b.txt']);
    assert.deepEqual(names(ragQuery(db, 'ephemeral', { pathGlob: '*.md', path: '*.md' })), ['a.md']);
    assert.throws(() => ragQuery(db, 'ephemeral', { pathGlob: '*.md', path: '*.txt' }), /both pathGlob \("\*\.md"\) and its deprecated alias path \("\*\.txt"\)/);
  }));

test('gptforge rag query: --path-glob filters; --path still does, hidden from the help', () =>
  withDocs('gf-rag-glob-cli-', FILES, async ({ docs, db }) => {
    await ragIndex(db, { inputs: [docs] });
    for (const flag of ['--path-glob', '--path']) {
      const r = runCli(['rag', 'query', '--db', db, 'ephemeral', '--json', flag, '*.md']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(names(JSON.parse(r.stdout)), ['a.md'], flag);
    }
    const help = runCli(['rag', 'query', '--help']).stdout;
    assert.match(help, /--path-glob <glob>/);
    assert.doesNotMatch(help, /--path </);
  }));
