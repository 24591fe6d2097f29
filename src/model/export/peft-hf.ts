import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { atomicWriteFile } from '../../util/atomic.js';
import { GptforgeError } from '../../util/errors.js';
import { loadCheckpoint } from '../checkpoint.js';
import type { GPTConfig } from '../config.js';
import { writeSafetensors, type NamedTensor } from '../safetensors.js';
import { exportCheckpointToHf } from './hf.js';
import { architectureFor, type HfArchitecture } from './hf-config.js';
import { assertExportable, ourQkvColumn } from './layout.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, TOKEN_ROWS_KEY, readAdapter, type LoadedAdapter, type PeftAdapterConfig } from './peft.js';

/**
 * A PEFT adapter as PEFT loads it onto our Hugging Face export of the same base
 * (`gptforge export --format hf`), the counterpart of hf-tensors.ts for adapters:
 *
 * - learned positions → GPT-2: our files already are GPT-2's (Conv1D, `fan_in_fan_out: true`,
 *   `base_model.model.transformer.h.N.attn.c_attn.lora_A.weight`); copied as they are.
 * - rotary → GPT-NeoX (modeling_gpt_neox.py): nn.Linear modules, so `fan_in_fan_out: false`;
 *   module names `attention.query_key_value`, `attention.dense`, `mlp.dense_h_to_4h`,
 *   `mlp.dense_4h_to_h` under `gpt_neox.layers.N`; the trainable token rows under
 *   `gpt_neox.embed_in`. LoRA's ΔW = s·B·A is [out, in] in both layouts, so A [r, in] is unchanged
 *   and only B's rows (the output features) move: query_key_value's rows are NeoX's per-head
 *   [q_h | k_h | v_h] order with q and k in rotate_half order — the same permutation the weight
 *   export applies (layout.ts ourQkvColumn), so PEFT's merge of the exported adapter into the
 *   exported base equals the export of our merged model.
 *
 * Example: our `base_model.model.transformer.h.0.attn.c_proj.lora_B.weight` [256, 8] becomes
 * `base_model.model.gpt_neox.layers.0.attention.dense.lora_B.weight` [256, 8], the same numbers.
 */

/** Our block-linear module → GPT-NeoX's (PEFT target_modules take either the suffix or the dotted tail). */
export const NEOX_MODULES: Readonly<Record<string, string>> = {
  'attn.c_attn': 'attention.query_key_value',
  'attn.c_proj': 'attention.dense',
  'mlp.c_fc': 'mlp.dense_h_to_4h',
  'mlp.c_proj': 'mlp.dense_4h_to_h',
};

/** PEFT's suffix names of ours (a target_modules entry "c_proj" means both attn.c_proj and mlp.c_proj). */
const NEOX_SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  c_attn: ['query_key_value'],
  c_proj: ['attention.dense', 'dense_4h_to_h'],
  c_fc: ['dense_h_to_4h'],
};

/** An adapter's files for the Hugging Face export of its base. */
export interface HfAdapter {
  arch: HfArchitecture;
  config: PeftAdapterConfig;
  tensors: Map<string, NamedTensor>;
}

/**
 * Our adapter (read by readAdapter) → the PEFT adapter for the Hugging Face export of base
 * config `c`.
 * @param baseName what adapter_config.json's base_model_name_or_path records (the exported base's directory).
 * @throws GptforgeError when the base cannot be exported (assertExportable) or the adapter
 *   targets a module GPT-NeoX has no counterpart for.
 */
