import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { runSft } from '../../src/index.js';
import { qa, stderrOf, tinyRun } from './fixture.js';

test('an SFT run --into another stage prefixes every line with that stage, its setup and skip warnings as its training lines', async () => {
  const runDir = tinyRun();
  try {
    const convs = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!'), qa('Tell me everything. '.repeat(40), 'No.')];
    const log: string[] = [];
    const errs = await stderrOf(() => runSft(runDir, { conversations: convs, onlyData: true, onBad: 'skip', into: 'sft-mine', steps: 2, log: (l) => log.push(l) }));
    const lines = [...log, ...errs].flatMap((l) => l.split('\n')).filter((l) => /^[\w-]+: /.test(l));
    assert.ok(
      lines.some((l) => l.includes('warning: skipped 1 conversation')),
      lines.join('\n'),
    ); // the skip warnings are there
    assert.ok(
      lines.some((l) => l.includes(' from ')),
      lines.join('\n'),
    ); // and the setup line
    const prefixes = new Set(lines.map((l) => l.slice(0, l.indexOf(': '))));
    assert.deepEqual([...prefixes], ['sft-mine'], lines.join('\n'));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
