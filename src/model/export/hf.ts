import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicReplaceDir } from '../../util/atomic.js';
import { GptforgeError } from '../../util/errors.js';
import { Tokenizer } from '../../tokenizer/tokenizer.js';
import { type GPTConfig, validateConfig } from '../config.js';
import { GPT } from '../gpt.js';
import { loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from '../checkpoint.js';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../safetensors.js';
import { assertExportable, ourQkvColumn, transpose } from './layout.js';
import { chatTemplate, chatSpecialIds } from './chat-template.js';

/**
 * Hugging Face transformers directories ⇄ gptforge checkpoints.
 *
 * Learned positions → GPT-2 (`GPT2LMHeadModel`, modeling_gpt2.py): our parameter names and
 * Conv1D [in, out] layout are GPT-2's already. Rotary → GPT-NeoX (`GPTNeoXForCausalLM`,
 * modeling_gpt_neox.py) with rotary_pct 1.0 and use_parallel_residual false, which is our
 * block exactly: x += attn(LN₁(x)); x += MLP(LN₂(x)). Differences handled here:
 * - nn.Linear stores [out, in]: transposed.
 * - NeoX packs query_key_value per head ([q_h | k_h | v_h] for h = 0..H−1), ours per part.
 * - NeoX rotates halves (rotate_half), ours adjacent pairs: q/k columns permuted (layout.ts).
 * - Both always have biases (GPT-2 Conv1D, NeoX dense layers, nn.LayerNorm): a bias-free
 *   model is written with zero biases, which is the same function.
 * Our GELU is the tanh approximation (backend-reference.ts geluForward), transformers'
 * "gelu_new"; LayerNorm ε is 1e-5 (ops.ts layerNorm); RoPE base 10000 (ops.ts rope).
 * Refused, by name: RMSNorm, SwiGLU (no matching transformers architecture without
 * changing the maths) and, on import, every config value that changes the maths.
 */

export type HfArchitecture = 'gpt2' | 'gpt_neox';

const LN_EPS = 1e-5;
const ROPE_BASE = 10000;
/** transformers' names for GELU with the tanh approximation, which is ours. */
const TANH_GELU = ['gelu_new', 'gelu_pytorch_tanh'];

export function architectureFor(c: GPTConfig): HfArchitecture {
  return c.position === 'rope' ? 'gpt_neox' : 'gpt2';
}

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
        ['ln_1.weight', C, true], ['ln_1.bias', C, normBias], ['attn.c_attn.weight', 3 * C * C, true], ['attn.c_attn.bias', 3 * C, bias],
        ['attn.c_proj.weight', C * C, true], ['attn.c_proj.bias', C, bias], ['ln_2.weight', C, true], ['ln_2.bias', C, normBias],
        ['mlp.c_fc.weight', C * H, true], ['mlp.c_fc.bias', H, bias], ['mlp.c_proj.weight', H * C, true], ['mlp.c_proj.bias', C, bias],
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

/** Hugging Face config.json for our config (see the module comment for every value's source). */
export function toHfConfig(c: GPTConfig, ids: { bos?: number; eos?: number; pad?: number }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  assertExportable(c, 'config');
  const common = {
    vocab_size: c.vocabSize,
    tie_word_embeddings: c.tieEmbeddings,
    bos_token_id: ids.bos ?? null,
    eos_token_id: ids.eos ?? null,
    pad_token_id: ids.pad ?? null,
    torch_dtype: 'float32',
    use_cache: true,
  };
  // our own config, so that `gptforge import` restores what HF cannot say (bias-free layers)
  const gptforge = { model: c, ...extra };
  if (architectureFor(c) === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      n_positions: c.blockSize,
      n_ctx: c.blockSize,
      n_embd: c.nEmbd,
      n_layer: c.nLayer,
      n_head: c.nHead,
      n_inner: c.mlpHidden,
      activation_function: 'gelu_new',
      layer_norm_epsilon: LN_EPS,
      resid_pdrop: 0,
      embd_pdrop: 0,
      attn_pdrop: 0,
      scale_attn_weights: true,
      scale_attn_by_inverse_layer_idx: false,
      reorder_and_upcast_attn: false,
      initializer_range: 0.02,
      ...common,
      gptforge,
    };
  }
  return {
    architectures: ['GPTNeoXForCausalLM'],
    model_type: 'gpt_neox',
    hidden_size: c.nEmbd,
    num_hidden_layers: c.nLayer,
    num_attention_heads: c.nHead,
    intermediate_size: c.mlpHidden,
    hidden_act: 'gelu_new',
    rotary_pct: 1.0,
    partial_rotary_factor: 1.0,
    rotary_emb_base: ROPE_BASE,
    rope_theta: ROPE_BASE,
    rope_scaling: null,
    max_position_embeddings: c.blockSize,
    layer_norm_eps: LN_EPS,
    use_parallel_residual: false,
    attention_bias: true,
    attention_dropout: 0,
    hidden_dropout: 0,
    initializer_range: 0.02,
    ...common,
    gptforge,
  };
}