export function adapterForHf(ad: LoadedAdapter, c: GPTConfig, baseName: string | null): HfAdapter {
  const file = join(ad.dir, ADAPTER_WEIGHTS);
  assertExportable(c, ad.dir);
  const arch = architectureFor(c);
  if (arch === 'gpt2') return { arch, config: { ...ad.config, base_model_name_or_path: baseName }, tensors: new Map(ad.tensors) };
  const { nEmbd: C, nHead } = c;
  const D = C / nHead;
  const tensors = new Map<string, NamedTensor>();
  for (const [key, t] of ad.tensors) {
    if (key === TOKEN_ROWS_KEY) {
      tensors.set('base_model.model.gpt_neox.embed_in.token_adapter.trainable_tokens_delta', t);
      continue;
    }
    if (key === 'base_model.model.score.weight' || key === 'base_model.model.score.bias') {
      tensors.set(key, t); // GPTNeoXForSequenceClassification's head is also `score`
      continue;
    }
    const m = /^base_model\.model\.transformer\.h\.(\d+)\.(.+)\.lora_([AB])\.weight$/.exec(key);
    const neox = m ? NEOX_MODULES[m[2]] : undefined;
    if (!m || !neox) throw new GptforgeError(`tensor "${key}" has no GPT-NeoX counterpart (NeoX modules: ${Object.keys(NEOX_MODULES).join(', ')})`, { file, field: key });
    const out = `base_model.model.gpt_neox.layers.${m[1]}.${neox}.lora_${m[3]}.weight`;
    if (m[3] === 'A' || m[2] !== 'attn.c_attn') {
      tensors.set(out, t);
      continue;
    }
    // B [3C, r]: NeoX row o = h·3D + part·D + j holds our output column ourQkvColumn(part, h, j)
    const r = t.shape[1];
    const B = new Float32Array(t.data.length);
    for (let h = 0; h < nHead; h++)
      for (let part = 0; part < 3; part++)
        for (let j = 0; j < D; j++) {
          const o = h * 3 * D + part * D + j;
          const col = ourQkvColumn(part, h, j, C, D, true);
          B.set(t.data.subarray(col * r, col * r + r), o * r);
        }
    tensors.set(out, { shape: t.shape, data: B });
  }
  const targets = ad.config.target_modules.flatMap((name) => NEOX_MODULES[name] ?? NEOX_SUFFIXES[name] ?? (name === 'all-linear' ? ['all-linear'] : []));
  if (targets.length === 0) throw new GptforgeError(`target_modules ${JSON.stringify(ad.config.target_modules)} name no module GPT-NeoX has`, { file: join(ad.dir, ADAPTER_CONFIG), field: 'target_modules' });
  return { arch, config: { ...ad.config, base_model_name_or_path: baseName, target_modules: [...new Set(targets)], fan_in_fan_out: false }, tensors };
}

/**
 * Write adapterForHf's result as PEFT's two files in `outDir` (atomically each); PEFT loads it
 * with `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), outDir)`.
 */
export function writeHfAdapter(outDir: string, a: HfAdapter, base: GPTConfig, tokenizerHash?: string, weightsFingerprint?: string): string[] {
  mkdirSync(outDir, { recursive: true });
  writeSafetensors(join(outDir, ADAPTER_WEIGHTS), a.tensors, { format: 'pt', 'gptforge.base': JSON.stringify({ model: base, tokenizerHash, weightsFingerprint }) });
  atomicWriteFile(join(outDir, ADAPTER_CONFIG), JSON.stringify(a.config, null, 2) + '\n');
  return [ADAPTER_CONFIG, ADAPTER_WEIGHTS];
}

/** What exportPeft wrote. */
export interface ExportPeftResult {
  arch: HfArchitecture;
  /** The Hugging Face export of the adapter's base checkpoint. */
  baseDir: string;
  /** PEFT's adapter directory. */
  adapterDir: string;
  /** What its adapter_config.json's base_model_name_or_path records (ExportPeftOptions.baseName). */
  baseName: string;
}

export interface ExportPeftOptions {
  /**
   * base_model_name_or_path: what PEFT passes to `AutoModelForCausalLM.from_pretrained` to load
   * the base — as PEFT's own save_pretrained records it, the name the base was loaded by: a Hub
   * repo id ("you/tiny-base", where <out>/base will be pushed) or a path. Default `<out>/base`
   * as `outDir` was given (relative stays relative: transformers resolves it against the working
   * directory, so the export loads from where it was made, and no absolute path of this machine
   * is written into a file meant to be shared).
   */
  baseName?: string;
}

/**
 * A LoRA stage's checkpoint as PEFT's files (the library form of `gptforge export --format peft`):
 * `<outDir>/base`, the Hugging Face export of the adapter's base checkpoint (exportCheckpointToHf:
 * GPT-2 for learned positions, GPT-NeoX for rotary), and `<outDir>/adapter`, PEFT's two files for
 * that export, so that `AutoPeftModelForCausalLM.from_pretrained("<outDir>/adapter")` (from the
 * directory `outDir` is relative to, or wherever `baseName` resolves) or `PeftModel.from_pretrained`
 * over the base gives the adapted model (peftLoadHint says which, for the name recorded).
 *
 * What `<outDir>/adapter` holds (source: PEFT's `save_pretrained` layout, peft/utils/save_and_load.py
 * and peft/tuners/lora/config.py):
 * - `adapter_config.json`: PEFT's LoraConfig (`peft_type: "LORA"`, `r`, `lora_alpha`, `use_rslora`,
 *   `target_modules` in the exported architecture's names, `fan_in_fan_out` — true for GPT-2's
 *   Conv1D, false for GPT-NeoX's nn.Linear — `trainable_token_indices` when token rows were trained)
 *   and `base_model_name_or_path` (`baseName`).
 * - `adapter_model.safetensors`: float32 tensors `base_model.model.<module>.lora_A.weight` [r, in]
 *   and `…lora_B.weight` [out, r] (ΔW = s·B·A, s = lora_alpha/r, or lora_alpha/√r with rslora), in
 *   the exported model's module names and output-row order (adapterForHf; NeoX's per-head q|k|v rows),
 *   the trained token rows as `…transformer.wte` (GPT-2) or `…gpt_neox.embed_in` (NeoX)
 *   `.token_adapter.trainable_tokens_delta` [n, nEmbd], a reward
 *   head as `base_model.model.score.weight`; the header's metadata records our base
 *   (`gptforge.base`: config, tokenizer hash and the base checkpoint's weights fingerprint, PEFT
 *   ignores it; adapter_config.json stays PEFT's own fields, the base named by base_model_name_or_path).
 *
 * @param checkpointDir a LoRA stage's checkpoint directory (e.g. `runs/tiny/sft-lora/step-0000030`;
 *   `resolveCheckpoint(run, stage)` finds one); its base is the one its meta records.
 * @param outDir created if missing; `base/` and `adapter/` inside are overwritten (each file atomically).
 * @throws GptforgeError when the checkpoint is a full model (`field: 'adapter'`; export it with
 *   exportHuggingFace), `baseName` is empty, the base cannot be exported (assertExportable: a
 *   feature transformers lacks), the adapter targets a module GPT-NeoX has no counterpart for, or
 *   the checkpoint or its base cannot be read (file named).
 */
