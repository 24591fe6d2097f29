import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GptforgeError } from '../../util/errors.js';
import { Tokenizer } from '../../tokenizer/tokenizer.js';
import { patternName } from '../../tokenizer/patterns.js';
import type { GPTConfig } from '../config.js';
import type { LoadedCheckpoint } from '../checkpoint.js';
import { assertExportable, ourQkvColumn, transpose } from './layout.js';
import { chatTemplate } from './chat-template.js';
import { QK8_0 } from './ggml-quants.js';
import { FILE_TYPE, writeGguf, type GgufTensor, type GgufType, type GgufValue } from './gguf-file.js';

export { floatToHalf, halfToFloat, quantizeQ8_0, dequantizeQ8_0 } from './ggml-quants.js';
export { readGguf, writeGguf, type GgufFile, type GgufTensor, type GgufType, type GgufValue } from './gguf-file.js';

/*
 * A gptforge checkpoint as a llama.cpp model: architecture metadata, tensors in ggml's
 * names and layouts, and the tokenizer (gguf-file.ts writes the file, ggml-quants.ts the
 * number formats).
 */

/**
 * Our pre-split patterns → the llama.cpp `tokenizer.ggml.pre` whose regex is the same
 * (src/llama-vocab.cpp, llm_tokenizer_bpe; case-insensitive contractions written out as
 * our patterns do). Chosen for identical splitting *and* BPE: "llama-bpe" would also match
 * cl100k's regex but turns on ignore_merges (a whole pre-token found in the vocabulary is
 * taken as is), which is not BPE; "chatglm-bpe" has the same regex without it. o200k's regex
 * is llama.cpp's GPT4O type ("gpt-4o": the same classes, contractions spelled out, no
 * ignore_merges).
 * Our default `gpt4` (cl100k with \p{N}{1,2}, nanochat's) has none: no llama.cpp pre type
 * splits digits in groups of at most two (llama3/dbrx/chatglm4/gpt-4o take 1–3, qwen2 one,
 * AFMoE's custom digit rule groups by length mod 3), so its export is refused.
 */
export const LLAMA_CPP_PRE: Readonly<Record<string, string>> = {
  cl100k: 'chatglm-bpe',
  'gpt4-digits': 'qwen2',
  o200k: 'gpt-4o',
  gpt2: 'gpt-2',
};

export function llamaCppPreFor(pattern: string, file: string): string {
  const name = patternName(pattern);
  const pre = name !== undefined ? LLAMA_CPP_PRE[name] : undefined;
  if (!pre) {
    throw new GptforgeError(
      `the tokenizer's pre-split pattern ${name ? `"${name}"` : JSON.stringify(pattern)} is not one llama.cpp implements, so llama.cpp would split text differently and give other ids; GGUF needs one of: ${Object.keys(LLAMA_CPP_PRE).join(', ')} (train the tokenizer with one: "pattern": "gpt4-digits" in the mixture's "tokenizer" section for pretrain and pipeline runs, or --pattern gpt4-digits for gptforge tokenizer train; docs/interop.md)`,
      { file, field: 'pre_tokenizer' },
    );
  }
  return pre;
}

/** llama.cpp token types (llama.h llama_token_type): NORMAL 1, CONTROL 3, UNUSED 5. */
const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_UNUSED = 5;

interface GgufVocab {
  tokens: string[];
  types: number[];
  merges: string[];
}

function vocabFromTokenizerJSON(text: string, vocabSize: number, file: string): GgufVocab {
  const j = JSON.parse(text) as { gptforge?: { tiktoken?: boolean; mode?: string }; model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[] }; added_tokens: { id: number; content: string }[] };
  if (j.model?.type !== 'BPE') throw new GptforgeError(`GGUF export needs a byte-level BPE tokenizer, this one is ${JSON.stringify(j.model?.type)}`, { file, field: 'model.type' });
  if (j.gptforge?.tiktoken) throw new GptforgeError('a tokenizer loaded from a tiktoken rank file ranks merges by token id, llama.cpp by list position; not exported to GGUF', { file, field: 'gptforge.tiktoken' });
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [s, id] of Object.entries(j.model.vocab)) {
    tokens[id] = s;
    types[id] = TOKEN_NORMAL;
  }
  for (const t of j.added_tokens ?? []) {
    tokens[t.id] = t.content;
    types[t.id] = TOKEN_CONTROL;
  }
  if (tokens.length > vocabSize) throw new GptforgeError(`tokenizer has ${tokens.length} tokens, the model only ${vocabSize}`, { file });
  // llama.cpp needs one entry per model row: rows no token uses become named unused tokens
  for (let i = 0; i < vocabSize; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `<|gptforge_unused_${i}|>`;
      types[i] = TOKEN_UNUSED;
    }
  }
  const merges = j.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  return { tokens, types, merges };
}

