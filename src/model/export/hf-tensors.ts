import { GptforgeError } from '../../util/errors.js';
import type { GPTConfig } from '../config.js';
import type { NamedTensor } from '../safetensors.js';
import { assertExportable, ourQkvColumn, transpose } from './layout.js';
import { architectureFor, type HfArchitecture } from './hf-config.js';

/**
 * Our parameters ⇄ the state dicts of transformers' GPT2LMHeadModel and GPTNeoXForCausalLM
 * (the layout differences are explained in hf.ts and layout.ts).
 */

/** Our weights (name → data) → the Hugging Face state dict of the matching architecture. */
export function toHfTensors(c: GPTConfig, w: ReadonlyMap<string, Float32Array>, file = 'checkpoint'): Map<string, NamedTensor> {
  assertExportable(c, file);
  const { nEmbd: C, nHead, mlpHidden: H, vocabSize: V } = c;
  const D = C / nHead;
  const get = (name: string): Float32Array => {
    const d = w.get(name);
    if (!d) throw new GptforgeError(`missing tensor "${name}"`, { file });
    return d;
  };
  const opt = (name: string, n: number): Float32Array => w.get(name) ?? new Float32Array(n);
  const out = new Map<string, NamedTensor>();
  const put = (name: string, shape: number[], data: Float32Array): void => {
    out.set(name, { shape, data });
  };
  if (architectureFor(c) === 'gpt2') {
    put('transformer.wte.weight', [V, C], get('transformer.wte.weight'));
    put('transformer.wpe.weight', [c.blockSize, C], get('transformer.wpe.weight'));
    for (let l = 0; l < c.nLayer; l++) {
      const p = `transformer.h.${l}`;
      put(`${p}.ln_1.weight`, [C], get(`${p}.ln_1.weight`));
      put(`${p}.ln_1.bias`, [C], opt(`${p}.ln_1.bias`, C));
      put(`${p}.attn.c_attn.weight`, [C, 3 * C], get(`${p}.attn.c_attn.weight`));
      put(`${p}.attn.c_attn.bias`, [3 * C], opt(`${p}.attn.c_attn.bias`, 3 * C));
      put(`${p}.attn.c_proj.weight`, [C, C], get(`${p}.attn.c_proj.weight`));
      put(`${p}.attn.c_proj.bias`, [C], opt(`${p}.attn.c_proj.bias`, C));
      put(`${p}.ln_2.weight`, [C], get(`${p}.ln_2.weight`));
      put(`${p}.ln_2.bias`, [C], opt(`${p}.ln_2.bias`, C));
      put(`${p}.mlp.c_fc.weight`, [C, H], get(`${p}.mlp.c_fc.weight`));
      put(`${p}.mlp.c_fc.bias`, [H], opt(`${p}.mlp.c_fc.bias`, H));
      put(`${p}.mlp.c_proj.weight`, [H, C], get(`${p}.mlp.c_proj.weight`));
      put(`${p}.mlp.c_proj.bias`, [C], opt(`${p}.mlp.c_proj.bias`, C));
    }
    put('transformer.ln_f.weight', [C], get('transformer.ln_f.weight'));
    put('transformer.ln_f.bias', [C], opt('transformer.ln_f.bias', C));
    if (!c.tieEmbeddings) put('lm_head.weight', [V, C], get('lm_head.weight'));
    return out;
  }
  put('gpt_neox.embed_in.weight', [V, C], get('transformer.wte.weight'));
  for (let l = 0; l < c.nLayer; l++) {
    const p = `transformer.h.${l}`;
    const q = `gpt_neox.layers.${l}`;
    put(`${q}.input_layernorm.weight`, [C], get(`${p}.ln_1.weight`));
    put(`${q}.input_layernorm.bias`, [C], opt(`${p}.ln_1.bias`, C));
    const aw = get(`${p}.attn.c_attn.weight`);
    const ab = opt(`${p}.attn.c_attn.bias`, 3 * C);
    const qkvW = new Float32Array(3 * C * C);
    const qkvB = new Float32Array(3 * C);
    for (let h = 0; h < nHead; h++) {
      for (let part = 0; part < 3; part++) {
        for (let j = 0; j < D; j++) {
          const o = h * 3 * D + part * D + j; // NeoX output row
          const col = ourQkvColumn(part, h, j, C, D, true);
          for (let i = 0; i < C; i++) qkvW[o * C + i] = aw[i * 3 * C + col];
          qkvB[o] = ab[col];
        }
      }
    }
    put(`${q}.attention.query_key_value.weight`, [3 * C, C], qkvW);
    put(`${q}.attention.query_key_value.bias`, [3 * C], qkvB);
    put(`${q}.attention.dense.weight`, [C, C], transpose(get(`${p}.attn.c_proj.weight`), C, C));
    put(`${q}.attention.dense.bias`, [C], opt(`${p}.attn.c_proj.bias`, C));
    put(`${q}.post_attention_layernorm.weight`, [C], get(`${p}.ln_2.weight`));
    put(`${q}.post_attention_layernorm.bias`, [C], opt(`${p}.ln_2.bias`, C));
    put(`${q}.mlp.dense_h_to_4h.weight`, [H, C], transpose(get(`${p}.mlp.c_fc.weight`), C, H));
    put(`${q}.mlp.dense_h_to_4h.bias`, [H], opt(`${p}.mlp.c_fc.bias`, H));
    put(`${q}.mlp.dense_4h_to_h.weight`, [C, H], transpose(get(`${p}.mlp.c_proj.weight`), H, C));
    put(`${q}.mlp.dense_4h_to_h.bias`, [C], opt(`${p}.mlp.c_proj.bias`, C));
  }
  put('gpt_neox.final_layer_norm.weight', [C], get('transformer.ln_f.weight'));
  put('gpt_neox.final_layer_norm.bias', [C], opt('transformer.ln_f.bias', C));
  if (!c.tieEmbeddings) put('embed_out.weight', [V, C], get('lm_head.weight'));
  return out;
}

