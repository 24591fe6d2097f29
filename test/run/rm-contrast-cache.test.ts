import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contrastPromptItems, runRm } from '../../src/run/rm.js';
import { tinyRun } from './fixture.js';

const train = (maxSteps: number) => ({ maxSteps, lr: 0.001, minLr: 0.001, warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.95, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1, logEvery: 1 });

// issue #24: rm.comparisons.contrastPrompts used to be added only when the comparisons were
// sampled, so a run reusing the cached samples trained without them, silently
test('rm: contrastPrompts pairs are added when the cached comparisons are reused too; rm-eval.json has the contrast probe', async (t) => {
  const runDir = tinyRun(); // base and sft stages included
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  preset.rm = { comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 8, seed: 1, contrastPrompts: 12, probePrompts: 8 }, rankingsPerBatch: 2, train: train(1) };
  writeFileSync(file, JSON.stringify(preset));

  const logs: string[][] = [[], []];
  await runRm(runDir, { quiet: true, log: (l) => logs[0].push(l) });
  await runRm(runDir, { into: 'rm2', quiet: true, log: (l) => logs[1].push(l) });
  assert.ok(
    logs[1].some((l) => l.startsWith('rm: reusing the simulated comparisons')),
    logs[1].join('\n'),
  );
  const added = logs.map((ls) => ls.find((l) => / correctness-contrast pairs from the demonstrations of \d+ more/.test(l)));
  assert.ok(added[0] && /rm: [1-9]\d* correctness-contrast pairs/.test(added[0]), logs[0].join('\n'));
  assert.equal(added[1], added[0], 'the same contrast pairs whether the samples are fresh or reused');
  const eval1 = JSON.parse(readFileSync(join(runDir, 'rm-eval.json'), 'utf8'));
  assert.ok(eval1.contrastProbe.all.pairs > 0, JSON.stringify(eval1.contrastProbe));
  for (const t of Object.values(eval1.contrastProbe) as { pairs: number; correct: number; accuracy: number }[]) assert.equal(t.accuracy, t.correct / t.pairs);
});

// issue #24: rm.contrastFraction keeps a fixed share of every batch for the sampled rankings;
// rm.pooling 'last+mean' is recorded in the RM checkpoint (what RL and best-of-N load)
test('rm: contrastFraction mixes the contrast pairs at a fixed count a batch (bad values refused by field); pooling is recorded in the checkpoint', async (t) => {
  const runDir = tinyRun();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  const rm = (extra: object, comparisons: object = {}) => ({ comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 8, seed: 1, contrastPrompts: 12, probePrompts: 0, ...comparisons }, rankingsPerBatch: 4, train: train(2), ...extra });
  const refused: [object, object, RegExp][] = [
    [{ contrastFraction: 1 }, {}, /contrastFraction must be a number between 0 and 1/],
    [{ contrastFraction: 0.1 }, {}, /leaves 0 contrast and 4 sampled/],
    [{ contrastFraction: 0.5 }, { contrastPrompts: 0 }, /needs contrast pairs to mix in/],
    [{ pooling: 'mean' }, {}, /pooling must be "last" or "last\+mean"/],
  ];
  for (const [extra, comparisons, msg] of refused) {
    writeFileSync(file, JSON.stringify({ ...preset, rm: rm(extra, comparisons) }));
    await assert.rejects(runRm(runDir, { quiet: true }), (e: Error & { field?: string }) => msg.test(e.message) && /^rm\.(contrastFraction|pooling)$/.test(e.field ?? ''), JSON.stringify(extra));
  }
  // --contrast-fraction: a bad value names the option, not the preset file
  writeFileSync(file, JSON.stringify({ ...preset, rm: rm({}) }));
  await assert.rejects(runRm(runDir, { quiet: true, contrastFraction: 1.5 }), (e: Error & { field?: string; file?: string }) => /between 0 and 1/.test(e.message) && e.field === 'contrastFraction' && e.file === undefined);
  // the writers' demonstration beside a random model's samples: rankings that are not all tied;
  // the preset's 0.25 (1 of 4) replaced by the flag's 0.5 (2 of 4)
  writeFileSync(file, JSON.stringify({ ...preset, rm: rm({ contrastFraction: 0.25, pooling: 'last+mean' }, { demonstrations: true }) }));
  const logs: string[] = [];
  await runRm(runDir, { quiet: true, fresh: true, contrastFraction: 0.5, log: (l) => logs.push(l) });
  assert.ok(
    logs.some((l) => /for training \([1-9]\d* contrast rankings mixed in at 2 of every 4\), /.test(l)),
    logs.join('\n'),
  );
  const latest = JSON.parse(readFileSync(join(runDir, 'rm', 'latest.json'), 'utf8'));
  const meta = JSON.parse(readFileSync(join(runDir, 'rm', latest.checkpoint, 'config.json'), 'utf8'));
  assert.equal(meta.scorePool.mode, 'last+mean');
  const state = JSON.parse(readFileSync(join(runDir, 'rm', latest.checkpoint, 'trainer_state.json'), 'utf8'));
  assert.equal(JSON.stringify(state).includes('"parts"'), true, 'both streams are in the trainer state');
});

