import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { LoraModel, type LoraConfig } from '../../src/model/lora.js';
import { parseLoraSpec, formatLoraSpec } from '../../src/model/lora-spec.js';
import { TOKEN_ROWS_KEY, loadAdapterInto, mergeAdapterWeights, readAdapter, saveAdapter } from '../../src/model/export/peft.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { frequentTargets } from '../../src/run/sft.js';
import { noGrad, type Tensor } from '../../src/engine/tensor.js';
import { setBackend } from '../../src/engine/backend.js';
import * as op from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/rng.js';
import { assertGradAt } from './grad-check.js';

// PEFT's trainable_token_indices on a LoRA adapter: chosen rows of the tied embedding/head train.

const V = 48;
const cfg = makeConfig({ vocabSize: V, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 });
const B = 2;
const T = 7;
const TOKENS = [40, 41, 45];
const rng = new Rng(11);
// the chosen tokens occur both as inputs (embedding path) and as targets (head path)
const ids = Int32Array.from({ length: B * T }, (_, i) => (i % 4 === 0 ? TOKENS[i % 3] : rng.int(V)));
const targets = Int32Array.from({ length: B * T }, (_, i) => (i % 3 === 1 ? TOKENS[(i + 1) % 3] : rng.int(V)));
const ALL: LoraConfig = { r: 4, alpha: 8, dropout: 0, targets: ['attn.c_attn', 'mlp.c_proj'], rslora: false, seed: 3, trainableTokenIndices: TOKENS };

const logits = (m: GPT): Float32Array => noGrad(() => m.forward(ids, B, T)).data.slice();
const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => Math.max(s, Math.abs(v - b[i])), 0);
const wte = (m: GPT): Float32Array => m.params.get('transformer.wte.weight')!.data;

/** Random B and token rows moved off the base's, so the adapter changes the model. */
function perturb(lm: LoraModel, name: string, seed: number): void {
  const r = new Rng(seed);
  const a = lm.adapter(name);
  for (const p of a.pairs) for (let i = 0; i < p.B.size; i++) p.B.data[i] = r.normal() * 0.05;
  for (let i = 0; i < a.tokens!.rows.size; i++) a.tokens!.rows.data[i] += r.normal() * 0.3;
}

function gradCheck(lm: LoraModel, loss: () => Tensor, t: Tensor, label: string): void {
  for (const p of lm.trainableParameters()) p.grad = null;
  loss().backward();
  const g = t.grad;
  assert.ok(g, `${label}: no gradient`);
  const C = cfg.nEmbd;
  const r = new Rng(23);
  // every row, a few columns each: each token's row gets its own gradient
  for (let j = 0; j < TOKENS.length; j++) {
    for (let s = 0; s < 4; s++) {
      const i = j * C + r.int(C);
      assertGradAt(t, i, loss, g, `${label}: row ${j} [${i}]`);
    }
  }
  assert.ok(
    g.some((v) => Math.abs(v) > 1e-4),
    `${label}: the gradient is not all zero`,
  );
}

for (const precision of ['f32', 'q4_0'] as const) {
  test(`token rows: gradients match finite differences through the embedding and the tied head, fused loss and plain logits (${precision} base)`, () => {
    const prev = setBackend('reference');
    try {
      const m = new GPT(cfg, { seed: 4 });
      const lm = new LoraModel(m, { basePrecision: precision });
      lm.addAdapter('g', ALL);
      perturb(lm, 'g', 4);
      const rows = lm.adapter('g').tokens!.rows;
      assert.equal(rows.name, 'base_model.model.transformer.wte.token_adapter.trainable_tokens_delta.g');
      gradCheck(lm, () => m.loss(ids, targets, B, T), rows, `${precision} fused`);
      gradCheck(lm, () => op.crossEntropy(m.forward(ids, B, T), targets), rows, `${precision} logits`);
      for (const p of m.parameters()) assert.equal(p.grad, null, `${p.name} is frozen`);
      // the head alone (no chosen token among the inputs) and the embedding alone (none among the targets)
      const plain = Int32Array.from(ids, (id) => (TOKENS.includes(id) ? 0 : id));
      const plainT = Int32Array.from(targets, (id) => (TOKENS.includes(id) ? 1 : id));
      gradCheck(lm, () => m.loss(plain, targets, B, T), rows, `${precision} head only`);
      gradCheck(lm, () => m.loss(ids, plainT, B, T), rows, `${precision} embedding only`);
    } finally {
      setBackend(prev.name);
    }
  });
}

