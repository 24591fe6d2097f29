import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Conversation, loadModel, runSft } from '../../src/index.js';
import { qa, stderrOf, tinyRun } from './fixture.js';

const mine = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!')];
const other = [qa('What is 2+2?', '4.'), qa('Name a colour.', 'Blue.'), qa('Say bye.', 'Bye!')];

const warned = (lines: string[]): string | undefined => lines.find((l) => l.includes('warning: resuming a stage trained on'));

test('resuming a stage on other data than it was trained on warns, naming both and --fresh; the same data, or an unrecorded one, resumes silently', async () => {
  const runDir = tinyRun();
  try {
    const sft = (conversations: Conversation[], steps: number) => runSft(runDir, { conversations, onlyData: true, into: 'sft-mine', steps, quiet: true, log: () => {} });
    await sft(mine, 2);
    // the same data: silent
    assert.equal(warned(await stderrOf(() => sft(mine, 3))), undefined);
    // other data: a warning naming both and the way out, and training goes on
    let result: Awaited<ReturnType<typeof sft>> | undefined;
    const errs = await stderrOf(async () => {
      result = await sft(other, 4);
    });
    const w = warned(errs);
    assert.ok(w, errs.join('\n'));
    assert.ok(w.startsWith('sft-mine: warning:'), w);
    const m = /trained on (conversations×1 \(\d+ conversations, \d+ tokens\)), but this run trains it on (conversations×1 \(\d+ conversations, \d+ tokens\)) .*--fresh starts over/.exec(w);
    assert.ok(m && m[1] !== m[2], w);
    assert.equal(result?.step, 4);
    // the checkpoint now records the data it was last trained on: resuming on it is silent
    assert.equal(warned(await stderrOf(() => sft(other, 5))), undefined);
    // a checkpoint without the record (older gptforge) resumes silently
    const ck = loadModel(runDir, 'sft-mine', { fresh: true }).dir;
    const state = JSON.parse(readFileSync(join(ck, 'trainer_state.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(typeof state.data, 'string');
    delete state.data;
    writeFileSync(join(ck, 'trainer_state.json'), JSON.stringify(state));
    assert.equal(warned(await stderrOf(() => sft(mine, 6))), undefined);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
