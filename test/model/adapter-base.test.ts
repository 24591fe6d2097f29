import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { LoraModel } from '../../src/model/lora.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { loadAdapterInto, readAdapter, saveAdapter } from '../../src/model/export/peft.js';
import { baseWeightsFingerprint } from '../../src/model/fingerprint.js';
import { GptforgeError } from '../../src/util/errors.js';

const fieldOf = (f: () => unknown): { field?: string; message: string } => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof GptforgeError, String(e));
    return { field: e.field, message: e.message };
  }
  assert.fail('loaded with no error');
};

test('loadAdapterInto: an adapter that records its base tokenizer is checked by default (none given: refused, naming base.tokenizerHash); a mismatched base config or tokenizer is refused by field; opt-out is explicit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-adapter-base-'));
  try {
    const cfg = makeConfig({ vocabSize: 40, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16 });
    const lm = new LoraModel(new GPT(cfg, { seed: 1 }));
    lm.addAdapter('default', { r: 2, alpha: 4, dropout: 0, targets: ['attn.c_attn'], rslora: false, seed: 1 });
    const hash = 'a'.repeat(64);
    saveAdapter(dir, lm, 'default', { model: cfg, tokenizerHash: hash });
    const ad = readAdapter(dir);
    // the base rebuilt (seed 1: its weights' fingerprint matches): no hash given is no longer a silent load
    const other = (): LoraModel => new LoraModel(new GPT(cfg, { seed: 1 }));
    const none = fieldOf(() => loadAdapterInto(other(), ad, 'x'));
    assert.equal(none.field, 'base.tokenizerHash');
    assert.match(none.message, /records its base's tokenizer .* skipTokenizerCheck/);
    assert.equal(fieldOf(() => loadAdapterInto(other(), ad, 'x', { tokenizerHash: 'b'.repeat(64) })).field, 'base.tokenizerHash');
    assert.equal(fieldOf(() => loadAdapterInto(other(), ad, 'x', 'b'.repeat(64))).field, 'base.tokenizerHash');
    const wider = fieldOf(() => loadAdapterInto(new LoraModel(new GPT(makeConfig({ ...cfg, nHead: 4 }))), ad, 'x', hash));
    assert.equal(wider.field, 'base.nHead');
    assert.match(wider.message, /nHead=2, this model has 4/);
    // the matching base loads, by hash or by the explicit opt-out
    loadAdapterInto(other(), ad, 'x', { tokenizerHash: hash });
    loadAdapterInto(other(), ad, 'x', hash);
    loadAdapterInto(other(), ad, 'x', { skipTokenizerCheck: true });
    // an adapter recording no tokenizer (a foreign PEFT file, or saved without one) has nothing to compare: loads
    saveAdapter(dir, lm, 'default', { model: cfg });
    loadAdapterInto(other(), readAdapter(dir), 'x');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("loadAdapterInto: the adapter records its base weights' fingerprint; another base of the same config and tokenizer is refused naming both, unless skipWeightsCheck; a quantized base fingerprints as its fp32 self", () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-adapter-fp-'));
  try {
    const cfg = makeConfig({ vocabSize: 40, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 });
    const hash = 'a'.repeat(64);
    // trained on a q8_0 base (QLoRA): the fingerprint leaves out the block weights it drops
    const lm = new LoraModel(new GPT(cfg, { seed: 1 }), { basePrecision: 'q8_0' });
    lm.addAdapter('default', { r: 2, alpha: 4, dropout: 0, targets: ['attn.c_attn'], rslora: false, seed: 1, trainableTokenIndices: [3, 5] });
    // its token rows trained, and written into the table by a forward: the base's rows still fingerprint
    lm.adapter('default').tokens!.rows.data.fill(0.5);
    lm.model.forward(new Int32Array([3, 5, 7]), 1, 3);
    assert.equal(lm.model.params.get('transformer.wte.weight')!.data[3 * 32], 0.5);
    saveAdapter(dir, lm, 'default', { model: cfg, tokenizerHash: hash }, 'runs/a/base');
    const ad = readAdapter(dir);
    assert.equal(ad.base?.weightsFingerprint, baseWeightsFingerprint(new GPT(cfg, { seed: 1 }).params));
    assert.match(ad.base?.weightsFingerprint ?? '', /^sha256:[0-9a-f]{64}$/);
    // adapter_config.json stays PEFT's own: the base's name in base_model_name_or_path, no field of ours
    const peftCfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(peftCfg.base_model_name_or_path, 'runs/a/base');
    assert.ok(!JSON.stringify(peftCfg).includes('sha256'), 'the fingerprint stays out of adapter_config.json');
    // the same base, at fp32 or q4_0: loads
    loadAdapterInto(new LoraModel(new GPT(cfg, { seed: 1 })), ad, 'x', hash);
    loadAdapterInto(new LoraModel(new GPT(cfg, { seed: 1 }), { basePrecision: 'q4_0' }), ad, 'x', hash);
    // another run of the same config and tokenizer (seed 2), and the base with one norm trained a step
    const moved = new GPT(cfg, { seed: 1 });
    moved.params.get('transformer.ln_f.weight')!.data[0] += 1e-3;
    for (const model of [new GPT(cfg, { seed: 2 }), moved]) {
      const e = fieldOf(() => loadAdapterInto(new LoraModel(model), ad, 'x', hash));
      assert.equal(e.field, 'base.weightsFingerprint');
      const [, theirs, ours] = /trained on base weights (sha256:[0-9a-f]{12})…, this model's are (sha256:[0-9a-f]{12})…/.exec(e.message) ?? [];
      assert.equal(theirs, ad.base?.weightsFingerprint?.slice(0, 19), e.message);
      assert.equal(ours, baseWeightsFingerprint(model.params).slice(0, 19), e.message);
      assert.match(e.message, /base_model_name_or_path: runs\/a\/base\), or pass \{ skipWeightsCheck: true \}/);
      // the explicit override
      loadAdapterInto(new LoraModel(model), ad, 'x', { tokenizerHash: hash, skipWeightsCheck: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an adapter checkpoint whose base checkpoint was retrained in place since is refused on load, naming both fingerprints', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-adapter-ck-'));
  try {
    const cfg = makeConfig({ vocabSize: 40, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16 });
    const baseStage = join(root, 'base');
    const baseCk = saveCheckpoint(baseStage, new GPT(cfg, { seed: 1 }), { stage: 'pretrain', step: 1 });
    const lm = new LoraModel(new GPT(cfg, { seed: 1 }));
    lm.addAdapter('default', { r: 2, alpha: 4, dropout: 0, targets: ['attn.c_attn'], rslora: false, seed: 1 });
    const stage = join(root, 'sft');
    const ck = saveCheckpoint(stage, lm.model, { stage: 'sft', step: 1, adapter: { meta: { base: relative(join(stage, 'step-0000001'), baseCk), name: 'default', basePrecision: 'f32' }, write: (d) => saveAdapter(d, lm, 'default', { model: cfg }) } });
    assert.equal(loadCheckpoint(ck).weights.size, new GPT(cfg).params.size);
    // the base stage run again from another seed, into the same checkpoint
    saveCheckpoint(baseStage, new GPT(cfg, { seed: 2 }), { stage: 'pretrain', step: 1 });
    const e = fieldOf(() => loadCheckpoint(ck));
    assert.equal(e.field, 'base.weightsFingerprint');
    assert.match(e.message, /trained on base weights sha256:[0-9a-f]{12}…, this model's are sha256:[0-9a-f]{12}…/);
    assert.match(e.message, /or retrain this adapter's stage: its base checkpoint .*step-0000001 changed since it trained/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
