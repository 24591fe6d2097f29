import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadModel, runSft, type Conversation } from '../../src/index.js';
import { runDpo } from '../../src/run/dpo.js';
import { inferencePrecision } from '../../src/model/inference-precision.js';
import { resolveCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { loadRunModels } from '../../src/server/index.js';
import { tinyRun } from './fixture.js';

const qa = (q: string, a: string): Conversation => ({
  messages: [
    { role: 'user', content: q },
    { role: 'assistant', content: a },
  ],
});

/** The fixture's preset with a DPO section (the fixture has none: its stages are SFT only). */
function addDpoSection(runDir: string): void {
  const p = join(runDir, 'preset.json');
  const preset = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown> & { train: Record<string, unknown> };
  writeFileSync(p, JSON.stringify({ ...preset, dpo: { beta: 0.1, pairsPerBatch: 2, train: { ...preset.train, maxSteps: 3, lr: 0.01 } } }));
}

test('dpo --from sft-lora --into dpo-lora: a LoRA DPO stacked on a LoRA SFT, beside the full models', async (t) => {
  const runDir = tinyRun();
  try {
    addDpoSection(runDir);
    await runSft(runDir, { conversations: [qa('Who are you?', 'I am Forge.')], onlyData: true, into: 'sft-lora', steps: 3, lr: 0.02, quiet: true, lora: 'r=2,alpha=4,targets=qkv' });
    const pairs = join(runDir, 'pairs.jsonl');
    const lines = Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `Is ${i} small?`, chosen: 'Yes, it is.', rejected: 'No.' }));
    writeFileSync(pairs, `${lines.join('\n')}\n`);

    await assert.rejects(() => runDpo(runDir, { pairs: [pairs], from: 'sft-lora', into: 'sft-lora', quiet: true }), /--into sft-lora would train over the model it starts from/);

    const logged: string[] = [];
    const r = await runDpo(runDir, { pairs: [pairs], from: 'sft-lora', into: 'dpo-lora', quiet: true, lora: 'r=2,alpha=4,targets=qkv', log: (l) => logged.push(l) });
    assert.equal(r.step, 3);
    assert.ok(
      logged.some((l) => l.startsWith(`dpo-lora: from ${loadModel(runDir, 'sft-lora').dir}; `)),
      logged.join('\n'),
    );
    assert.ok(
      logged.some((l) => /^dpo-lora: LoRA r=2,alpha=4,(dropout=0,)?targets=attn\.c_attn on a f32 base: \d+ trainable parameters \(\d+\.\d+% of \d+\)$/.test(l)),
      logged.join('\n'),
    );
    assert.ok(r.checkpoint!.startsWith(join(runDir, 'dpo-lora')), String(r.checkpoint));
    assert.ok(!existsSync(join(runDir, 'dpo')), 'the default stage directory is left alone');
    // the adapter names the LoRA SFT checkpoint as its base, itself an adapter over the base
    const meta = JSON.parse(readFileSync(join(r.checkpoint!, 'config.json'), 'utf8')) as { adapter: { base: string } };
    assert.ok(resolve(r.checkpoint!, meta.adapter.base).startsWith(join(runDir, 'sft-lora')), meta.adapter.base);
    assert.ok(existsSync(join(runDir, 'dpo-lora', 'ref-logps.json')), "the reference's log-likelihoods are cached in the stage's own directory");
    // the metrics carry the stage's own name
    const stages = new Set(
      readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { stage: string }).stage),
    );
    assert.ok(stages.has('dpo-lora') && !stages.has('dpo'), [...stages].join(', '));
    // the stacked adapters load: base + SFT adapter + DPO adapter, and the DPO adapter moved the model
    const dpo = loadModel(runDir, 'dpo-lora').model;
    const sft = loadModel(runDir, 'sft-lora').model;
    const w = 'transformer.h.0.attn.c_attn.weight';
    const diff = dpo.params.get(w)!.data.reduce((s, v, i) => Math.max(s, Math.abs(v - sft.params.get(w)!.data[i])), 0);
    assert.ok(diff > 0, 'the DPO adapter changed the SFT weights');
    // serve lists the stages trained --into other names after the standard ones
    assert.deepEqual([...loadRunModels(runDir).keys()], ['base', 'sft', 'dpo-lora', 'sft-lora']);

    // continuing the SFT adapter prunes its old checkpoints (keepLast 1) but keeps the one the DPO adapter sits on
    const sftBase = resolve(r.checkpoint!, meta.adapter.base);
    const more = await runSft(runDir, { conversations: [qa('Who are you?', 'I am Forge.')], onlyData: true, into: 'sft-lora', steps: 6, lr: 0.02, quiet: true, lora: 'r=2,alpha=4,targets=qkv' });
    assert.equal(more.step, 6);
    assert.ok(existsSync(sftBase), 'the DPO adapter keeps its base');
    assert.doesNotThrow(() => loadModel(runDir, 'dpo-lora', { fresh: true }));
    // a stage that no longer loads is left out of serving (and reported), the others still served
    rmSync(sftBase, { recursive: true, force: true });
    const skipped: string[] = [];
    const served = loadRunModels(runDir, undefined, { onSkip: (stage, reason) => skipped.push(`${stage}: ${reason}`) });
    assert.deepEqual([...served.keys()], ['base', 'sft', 'sft-lora']);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0], /^dpo-lora: .*the adapter's base checkpoint .*sft-lora.* is gone/);
    // the DPO checkpoint records what it started from (relative to the run, so a moved run still
    // names it); resuming it over the continued SFT adapter warns
    const state = JSON.parse(readFileSync(join(r.checkpoint!, 'trainer_state.json'), 'utf8')) as { startedFrom?: string };
    assert.equal(state.startedFrom, relative(runDir, sftBase));
    const warned = t.mock.method(console, 'error', () => undefined);
    const resumedLog: string[] = [];
    const resumed = await runDpo(runDir, { pairs: [pairs], from: 'sft-lora', into: 'dpo-lora', quiet: true, lora: 'r=2,alpha=4,targets=qkv', maxSteps: 4, log: (l) => resumedLog.push(l) });
    warned.mock.restore();
    assert.equal(resumed.step, 4);
    // its setup line says it resumes its own checkpoint, not that it starts from the SFT adapter
    assert.ok(
      resumedLog.some((l) => l.startsWith(`dpo-lora: resuming ${r.checkpoint} at step 3 of 4 (the stage started from ${sftBase}); `)),
      resumedLog.join('\n'),
    );
    assert.ok(!resumedLog.some((l) => l.startsWith('dpo-lora: from ')), resumedLog.join('\n'));
    // past its budget, called from the library: the line names runDpo's option, not the CLI's flag
    const pastLog: string[] = [];
    const past = await runDpo(runDir, { pairs: [pairs], from: 'sft-lora', into: 'dpo-lora', quiet: true, lora: 'r=2,alpha=4,targets=qkv', maxSteps: 2, log: (l) => pastLog.push(l) });
    assert.equal(past.step, 4);
    assert.ok(
      pastLog.some((l) => l.includes('past maxSteps 2: nothing to train; give maxSteps > 4 to train on')),
      pastLog.join('\n'),
    );
    const errs = warned.mock.calls.map((c) => String(c.arguments[0]));
    assert.ok(
      errs.some((l) => l.startsWith(`dpo-lora: warning: resuming a run that started from ${sftBase}, but this run starts from ${more.checkpoint}`)),
      errs.join('\n'),
    );
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('serve --precision q8_0: every generation stage decodes on Q8_0 blocks', () => {
  const runDir = tinyRun();
  try {
    const f32 = loadRunModels(runDir);
    assert.equal(inferencePrecision(f32.get('sft')!.model), 'f32');
    const q8 = loadRunModels(runDir, undefined, { precision: 'q8_0' });
    assert.deepEqual([...q8.keys()], ['base', 'sft']);
    for (const m of q8.values()) assert.equal(inferencePrecision(m.model), 'q8_0');
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('a stage whose early stopping kept an update (best/) resolves to it; a missing stage names the stages there are', () => {
  const runDir = tinyRun();
  try {
    const { model, tok } = loadModel(runDir, 'sft', { fresh: true });
    const ck = { tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() };
    saveCheckpoint(join(runDir, 'rl'), model, { stage: 'rl', step: 8, ...ck });
    saveCheckpoint(join(runDir, 'rl', 'best'), model, { stage: 'rl', step: 6, ...ck });
    assert.equal(resolveCheckpoint(runDir, 'rl'), join(runDir, 'rl', 'best', 'step-0000006'));
    assert.equal(resolveCheckpoint(runDir), join(runDir, 'rl', 'best', 'step-0000006'), 'the default chat model is the kept RL update');
    assert.equal(loadRunModels(runDir).get('rl')!.dir, join(runDir, 'rl', 'best', 'step-0000006'));
    assert.throws(() => resolveCheckpoint(runDir, 'nope'), /no checkpoint found for stage "nope" .*; stages with a checkpoint: base, rl, sft/);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

// newcomer29: a dpo resume on another pairs file said nothing
test('dpo: a resume on other pairs than the stage started with says so; the same pairs resume quietly', async (t) => {
  const runDir = tinyRun();
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  addDpoSection(runDir);
  const write = (name: string, n: number): string => {
    const f = join(runDir, name);
    writeFileSync(f, `${Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `Is ${i} small?`, chosen: 'Yes, it is.', rejected: 'No.' })).join('\n')}\n`);
    return f;
  };
  const a = write('a.jsonl', 6);
  const b = write('b.jsonl', 9);
  const run = async (pairs: string, maxSteps: number): Promise<string[]> => {
    const logged: string[] = [];
    await runDpo(runDir, { pairs: [pairs], quiet: true, maxSteps, log: (l) => logged.push(l) });
    return logged.filter((l) => l.includes('note:'));
  };
  assert.deepEqual(await run(a, 1), []);
  assert.deepEqual(await run(a, 2), [], 'the same pairs resume without a note');
  const notes = await run(b, 3);
  assert.equal(notes.length, 1);
  assert.match(notes[0], new RegExp(`^dpo: note: resuming on other pairs than the stage started with \\(\\d+ pairs from .*a\\.jsonl; now \\d+ from .*b\\.jsonl\\); --fresh starts over on these$`));
  // closing16 "Left": the note repeated on every resume on the same other pairs
  assert.deepEqual(await run(b, 4), [], 'said once for these pairs, not on every resume');
  assert.equal((await run(a, 5)).length, 0, 'back on the pairs the stage started with: quiet');
});