export interface GgufExportResult {
  arch: 'gpt2' | 'gptneox';
  pre: string;
  tensors: number;
  bytes: number;
}

/**
 * Write a checkpoint as a llama.cpp GGUF model: architecture "gpt2" for learned positions,
 * "gptneox" (use_parallel_residual false, rope over the whole head, NEOX rope order —
 * q/k rows permuted, layout.ts) for rotary. Linear weights become ggml's [out][in] rows.
 * @param ck a loaded checkpoint with weights and its tokenizer.json (an adapter checkpoint loads merged).
 * @param path the .gguf file to write (atomically; an existing file is replaced).
 * @param opts.type tensor type of the large matrices: F32 (default), F16, Q8_0 or Q4_0.
 * @throws GptforgeError, before anything is written, when:
 *   - `path` is a directory (`field: 'out'`);
 *   - the model uses a feature llama.cpp's architectures lack (assertExportable; config.json named);
 *   - the checkpoint has no tokenizer.json (GGUF carries the tokenizer; the checkpoint dir named);
 *   - the tokenizer is refused (tokenizer.json named): its pre-split pattern is not one llama.cpp
 *     implements (`field: 'pre_tokenizer'`; only the patterns of LLAMA_CPP_PRE — `gpt4-digits`,
 *     `cl100k`, `o200k`, `gpt2` — export, so our default `gpt4` is refused), it is not byte-level
 *     BPE (`field: 'model.type'`), it was loaded from a tiktoken rank file (`field:
 *     'gptforge.tiktoken'`: llama.cpp ranks merges by list position, tiktoken by id), or it has more
 *     tokens than the model's vocabulary;
 *   - a weight the architecture needs is missing from model.safetensors (the tensor named).
 */