// issue #24: rm.comparisons.contrastFamilies shares the contrast prompts by weight (the
// calculator needs thousands of pairs; an equal share gives it a quarter)
test('rm: contrastFamilies shares the contrast prompts by weight (equal weights: the equal spread); bad weights refused by field', () => {
  const count = (items: { task: string }[]) => Object.fromEntries(['arithmetic', 'syllables', 'rhymes', 'chat'].map((f) => [f, items.filter((it) => it.task === f).length]));
  assert.deepEqual(count(contrastPromptItems(40, { arithmetic: 3, chat: 1 }, 5, 'p.json')), { arithmetic: 30, syllables: 0, rhymes: 0, chat: 10 });
  const equal = contrastPromptItems(40, undefined, 5, 'p.json');
  assert.deepEqual(count(equal), { arithmetic: 10, syllables: 10, rhymes: 10, chat: 10 });
  // with equal weights, each family's prompts are the ones the equal spread gives it
  const same = contrastPromptItems(40, { arithmetic: 1, syllables: 1, rhymes: 1, chat: 1 }, 5, 'p.json');
  assert.deepEqual(same.map((it) => it.prompt).sort(), equal.map((it) => it.prompt).sort());
  for (const [w, msg] of [
    [{ definitions: 1 }, /"definitions" is not a family decidable from the context/],
    [{ arithmetic: -1 }, /weight of "arithmetic" must be a number ≥ 0/],
    [{ arithmetic: 0 }, /sum to 0/],
  ] as [Record<string, number>, RegExp][]) {
    assert.throws(
      () => contrastPromptItems(40, w, 5, 'p.json'),
      (e: Error & { field?: string; file?: string }) => msg.test(e.message) && e.field === 'rm.comparisons.contrastFamilies' && e.file === 'p.json',
      JSON.stringify(w),
    );
  }
});

// issue #24: rm.comparisons.sampledContrasts — pairs from the SFT model's own samples, cached
// beside the samples with the settings that made them; bad settings refused by field first
test('rm: sampledContrasts samples the decidable prompts once, reuses the cache while the settings hold, re-samples when they change; bad settings refused by field', async (t) => {
  const runDir = tinyRun();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  const rm = (sampledContrasts: unknown, extra: object = {}) => ({ comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 6, seed: 1, probePrompts: 0, demonstrations: true, contrastFamilies: { syllables: 1, chat: 1 }, sampledContrasts }, rankingsPerBatch: 2, train: train(1), ...extra });
  for (const [sc, field] of [
    [{ prompts: -1 }, 'rm.comparisons.sampledContrasts.prompts'],
    [{ prompts: 4, k: 1 }, 'rm.comparisons.sampledContrasts.k'],
    [{ prompts: 4, maxPairsPerPrompt: 0 }, 'rm.comparisons.sampledContrasts.maxPairsPerPrompt'],
    [{ prompts: 4, edits: 'yes' }, 'rm.comparisons.sampledContrasts.edits'],
    [[4], 'rm.comparisons.sampledContrasts'],
  ] as [unknown, string][]) {
    writeFileSync(file, JSON.stringify({ ...preset, rm: rm(sc) }));
    await assert.rejects(runRm(runDir, { quiet: true }), (e: Error & { field?: string; file?: string }) => e.field === field && e.file === file, JSON.stringify(sc));
  }
  // a random model's samples: the writers' demonstration beside them keeps the rankings from being all tied
  writeFileSync(file, JSON.stringify({ ...preset, rm: rm({ prompts: 4, k: 3, edits: true }) }));
  const logs: string[][] = [[], [], []];
  await runRm(runDir, { quiet: true, log: (l) => logs[0].push(l) });
  const made = logs[0].find((l) => /correctness pairs from the sft model's own samples \(/.test(l));
  assert.ok(made && /: 4 prompts × 3 samples, /.test(made), logs[0].join('\n'));
  const cache = join(runDir, 'comparisons', 'contrast-sampled.jsonl');
  const before = readFileSync(cache, 'utf8');
  await runRm(runDir, { into: 'rm2', quiet: true, log: (l) => logs[1].push(l) });
  assert.ok(
    logs[1].some((l) => /^rm: reusing \d+ correctness pairs from the sft model's own samples/.test(l)),
    logs[1].join('\n'),
  );
  assert.equal(readFileSync(cache, 'utf8'), before);
  // another K: sampled again (6 prompts now)
  writeFileSync(file, JSON.stringify({ ...preset, rm: rm({ prompts: 6, k: 3, edits: true }) }));
  await runRm(runDir, { into: 'rm3', quiet: true, log: (l) => logs[2].push(l) });
  assert.ok(
    logs[2].some((l) => /: 6 prompts × 3 samples, /.test(l)),
    logs[2].join('\n'),
  );
  const evalJson = JSON.parse(readFileSync(join(runDir, 'rm-eval.json'), 'utf8'));
  for (const [f, t] of Object.entries(evalJson.accuracyCleanCorrectnessByFamily ?? {}) as [string, { pairs: number; correct: number; accuracy: number }][]) assert.equal(t.accuracy, t.correct / t.pairs, f);
});

// newcomer29: the labelers' noise is applied when the comparisons are sampled, so a cache
// ranked at another noise made `--noise` do nothing; the cache records its noise and is re-sampled
test('rm: --noise other than the cached comparisons re-samples them (the cache records its noise); the same noise reuses them', async (t) => {
  const runDir = tinyRun();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  preset.rm = { comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 8, seed: 1, contrastPrompts: 12, probePrompts: 0 }, rankingsPerBatch: 2, train: train(1) };
  writeFileSync(file, JSON.stringify(preset));
  const run = async (noise: number | undefined, into: string): Promise<string[]> => {
    const logs: string[] = [];
    await runRm(runDir, { noise, into, quiet: true, log: (l) => logs.push(l) });
    return logs;
  };
  const settings = () => JSON.parse(readFileSync(join(runDir, 'comparisons', 'settings.json'), 'utf8'));
  await run(undefined, 'rm');
  assert.equal(settings().noise, 0);
  const noisy = await run(0.3, 'rm2');
  assert.ok(!noisy.some((l) => l.startsWith('rm: reusing the simulated comparisons')), noisy.join('\n'));
  assert.ok(
    noisy.some((l) => /were ranked at noise 0, not 0\.3: re-sampling them/.test(l)),
    noisy.join('\n'),
  );
  assert.equal(settings().noise, 0.3);
  const again = await run(0.3, 'rm3');
  assert.ok(
    again.some((l) => l.startsWith('rm: reusing the simulated comparisons') && l.includes('noise 0.3')),
    again.join('\n'),
  );
});

