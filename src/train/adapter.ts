import { relative } from 'node:path';
import type { GPT } from '../model/gpt.js';
import { LoraModel, modulesOf, type LoraConfig } from '../model/lora.js';
import { formatLoraSpec, parseLoraSpec, type LoraSpecContext } from '../model/lora-spec.js';
import { TOKEN_ROWS_KEY, copyPeftTensors, readAdapter, saveAdapter } from '../model/export/peft.js';
import { checkpointName, type SaveOptions } from '../model/checkpoint.js';
import type { BasePrecision } from '../model/quantize.js';
import { GptforgeError } from '../util/errors.js';
import { join } from 'node:path';

/**
 * Parameter-efficient training for every stage (sft, rm, rl, dpo): a stage given `lora`
 * trains one adapter on a frozen base, optionally held in Q8_0 / Q4_0; its checkpoints hold
 * only the adapter, in PEFT's files, beside our config/tokenizer/trainer state, and name the
 * base checkpoint they sit on (src/model/checkpoint.ts merges them on load).
 */
export interface AdapterOptions {
  /** A LoRA config, or its spec string (`r=8,alpha=16,targets=qkv,proj`, src/model/lora-spec.ts). Absent: full fine-tuning. */
  lora?: LoraConfig | string;
  /** The precision the frozen base is held in (default f32); q8_0 / q4_0 need `lora`. */
  basePrecision?: BasePrecision;
  /**
   * What the adapter's adapter_config.json records as `base_model_name_or_path`, the name PEFT's
   * `AutoPeftModelForCausalLM` loads the base by: the Hub repo id or the path of the base's
   * Hugging Face export (`export --format hf`), as `export --format peft --base-name` records it.
   * Default: the base checkpoint's directory (ours: our loader finds the base by the checkpoint's
   * meta, not by this field). Needs `lora`.
   */
  baseName?: string;
}

/** A stage's adapter: the LoRA model around the stage's GPT, the adapter that trains, and the base checkpoint. */
export interface AdapterTraining {
  lora: LoraModel;
  name: string;
  /** The base checkpoint directory (the model was loaded from it). */
  baseDir: string;
  /** adapter_config.json's base_model_name_or_path (AdapterOptions.baseName, default baseDir). */
  baseName: string;
}

/**
 * Make `model` (freshly loaded from `baseDir`) a LoRA model with adapter "default", or return
 * null for full fine-tuning. `ctx` (the tokenizer's special tokens, the training data's frequent
 * targets) lets the spec say `tokens=special` / `tokens=top:k`. SFT with no `tokens` trains
 * the embedding (and tied head) rows of the special tokens and of the 512 (at most vocabulary / 8) most frequent target
 * tokens too: the chat layout's markers never occur in pretraining text, and on the small
 * preset adapters on the linears alone stay 8 points under full SFT while these rows close the
 * gap (docs/lora.md). Other stages train none unless told.
 * @throws GptforgeError for a quantized base without `lora` (a quantized base cannot train),
 *   or a bad spec (naming the field; an unknown target lists the model's modules).
 */
export function prepareAdapter(stage: string, model: GPT, baseDir: string, opts: AdapterOptions, ctx: Omit<LoraSpecContext, 'vocabSize'> = {}): AdapterTraining | null {
  const precision = opts.basePrecision ?? 'f32';
  if (opts.baseName !== undefined && opts.baseName.trim() === '') throw new GptforgeError(`${stage}: the base model name is empty: give a Hub repo id or the path of the base's Hugging Face export`, { field: 'baseName' });
  if (opts.lora === undefined) {
    // a name for a base no adapter sits on would be dropped unsaid
    if (opts.baseName !== undefined) throw new GptforgeError(`${stage}: the base name is recorded in a LoRA adapter's adapter_config.json; without a LoRA adapter (lora / --lora) there is none to record it`, { field: 'baseName' });
    if (precision !== 'f32') {
      throw new GptforgeError(`${stage}: a ${precision} base cannot be trained — quantized weights are frozen and receive no gradient; add a LoRA adapter (lora / --lora) to train on it, or use basePrecision f32 for full fine-tuning`, { field: 'basePrecision' });
    }
    return null;
  }
  const parsed = typeof opts.lora === 'string' ? parseLoraSpec(opts.lora, modulesOf(model), 'lora', { ...ctx, vocabSize: model.config.vocabSize }) : opts.lora;
  const cfg = parsed.trainableTokenIndices === undefined && stage === 'sft' ? { ...parsed, trainableTokenIndices: sftDefaultTokens(ctx, model.config.vocabSize) } : parsed;
  const lora = new LoraModel(model, { basePrecision: precision });
  lora.addAdapter('default', cfg);
  return { lora, name: 'default', baseDir, baseName: opts.baseName ?? baseDir };
}

/**
 * The line a stage logs about its adapter: the spec, the token rows as a count (SFT's default
 * lists hundreds of ids), the base's precision and the trainable share.
 * @example describeAdapter(ad) // 'LoRA r=8,alpha=16,targets=qkv,proj + 523 trainable token rows on a q4_0 base: 396032 trainable parameters (9.40% of 4213248)'
 */
