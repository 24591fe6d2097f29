import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Conversation, loadModel, runSft } from '../../src/index.js';
import { qa, stderrOf, tinyRun } from './fixture.js';

const mine = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!')];
const other = [qa('What is 2+2?', '4.'), qa('Name a colour.', 'Blue.'), qa('Say bye.', 'Bye!')];

const warned = (lines: string[]): string | undefined => lines.find((l) => l.includes("warning: sft-mine's checkpoint was trained on"));

test('resuming a stage on other data than it was trained on is refused, naming both (with their data hashes) and --fresh, --into, --allow-data-change; allowed, it warns and trains on; the same data, or an unrecorded one, resumes silently', async () => {
  const runDir = tinyRun();
  try {
    const sft = (conversations: Conversation[], steps: number, allowDataChange?: boolean) => runSft(runDir, { conversations, onlyData: true, into: 'sft-mine', steps, quiet: true, log: () => {}, allowDataChange });
    await sft(mine, 2);
    // the same data: silent
    assert.equal(warned(await stderrOf(() => sft(mine, 3))), undefined);
    const before = loadModel(runDir, 'sft-mine', { fresh: true }).dir;
    // other data: refused before anything is trained or written, naming the ways on
    await assert.rejects(
      () => sft(other, 4),
      (e: Error) =>
        /trainer_state\.json, field "data": cannot resume: sft-mine's checkpoint was trained on conversations×1 \(\d+ conversations, \d+ tokens\) \(data hash [0-9a-f]{16}\), but this run trains it on conversations×1 \(\d+ conversations, \d+ tokens\) \(data hash [0-9a-f]{16}\).*--fresh starts this stage over.*--into <another stage>.*--allow-data-change resumes/.test(
          e.message,
        ) || assert.fail(e.message),
    );
    assert.equal(loadModel(runDir, 'sft-mine', { fresh: true }).dir, before, 'nothing saved');
    // the same counts but other words: the hash tells them apart (a description alone would not)
    const same = [qa('Who are you?', 'I am Fjord.'), qa('Say hello.', 'Hello!')];
    await assert.rejects(() => sft(same, 4), /cannot resume/);
    // allowed: a warning naming both, and training goes on
    let result: Awaited<ReturnType<typeof sft>> | undefined;
    const errs = await stderrOf(async () => {
      result = await sft(other, 4, true);
    });
    const w = warned(errs);
    assert.ok(w?.startsWith('sft-mine: warning:') && w.includes('resuming anyway (--allow-data-change)'), errs.join('\n'));
    assert.equal(result?.step, 4);
    // the checkpoint now records the data it was last trained on: resuming on it is silent
    assert.equal(warned(await stderrOf(() => sft(other, 5))), undefined);
    // a checkpoint without the record (older gptforge) resumes silently
    const ck = loadModel(runDir, 'sft-mine', { fresh: true }).dir;
    const state = JSON.parse(readFileSync(join(ck, 'trainer_state.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(typeof state.data, 'string');
    assert.match(String(state.dataHash), /^[0-9a-f]{16}$/);
    delete state.data;
    delete state.dataHash;
    writeFileSync(join(ck, 'trainer_state.json'), JSON.stringify(state));
    assert.equal(warned(await stderrOf(() => sft(mine, 6))), undefined);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
