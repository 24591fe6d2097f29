import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

/**
 * A fresh directory under the system's temp directory (`os.tmpdir()`, so `TMPDIR` moves it),
 * removed when the test file's process exits: node's test runner gives each file its own
 * process, so one hook per file cleans up after every test in it, passed or failed, without a
 * `t.after` in each.
 */
export function tempDir(prefix = 'gf-test-'): string {
  if (made.length === 0) process.once('exit', () => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