// closing16 "Left": the cache recorded only its noise, so a larger rm.comparisons.prompts or
// another k reused the comparisons of the old settings, silently; every setting is recorded now
test('rm: other rm.comparisons prompts or k than the cache was made with re-sample it, naming what differs; an older noise-only cache says what it assumes', async (t) => {
  const runDir = tinyRun();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  preset.rm = { comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 8, seed: 1, contrastPrompts: 12, probePrompts: 0 }, rankingsPerBatch: 2, train: train(1) };
  writeFileSync(file, JSON.stringify(preset));
  const settingsFile = join(runDir, 'comparisons', 'settings.json');
  const run = async (into: string): Promise<string[]> => {
    const logs: string[] = [];
    await runRm(runDir, { into, quiet: true, log: (l) => logs.push(l) });
    return logs;
  };
  await run('rm');
  assert.deepEqual({ prompts: JSON.parse(readFileSync(settingsFile, 'utf8')).prompts, k: JSON.parse(readFileSync(settingsFile, 'utf8')).k }, { prompts: 4, k: 2 });
  preset.rm.comparisons.prompts = 6;
  preset.rm.comparisons.k = 3;
  writeFileSync(file, JSON.stringify(preset));
  const changed = await run('rm2');
  assert.ok(!changed.some((l) => l.startsWith('rm: reusing the simulated comparisons')), changed.join('\n'));
  assert.ok(
    changed.some((l) => /were made with other settings \(prompts 4 → 6, k 2 → 3\): re-sampling them$/.test(l)),
    changed.join('\n'),
  );
  assert.equal(JSON.parse(readFileSync(settingsFile, 'utf8')).prompts, 6);
  assert.ok((await run('rm3')).some((l) => l.startsWith('rm: reusing the simulated comparisons')));
  // a cache from a version that recorded only its noise: reused as before, with a note
  writeFileSync(settingsFile, '{"noise":0}\n');
  const old = await run('rm4');
  assert.ok(
    old.some((l) => l.startsWith('rm: reusing the simulated comparisons')),
    old.join('\n'),
  );
  assert.ok(
    old.some((l) => /record only noise; taken as made with this preset's prompts, .*k, .*\(--fresh re-samples them\)$/.test(l)),
    old.join('\n'),
  );
});

// newcomer29: "no usable rankings … (6 had all their replies tied)" named neither the run nor the key
test('rm: simulated comparisons with no preference name the run preset, rm.comparisons.prompts and the cache', async (t) => {
  const runDir = tinyRun();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const file = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(file, 'utf8'));
  // a random model's samples with no contrast pairs: every ranking tied
  preset.rm = { comparisons: { prompts: 4, valPrompts: 2, k: 2, noise: 0, temperature: 1, maxTokens: 8, seed: 1 }, rankingsPerBatch: 2, train: train(1) };
  writeFileSync(file, JSON.stringify(preset));
  await assert.rejects(
    runRm(runDir, { quiet: true }),
    (e: Error & { file?: string; field?: string }) => e.file === file && e.field === 'rm.comparisons.prompts' && /had all their replies tied\): the simulated comparisons in .*comparisons give no pair with a preference; raise rm\.comparisons\.prompts/.test(e.message) && /--fresh/.test(e.message),
  );
});
