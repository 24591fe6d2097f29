import { GptforgeError } from '../../util/errors.js';
import { type GPTConfig, validateConfig } from '../config.js';
import { assertExportable } from './layout.js';

/** config.json and generation_config.json of the transformers export, and reading them back (see hf.ts). */

export type HfArchitecture = 'gpt2' | 'gpt_neox';

export const LN_EPS = 1e-5;
export const ROPE_BASE = 10000;
/** transformers' names for GELU with the tanh approximation, which is ours. */
const TANH_GELU = ['gelu_new', 'gelu_pytorch_tanh'];

export function architectureFor(c: GPTConfig): HfArchitecture {
  return c.position === 'rope' ? 'gpt_neox' : 'gpt2';
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
    rope_parameters: { rope_type: 'default', rope_theta: ROPE_BASE, partial_rotary_factor: 1.0 },
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
    // transformers v5 keeps these in rope_parameters (configuration_gpt_neox.py convert_rope_params_to_dict)
    const rp = j.rope_parameters as Json | undefined;
    const pct = j.rotary_pct ?? j.partial_rotary_factor ?? rp?.partial_rotary_factor ?? 0.25;
    if (pct !== 1) bad.push(`rotary_pct=${JSON.stringify(pct)} (gptforge rotates the whole head: 1.0)`);
    if (!('hidden_act' in j)) bad.push('hidden_act absent (transformers default "gelu" is the exact erf GELU; gptforge implements gelu_new)');
    if (j.use_parallel_residual !== false) bad.push(`use_parallel_residual=${JSON.stringify(j.use_parallel_residual ?? true)} (gptforge's blocks are sequential: false)`);
    const base = j.rope_theta ?? j.rotary_emb_base ?? rp?.rope_theta ?? ROPE_BASE;
    if (base !== ROPE_BASE) bad.push(`rope_theta=${JSON.stringify(base)} (gptforge implements ${ROPE_BASE})`);
    expect('rope_scaling', (v) => v === null || v === undefined, 'no RoPE scaling');
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
