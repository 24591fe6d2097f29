import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLoraSpec, formatLoraSpec } from '../../src/model/lora-spec.js';
import type { LinearModule } from '../../src/model/gpt.js';

const GELU: LinearModule[] = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
const SWIGLU: LinearModule[] = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_fc2', 'mlp.c_proj'];

test('the --lora spec: key=value fields, targets taking the bare names after it, flags, defaults', () => {
  assert.deepEqual(parseLoraSpec('r=8,alpha=16,targets=qkv,proj,dropout=0.05,rslora', GELU), { r: 8, alpha: 16, dropout: 0.05, targets: ['attn.c_attn', 'attn.c_proj'], rslora: true });
  // PEFT's defaults fill what a spec leaves out; an empty spec (an unset shell variable) is refused
  assert.deepEqual(parseLoraSpec('r=8', GELU), { r: 8, alpha: 8, dropout: 0, targets: ['attn.c_attn'], rslora: false });
  assert.throws(() => parseLoraSpec(' ', GELU), /empty LoRA spec/);
  assert.deepEqual(parseLoraSpec('targets=all-linear', GELU).targets, GELU);
  assert.deepEqual(parseLoraSpec('targets=up,down', SWIGLU).targets, ['mlp.c_fc', 'mlp.c_fc2', 'mlp.c_proj']);
  // PEFT's suffix names: c_proj is both attention's and the MLP's output projection
  assert.deepEqual(parseLoraSpec('targets=c_proj', GELU).targets, ['attn.c_proj', 'mlp.c_proj']);
  assert.deepEqual(parseLoraSpec(' r = 4 , targets = mlp.c_fc , seed=3, rslora=false', GELU), { r: 4, alpha: 8, dropout: 0, targets: ['mlp.c_fc'], rslora: false, seed: 3 });
  const cfg = parseLoraSpec('r=2,alpha=4,targets=qkv,down,rslora', GELU);
  assert.deepEqual(parseLoraSpec(formatLoraSpec(cfg), GELU), cfg);
});

test('bad specs name the field; an unknown target lists the modules that exist', () => {
  assert.throws(() => parseLoraSpec('r=0', GELU), /GptforgeError: field "lora.r": must be a whole number ≥ 1, got "0"$/);
  assert.throws(() => parseLoraSpec('r=8,alfa=16', GELU), /GptforgeError: field "lora": unknown field "alfa"; fields: r, alpha, dropout, targets, rslora, seed/);
  assert.throws(() => parseLoraSpec('alpha=-1', GELU), /field "lora.alpha"/);
  assert.throws(() => parseLoraSpec('dropout=1', GELU), /GptforgeError: field "lora.dropout": must be in \[0, 1\)/);
  assert.throws(() => parseLoraSpec('r', GELU), /GptforgeError: field "lora.r": needs a value \(r=…\)/);
  assert.throws(() => parseLoraSpec('targets=qkv,c_fc2', GELU), /field "lora.targets": unknown target module "c_fc2"; this model has: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj \(aliases: qkv, proj, up, down, all-linear\)/);
  assert.throws(() => parseLoraSpec('r=4,qkv', GELU), /unknown field "qkv"/);
});
