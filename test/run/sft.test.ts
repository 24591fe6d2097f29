import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GptforgeError, MetricsLog, loadModel, runLayout, runSft, type Conversation } from '../../src/index.js';
import { tinyRun } from './fixture.js';

const qa = (q: string, a: string): Conversation => ({
  messages: [
    { role: 'user', content: q },
    { role: 'assistant', content: a },
  ],
});
const good = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!')];

test('runSft: in-memory conversations are validated by index; onBad skip counts them; an abort saves and says interrupted', async () => {
  const runDir = tinyRun();
  try {
    // a conversation ending on the user's turn has nothing to learn: named by source and index
    const bad = [...good, { messages: [{ role: 'user', content: 'no answer' }] } as Conversation];
    await assert.rejects(
      () => runSft(runDir, { conversations: bad, onlyData: true, steps: 2, quiet: true }),
      (e: unknown) => e instanceof GptforgeError && /sources\[0\]\.conversations\[2\]/.test(e.message),
    );
    assert.ok(!existsSync(runLayout(runDir).stage('sft-x')));
    await assert.rejects(() => runSft(runDir, { onlyData: true, quiet: true }), /onlyData needs conversations/);

    // skip: the bad one is counted; training on the rest from the base model into <run>/sft-x
    const ac = new AbortController();
    const steps: number[] = [];
    const logged: string[] = [];
    const r = await runSft(runDir, {
      log: (l) => logged.push(l),
      conversations: bad,
      onBad: 'skip',
      onlyData: true,
      into: 'sft-x',
      steps: 50,
      quiet: true,
      signal: ac.signal,
      onStep: (rec) => {
        steps.push(rec.step);
        if (rec.step === 3) ac.abort();
      },
    });
    assert.deepEqual(
      r.report.map((s) => [s.name, s.skipped]),
      [['conversations', 1]],
    );
    assert.equal(r.report[0].conversations, 64); // resampled to the preset's `examples`
    assert.ok(r.interrupted);
    assert.equal(r.step, 3);
    assert.deepEqual(steps, [1, 2, 3]);
    assert.equal(r.stageDir, join(runDir, 'sft-x'));
    assert.equal(loadModel(runDir, 'sft-x').dir, r.checkpoint);
    assert.equal(new MetricsLog(runDir).read('sft-x').length, 3);

    const base = loadModel(runDir, 'base').dir;
    assert.ok(
      logged.some((l) => l.startsWith(`sft-x: from ${base}; `)),
      logged.join('\n'),
    );

    // resumed (not fresh): continues from step 3 to the end, and says so rather than "from base"
    const resumedLog: string[] = [];
    const again = await runSft(runDir, { conversations: good, onlyData: true, into: 'sft-x', steps: 5, quiet: true, log: (l) => resumedLog.push(l) });
    assert.equal(again.step, 5);
    assert.ok(
      resumedLog.some((l) => l.startsWith(`sft-x: resuming ${r.checkpoint} at step 3 of 5 (the stage started from ${base}); `)),
      resumedLog.join('\n'),
    );
    assert.ok(!resumedLog.some((l) => l.startsWith('sft-x: from ')), resumedLog.join('\n'));
    assert.deepEqual(
      again.history.filter((h) => typeof h.loss === 'number').map((h) => h.step),
      [1, 2, 3, 4, 5],
    );
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
