import { relative } from 'node:path';
import type { GPT } from '../model/gpt.js';
import { LoraModel, modulesOf, type LoraConfig } from '../model/lora.js';
import { parseLoraSpec } from '../model/lora-spec.js';
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
}

/** A stage's adapter: the LoRA model around the stage's GPT, the adapter that trains, and the base checkpoint. */
export interface AdapterTraining {
  lora: LoraModel;
  name: string;
  /** The base checkpoint directory (the model was loaded from it). */
  baseDir: string;
}

/**
 * Make `model` (freshly loaded from `baseDir`) a LoRA model with adapter "default", or return
 * null for full fine-tuning. `specialTokens` (the tokenizer's) lets the spec say `tokens=special`;
 * SFT given them and no `tokens` trains those tokens' embedding (and tied head) rows too — the
 * chat layout's markers never occur in pretraining text, so a frozen table leaves them as
 * the base left them (docs/lora.md); other stages train none unless told.
 * @throws GptforgeError for a quantized base without `lora` (a quantized base cannot train),
 *   or a bad spec (naming the field; an unknown target lists the model's modules).
 */
export function prepareAdapter(stage: string, model: GPT, baseDir: string, opts: AdapterOptions, specialTokens?: ReadonlyMap<string, number>): AdapterTraining | null {
  const precision = opts.basePrecision ?? 'f32';
  if (opts.lora === undefined) {
    if (precision !== 'f32') {
      throw new GptforgeError(`${stage}: a ${precision} base cannot be trained — quantized weights are frozen and receive no gradient; add a LoRA adapter (lora / --lora) to train on it, or use basePrecision f32 for full fine-tuning`, { field: 'basePrecision' });
    }
    return null;
  }
  const parsed = typeof opts.lora === 'string' ? parseLoraSpec(opts.lora, modulesOf(model), 'lora', { specialTokens, vocabSize: model.config.vocabSize }) : opts.lora;
  const cfg = parsed.trainableTokenIndices === undefined && stage === 'sft' && specialTokens && specialTokens.size > 0 ? { ...parsed, trainableTokenIndices: [...specialTokens.values()] } : parsed;
  const lora = new LoraModel(model, { basePrecision: precision });
  lora.addAdapter('default', cfg);
  return { lora, name: 'default', baseDir };
}

/** The checkpoint options that write `ad`'s adapter for step `step` of `stageDir`. */
export function adapterSaveOptions(ad: AdapterTraining, stageDir: string, step: number, tokenizerHash: string | undefined): NonNullable<SaveOptions['adapter']> {
  const finalDir = join(stageDir, checkpointName(step));
  return {
    meta: { base: relative(finalDir, ad.baseDir) || '.', name: ad.name, basePrecision: ad.lora.basePrecision },
    write: (dir) => saveAdapter(dir, ad.lora, ad.name, { model: ad.lora.model.config, tokenizerHash, basePrecision: ad.lora.basePrecision }, ad.baseDir),
  };
}

/**
 * Resume: copy an adapter checkpoint's A, B (and scalar head) into `ad`'s adapter.
 * @throws GptforgeError when the saved adapter's rank or modules differ from this run's.
 */
export function restoreAdapter(ad: AdapterTraining, ckDir: string): void {
  const saved = readAdapter(ckDir);
  const a = ad.lora.adapter(ad.name);
  if (saved.lora.r !== a.config.r) throw new GptforgeError(`cannot resume: the checkpoint's adapter has r=${saved.lora.r}, this run's has r=${a.config.r}`, { file: ckDir, field: 'r' });
  copyPeftTensors(a.pairs, saved.tensors, (key) => {
    throw new GptforgeError(`cannot resume: the checkpoint's adapter has no ${key} of this run's shape (targets differ?)`, { file: ckDir, field: 'target_modules' });
  });
  const savedIds = saved.lora.trainableTokenIndices ?? [];
  const ids = a.tokens ? [...a.tokens.indices] : [];
  if (savedIds.join(',') !== ids.join(',')) throw new GptforgeError(`cannot resume: the checkpoint's adapter trains token rows [${savedIds.join(', ')}], this run's [${ids.join(', ')}]`, { file: ckDir, field: 'trainable_token_indices' });
  if (a.tokens) a.tokens.rows.data.set(saved.tensors.get(TOKEN_ROWS_KEY)!.data);
  for (const k of ['score.weight', 'score.bias']) {
    const src = saved.tensors.get(`base_model.model.${k}`);
    const dst = ad.lora.model.params.get(k);
    if (src && dst) dst.data.set(src.data);
  }
}