test('token rows: a new adapter is a no-op; training changes only the chosen rows; disabling restores the base', () => {
  const m = new GPT(cfg, { seed: 5 });
  const base = logits(m);
  const table0 = wte(m).slice();
  const lm = new LoraModel(m, { basePrecision: 'q8_0' });
  lm.addAdapter('t', ALL);
  const start = logits(m);
  assert.ok(maxDiff(start, base) < 0.05, 'starts at the (quantized) base');
  const params = lm.trainableParameters('t');
  for (let step = 0; step < 5; step++) {
    for (const p of params) p.grad = null;
    m.loss(ids, targets, B, T).backward();
    for (const p of params) for (let i = 0; i < p.size; i++) p.data[i] -= 0.5 * p.grad![i];
  }
  const after = logits(m);
  assert.ok(maxDiff(after, start) > 1e-2, 'training moved the model');
  const C = cfg.nEmbd;
  const table = wte(m);
  for (let id = 0; id < V; id++) {
    const d = maxDiff(table.subarray(id * C, (id + 1) * C), table0.subarray(id * C, (id + 1) * C));
    if (TOKENS.includes(id)) assert.ok(d > 1e-4, `row ${id} trained`);
    else assert.equal(d, 0, `row ${id} untouched`);
  }
  lm.disable('t');
  logits(m);
  assert.deepEqual(wte(m), table0, 'a disabled adapter leaves the base table');
  lm.enable('t');
  assert.deepEqual(logits(m), after);
  lm.withAdaptersDisabled(() => assert.deepEqual(wte(m).slice(), table0));
  // f32 rows over a quantized base
  assert.ok(lm.adapter('t').tokens!.rows.data instanceof Float32Array);
});

test('token rows: merged forward equals the unmerged one; unmerge restores the table', () => {
  const m = new GPT(cfg, { seed: 6 });
  const table0 = wte(m).slice();
  const lm = new LoraModel(m);
  lm.addAdapter('a', ALL);
  perturb(lm, 'a', 6);
  const unmerged = logits(m);
  lm.merge('a');
  const merged = logits(m);
  assert.ok(maxDiff(merged, unmerged) <= 1e-5, `max |Δlogit| ${maxDiff(merged, unmerged)}`);
  assert.deepEqual(lm.trainableParameters('a'), []);
  lm.unmerge('a');
  lm.disable('a');
  logits(m);
  assert.deepEqual(wte(m), table0);
});