export function describeAdapter(ad: AdapterTraining): string {
  const n = ad.lora.trainableParameters(ad.name).reduce((s, t) => s + t.size, 0);
  const lc = ad.lora.adapter(ad.name).config;
  const rows = lc.trainableTokenIndices?.length ?? 0;
  const total = ad.lora.baseParameterCount();
  return `LoRA ${formatLoraSpec({ ...lc, trainableTokenIndices: undefined })}${rows > 0 ? ` + ${rows} trainable token rows` : ''} on a ${ad.lora.basePrecision} base: ${n} trainable parameters (${((100 * n) / total).toFixed(2)}% of ${total})`;
}

/** How many of the SFT data's most frequent target tokens train by default (docs/lora.md: measured on the small preset), at most an eighth of the vocabulary. */
export const SFT_DEFAULT_TOP_TOKENS = 512;

/**
 * How many frequent target tokens SFT trains by default for a vocabulary: 512 (the small
 * preset's 4096 tokens: an eighth), fewer for a small vocabulary, where 512 rows would be half
 * of it and most of the adapter's parameters.
 * @example sftDefaultTopTokens(4096) // 512; sftDefaultTopTokens(1024) // 128; sftDefaultTopTokens(100_277) // 512
 */
export function sftDefaultTopTokens(vocabSize: number): number {
  return Math.min(SFT_DEFAULT_TOP_TOKENS, Math.floor(vocabSize / 8));
}

/** SFT's default trainable token rows: the tokenizer's special tokens, then the sftDefaultTopTokens(vocabSize) most frequent target tokens. */
function sftDefaultTokens(ctx: Omit<LoraSpecContext, 'vocabSize'>, vocabSize: number): number[] {
  const ids = new Set<number>(ctx.specialTokens?.values() ?? []);
  for (const id of ctx.frequentTokens?.(sftDefaultTopTokens(vocabSize)) ?? []) ids.add(id);
  return [...ids];
}

/** The checkpoint options that write `ad`'s adapter for step `step` of `stageDir`. */
export function adapterSaveOptions(ad: AdapterTraining, stageDir: string, step: number, tokenizerHash: string | undefined): NonNullable<SaveOptions['adapter']> {
  const finalDir = join(stageDir, checkpointName(step));
  return {
    meta: { base: relative(finalDir, ad.baseDir) || '.', name: ad.name, basePrecision: ad.lora.basePrecision },
    write: (dir) => saveAdapter(dir, ad.lora, ad.name, { model: ad.lora.model.config, tokenizerHash, basePrecision: ad.lora.basePrecision }, ad.baseName),
  };
}

/**
 * Resume: copy an adapter checkpoint's A, B (and scalar head) into `ad`'s adapter.
 * @throws GptforgeError when the saved adapter's rank, α, scaling, target modules, token rows or
 *   base precision differ from this run's: resuming would drop trained modules or rescale
 *   what was learned (pass the checkpoint's own values, or start over with `fresh`).
 */
export function restoreAdapter(ad: AdapterTraining, ckDir: string): void {
  const saved = readAdapter(ckDir);
  const a = ad.lora.adapter(ad.name);
  const differs = (field: string, what: string, was: string, now: string): void => {
    if (was !== now) throw new GptforgeError(`cannot resume: the checkpoint's adapter has ${what}=${was}, this run's has ${what}=${now} (resume with the checkpoint's value, or start over with --fresh)`, { file: ckDir, field });
  };
  if (saved.lora.r !== a.config.r) throw new GptforgeError(`cannot resume: the checkpoint's adapter has r=${saved.lora.r}, this run's has r=${a.config.r}`, { file: ckDir, field: 'r' });
  differs('lora_alpha', 'alpha', String(saved.lora.alpha), String(a.config.alpha));
  differs('use_rslora', 'rslora', String(saved.lora.rslora), String(a.config.rslora));
  differs('target_modules', 'targets', [...saved.lora.targets].sort().join(','), [...a.config.targets].sort().join(','));
  if (saved.base?.basePrecision !== undefined) differs('basePrecision', 'base precision', saved.base.basePrecision, ad.lora.basePrecision);
  copyPeftTensors(a.pairs, saved.tensors, (key) => {
    throw new GptforgeError(`cannot resume: the checkpoint's adapter has no ${key} of this run's shape (targets differ?)`, { file: ckDir, field: 'target_modules' });
  });
  const savedIds = saved.lora.trainableTokenIndices ?? [];
  const ids = a.tokens ? [...a.tokens.indices] : [];
  // SFT's default lists hundreds of rows: the first few and the count say enough
  const idList = (xs: readonly number[]): string => `[${xs.slice(0, 8).join(', ')}${xs.length > 8 ? `, … (${xs.length} in all)` : ''}]`;
  if (savedIds.join(',') !== ids.join(',')) throw new GptforgeError(`cannot resume: the checkpoint's adapter trains token rows ${idList(savedIds)}, this run's ${idList(ids)}`, { file: ckDir, field: 'trainable_token_indices' });
  if (a.tokens) a.tokens.rows.data.set(saved.tensors.get(TOKEN_ROWS_KEY)!.data);
  for (const k of ['score.weight', 'score.bias']) {
    const src = saved.tensors.get(`base_model.model.${k}`);
    const dst = ad.lora.model.params.get(k);
    if (src && dst) dst.data.set(src.data);
  }
}
