import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { LoraModel, loraScaling } from '../../src/model/lora.js';
import { toHfTensors } from '../../src/model/export/hf-tensors.js';
import { adapterForHf, exportPeft, peftLoadHint, writeHfAdapter } from '../../src/model/export/peft-hf.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.js';
import { readHfWeights } from '../../src/model/export/hf.js';
import { GptforgeError } from '../../src/util/errors.js';
import { mergeAdapterWeights, readAdapter, saveAdapter } from '../../src/model/export/peft.js';
import type { NamedTensor } from '../../src/model/safetensors.js';
import { readSafetensors } from '../../src/model/safetensors.js';

/**
 * PEFT's merge, written out from peft/tuners/lora/layer.py (get_delta_weight): ΔW = s·B·A,
 * transposed for Conv1D (fan_in_fan_out); trainable token rows replace the embedding's rows
 * (peft/tuners/trainable_tokens/layer.py, index_copy). Applied to the Hugging Face export of
 * the base, it must give the export of our merged model — for GPT-NeoX that is only true when
 * the adapter's B rows follow the weight export's q|k|v and rotary permutation.
 */
function peftMerge(hf: Map<string, NamedTensor>, ad: { config: { fan_in_fan_out: boolean; trainable_token_indices?: unknown }; tensors: Map<string, NamedTensor> }, s: number): void {
  for (const [key, A] of ad.tensors) {
    const m = /^base_model\.model\.(.+)\.lora_A\.weight$/.exec(key);
    if (m) {
      const B = ad.tensors.get(`base_model.model.${m[1]}.lora_B.weight`)!;
      const W = hf.get(`${m[1]}.weight`);
      assert.ok(W, `PEFT finds no module ${m[1]} in the exported model`);
      const [r, inF] = A.shape;
      const outF = B.shape[0];
      for (let o = 0; o < outF; o++)
        for (let i = 0; i < inF; i++) {
          let d = 0;
          for (let k = 0; k < r; k++) d += B.data[o * r + k] * A.data[k * inF + i];
          // Conv1D stores [in, out]; nn.Linear [out, in]
          W.data[ad.config.fan_in_fan_out ? i * outF + o : o * inF + i] += s * d;
        }
      continue;
    }
    const t = /^base_model\.model\.(.+)\.token_adapter\.trainable_tokens_delta$/.exec(key);
    if (t) {
      const emb = hf.get(`${t[1]}.weight`);
      assert.ok(emb, `PEFT finds no embedding ${t[1]} in the exported model`);
      const ids = ad.config.trainable_token_indices as number[];
      const C = A.shape[1];
      ids.forEach((id, j) => emb.data.set(A.data.subarray(j * C, (j + 1) * C), id * C));
    }
  }
}