type Json = Record<string, unknown>;

/**
 * Read a Hugging Face config.json into our config, refusing — by key — every value that
 * changes the maths in a way gptforge does not implement.
 */
export function fromHfConfig(j: Json, file: string): { arch: HfArchitecture; config: GPTConfig } {
  const bad: string[] = [];
  const num = (key: string): number => {
    const v = j[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new GptforgeError(`must be a positive integer, got ${JSON.stringify(v)}`, { file, field: key });
    return v;
  };
  const expect = (key: string, ok: (v: unknown) => boolean, want: string): void => {
    if (key in j && !ok(j[key])) bad.push(`${key}=${JSON.stringify(j[key])} (gptforge implements ${want})`);
  };
  const isFalse = (v: unknown): boolean => v === false || v === null || v === undefined;
  if (j.quantization_config !== undefined) bad.push('quantization_config (quantized weights)');
  const ours = (j.gptforge as Json | undefined)?.model as Partial<GPTConfig> | undefined;
  let arch: HfArchitecture;
  let config: GPTConfig;
  if (j.model_type === 'gpt2') {
    arch = 'gpt2';
    expect('activation_function', (v) => TANH_GELU.includes(v as string), `GELU with the tanh approximation: ${TANH_GELU.join(' or ')}`);
    expect('layer_norm_epsilon', (v) => v === LN_EPS, `${LN_EPS}`);
    expect('scale_attn_weights', (v) => v === true, 'true (scores divided by √head size)');
    expect('scale_attn_by_inverse_layer_idx', isFalse, 'false');
    expect('add_cross_attention', isFalse, 'false (decoder only)');
    const C = num('n_embd');
    const inner = j.n_inner === null || j.n_inner === undefined ? 4 * C : num('n_inner');
    config = {
      vocabSize: num('vocab_size'),
      blockSize: num('n_positions'),
      nLayer: num('n_layer'),
      nHead: num('n_head'),
      nEmbd: C,
      bias: ours?.bias ?? true,
      norm: 'layernorm',
      mlp: 'gelu',
      position: 'learned',
      tieEmbeddings: j.tie_word_embeddings !== false,
      mlpHidden: inner,
    };
  } else if (j.model_type === 'gpt_neox') {
    arch = 'gpt_neox';
    expect('hidden_act', (v) => TANH_GELU.includes(v as string), `GELU with the tanh approximation: ${TANH_GELU.join(' or ')}`);
    // transformers' GPTNeoXConfig defaults (0.25, true, 'gelu') differ from ours: absent keys count as those defaults
    const pct = j.rotary_pct ?? j.partial_rotary_factor ?? 0.25;
    if (pct !== 1) bad.push(`rotary_pct=${JSON.stringify(pct)} (gptforge rotates the whole head: 1.0)`);
    if (!('hidden_act' in j)) bad.push('hidden_act absent (transformers default "gelu" is the exact erf GELU; gptforge implements gelu_new)');
    if (j.use_parallel_residual !== false) bad.push(`use_parallel_residual=${JSON.stringify(j.use_parallel_residual ?? true)} (gptforge's blocks are sequential: false)`);
    const base = j.rope_theta ?? j.rotary_emb_base ?? ((j.rope_parameters as Json | undefined)?.rope_theta) ?? ROPE_BASE;
    if (base !== ROPE_BASE) bad.push(`rope_theta=${JSON.stringify(base)} (gptforge implements ${ROPE_BASE})`);
    expect('rope_scaling', (v) => v === null || v === undefined, 'no RoPE scaling');
    const rp = j.rope_parameters as Json | undefined;
    if (rp && rp.rope_type !== undefined && rp.rope_type !== 'default') bad.push(`rope_parameters.rope_type=${JSON.stringify(rp.rope_type)} (gptforge implements "default")`);
    expect('layer_norm_eps', (v) => v === LN_EPS, `${LN_EPS}`);
    const C = num('hidden_size');
    config = {
      vocabSize: num('vocab_size'),
      blockSize: num('max_position_embeddings'),
      nLayer: num('num_hidden_layers'),
      nHead: num('num_attention_heads'),
      nEmbd: C,
      bias: ours?.bias ?? true,
      norm: 'layernorm',
      mlp: 'gelu',
      position: 'rope',
      tieEmbeddings: j.tie_word_embeddings === true,
      mlpHidden: num('intermediate_size'),
    };
  } else {
    throw new GptforgeError(`model_type ${JSON.stringify(j.model_type)} is not one gptforge implements (gpt2, gpt_neox)`, { file, field: 'model_type' });
  }
  if (bad.length > 0) throw new GptforgeError(`config changes the maths in ways gptforge does not implement: ${bad.join('; ')}`, { file });
  validateConfig(config, file);
  return { arch, config };
}

/** The generation_config.json transformers reads: stop at <|assistant_end|> (and <|eos|>). */
export function generationConfig(ids: { bos?: number; eos: number[]; pad?: number }): Json {
  return { bos_token_id: ids.bos ?? null, eos_token_id: ids.eos.length === 1 ? ids.eos[0] : ids.eos, pad_token_id: ids.pad ?? null, do_sample: false };
}

export interface ExportHfResult {
  arch: HfArchitecture;
  files: string[];
}

/**
 * Write `outDir` (atomically replaced) as a transformers model directory: config.json,
 * model.safetensors (F32), generation_config.json, and when the checkpoint has a tokenizer,
 * tokenizer.json + tokenizer_config.json with the chat template (chat-template.ts).
 * The scalar head (reward model / value) is not exported: HF's sequence-classification
 * heads have no bias, ours has.
 */
export function exportHuggingFace(ck: LoadedCheckpoint, outDir: string): ExportHfResult {
  const c = ck.meta.model;
  const file = join(ck.dir, 'config.json');
  assertExportable(c, file);
  const tensors = toHfTensors(c, ck.weights, join(ck.dir, 'model.safetensors'));
  const tok = ck.tokenizerJSON !== null ? Tokenizer.fromJSON(ck.tokenizerJSON, join(ck.dir, 'tokenizer.json')) : null;
  const sp = tok ? chatSpecialIds(tok) : {};
  const eosIds = [sp['<|assistant_end|>'], sp['<|eos|>']].filter((x): x is number => x !== undefined);
  const ids = { bos: sp['<|bos|>'], eos: eosIds[0], pad: sp['<|pad|>'] };
  const files = ['config.json', 'model.safetensors', 'generation_config.json'];
  atomicReplaceDir(outDir, (tmp) => {
    writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt', producer: 'gptforge' });
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(toHfConfig(c, ids, { stage: ck.meta.stage, step: ck.meta.step }), null, 2) + '\n');
    writeFileSync(join(tmp, 'generation_config.json'), JSON.stringify(generationConfig({ bos: ids.bos, eos: eosIds, pad: ids.pad }), null, 2) + '\n');
    if (tok && ck.tokenizerJSON !== null) {
      const { tokenizerJSON, meta } = hfTokenizerJSON(ck.tokenizerJSON);
      writeFileSync(join(tmp, 'tokenizer.json'), tokenizerJSON);
      writeFileSync(join(tmp, 'tokenizer_config.json'), JSON.stringify({ ...tokenizerConfig(tok, c.blockSize), ...(meta ? { gptforge: meta } : {}) }, null, 2) + '\n');
      files.push('tokenizer.json', 'tokenizer_config.json');
    }
  });
  return { arch: architectureFor(c), files };
}

