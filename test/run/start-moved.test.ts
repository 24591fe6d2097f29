import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadModel, runSft, saveCheckpoint } from '../../src/index.js';
import { qa, stderrOf, tinyRun } from './fixture.js';

const convs = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!')];

const startedFrom = (ck: string): string => (JSON.parse(readFileSync(join(ck, 'trainer_state.json'), 'utf8')) as { startedFrom: string }).startedFrom;
const warned = (lines: string[]): boolean => lines.some((l) => l.includes('warning: resuming a run that started from'));

test('a moved run resumes its stage silently (the start is recorded relative to the run); a retrained parent still warns', async () => {
  const oldDir = tinyRun();
  const runDir = `${oldDir}-moved`;
  try {
    const sft = (steps: number, log?: string[]) => runSft(runDir, { conversations: convs, onlyData: true, into: 'sft-x', steps, quiet: true, log: (l) => log?.push(l) });
    const first = await runSft(oldDir, { conversations: convs, onlyData: true, into: 'sft-x', steps: 2, quiet: true, log: () => {} });
    const base = loadModel(oldDir, 'base').dir;
    assert.equal(startedFrom(first.checkpoint!), relative(oldDir, base)); // base/step-…
    cpSync(oldDir, runDir, { recursive: true });
    rmSync(oldDir, { recursive: true, force: true });

    // moved: no warning, and the setup line names the start inside the new place
    const log: string[] = [];
    const errs = await stderrOf(() => sft(3, log));
    assert.ok(!warned(errs), errs.join('\n'));
    const movedBase = loadModel(runDir, 'base').dir;
    assert.ok(
      log.some((l) => l.includes(`(the stage started from ${movedBase})`)),
      log.join('\n'),
    );

    // a checkpoint of an older gptforge holds the absolute start of the run's old place: read compatibly
    const ck = loadModel(runDir, 'sft-x', { fresh: true }).dir;
    const state = JSON.parse(readFileSync(join(ck, 'trainer_state.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(ck, 'trainer_state.json'), JSON.stringify({ ...state, startedFrom: base }));
    const legacyLog: string[] = [];
    const legacyErrs = await stderrOf(() => sft(4, legacyLog));
    assert.ok(!warned(legacyErrs), legacyErrs.join('\n'));
    // …and the setup line names the start's place now, not the old place the record holds
    assert.ok(
      legacyLog.some((l) => l.includes(`(the stage started from ${movedBase})`)),
      legacyLog.join('\n'),
    );
    assert.equal(startedFrom(loadModel(runDir, 'sft-x', { fresh: true }).dir), relative(runDir, movedBase)); // recorded afresh, relative

    // the base retrained since (a later checkpoint): the resume continues the older model, and says so
    const { model, tok } = loadModel(runDir, 'base');
    saveCheckpoint(join(runDir, 'base'), model, { stage: 'pretrain', step: 7, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const retrained = loadModel(runDir, 'base', { fresh: true }).dir;
    assert.notEqual(retrained, movedBase);
    const staleErrs = await stderrOf(() => sft(5));
    assert.ok(
      staleErrs.some((l) => l.startsWith(`sft-x: warning: resuming a run that started from ${movedBase}, but this run starts from ${retrained}`)),
      staleErrs.join('\n'),
    );
  } finally {
    rmSync(oldDir, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
  }
});
