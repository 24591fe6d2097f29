import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModel, runSft, type Conversation } from '../../src/index.js';
import { GPT } from '../../src/model/gpt.js';
import { LoraModel } from '../../src/model/lora.js';
import { loadCheckpoint, modelFromCheckpoint } from '../../src/model/checkpoint.js';
import { readAdapter, loadAdapterInto } from '../../src/model/export/peft.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { noGrad } from '../../src/engine/tensor.js';
import { tinyRun } from './fixture.js';
import { GptforgeError } from '../../src/util/errors.js';
import { adapterMarkdown, stageAdapter } from '../../src/run/eval.js';

const qa = (q: string, a: string): Conversation => ({
  messages: [
    { role: 'user', content: q },
    { role: 'assistant', content: a },
  ],
});
const good = [qa('Who are you?', 'I am Forge.'), qa('Say hello.', 'Hello!')];
const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => Math.max(s, Math.abs(v - b[i])), 0);

test('LoRA SFT on a Q4_0 base: PEFT files beside our checkpoint, resume, the merged load equals base + adapter', async () => {
  const runDir = tinyRun();
  try {
    const losses: number[] = [];
    const r = await runSft(runDir, {
      conversations: good,
      onlyData: true,
      into: 'sft-lora',
      steps: 12,
      lr: 0.02,
      quiet: true,
      lora: 'r=4,alpha=8,targets=all-linear',
      basePrecision: 'q4_0',
      onStep: (rec) => losses.push(rec.loss as number),
    });
    assert.equal(r.step, 12);
    assert.ok(losses[losses.length - 1] < losses[0] - 0.1, `the adapter learns: loss ${losses[0]} → ${losses[losses.length - 1]}`);
    const ck = r.checkpoint!;
    assert.ok(!existsSync(join(ck, 'model.safetensors')), 'an adapter checkpoint holds no base weights');
    const cfg = JSON.parse(readFileSync(join(ck, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.peft_type, 'LORA');
    assert.equal(cfg.task_type, 'CAUSAL_LM');
    assert.equal(cfg.r, 4);
    assert.equal(cfg.lora_alpha, 8);
    assert.equal(cfg.fan_in_fan_out, true);
    assert.deepEqual(cfg.target_modules, ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']);
    const keys = [...readSafetensors(join(ck, 'adapter_model.safetensors')).tensors.keys()];
    assert.ok(keys.includes('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'), keys.join(', '));
    assert.ok(keys.includes('base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight'));
    // SFT trains by default the embedding rows (PEFT's trainable_token_indices) of the tokenizer's
    // special tokens, then of the data's most frequent targets: here all of the few there are
    const tok = loadModel(runDir, 'base').tok;
    const specials = [...tok.specialTokens.values()];
    assert.ok(specials.length > 0);
    const tokenIds = cfg.trainable_token_indices as number[];
    assert.deepEqual(tokenIds.slice(0, specials.length), specials);
    for (const id of tok.encode('I am Forge.')) assert.ok(tokenIds.includes(id), `target token ${id} trains`);
    assert.equal(new Set(tokenIds).size, tokenIds.length);
    assert.ok(keys.includes('base_model.model.transformer.wte.token_adapter.trainable_tokens_delta'), keys.join(', '));
    assert.equal(keys.length, 9);
    const meta = JSON.parse(readFileSync(join(ck, 'config.json'), 'utf8')) as { adapter: { base: string; basePrecision: string } };
    assert.equal(meta.adapter.basePrecision, 'q4_0');
    // the eval report's line for the stage: read from the checkpoint, not from the options
    const summary = stageAdapter(runDir, 'sft-lora');
    assert.deepEqual(summary, { stage: 'sft-lora', r: 4, lora_alpha: 8, target_modules: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], use_rslora: false, basePrecision: 'q4_0', trainable_tokens: tokenIds.length });
    assert.match(adapterMarkdown('SFT', summary!), /"SFT" is a LoRA adapter \(r = 4, α = 8, on attn\.c_attn, .*, and \d+ token embedding rows\) trained over a Q4_0 base/);
    assert.equal(stageAdapter(runDir, 'base'), null);

    // loading the stage merges the adapter into the fp32 base: equal to the base with the adapter unmerged
    const merged = loadModel(runDir, 'sft-lora').model;
    const base = modelFromCheckpoint(loadCheckpoint(join(runDir, 'base', 'step-0000001')));
    const lm = new LoraModel(base);
    loadAdapterInto(lm, readAdapter(ck), 'default', { tokenizerHash: loadModel(runDir, 'base').tok.hash() });
    const ids = Int32Array.from({ length: 2 * 9 }, (_, i) => (i * 37) % merged.config.vocabSize);
    const a = noGrad(() => merged.forward(ids, 2, 9)).data;
    const b = noGrad(() => base.forward(ids, 2, 9)).data;
    assert.ok(maxDiff(a, b) <= 1e-5, `merged vs unmerged ${maxDiff(a, b)}`);

    // resumed: continues from step 12 with the adapter restored
    const again = await runSft(runDir, { conversations: good, onlyData: true, into: 'sft-lora', steps: 14, lr: 0.02, quiet: true, lora: 'r=4,alpha=8,targets=all-linear', basePrecision: 'q4_0' });
    assert.equal(again.step, 14);
    // a different run shape is refused rather than resumed wrongly
    await assert.rejects(() => runSft(runDir, { conversations: good, onlyData: true, into: 'sft-lora', steps: 16, quiet: true }), /cannot resume: the checkpoint holds a LoRA adapter but this run trains the full model/);
    await assert.rejects(() => runSft(runDir, { conversations: good, onlyData: true, into: 'sft-lora', steps: 16, quiet: true, lora: 'r=2,targets=all-linear' }), /cannot resume: the checkpoint's adapter has r=4, this run's has r=2/);
    await assert.rejects(() => runSft(runDir, { conversations: good, onlyData: true, into: 'sft-lora', steps: 16, quiet: true, lora: 'r=4,alpha=8,targets=all-linear,tokens=none', basePrecision: 'q4_0' }), /cannot resume: the checkpoint's adapter trains token rows \[\d+, .*\], this run's \[\]/);
    // a long list of rows is shown as its first ids and its count
    await assert.rejects(
      () => runSft(runDir, { conversations: good, onlyData: true, into: 'sft-lora', steps: 16, quiet: true, lora: 'r=4,alpha=8,targets=all-linear,tokens=none', basePrecision: 'q4_0' }),
      (e: Error) => {
        const shown = /token rows \[([^\]]*)\]/
          .exec(e.message)![1]
          .split(', ')
          .filter((x) => /^\d+$/.test(x));
        return shown.length <= 8 && (tokenIds.length <= 8 || e.message.includes(`(${tokenIds.length} in all)`));
      },
    );
    // options that would rescale what was learned, drop trained modules or change the base are refused too
    await assert.rejects(() => runSft(runDir, { conversations: good, onlyData: true, into: 'sft-lora', steps: 16, quiet: true, lora: 'r=4,alpha=16,targets=all-linear', basePrecision: 'q4_0' }), /cannot resume: the checkpoint's adapter has alpha=8, this run's has alpha=16/);
    await assert.rejects(
      () => runSft(runDir, { conversations: good, onlyData: true, into: 'sft-lora', steps: 16, quiet: true, lora: 'r=4,alpha=8,targets=qkv', basePrecision: 'q4_0' }),
      /cannot resume: the checkpoint's adapter has targets=attn\.c_attn,attn\.c_proj,mlp\.c_fc,mlp\.c_proj, this run's has targets=attn\.c_attn/,
    );
    await assert.rejects(() => runSft(runDir, { conversations: good, onlyData: true, into: 'sft-lora', steps: 16, quiet: true, lora: 'r=4,alpha=8,targets=all-linear' }), /cannot resume: the checkpoint's adapter has base precision=q4_0, this run's has base precision=f32/);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('bad LoRA input: a quantized base without an adapter, an unknown target, an adapter for another base', async () => {
  const runDir = tinyRun();
  try {
    await assert.rejects(() => runSft(runDir, { conversations: good, onlyData: true, into: 'x', steps: 1, quiet: true, basePrecision: 'q8_0' }), /a q8_0 base cannot be trained — quantized weights are frozen and receive no gradient; add a LoRA adapter/);
    await assert.rejects(() => runSft(runDir, { conversations: good, onlyData: true, into: 'x', steps: 1, quiet: true, lora: 'r=4,targets=qkv,gate' }), /field "lora.targets": unknown target module "gate"; this model has: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj/);
    const r = await runSft(runDir, { conversations: good, onlyData: true, into: 'y', steps: 1, quiet: true, lora: 'r=2' });
    const ad = readAdapter(r.checkpoint!);
    // base_model_name_or_path: the base checkpoint by default; the name transformers loads the base by when given (as export --format peft --base-name)
    const baseOf = (ck: string): unknown => (JSON.parse(readFileSync(join(ck, 'adapter_config.json'), 'utf8')) as Record<string, unknown>).base_model_name_or_path;
    assert.equal(resolve(baseOf(r.checkpoint!) as string), resolve(loadModel(runDir, 'base').dir));
    const named = await runSft(runDir, { conversations: good, onlyData: true, into: 'z', steps: 1, quiet: true, lora: 'r=2', baseName: 'you/tiny-base' });
    assert.equal(baseOf(named.checkpoint!), 'you/tiny-base');
    await assert.rejects(
      () => runSft(runDir, { conversations: good, onlyData: true, into: 'w', steps: 1, quiet: true, baseName: 'you/tiny-base' }),
      (e: unknown) => e instanceof GptforgeError && e.field === 'baseName' && /without a LoRA adapter/.test(e.message),
    );
    const wider = new LoraModel(new GPT({ ...loadModel(runDir, 'base').model.config, nEmbd: 64 }));
    assert.throws(() => loadAdapterInto(wider, ad, 'x'), /adapter made for another base: its base has nEmbd=32, this model has 64/);
    const base = loadModel(runDir, 'base');
    // a model of the base's config and tokenizer from another seed is another base: its weights' fingerprint differs
    assert.throws(() => loadAdapterInto(new LoraModel(new GPT(base.model.config, { seed: 99 })), ad, 'x', base.tok.hash()), /adapter made for another base: it was trained on base weights sha256:[0-9a-f]{12}…, this model's are sha256:[0-9a-f]{12}…/);
    const same = (): LoraModel => new LoraModel(loadModel(runDir, 'base').model as GPT);
    assert.throws(() => loadAdapterInto(same(), ad, 'x', 'f'.repeat(64)), /adapter made for another base: its tokenizer hash is/);
    loadAdapterInto(same(), ad, 'x', base.tok.hash());
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('runMerge writes a full checkpoint equal to the adapter on its base; a full checkpoint is refused', async () => {
  const { runMerge } = await import('../../src/run/merge.js');
  const runDir = tinyRun();
  try {
    const r = await runSft(runDir, { conversations: good, onlyData: true, steps: 4, lr: 0.02, quiet: true, fresh: true, lora: 'r=4,alpha=8,targets=qkv,down' });
    const m = runMerge(runDir);
    assert.ok(existsSync(join(m.checkpoint, 'model.safetensors')));
    assert.equal(m.adapter, r.checkpoint);
    const full = loadModel(m.checkpoint).model;
    const viaAdapter = loadModel(runDir, 'sft').model;
    assert.deepEqual(full.params.get('transformer.h.0.attn.c_attn.weight')!.data, viaAdapter.params.get('transformer.h.0.attn.c_attn.weight')!.data);
    const base = loadModel(runDir, 'base').model;
    assert.ok(maxDiff(full.params.get('transformer.h.0.attn.c_attn.weight')!.data, base.params.get('transformer.h.0.attn.c_attn.weight')!.data) > 0, 'the adapter changed the weights');
    assert.deepEqual(full.params.get('transformer.h.0.attn.c_proj.weight')!.data, base.params.get('transformer.h.0.attn.c_proj.weight')!.data, 'untargeted layers are the base');
    assert.throws(() => runMerge(m.checkpoint), /not an adapter checkpoint/);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