export function exportPeft(checkpointDir: string, outDir: string, opts: ExportPeftOptions = {}): ExportPeftResult {
  const meta = loadCheckpoint(checkpointDir, { weights: false }).meta;
  if (!meta.adapter) throw new GptforgeError('this checkpoint is a full model, not a LoRA adapter: export it with --format hf', { file: checkpointDir, field: 'adapter' });
  const baseDir = resolve(outDir, 'base');
  const adapterDir = resolve(outDir, 'adapter');
  const baseName = opts.baseName ?? join(outDir, 'base');
  if (baseName.trim() === '') throw new GptforgeError('the base model name is empty: give a Hub repo id or a path', { field: 'baseName' });
  const { arch } = exportCheckpointToHf(resolve(checkpointDir, meta.adapter.base), baseDir);
  const ad = readAdapter(checkpointDir);
  writeHfAdapter(adapterDir, adapterForHf(ad, meta.model, baseName), meta.model, meta.tokenizerHash, ad.base?.weightsFingerprint);
  return { arch, baseDir, adapterDir, baseName };
}

/**
 * How to load what `exportPeft` wrote, as `gptforge export --format peft` prints it. transformers
 * reads `base_model_name_or_path` as a local directory when one exists at that path (relative:
 * against the working directory, `cwd`), else as a Hub repo id; so the hint follows what the
 * name is here:
 * - a local directory (the default `<out>/base`, or a path given): the one-line
 *   `AutoPeftModelForCausalLM` load works from `cwd` (anywhere, for an absolute path), and from
 *   elsewhere the base is passed by its absolute path;
 * - a Hub repo id (`you/tiny-base`): the one-line load needs `<out>/base` pushed there first;
 *   until then the base is passed from its local copy;
 * - neither (a path that does not exist, not shaped like an id): transformers would fail to find
 *   it, so the hint says so and how to load without it.
 */
export function peftLoadHint(r: ExportPeftResult, cwd = process.cwd()): string {
  const name = r.baseName;
  const local = existsSync(resolve(cwd, name)) && statSync(resolve(cwd, name)).isDirectory();
  const explicit = `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("${r.baseDir}"), "${r.adapterDir}")`;
  const oneLine = (adapter: string): string => `AutoPeftModelForCausalLM.from_pretrained("${adapter}")`;
  if (local) {
    const relative = !name.startsWith('/');
    return relative
      ? `load with ${oneLine(r.adapterDir)} from ${cwd} (base_model_name_or_path "${name}" is a local path, relative to the working directory); from elsewhere, or after moving the export, ${explicit} with the new paths`
      : `load with ${oneLine(r.adapterDir)} (base_model_name_or_path is the local directory "${name}"; after moving it, ${explicit} with the new paths)`;
  }
  if (/^[\w.-]+\/[\w.-]+$/.test(name) || /^[\w.-]+$/.test(name)) {
    return `base_model_name_or_path "${name}" is a Hugging Face Hub repo id: push ${r.baseDir} there (huggingface-cli upload ${name} ${r.baseDir}), then load with ${oneLine(r.adapterDir)}; until then, with the local base: ${explicit}`;
  }
  return `base_model_name_or_path "${name}" is neither a directory here nor a Hub repo id, so transformers will not find the base by it: copy ${r.baseDir} to ${name}, or export again with --base-name naming where the base will be; meanwhile ${explicit}`;
}