for (const position of ['rope', 'learned'] as const) {
  test(`peft-hf: the exported adapter merged the PEFT way into the exported base equals the export of our merged model (${position})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'gf-peft-hf-'));
    try {
      const cfg = makeConfig({ vocabSize: 50, blockSize: 16, nLayer: 2, nHead: 4, nEmbd: 16, position });
      const model = new GPT(cfg, { seed: 3 });
      const rng = new Rng(11);
      for (const t of model.params.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.1 * rng.normal();
      const base = new Map([...model.params].map(([n, t]) => [n, t.data.slice()] as const));
      const lm = new LoraModel(model);
      const a = lm.addAdapter('default', { r: 3, alpha: 6, dropout: 0, targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], rslora: false, seed: 7, trainableTokenIndices: [2, 9, 30] });
      for (const p of a.pairs) for (let i = 0; i < p.B.size; i++) p.B.data[i] = 0.2 * rng.normal(); // a fresh B = 0 would hide any permutation
      if (a.tokens) for (let i = 0; i < a.tokens.rows.size; i++) a.tokens.rows.data[i] = rng.normal();
      saveAdapter(dir, lm, 'default', { model: cfg });
      const ad = readAdapter(dir);

      const merged = new Map([...base].map(([n, d]) => [n, d.slice()] as const));
      mergeAdapterWeights(merged, ad);
      const want = toHfTensors(cfg, merged);

      const hfAd = adapterForHf(ad, cfg, 'exported-base');
      assert.equal(hfAd.arch, position === 'rope' ? 'gpt_neox' : 'gpt2');
      assert.equal(hfAd.config.fan_in_fan_out, position === 'learned');
      if (position === 'rope') assert.deepEqual(hfAd.config.target_modules, ['attention.query_key_value', 'attention.dense', 'mlp.dense_h_to_4h', 'mlp.dense_4h_to_h']);
      // copies: the GPT-2 export hands out our arrays themselves
      const got = new Map([...toHfTensors(cfg, base)].map(([n, t]) => [n, { shape: t.shape, data: t.data.slice() }] as const));
      peftMerge(got, hfAd, loraScaling(ad.lora));
      let worst = 0;
      for (const [name, t] of want) {
        const g = got.get(name)!;
        for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(g.data[i] - t.data[i]));
      }
      assert.ok(worst < 1e-5, `max |Δ| ${worst}`);
      // the change is not empty: the adapter moved the weights
      const plain = toHfTensors(cfg, base);
      const key = position === 'rope' ? 'gpt_neox.layers.1.attention.query_key_value.weight' : 'transformer.h.1.attn.c_attn.weight';
      assert.ok(want.get(key)!.data.some((v, i) => Math.abs(v - plain.get(key)!.data[i]) > 1e-3));

      // written as PEFT's two files
      const out = join(dir, 'hf-adapter');
      writeHfAdapter(out, hfAd, cfg);
      const conf = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as { base_model_name_or_path: string; peft_type: string };
      assert.equal(conf.base_model_name_or_path, 'exported-base');
      assert.equal(conf.peft_type, 'LORA');
      assert.deepEqual([...readSafetensors(join(out, 'adapter_model.safetensors')).tensors.keys()].sort(), [...hfAd.tensors.keys()].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('peft-hf: export --format peft writes a LoRA stage as its base (Hugging Face) and the PEFT adapter for it; a full model is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-peft-export-'));
  try {
    const cfg = makeConfig({ vocabSize: 40, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, position: 'rope' });
    const model = new GPT(cfg, { seed: 5 });
    const rng = new Rng(3);
    for (const t of model.params.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.1 * rng.normal();
    const baseCk = saveCheckpoint(join(dir, 'sft'), model, { stage: 'sft', step: 1 });
    const lm = new LoraModel(model);
    const a = lm.addAdapter('default', { r: 2, alpha: 4, dropout: 0, targets: ['attn.c_attn', 'mlp.c_proj'], rslora: false, seed: 1 });
    for (const p of a.pairs) for (let i = 0; i < p.B.size; i++) p.B.data[i] = 0.3 * rng.normal();
    const adCk = saveCheckpoint(join(dir, 'rm-lora'), model, { stage: 'rm-lora', step: 2, adapter: { meta: { base: join('..', '..', 'sft', 'step-0000001'), name: 'default', basePrecision: 'f32' }, write: (d) => saveAdapter(d, lm, 'default', { model: cfg }) } });

    // --out as the user typed it (relative): the adapter names its base as PEFT would, relative, never this machine's absolute path
    const out = relative(process.cwd(), join(dir, 'peft'));
    assert.ok(!isAbsolute(out), out);
    const r = exportPeft(adCk, out);
    assert.equal(r.arch, 'gpt_neox');
    const conf = JSON.parse(readFileSync(join(r.adapterDir, 'adapter_config.json'), 'utf8')) as { base_model_name_or_path: string; target_modules: string[]; fan_in_fan_out: boolean };
    assert.equal(conf.base_model_name_or_path, join(out, 'base'));
    assert.equal(r.baseName, conf.base_model_name_or_path);
    assert.equal(resolve(conf.base_model_name_or_path), r.baseDir); // from the working directory, as transformers resolves it
    // a Hub repo id the user gives is recorded as given; an empty one is refused
    const hub = exportPeft(adCk, join(dir, 'peft-hub'), { baseName: 'you/tiny-base' });
    assert.equal((JSON.parse(readFileSync(join(hub.adapterDir, 'adapter_config.json'), 'utf8')) as { base_model_name_or_path: string }).base_model_name_or_path, 'you/tiny-base');
    assert.throws(() => exportPeft(adCk, join(dir, 'peft-empty'), { baseName: ' ' }), /base model name is empty/);
    // the load hint follows what transformers will make of the name: a local directory (relative: from the working
    // directory; absolute: anywhere), a Hub repo id (push the base first), or neither (it says transformers will not find it)
    const loadHint = peftLoadHint(r);
    assert.match(loadHint, new RegExp(`AutoPeftModelForCausalLM\\.from_pretrained\\("${r.adapterDir}"\\) from ${process.cwd()} \\(base_model_name_or_path "${out}/base" is a local path`));
    assert.doesNotMatch(loadHint, /Hub/);
    const elsewhere = join(dir, ...'abcdefghijklmnop'.split('')); // deeper than the cwd, so "../…" stays inside dir
    assert.match(peftLoadHint(r, elsewhere), /neither a directory here nor a Hub repo id/, 'the same relative name from another directory finds nothing');
    const hubHint = peftLoadHint(hub);
    assert.match(hubHint, new RegExp(`"you/tiny-base" is a Hugging Face Hub repo id: push ${hub.baseDir} there .*until then, with the local base: PeftModel\\.from_pretrained\\(AutoModelForCausalLM\\.from_pretrained\\("${hub.baseDir}"\\), "${hub.adapterDir}"\\)`));
    const abs = exportPeft(adCk, join(dir, 'peft-abs'), { baseName: resolve(dir, 'peft-abs', 'base') });
    assert.match(peftLoadHint(abs, tmpdir()), new RegExp(`^load with AutoPeftModelForCausalLM\\.from_pretrained\\("${abs.adapterDir}"\\) \\(base_model_name_or_path is the local directory`), 'an absolute path loads from anywhere');
    assert.match(peftLoadHint({ ...abs, baseName: join(dir, 'moved', 'base') }), /is neither a directory here nor a Hub repo id/);
    assert.deepEqual(conf.target_modules, ['attention.query_key_value', 'mlp.dense_4h_to_h']);
    assert.equal(conf.fan_in_fan_out, false);
    // PEFT's merge over the exported base = the export of the stage as we load it (merged)
    const hf = new Map([...readHfWeights(r.baseDir).tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data.slice() }] as const));
    const st = readSafetensors(join(r.adapterDir, 'adapter_model.safetensors'));
    peftMerge(hf, { config: conf, tensors: st.tensors }, 4 / 2);
    const want = toHfTensors(cfg, loadCheckpoint(adCk).weights);
    let worst = 0;
    for (const [name, t] of want) for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(hf.get(name)!.data[i] - t.data[i]));
    assert.ok(worst < 1e-5, `max |Δ| ${worst}`);
    assert.throws(
      () => exportPeft(baseCk, join(dir, 'x')),
      (e: unknown) => e instanceof GptforgeError && /full model, not a LoRA adapter/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