/** The top-level keys the Rust `tokenizers` library reads (tokenizers/src/tokenizer/serialization.rs). */
export const HF_TOKENIZER_KEYS = ['version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model'];

/**
 * Our tokenizer.json without our own "gptforge" key: the Rust `tokenizers` deserializer
 * (serialization.rs TokenizerVisitor) skips an unknown key without consuming its value, so
 * serde_json fails on the next key. The key moves to tokenizer_config.json, where
 * transformers keeps unknown entries, and `gptforge import` puts it back.
 */
export function hfTokenizerJSON(ours: string): { tokenizerJSON: string; meta: unknown } {
  const j = JSON.parse(ours) as Json;
  const meta = j.gptforge;
  const clean = Object.fromEntries(Object.entries(j).filter(([k]) => HF_TOKENIZER_KEYS.includes(k)));
  return { tokenizerJSON: JSON.stringify(clean, null, 1), meta };
}

/** tokenizer_config.json: PreTrainedTokenizerFast over tokenizer.json, our specials, the chat template. */
export function tokenizerConfig(tok: Tokenizer, maxLength: number): Json {
  const name = (s: string): string | null => (tok.hasSpecial(s) ? s : null);
  const cfg: Json = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: maxLength,
    bos_token: name('<|bos|>'),
    eos_token: name('<|assistant_end|>') ?? name('<|eos|>'),
    pad_token: name('<|pad|>'),
    unk_token: null,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries([...tok.specialTokens].map(([content, id]) => [String(id), { content, lstrip: false, rstrip: false, normalized: false, single_word: false, special: true }])),
  };
  if (tok.hasSpecial('<|user_start|>') && tok.hasSpecial('<|assistant_start|>')) cfg.chat_template = chatTemplate();
  return cfg;
}

