import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { LoraModel, loraScaling, type LoraConfig } from '../../src/model/lora.js';
import { noGrad, type Tensor } from '../../src/engine/tensor.js';
import { setBackend } from '../../src/engine/backend.js';
import * as op from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/rng.js';
import { assertGradAt } from './grad-check.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { tempDir } from '../util/tmp.js';

const V = 48;
const cfg = makeConfig({ vocabSize: V, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 });
const B = 2;
const T = 7;
const rng = new Rng(5);
const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
const targets = Int32Array.from({ length: B * T }, () => rng.int(V));
const ALL: LoraConfig = { r: 4, alpha: 8, dropout: 0, targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], rslora: false, seed: 3 };

const logits = (m: GPT): Float32Array => noGrad(() => m.forward(ids, B, T)).data.slice();
const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => Math.max(s, Math.abs(v - b[i])), 0);
function randomizeB(lm: LoraModel, name: string, std: number, seed: number): void {
  const r = new Rng(seed);
  for (const p of lm.adapter(name).pairs) for (let i = 0; i < p.B.size; i++) p.B.data[i] = r.normal() * std;
}

test('a new adapter (B = 0) leaves the logits unchanged; A is U(±1/√in) as PEFT initialises it', () => {
  const m = new GPT(cfg, { seed: 1 });
  const before = logits(m);
  const lm = new LoraModel(m);
  const a = lm.addAdapter('default', ALL);
  assert.deepEqual(logits(m), before);
  assert.equal(a.pairs.length, 2 * 4);
  const fc = a.pairs.find((p) => p.site.module === 'mlp.c_proj')!;
  assert.deepEqual(fc.A.shape, [4, 128]);
  assert.deepEqual(fc.B.shape, [32, 4]);
  const bound = 1 / Math.sqrt(128);
  assert.ok(fc.A.data.every((v) => Math.abs(v) <= bound) && fc.A.data.some((v) => Math.abs(v) > bound * 0.9));
  assert.equal(fc.A.name, 'base_model.model.transformer.h.0.mlp.c_proj.lora_A.default.weight');
  assert.equal(loraScaling({ r: 16, alpha: 16, rslora: true }), 4);
  assert.equal(a.scaling, 2);
});

test('merged forward equals the unmerged one within 1e-5 max |Δlogit|; unmerge restores the base', () => {
  const m = new GPT(cfg, { seed: 2 });
  const base = logits(m);
  const w0 = m.params.get('transformer.h.0.attn.c_attn.weight')!.data.slice();
  const lm = new LoraModel(m);
  lm.addAdapter('a', ALL);
  randomizeB(lm, 'a', 0.05, 9);
  const unmerged = logits(m);
  assert.ok(maxDiff(unmerged, base) > 1e-3, 'the adapter changes the model');
  lm.merge('a');
  const merged = logits(m);
  const d = maxDiff(merged, unmerged);
  assert.ok(d <= 1e-5, `max |Δlogit| merged vs unmerged ${d}`);
  lm.unmerge('a');
  assert.ok(maxDiff(m.params.get('transformer.h.0.attn.c_attn.weight')!.data, w0) < 1e-6);
  assert.ok(maxDiff(logits(m), unmerged) <= 1e-5);
});

test('several named adapters: each enabled or disabled; withAdaptersDisabled is the bare base', () => {
  const m = new GPT(cfg, { seed: 3 });
  const base = logits(m);
  const lm = new LoraModel(m);
  lm.addAdapter('x', { ...ALL, targets: ['attn.c_attn'], seed: 1 });
  lm.addAdapter('y', { ...ALL, targets: ['mlp.c_fc'], r: 2, seed: 2 });
  randomizeB(lm, 'x', 0.05, 1);
  randomizeB(lm, 'y', 0.05, 2);
  const both = logits(m);
  lm.disable('y');
  const onlyX = logits(m);
  lm.disable('x');
  assert.deepEqual(logits(m), base);
  lm.enable('y');
  const onlyY = logits(m);
  lm.enable('x');
  assert.ok(maxDiff(onlyX, base) > 1e-4 && maxDiff(onlyY, base) > 1e-4 && maxDiff(onlyX, onlyY) > 1e-4);
  // the two adapters touch different layers' inputs, so their effects do not simply add, but both-on differs from each alone
  assert.ok(maxDiff(both, onlyX) > 1e-4 && maxDiff(both, onlyY) > 1e-4);
  assert.deepEqual(
    lm.withAdaptersDisabled(() => logits(m)),
    base,
  );
  assert.deepEqual(logits(m), both);
  assert.equal(lm.trainableParameters().length, 2 * (2 + 2));
  assert.equal(lm.trainableParameters('y').length, 2 * 2);
});