test('token rows: PEFT files round trip (trainable_token_indices, token_adapter.trainable_tokens_delta); merging the file equals the adapter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptforge-tt-'));
  try {
    const m = new GPT(cfg, { seed: 7 });
    const weights = new Map([...m.params].map(([k, t]) => [k, t.data.slice()] as const));
    const lm = new LoraModel(m);
    lm.addAdapter('default', ALL);
    perturb(lm, 'default', 7);
    const want = logits(m);
    saveAdapter(dir, lm, 'default', { model: cfg });
    const json = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(json.trainable_token_indices, TOKENS);
    const st = readSafetensors(join(dir, 'adapter_model.safetensors'));
    assert.equal(TOKEN_ROWS_KEY, 'base_model.model.transformer.wte.token_adapter.trainable_tokens_delta');
    assert.deepEqual(st.tensors.get(TOKEN_ROWS_KEY)!.shape, [3, 32]);
    const ad = readAdapter(dir);
    assert.deepEqual(ad.lora.trainableTokenIndices, TOKENS);
    // loaded onto a fresh copy of the base
    const m2 = new GPT(cfg, { seed: 7 });
    const lm2 = new LoraModel(m2);
    loadAdapterInto(lm2, ad, 'x');
    assert.ok(maxDiff(logits(m2), want) <= 1e-6);
    // merged into the base's weights (gptforge merge, loading an adapter checkpoint)
    mergeAdapterWeights(weights, ad);
    const m3 = new GPT(cfg, { seed: 99 });
    for (const [k, t] of m3.params) t.data.set(weights.get(k)!);
    assert.ok(maxDiff(logits(m3), want) <= 1e-5, `merged file vs adapter ${maxDiff(logits(m3), want)}`);
    // a file whose rows do not match its indices is refused by name
    const small = new GPT(makeConfig({ ...cfg, vocabSize: 42 }));
    assert.throws(() => loadAdapterInto(new LoraModel(small), ad, 'y'), /vocabSize=48, this model has 42/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('token rows: the tokens= spec field; bad indices and overlapping adapters refused', () => {
  const mods = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
  const specials = new Map([
    ['<|bos|>', 44],
    ['<|user_start|>', 45],
  ]);
  assert.equal(parseLoraSpec('r=4', [...mods]).trainableTokenIndices, undefined);
  assert.deepEqual(parseLoraSpec('r=4,tokens=special', [...mods], 'lora', { specialTokens: specials }).trainableTokenIndices, [44, 45]);
  assert.deepEqual(parseLoraSpec('tokens=3,7,<|user_start|>,targets=qkv', [...mods], 'lora', { specialTokens: specials }).trainableTokenIndices, [3, 7, 45]);
  assert.deepEqual(parseLoraSpec('tokens=none', [...mods]).trainableTokenIndices, []);
  assert.deepEqual(parseLoraSpec('tokens=all', [...mods], 'lora', { vocabSize: 5 }).trainableTokenIndices, [0, 1, 2, 3, 4]);
  assert.throws(() => parseLoraSpec('tokens=all', [...mods]), /field "lora.tokens": "all" needs the model's vocabulary size/);
  const frequentTokens = (k: number): number[] => frequentTargets([{ ids: [5, 6, 6, 7, 7, 7, 45], mask: [0, 1, 1, 1, 1, 1, 1] }], k);
  assert.deepEqual(frequentTokens(9), [7, 6, 45], 'by count of masked targets, ties by id; unmasked 5 is no target');
  assert.deepEqual(parseLoraSpec('tokens=special,top:2', [...mods], 'lora', { specialTokens: specials, frequentTokens }).trainableTokenIndices, [44, 45, 7, 6]);
  assert.throws(() => parseLoraSpec('tokens=top:2', [...mods]), /field "lora.tokens": "top:2": the most frequent answer tokens are known only to sft/);
  assert.match(formatLoraSpec(parseLoraSpec('r=2,tokens=3,7', [...mods])), /,tokens=3,7$/);
  assert.throws(() => parseLoraSpec('tokens=special', [...mods]), /field "lora.tokens": "special" needs the tokenizer's special tokens/);
  assert.throws(() => parseLoraSpec('tokens=<|nope|>', [...mods], 'lora', { specialTokens: specials }), /"<\|nope\|>" is not a token id/);
  const lm = new LoraModel(new GPT(cfg));
  assert.throws(() => lm.addAdapter('a', { ...ALL, trainableTokenIndices: [48] }), /trainable token index 48 is not a token id of this model \(0…47\)/);
  assert.throws(() => lm.addAdapter('a', { ...ALL, trainableTokenIndices: [3, 3] }), /repeat/);
  lm.addAdapter('a', ALL);
  assert.throws(() => lm.addAdapter('b', { ...ALL, trainableTokenIndices: [1, 41] }), /token 41 already trains in adapter "a"/);
});