/** Read every tensor of a HF directory: model.safetensors or the shards named by model.safetensors.index.json. */
export function readHfWeights(dir: string): { tensors: Map<string, NamedTensor>; file: string } {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return { tensors: readSafetensors(single).tensors, file: single };
  if (existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
    } catch (e) {
      throw new GptforgeError(`corrupt shard index: ${(e as Error).message}`, { file: index });
    }
    const tensors = new Map<string, NamedTensor>();
    for (const shard of new Set(Object.values(map))) for (const [k, v] of readSafetensors(join(dir, shard)).tensors) tensors.set(k, v);
    return { tensors, file: index };
  }
  if (existsSync(join(dir, 'pytorch_model.bin'))) throw new GptforgeError('only safetensors weights can be read (pytorch_model.bin is a Python pickle); convert with transformers: model.save_pretrained(dir, safe_serialization=True)', { file: join(dir, 'pytorch_model.bin') });
  throw new GptforgeError('no model.safetensors (or model.safetensors.index.json)', { file: dir });
}

/** GPT-2 checkpoints from the Hub store keys without the "transformer." prefix and carry the causal-mask buffers. */
function normaliseGpt2Keys(t: Map<string, NamedTensor>): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const [k, v] of t) {
    if (/\.attn\.(bias|masked_bias)$/.test(k) && v.shape.length !== 1) continue; // mask buffers, not weights
    out.set(k.startsWith('transformer.') || k === 'lm_head.weight' ? k : `transformer.${k}`, v);
  }
  return out;
}

