import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { runSft } from '../../src/index.js';
import { qa, stderrOf, tinyRun } from './fixture.js';

const convs = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!')];

test('resuming a stage already past --max-steps says there is nothing to train, not "step 4 of 2" or a decay to step 2', async () => {
  const runDir = tinyRun();
  try {
    await runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', steps: 4, quiet: true, log: () => {} });
    const log: string[] = [];
    let step = -1;
    const errs = await stderrOf(async () => {
      step = (await runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', steps: 2, log: (l) => log.push(l) })).step;
    });
    assert.equal(step, 4); // nothing was trained
    const all = [...log, ...errs].join('\n');
    assert.ok(!/step 4 of 2|step 4\/2|decaying to/.test(all), all);
    // called from the library, the lines name runSft's option `steps`, not the CLI's --max-steps (newcomer22)
    assert.ok(
      log.some((l) => l.includes('already at step 4, past steps 2: nothing to train; give steps > 4 to train on')),
      log.join('\n'),
    );
    assert.ok(
      errs.some((l) => l.startsWith('sft-x: resuming ') && l.includes('past steps 2: nothing to train')),
      errs.join('\n'),
    );
    assert.ok(!all.includes('--max-steps'), all);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