export function checkpointToGguf(ck: LoadedCheckpoint, path: string, opts: { type?: GgufType; name?: string } = {}): GgufExportResult {
  const type = opts.type ?? 'F32';
  // a GGUF is one file: a directory given as --out is refused before any work (rename would fail after it)
  if (existsSync(path) && statSync(path).isDirectory()) throw new GptforgeError(`${path} is a directory; GGUF is one file: name it, e.g. ${join(path, `model-${type.toLowerCase()}.gguf`)}`, { field: 'out' });
  const c: GPTConfig = ck.meta.model;
  const cfgFile = join(ck.dir, 'config.json');
  assertExportable(c, cfgFile);
  if (ck.tokenizerJSON === null) throw new GptforgeError('the checkpoint has no tokenizer.json; GGUF carries the tokenizer', { file: ck.dir });
  const tokFile = join(ck.dir, 'tokenizer.json');
  const tok = Tokenizer.fromJSON(ck.tokenizerJSON, tokFile);
  const pre = llamaCppPreFor(tok.pattern, tokFile);
  const vocab = vocabFromTokenizerJSON(ck.tokenizerJSON, c.vocabSize, tokFile);
  const arch = c.position === 'rope' ? 'gptneox' : 'gpt2';
  const { nEmbd: C, nHead, mlpHidden: H, vocabSize: Vs } = c;
  const D = C / nHead;
  const w = ck.weights;
  const get = (n: string): Float32Array => {
    const d = w.get(n);
    if (!d) throw new GptforgeError(`missing tensor "${n}"`, { file: join(ck.dir, 'model.safetensors') });
    return d;
  };
  const opt = (n: string, size: number): Float32Array => w.get(n) ?? new Float32Array(size);
  const tensors: GgufTensor[] = [];
  const mat = (name: string, dims: [number, number], data: Float32Array): void => {
    // a block type needs rows of whole 32-weight blocks (QK8_0 = QK4_0 = 32)
    const t: GgufType = (type === 'Q8_0' || type === 'Q4_0') && dims[0] % QK8_0 !== 0 ? 'F32' : type;
    tensors.push({ name, dims, type: t, data });
  };
  const vec = (name: string, data: Float32Array): void => {
    tensors.push({ name, dims: [data.length], type: 'F32', data });
  };
  mat('token_embd.weight', [C, Vs], get('transformer.wte.weight'));
  if (arch === 'gpt2') mat('position_embd.weight', [C, c.blockSize], get('transformer.wpe.weight'));
  for (let l = 0; l < c.nLayer; l++) {
    const p = `transformer.h.${l}`;
    const b = `blk.${l}`;
    vec(`${b}.attn_norm.weight`, get(`${p}.ln_1.weight`));
    vec(`${b}.attn_norm.bias`, opt(`${p}.ln_1.bias`, C));
    // fused qkv rows [q heads | k heads | v heads]; rotary q/k rows in NEOX (rotate-half) order
    const aw = get(`${p}.attn.c_attn.weight`);
    const ab = opt(`${p}.attn.c_attn.bias`, 3 * C);
    const qkv = new Float32Array(3 * C * C);
    const qkvB = new Float32Array(3 * C);
    for (let part = 0; part < 3; part++) {
      for (let h = 0; h < nHead; h++) {
        for (let j = 0; j < D; j++) {
          const row = part * C + h * D + j;
          const col = ourQkvColumn(part, h, j, C, D, arch === 'gptneox');
          for (let i = 0; i < C; i++) qkv[row * C + i] = aw[i * 3 * C + col];
          qkvB[row] = ab[col];
        }
      }
    }
    mat(`${b}.attn_qkv.weight`, [C, 3 * C], qkv);
    vec(`${b}.attn_qkv.bias`, qkvB);
    mat(`${b}.attn_output.weight`, [C, C], transpose(get(`${p}.attn.c_proj.weight`), C, C));
    vec(`${b}.attn_output.bias`, opt(`${p}.attn.c_proj.bias`, C));
    vec(`${b}.ffn_norm.weight`, get(`${p}.ln_2.weight`));
    vec(`${b}.ffn_norm.bias`, opt(`${p}.ln_2.bias`, C));
    mat(`${b}.ffn_up.weight`, [C, H], transpose(get(`${p}.mlp.c_fc.weight`), C, H));
    vec(`${b}.ffn_up.bias`, opt(`${p}.mlp.c_fc.bias`, H));
    mat(`${b}.ffn_down.weight`, [H, C], transpose(get(`${p}.mlp.c_proj.weight`), H, C));
    vec(`${b}.ffn_down.bias`, opt(`${p}.mlp.c_proj.bias`, C));
  }
  vec('output_norm.weight', get('transformer.ln_f.weight'));
  vec('output_norm.bias', opt('transformer.ln_f.bias', C));
  // gptneox requires output.weight; gpt2 falls back to the token embedding when it is absent
  if (!c.tieEmbeddings) mat('output.weight', [C, Vs], get('lm_head.weight'));
  else if (arch === 'gptneox') mat('output.weight', [C, Vs], get('transformer.wte.weight'));

  const sp = tok.specialTokens;
  const kv: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: arch }],
    ['general.name', { type: 'string', value: opts.name ?? `gptforge-${ck.meta.stage}` }],
    ['general.file_type', { type: 'u32', value: FILE_TYPE[type] }],
    [`${arch}.context_length`, { type: 'u32', value: c.blockSize }],
    [`${arch}.embedding_length`, { type: 'u32', value: C }],
    [`${arch}.feed_forward_length`, { type: 'u32', value: H }],
    [`${arch}.block_count`, { type: 'u32', value: c.nLayer }],
    [`${arch}.attention.head_count`, { type: 'u32', value: nHead }],
    [`${arch}.attention.layer_norm_epsilon`, { type: 'f32', value: 1e-5 }],
  ];
  if (arch === 'gptneox') {
    kv.push([`${arch}.rope.dimension_count`, { type: 'u32', value: D }]);
    kv.push([`${arch}.rope.freq_base`, { type: 'f32', value: 10000 }]);
    kv.push([`${arch}.use_parallel_residual`, { type: 'bool', value: false }]);
  }
  kv.push(['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }]);
  kv.push(['tokenizer.ggml.pre', { type: 'string', value: pre }]);
  kv.push(['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }]);
  kv.push(['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.types }]);
  kv.push(['tokenizer.ggml.merges', { type: 'string[]', value: vocab.merges }]);
  const idOf = (s: string): number | undefined => sp.get(s);
  const bos = idOf('<|bos|>');
  const eos = idOf('<|assistant_end|>') ?? idOf('<|eos|>');
  const pad = idOf('<|pad|>');
  if (bos !== undefined) kv.push(['tokenizer.ggml.bos_token_id', { type: 'u32', value: bos }]);
  if (eos !== undefined) kv.push(['tokenizer.ggml.eos_token_id', { type: 'u32', value: eos }]);
  // <|assistant_end|> ends a turn. llama.cpp recognises end-of-generation tokens by their text
  // (llama-vocab.cpp), not ours, so it adds eos to that set itself and logs a harmless warning.
  if (eos !== undefined) kv.push(['tokenizer.ggml.eot_token_id', { type: 'u32', value: eos }]);
  if (pad !== undefined) kv.push(['tokenizer.ggml.padding_token_id', { type: 'u32', value: pad }]);
  kv.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: false }]);
  kv.push(['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }]);
  if (sp.has('<|user_start|>') && sp.has('<|assistant_start|>')) kv.push(['tokenizer.chat_template', { type: 'string', value: chatTemplate() }]);
  writeGguf(path, kv, tensors);
  return { arch, pre, tensors: tensors.length, bytes: statSync(path).size };
}
