import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test("library: the package entry exports exportPeft (and peftLoadHint); it writes PEFT's adapter_config.json + adapter_model.safetensors for a tiny LoRA stage", async () => {
  const gf = await import('gptforge');
  assert.equal(typeof gf.exportPeft, 'function');
  assert.equal(typeof gf.peftLoadHint, 'function');
  // every CLI export format has its library function: hf, gguf, peft, trl, llmc
  for (const n of ['exportHuggingFace', 'checkpointToGguf', 'exportPeft', 'exportTrl', 'exportLlmc'] as const) assert.equal(typeof gf[n], 'function', n);
  const dir = mkdtempSync(join(tmpdir(), 'gf-peft-lib-'));
  try {
    const cfg = gf.makeConfig({ vocabSize: 40, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, position: 'learned' });
    const model = new gf.GPT(cfg, { seed: 5 });
    const baseCk = gf.saveCheckpoint(join(dir, 'sft'), model, { stage: 'sft', step: 1 });
    const lm = new gf.LoraModel(model);
    lm.addAdapter('default', { r: 2, alpha: 4, dropout: 0, targets: ['attn.c_attn'], rslora: false, seed: 1 });
    const adCk = gf.saveCheckpoint(join(dir, 'sft-lora'), model, { stage: 'sft-lora', step: 2, adapter: { meta: { base: join('..', '..', 'sft', 'step-0000001'), name: 'default', basePrecision: 'f32' }, write: (d) => gf.saveAdapter(d, lm, 'default', { model: cfg }) } });
    assert.ok(baseCk);
    const r = gf.exportPeft(adCk, join(dir, 'peft'), { baseName: 'you/tiny-base' });
    assert.equal(r.arch, 'gpt2');
    const conf = JSON.parse(readFileSync(join(r.adapterDir, 'adapter_config.json'), 'utf8')) as { peft_type: string; r: number; base_model_name_or_path: string; target_modules: string[] };
    assert.equal(conf.peft_type, 'LORA');
    assert.equal(conf.r, 2);
    assert.equal(conf.base_model_name_or_path, 'you/tiny-base');
    const st = gf.readSafetensors(join(r.adapterDir, 'adapter_model.safetensors'));
    assert.deepEqual(st.tensors.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')?.shape, [2, 16]);
    assert.deepEqual(st.tensors.get('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight')?.shape, [48, 2]);
    assert.match(gf.peftLoadHint(r), /Hub repo id/);
    // the error a full model gets names the field
    assert.throws(
      () => gf.exportPeft(baseCk, join(dir, 'x')),
      (e: unknown) => e instanceof gf.GptforgeError && e.field === 'adapter',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
