import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { atomicReplaceDir } from '../../util/atomic.js';
import { GptforgeError } from '../../util/errors.js';
import { Tokenizer } from '../../tokenizer/tokenizer.js';
import { GPT } from '../gpt.js';
import type { GPTConfig } from '../config.js';
import { checkpointStep, configDiff, latestCheckpoint, listCheckpoints, loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from '../checkpoint.js';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../safetensors.js';
import { assertExportable } from './layout.js';
import { chatTemplate, chatSpecialIds } from './chat-template.js';
import { architectureFor, fromHfConfig, generationConfig, toHfConfig, type HfArchitecture } from './hf-config.js';
import { fromHfTensors, toHfTensors } from './hf-tensors.js';
import { parseJsonFile } from '../../util/json.js';

export { architectureFor, fromHfConfig, toHfConfig, generationConfig, type HfArchitecture } from './hf-config.js';
export { toHfTensors, fromHfTensors } from './hf-tensors.js';

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

type Json = Record<string, unknown>;

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
  // the directory is replaced whole: never a directory that is not an earlier export
  if (existsSync(outDir) && readdirSync(outDir).length > 0 && !existsSync(join(outDir, 'config.json'))) {
    throw new GptforgeError('exists and is not a model directory; refusing to replace it (choose a new --out)', { file: outDir });
  }
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
  /**
   * The stage's checkpoints `force` deleted, oldest first: `why` is `'replaced'` (the imported
   * step), `'later step'` (it would shadow the import) or `'another model'` (an earlier step whose
   * config, tokenizer or weights kind differ). Empty without force.
   */
  removed: { checkpoint: string; step: number; why: 'replaced' | 'later step' | 'another model' }[];
}

/**
 * A transformers GPT-2 or GPT-NeoX directory → a gptforge checkpoint in `stageDir`
 * (step-N + latest.json: N the step our export recorded in config.json's `gptforge.step`, else
 * 0), with its tokenizer.json converted to ours. Refused by name: architectures, config values
 * and tokenizer features gptforge does not implement.
 *
 * @param opts.force replace the checkpoint at the imported step and remove the stage's later steps
 *   (each reader takes a stage's latest step: they would shadow the import); earlier steps stay
 *   when they hold the same model (config, tokenizer hash, full weights), and go otherwise.
 *   Without it a stage directory with a checkpoint is refused, before any weights are read.
 */
export function importHuggingFace(hfDir: string, stageDir: string, opts: { stage?: string; force?: boolean } = {}): ImportHfResult {
  const cfgPath = join(hfDir, 'config.json');
  if (!existsSync(cfgPath)) {
    // a PEFT adapter directory (export --format peft) holds adapter_config.json, not a model
    if (existsSync(join(hfDir, 'adapter_config.json'))) throw new GptforgeError('this is a PEFT LoRA adapter (adapter_config.json), not a model: import the base model it names (base_model_name_or_path), or merge the adapter first (gptforge merge, then export --format hf)', { file: hfDir });
    // export --format peft writes base/ and adapter/ side by side: point at the one to import
    if (existsSync(join(hfDir, 'base', 'config.json'))) throw new GptforgeError(`not a Hugging Face model directory (no config.json); it holds a PEFT export: import its base model, ${join(hfDir, 'base')}`, { file: hfDir });
    throw new GptforgeError('not a Hugging Face model directory (no config.json)', { file: hfDir });
  }
  const j = parseJsonFile(readFileSync(cfgPath, 'utf8'), cfgPath) as Json;
  const { arch, config } = fromHfConfig(j, cfgPath);
  const existing = latestCheckpoint(stageDir);
  if (existing && !opts.force) throw new GptforgeError(`already holds a checkpoint (${basename(existing)}): importing would replace it; give --force (force: true) to replace it, or another --out`, { file: stageDir, field: 'out' });
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
  // the step our export recorded: a re-imported checkpoint keeps its place in its stage's history
  const step = typeof gf.step === 'number' && Number.isInteger(gf.step) && gf.step >= 0 ? gf.step : 0;
  // with force: the imported step is replaced and later steps are removed (saveCheckpoint's rule:
  // every reader takes a stage's latest step, so they would shadow the import); earlier steps are
  // the stage's history and stay when they hold the same model (shape, tokenizer, full weights) —
  // those of another model go, or the stage's history would mix two models
  const removed: ImportHfResult['removed'] = [];
  if (existing)
    for (const d of listCheckpoints(stageDir)) {
      const at = checkpointStep(d);
      // the imported step is replaced and later ones removed by saveCheckpoint below: listed here so the caller can say so
      if (at >= step) {
        removed.push({ checkpoint: d, step: at, why: at === step ? 'replaced' : 'later step' });
        continue;
      }
      let meta: LoadedCheckpoint['meta'];
      try {
        meta = loadCheckpoint(d, { weights: false }).meta;
      } catch {
        continue; // unreadable: not this import's to judge (a later save's pruning or the user's)
      }
      if (meta.adapter || meta.hasScalarHead || configDiff(meta.model, config) || meta.tokenizerHash !== tokenizerHash) removed.push({ checkpoint: d, step: at, why: 'another model' });
    }
  const checkpoint = saveCheckpoint(stageDir, model, { stage: opts.stage ?? (typeof gf.stage === 'string' ? gf.stage : 'import'), step, tokenizerJSON, tokenizerHash, keepLast: 0 });
  // another model's earlier steps go only once the import is saved: a failed save leaves the stage as it was
  for (const r of removed) if (r.why === 'another model') rmSync(r.checkpoint, { recursive: true, force: true });
  removed.sort((a, b) => a.step - b.step);
  return { checkpoint, arch, config, removed };
}

/** Convenience: export a checkpoint directory. */
export function exportCheckpointToHf(checkpointDir: string, outDir: string): ExportHfResult {
  return exportHuggingFace(loadCheckpoint(checkpointDir), outDir);
}
