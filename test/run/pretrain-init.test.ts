import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../src/model/checkpoint.js';
import { resolvePreset, runLayout, runPretrain } from '../../src/index.js';
import { writeTinyPreset } from '../cli/fixture.js';

/** Euclidean distance between two checkpoints' weights (same names and shapes). */
function distance(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let s = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2;
  }
  return Math.sqrt(s);
}

test('runPretrain initFrom: a curriculum phase starts from another run’s weights with its own step count and a fresh optimizer; its own checkpoint wins on resume; a different model is refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-init-'));
  try {
    // phase 1: 6 steps
    const a = resolvePreset(writeTinyPreset(join(root, 'in')), { run: join(root, 'a'), maxSteps: 6, checkpointEvery: 1 });
    // a signal aborted once the runner has started stops it after one step (one aborted before would reject)
    const stopAtStart = (): { signal: AbortSignal; log: (l: string) => void } => {
      const ac = new AbortController();
      return { signal: ac.signal, log: (l) => (l.startsWith('pretrain: ') ? ac.abort() : undefined) };
    };
    const a1 = await runPretrain(a.runDir, a.preset, { presetFile: a.file, quiet: true, ...stopAtStart() });
    const w1 = loadCheckpoint(a1.checkpoint!).weights;
    const a6 = await runPretrain(a.runDir, a.preset, { presetFile: a.file, quiet: true });
    assert.equal(a6.step, 6);
    const w6 = loadCheckpoint(a6.checkpoint!).weights;

    // phase 2: a new run on phase 1's tokenizer, one step from phase 1's weights
    const b = resolvePreset(a.file, { run: join(root, 'b'), maxSteps: 4, checkpointEvery: 1 });
    mkdirSync(b.runDir, { recursive: true });
    copyFileSync(runLayout(a.runDir).tokenizer, runLayout(b.runDir).tokenizer);
    const lines: string[] = [];
    const stopB = stopAtStart();
    const b1 = await runPretrain(b.runDir, b.preset, {
      presetFile: b.file,
      quiet: true,
      signal: stopB.signal,
      initFrom: a.runDir,
      log: (l) => {
        lines.push(l);
        stopB.log(l);
      },
    });
    assert.equal(b1.step, 1, 'the new phase counts its own steps');
    assert.ok(lines.some((l) => l.startsWith('pretrain: starting from the weights of')));
    const wb = loadCheckpoint(b1.checkpoint!).weights;
    // one step from phase 1's end, not from a random start: nearer step 6 than step 1 was
    assert.ok(distance(wb, w6) < 0.5 * distance(w1, w6), `phase 2 step 1 is ${distance(wb, w6)} from phase 1's end; phase 1's step 1 was ${distance(w1, w6)}`);

    // a re-run resumes phase 2's own checkpoint, it does not start over from initFrom
    const b4 = await runPretrain(b.runDir, b.preset, { presetFile: b.file, quiet: true, initFrom: a.runDir });
    assert.equal(b4.step, 4);
    assert.equal(b4.history.filter((r) => r.loss !== undefined && r.step === 1).length, 1);

    // another model shape is refused, naming the field
    const c = resolvePreset(a.file, { run: join(root, 'c') });
    c.preset.model = { ...c.preset.model, nEmbd: 16 };
    mkdirSync(c.runDir, { recursive: true });
    copyFileSync(runLayout(a.runDir).tokenizer, runLayout(c.runDir).tokenizer);
    await assert.rejects(runPretrain(c.runDir, c.preset, { presetFile: c.file, quiet: true, initFrom: a.runDir }), /field "model\.\w+": initFrom: the checkpoint's model has \w+=\d+, this run's \d+/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
