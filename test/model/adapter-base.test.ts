import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { LoraModel } from '../../src/model/lora.js';
import { loadAdapterInto, readAdapter, saveAdapter } from '../../src/model/export/peft.js';
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
    // another run's model of the same shape: no hash given is no longer a silent load
    const other = (): LoraModel => new LoraModel(new GPT(cfg, { seed: 2 }));
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
