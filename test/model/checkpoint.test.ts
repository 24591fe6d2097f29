import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { latestCheckpoint, listCheckpoints, loadCheckpoint, modelFromCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../../src/model/safetensors.js';
import { GptforgeError } from '../../src/util/errors.js';
import { tempDir } from '../util/tmp.js';

const tiny = (): GPT => new GPT(makeConfig({ vocabSize: 32, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 8 }), { seed: 1 });

test('keepLast prunes the oldest step-* checkpoints and keeps the one just written', () => {
  const dir = tempDir('gf-ck-');
  const m = tiny();
  for (const step of [10, 20, 30, 40]) saveCheckpoint(dir, m, { stage: 'sft', step, keepLast: 2 });
  assert.deepEqual(
    listCheckpoints(dir).map((d) => basename(d)),
    ['step-0000030', 'step-0000040'],
  );
  assert.equal(basename(latestCheckpoint(dir)!), 'step-0000040');
});

test('a fresh start (lower step) replaces the old run: its later checkpoints go, the new one stays and is the latest', () => {
  const dir = tempDir('gf-ck-');
  const m = tiny();
  for (const step of [75, 150]) saveCheckpoint(dir, m, { stage: 'sft', step });
  // the newcomer's case: `sft --fresh --max-steps 3` on a run with step 150 used to delete its own step 3
  const written = saveCheckpoint(dir, m, { stage: 'sft', step: 3 });
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('step-')),
    ['step-0000003'],
  );
  assert.equal(latestCheckpoint(dir), written);
  assert.deepEqual(listCheckpoints(dir), [written]);
});

test("a checkpoint's bad model value is named as field model.<name> of its config.json", () => {
  const dir = tempDir('gf-ck-');
  const ck = saveCheckpoint(dir, tiny(), { stage: 'sft', step: 1 });
  const cfgPath = join(ck, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { model: Record<string, unknown> };
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, model: { ...cfg.model, nLayer: 'two' } }));
  assert.throws(
    () => loadCheckpoint(ck),
    (e: Error) => e.message === `${cfgPath}, field "model.nLayer": must be a positive integer, got "two"`,
  );
});

test("a checkpoint's bad abacus value is named as field model.abacus.<name> of its config.json, as the other model fields are", () => {
  const dir = tempDir('gf-ck-');
  const ck = saveCheckpoint(dir, tiny(), { stage: 'sft', step: 1 });
  const cfgPath = join(ck, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { model: Record<string, unknown> };
  const abacus = { digitTokens: [1, 2, 3], replyStart: [4], replyEnd: [5], countdownAfter: [], maxId: 8, maxOffset: 0 };
  const refuse = (a: Record<string, unknown>, expected: string): void => {
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, model: { ...cfg.model, abacus: { ...abacus, ...a } } }));
    assert.throws(
      () => loadCheckpoint(ck),
      (e: Error) => e.message === `${cfgPath}, ${expected}`,
    );
  };
  refuse({ maxId: 0 }, 'field "model.abacus.maxId": must be an integer ≥ 1, got 0');
  refuse({ digitTokens: [1, 32] }, 'field "model.abacus.digitTokens": must be a list of token ids below vocabSize 32, got [1,32]');
  refuse({ items: { after: [6], bank: 3 } }, 'field "model.abacus.items.bank": must be an integer ≥ 2 with 3·bank ≤ maxId (8), got 3');
  refuse({ items: null }, 'field "model.abacus.items": must be an object { after, bank }, got null');
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, model: { ...cfg.model, abacus: 7 } }));
  assert.throws(
    () => loadCheckpoint(ck),
    (e: Error) => e.message === `${cfgPath}, field "model.abacus": must be an object, got 7`,
  );
});

test('a corrupt checkpoint config.json is named by line and column; a tensor error names model.safetensors once', () => {
  const dir = tempDir('gf-ck-');
  const ck = saveCheckpoint(dir, tiny(), { stage: 'sft', step: 1 });
  const cfgPath = join(ck, 'config.json');
  const text = readFileSync(cfgPath, 'utf8');
  writeFileSync(cfgPath, text.replace('"model": {', '"model": {,'));
  const line = text.slice(0, text.indexOf('"model": {')).split('\n').length;
  assert.throws(
    () => loadCheckpoint(ck),
    (e: Error) => new RegExp(`^${cfgPath.replace(/[.]/g, '\\.')}:${line}: corrupt checkpoint config: not valid JSON: expected a value at column \\d+$`).test(e.message),
  );
  // a config.json without its "model" section (or with a non-object one) names the field, not a TypeError
  for (const [bad, what] of [
    [{ nope: 1 }, 'missing'],
    [{ ...JSON.parse(text), model: 3 }, 'must be an object, got 3'],
  ] as const) {
    writeFileSync(cfgPath, JSON.stringify(bad));
    assert.throws(
      () => loadCheckpoint(ck),
      (e: Error) => e instanceof GptforgeError && e.message.startsWith(`${cfgPath}, field "model": ${what} (`),
    );
  }
  writeFileSync(cfgPath, text);
  const st = join(ck, 'model.safetensors');
  const tensors = readSafetensors(st).tensors;
  tensors.delete('lm_head.weight');
  tensors.delete([...tensors.keys()].sort()[0]);
  writeSafetensors(st, tensors);
  assert.throws(
    () => modelFromCheckpoint(loadCheckpoint(ck)),
    (e: Error) => e.message.startsWith(`${st}: missing tensor "`) && e.message.split(st).length === 2,
  );
});