/** Older transformers saved GPT-NeoX's causal mask and rotary inverse frequencies with the weights: buffers, not parameters. */
function dropNeoxBuffers(t: Map<string, NamedTensor>): Map<string, NamedTensor> {
  return new Map([...t].filter(([k]) => !/(rotary_emb\.inv_freq|\.attention\.bias|\.attention\.masked_bias)$/.test(k)));
}

export interface ImportHfResult {
  checkpoint: string;
  arch: HfArchitecture;
  config: GPTConfig;
}

/**
 * A transformers GPT-2 or GPT-NeoX directory → a gptforge checkpoint in `stageDir`
 * (step-0000000 + latest.json), with its tokenizer.json converted to ours. Refused by
 * name: architectures, config values and tokenizer features gptforge does not implement.
 */
export function importHuggingFace(hfDir: string, stageDir: string, opts: { stage?: string } = {}): ImportHfResult {
  const cfgPath = join(hfDir, 'config.json');
  if (!existsSync(cfgPath)) throw new GptforgeError('not a Hugging Face model directory (no config.json)', { file: hfDir });
  let j: Json;
  try {
    j = JSON.parse(readFileSync(cfgPath, 'utf8')) as Json;
  } catch (e) {
    throw new GptforgeError(`not valid JSON: ${(e as Error).message}`, { file: cfgPath });
  }
  const { arch, config } = fromHfConfig(j, cfgPath);
  const { tensors: raw, file } = readHfWeights(hfDir);
  const tensors = arch === 'gpt2' ? normaliseGpt2Keys(raw) : dropNeoxBuffers(raw);
  // a config saying "bias: false" is only honoured when the biases really are zero
  if (!config.bias) {
    const nonzero = [...tensors].find(([k, v]) => k.endsWith('.bias') && v.data.some((x) => x !== 0));
    if (nonzero) config.bias = true;
  }
  const weights = fromHfTensors(arch, config, tensors, file);
  const model = new GPT(config);
  model.loadState(weights, file);
  const tokPath = join(hfDir, 'tokenizer.json');
  let tokenizerJSON: string | undefined;
  let tokenizerHash: string | undefined;
  if (existsSync(tokPath)) {
    let text = readFileSync(tokPath, 'utf8');
    // our export keeps our tokenizer metadata (e.g. tiktoken merge ranking) in tokenizer_config.json
    const tcPath = join(hfDir, 'tokenizer_config.json');
    if (existsSync(tcPath)) {
      const meta = (JSON.parse(readFileSync(tcPath, 'utf8')) as Json).gptforge;
      const tj = JSON.parse(text) as Json;
      if (meta && typeof meta === 'object' && tj.gptforge === undefined) text = JSON.stringify({ ...tj, gptforge: meta });
    }
    const tok = Tokenizer.fromJSON(text, tokPath);
    if (tok.vocabSize > config.vocabSize) throw new GptforgeError(`tokenizer has ${tok.vocabSize} tokens, the model's vocab_size is ${config.vocabSize}`, { file: tokPath });
    tokenizerJSON = tok.toJSON();
    tokenizerHash = tok.hash();
  }
  const gf = (j.gptforge ?? {}) as Json;
  const checkpoint = saveCheckpoint(stageDir, model, { stage: opts.stage ?? (typeof gf.stage === 'string' ? gf.stage : 'import'), step: 0, tokenizerJSON, tokenizerHash, keepLast: 0 });
  return { checkpoint, arch, config };
}

/** Convenience: export a checkpoint directory. */
export function exportCheckpointToHf(checkpointDir: string, outDir: string): ExportHfResult {
  return exportHuggingFace(loadCheckpoint(checkpointDir), outDir);
}
