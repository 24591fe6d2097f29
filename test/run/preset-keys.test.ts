import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPreset, presetsDir } from '../../src/run/presets.js';
import { runPreset } from '../../src/run/preset.js';
import { loadMixtureConfig } from '../../src/data/mixture.js';
import { closestKey } from '../../src/run/preset-keys.js';
import { DEFAULT_RL } from '../../src/train/rl.js';

const root = join(presetsDir(), '..');

/** Every JSON file under a folder, recursively. */
function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsonFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : []));
}

test('every shipped preset and mixture (presets/, examples/, bench/) loads under the key checks', () => {
  const files = [...jsonFiles(join(root, 'presets')), ...jsonFiles(join(root, 'examples')), ...jsonFiles(join(root, 'bench'))];
  let presets = 0;
  let mixtures = 0;
  for (const f of files) {
    const name = f.replace(/^.*\//, '');
    if (name.startsWith('pretrain.')) {
      assert.doesNotThrow(() => loadPreset(f), f);
      presets++;
    } else if (name.startsWith('mixture.')) {
      assert.doesNotThrow(() => loadMixtureConfig(f), f);
      mixtures++;
    }
  }
  assert.ok(presets >= 3 && mixtures >= 3, `presets ${presets}, mixtures ${mixtures}`);
});

test('a preset refuses an unknown key in any section, naming file, full field path, the section keys and the closest one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-preset-keys-'));
  try {
    const tiny = JSON.parse(readFileSync(join(presetsDir(), 'pretrain.tiny.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const file = join(dir, 'x.json');
    const refuse = (preset: unknown, re: RegExp): void => {
      writeFileSync(file, JSON.stringify(preset));
      assert.throws(
        () => loadPreset(file),
        (e: Error) => {
          assert.match(e.message, re);
          assert.ok(e.message.startsWith(`${file}, field "`), e.message);
          return true;
        },
      );
    };
    const { maxSteps, ...train } = tiny.train;
    refuse({ ...tiny, train: { ...train, maxStep: maxSteps } }, /field "train\.maxStep": unknown key \(train has: maxSteps, lr, .*\); did you mean "maxSteps"\?$/);
    const { model, ...noModel } = tiny;
    refuse({ ...noModel, modle: model }, /field "modle": unknown key \(a preset has: name, .*\); did you mean "model"\?$/);
    const sft = tiny.sft as Record<string, Record<string, unknown>>;
    refuse({ ...tiny, sft: { ...sft, eval: { ...sft.eval, compare: { ...(sft.eval.compare as object), bestofN: 2 } } } }, /field "sft\.eval\.compare\.bestofN": unknown key \(sft\.eval\.compare has: .*\); did you mean "bestOfN"\?$/);
    refuse({ ...tiny, rl: { ...tiny.rl, config: { ...(tiny.rl.config as object), kl_coef: 0.1 } } }, /field "rl\.config\.kl_coef": unknown key \(rl\.config has: algo, .*\); did you mean "klCoef"\?$/);
    refuse({ ...tiny, dpo: { ...tiny.dpo, betta: 0.2 } }, /field "dpo\.betta": unknown key .*did you mean "beta"\?$/);
    refuse({ ...tiny, model: { ...model, nLayers: 3 } }, /field "model\.nLayers": unknown key .*did you mean "nLayer"\?$/);
    // a far-off key gets no guess
    refuse({ ...tiny, zzz: 1 }, /field "zzz": unknown key \(a preset has: [^)]*\)$/);

    // a run's own preset.json is checked the same way
    writeFileSync(join(dir, 'preset.json'), JSON.stringify({ ...tiny, rm: { ...tiny.rm, rankingPerBatch: 4 } }));
    assert.throws(() => runPreset(dir), /preset\.json, field "rm\.rankingPerBatch": unknown key .*did you mean "rankingsPerBatch"\?$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a preset accepts every field of a section's defaults (rl.config: all of DEFAULT_RL) and TrainConfig's optional fields; a typo of one gets the hint", () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-preset-keys-'));
  try {
    const tiny = JSON.parse(readFileSync(join(presetsDir(), 'pretrain.tiny.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const file = join(dir, 'x.json');
    const train = { ...tiny.train, decaySteps: 10, eps: 1e-8, logEvery: 5 };
    writeFileSync(file, JSON.stringify({ ...tiny, train, rl: { ...tiny.rl, config: { ...DEFAULT_RL }, train } }));
    const { preset } = loadPreset(file);
    assert.deepEqual(preset.rl?.config, DEFAULT_RL);
    assert.equal(preset.train.logEvery, 5);
    writeFileSync(file, JSON.stringify({ ...tiny, rl: { ...tiny.rl, config: { ...DEFAULT_RL, ptxRow: 4 } } }));
    assert.throws(() => loadPreset(file), /field "rl\.config\.ptxRow": unknown key .*did you mean "ptxRows"\?$/);
    writeFileSync(file, JSON.stringify({ ...tiny, train: { ...tiny.train, logEvry: 5 } }));
    assert.throws(() => loadPreset(file), /field "train\.logEvry": unknown key .*did you mean "logEvery"\?$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('closestKey: within 1 edit for short keys, 2 from 5 letters; transpositions and case count as typos', () => {
  assert.equal(closestKey('modle', ['model', 'mixture']), 'model');
  assert.equal(closestKey('LR', ['lr', 'minLr']), 'lr');
  assert.equal(closestKey('ab', ['k', 'lr']), undefined);
  assert.equal(closestKey('temp', ['temperature']), undefined);
});

test("a preset's model values are checked as it loads (before any data work), as field model.<name> of its file", () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-preset-model-'));
  try {
    const tiny = JSON.parse(readFileSync(join(presetsDir(), 'pretrain.tiny.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const file = join(dir, 'x.json');
    const load = (model: Record<string, unknown>): (() => unknown) => {
      writeFileSync(file, JSON.stringify({ ...tiny, model: { ...tiny.model, ...model } }));
      return () => loadPreset(file);
    };
    assert.throws(load({ nLayer: 'two' }), (e: Error) => e.message === `${file}, field "model.nLayer": must be a positive integer, got "two"`);
    assert.throws(load({ nHead: 5 }), /x\.json, field "model\.nHead": nEmbd 96 is not divisible by nHead 5$/);
    assert.throws(load({ norm: 'batchnorm' }), /x\.json, field "model\.norm": must be "layernorm" or "rmsnorm"/);
    const abacus = { digitTokens: [1, 2], replyStart: [3], replyEnd: [4], countdownAfter: [], maxId: 8, maxOffset: 0 };
    assert.throws(load({ abacus: { ...abacus, maxOffset: -1 } }), (e: Error) => e.message === `${file}, field "model.abacus.maxOffset": must be an integer ≥ 0, got -1`);
    assert.doesNotThrow(load({ nLayer: 3, mlp: 'swiglu' }));
    assert.doesNotThrow(load({ abacus }));
    // its keys too: a typo is refused with the hint, not ignored (initStd would fall back to 0.02)
    assert.throws(load({ abacus: { ...abacus, initstd: 0.1 } }), /x\.json, field "model\.abacus\.initstd": unknown key \(model\.abacus has: digitTokens, .*\); did you mean "initStd"\?$/);
    assert.throws(load({ abacus: { ...abacus, items: { after: [5], bank: 2, banks: 2 } } }), /field "model\.abacus\.items\.banks": unknown key .*did you mean "bank"\?$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