/** The inverse of toHfTensors: a Hugging Face state dict → our parameter names and layouts. */
export function fromHfTensors(arch: HfArchitecture, c: GPTConfig, t: ReadonlyMap<string, NamedTensor>, file: string): Map<string, Float32Array> {
  const { nEmbd: C, nHead, mlpHidden: H, vocabSize: V } = c;
  const D = C / nHead;
  const used = new Set<string>();
  const get = (name: string, n: number): Float32Array => {
    const d = t.get(name);
    if (!d) throw new GptforgeError(`missing tensor "${name}"`, { file });
    if (d.data.length !== n) throw new GptforgeError(`tensor "${name}" has ${d.data.length} elements, expected ${n} (shape [${d.shape.join(', ')}])`, { file, field: name });
    used.add(name);
    return d.data;
  };
  const w = new Map<string, Float32Array>();
  const bias = c.bias;
  const normBias = c.bias; // LayerNorm only (RMSNorm is refused)
  if (arch === 'gpt2') {
    w.set('transformer.wte.weight', get('transformer.wte.weight', V * C));
    w.set('transformer.wpe.weight', get('transformer.wpe.weight', c.blockSize * C));
    for (let l = 0; l < c.nLayer; l++) {
      const p = `transformer.h.${l}`;
      const sizes: [string, number, boolean][] = [
        ['ln_1.weight', C, true],
        ['ln_1.bias', C, normBias],
        ['attn.c_attn.weight', 3 * C * C, true],
        ['attn.c_attn.bias', 3 * C, bias],
        ['attn.c_proj.weight', C * C, true],
        ['attn.c_proj.bias', C, bias],
        ['ln_2.weight', C, true],
        ['ln_2.bias', C, normBias],
        ['mlp.c_fc.weight', C * H, true],
        ['mlp.c_fc.bias', H, bias],
        ['mlp.c_proj.weight', H * C, true],
        ['mlp.c_proj.bias', C, bias],
      ];
      for (const [n, size, keep] of sizes) {
        const d = get(`${p}.${n}`, size);
        if (keep) w.set(`${p}.${n}`, d);
      }
    }
    w.set('transformer.ln_f.weight', get('transformer.ln_f.weight', C));
    const lnfB = get('transformer.ln_f.bias', C);
    if (normBias) w.set('transformer.ln_f.bias', lnfB);
    if (!c.tieEmbeddings) w.set('lm_head.weight', get('lm_head.weight', V * C));
    else if (t.has('lm_head.weight')) used.add('lm_head.weight');
  } else {
    w.set('transformer.wte.weight', get('gpt_neox.embed_in.weight', V * C));
    for (let l = 0; l < c.nLayer; l++) {
      const p = `transformer.h.${l}`;
      const q = `gpt_neox.layers.${l}`;
      w.set(`${p}.ln_1.weight`, get(`${q}.input_layernorm.weight`, C));
      const ln1b = get(`${q}.input_layernorm.bias`, C);
      if (normBias) w.set(`${p}.ln_1.bias`, ln1b);
      const qkvW = get(`${q}.attention.query_key_value.weight`, 3 * C * C);
      const qkvB = t.has(`${q}.attention.query_key_value.bias`) ? get(`${q}.attention.query_key_value.bias`, 3 * C) : new Float32Array(3 * C);
      const aw = new Float32Array(C * 3 * C);
      const ab = new Float32Array(3 * C);
      for (let h = 0; h < nHead; h++) {
        for (let part = 0; part < 3; part++) {
          for (let j = 0; j < D; j++) {
            const o = h * 3 * D + part * D + j;
            const col = ourQkvColumn(part, h, j, C, D, true);
            for (let i = 0; i < C; i++) aw[i * 3 * C + col] = qkvW[o * C + i];
            ab[col] = qkvB[o];
          }
        }
      }
      w.set(`${p}.attn.c_attn.weight`, aw);
      if (bias) w.set(`${p}.attn.c_attn.bias`, ab);
      w.set(`${p}.attn.c_proj.weight`, transpose(get(`${q}.attention.dense.weight`, C * C), C, C));
      const dB = t.has(`${q}.attention.dense.bias`) ? get(`${q}.attention.dense.bias`, C) : new Float32Array(C);
      if (bias) w.set(`${p}.attn.c_proj.bias`, dB);
      w.set(`${p}.ln_2.weight`, get(`${q}.post_attention_layernorm.weight`, C));
      const ln2b = get(`${q}.post_attention_layernorm.bias`, C);
      if (normBias) w.set(`${p}.ln_2.bias`, ln2b);
      w.set(`${p}.mlp.c_fc.weight`, transpose(get(`${q}.mlp.dense_h_to_4h.weight`, H * C), H, C));
      const fcB = get(`${q}.mlp.dense_h_to_4h.bias`, H);
      if (bias) w.set(`${p}.mlp.c_fc.bias`, fcB);
      w.set(`${p}.mlp.c_proj.weight`, transpose(get(`${q}.mlp.dense_4h_to_h.weight`, C * H), C, H));
      const prB = get(`${q}.mlp.dense_4h_to_h.bias`, C);
      if (bias) w.set(`${p}.mlp.c_proj.bias`, prB);
    }
    w.set('transformer.ln_f.weight', get('gpt_neox.final_layer_norm.weight', C));
    const lnfB = get('gpt_neox.final_layer_norm.bias', C);
    if (normBias) w.set('transformer.ln_f.bias', lnfB);
    if (!c.tieEmbeddings) w.set('lm_head.weight', get('embed_out.weight', V * C));
    else if (t.has('embed_out.weight')) used.add('embed_out.weight');
  }
  const extra = [...t.keys()].filter((k) => !used.has(k));
  if (extra.length > 0) throw new GptforgeError(`tensors the ${arch} architecture as gptforge implements it does not use: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` (+${extra.length - 5} more)` : ''}`, { file });
  return w;
}