test('bad configs are refused by field; an unknown target lists the modules that exist', () => {
  const lm = new LoraModel(new GPT(cfg));
  assert.throws(() => lm.addAdapter('a', { ...ALL, targets: ['mlp.c_fc2'] }), /field "targets": unknown target module "mlp.c_fc2"; this model has: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj/);
  assert.throws(() => lm.addAdapter('a', { ...ALL, r: 0 }), /field "r": r must be a whole number/);
  assert.throws(() => lm.addAdapter('a', { ...ALL, dropout: 1 }), /field "dropout"/);
  lm.addAdapter('a', ALL);
  assert.throws(() => lm.addAdapter('a', ALL), /already exists/);
  assert.throws(() => lm.enable('b'), /no adapter named "b"; adapters: a/);
});

/** Central differences of the summed loss w.r.t. sampled elements of each tensor. */
function gradCheck(lm: LoraModel, loss: () => Tensor, tensors: Tensor[], label: string): void {
  for (const t of lm.trainableParameters()) t.grad = null;
  loss().backward();
  const r = new Rng(17);
  for (const t of tensors) {
    const g = t.grad;
    assert.ok(g, `${label}: ${t.name} got no gradient`);
    for (let s = 0; s < 6; s++) {
      const i = r.int(t.size);
      assertGradAt(t, i, loss, g, `${label}: ${t.name}[${i}]`);
    }
  }
}

for (const precision of ['f32', 'q8_0', 'q4_0'] as const) {
  test(`gradients of A and B match finite differences; the base gets none (${precision} base, rsLoRA)`, () => {
    const prev = setBackend('reference');
    try {
      const m = new GPT(cfg, { seed: 4 });
      const lm = new LoraModel(m, { basePrecision: precision });
      lm.addAdapter('g', { ...ALL, rslora: true });
      randomizeB(lm, 'g', 0.1, 4);
      const pairs = lm.adapter('g').pairs;
      const loss = (): Tensor => op.crossEntropy(m.forward(ids, B, T), targets);
      gradCheck(lm, loss, [pairs[0].A, pairs[0].B, pairs[3].A, pairs[7].B], precision);
      for (const p of m.parameters()) if (!p.name!.startsWith('score')) assert.equal(p.grad, null, `${p.name} is frozen`);
    } finally {
      setBackend(prev.name);
    }
  });
}

test('a quantized base: logits near the fp32 model, fewer bytes, merge refused with the reason', () => {
  const ref = logits(new GPT(cfg, { seed: 6 }));
  for (const [precision, tol, ratio] of [
    ['q8_0', 0.01, 0.3],
    ['q4_0', 0.15, 0.2],
  ] as const) {
    const m = new GPT(cfg, { seed: 6 });
    const lm = new LoraModel(m, { basePrecision: precision });
    const d = maxDiff(logits(m), ref);
    assert.ok(d > 0 && d < tol, `${precision}: max |Δlogit| vs fp32 ${d}`);
    assert.ok(!m.params.has('transformer.h.0.mlp.c_fc.weight'), 'the fp32 copy is dropped');
    const linearBytes = 2 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32) * 4;
    const quantBytes = lm.baseBytes() - m.numParams() * 4;
    assert.ok(quantBytes < linearBytes * ratio, `${precision}: ${quantBytes} bytes for ${linearBytes} fp32 bytes`);
    lm.addAdapter('a', ALL);
    assert.throws(() => lm.merge('a'), /cannot merge adapter "a" into a .* base: the sum would have to be re-quantized/);
    assert.throws(() => saveCheckpoint(tempDir('gf-q-'), m, { stage: 'sft', step: 1 }), /base is quantized \(its fp32 block weights were dropped\)/);
  }
});

test('dropout applies while training only', () => {
  const m = new GPT(cfg, { seed: 7 });
  const lm = new LoraModel(m);
  lm.addAdapter('d', { ...ALL, dropout: 0.5 });
  randomizeB(lm, 'd', 0.1, 7);
  const a = logits(m);
  assert.deepEqual(logits(m), a, 'no dropout under noGrad');
  const t1 = m.forward(ids, B, T).data.slice();
  const t2 = m.forward(ids, B, T).data.slice();
  assert.ok(maxDiff(t1, t2) > 1e-4, 'fresh masks each training forward');
});
