import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getKernels } from '../../engine/backend.js';
import { atomicWriteFile } from '../../util/atomic.js';
import { GptforgeError } from '../../util/errors.js';
import type { GPTConfig } from '../config.js';
import type { LinearModule } from '../gpt.js';
import { LoraModel, loraScaling, type LoraConfig, type LoraPair } from '../lora.js';
import { baseWeightsFingerprint } from '../fingerprint.js';
import type { BasePrecision } from '../quantize.js';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../safetensors.js';

/**
 * LoRA adapters in Hugging Face PEFT's files (peft/utils/save_and_load.py, peft/tuners/lora/config.py):
 *
 * - `adapter_config.json`: PEFT's LoraConfig fields: peft_type "LORA", task_type, r,
 *   lora_alpha, lora_dropout, target_modules, use_rslora, fan_in_fan_out = true (GPT-2's
 *   Conv1D stores W as [in, out], so PEFT transposes B·A when merging, as we do), bias "none",
 *   modules_to_save ["score"] when the model has a scalar head.
 * - `adapter_model.safetensors`: `base_model.model.<module>.lora_A.weight` [r, in] and
 *   `.lora_B.weight` [out, r] (the adapter's name is not in PEFT's saved keys), and the scalar
 *   head as `base_model.model.score.weight` / `.bias`, and trainable token rows (the config's
 *   `trainable_token_indices`, PEFT's TrainableTokens over the input embedding, tied to the
 *   head) as `base_model.model.transformer.wte.token_adapter.trainable_tokens_delta` [n, C]:
 *   the rows' new values, in the order of the indices. The safetensors metadata carries what
 *   the adapter was trained on (`gptforge.base`: the model config, tokenizer hash and base
 *   weights fingerprint, src/model/fingerprint.ts), which PEFT ignores and we check before
 *   loading; the base's name stays where PEFT reads it, adapter_config.json's
 *   base_model_name_or_path.
 */

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** adapter_config.json as PEFT writes it (the fields we set; PEFT fills the rest with defaults). */
export interface PeftAdapterConfig {
  peft_type: 'LORA';
  task_type: 'CAUSAL_LM' | 'SEQ_CLS';
  base_model_name_or_path: string | null;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[];
  use_rslora: boolean;
  fan_in_fan_out: boolean;
  bias: 'none';
  init_lora_weights: boolean;
  inference_mode: boolean;
  modules_to_save: string[] | null;
  /** Token ids whose input-embedding rows train (PEFT ≥ 0.15); a list targets the input embedding, a dict names the module. */
  trainable_token_indices?: number[] | Record<string, number[]> | null;
}

/** PEFT's key of the trainable token rows on GPT-2's input embedding (transformer.wte). */
export const TOKEN_ROWS_KEY = 'base_model.model.transformer.wte.token_adapter.trainable_tokens_delta';

/** What an adapter must match to be loaded on a base. */
export interface AdapterBase {
  model: GPTConfig;
  tokenizerHash?: string;
  /** The precision the base was held in while the adapter trained (informational). */
  basePrecision?: BasePrecision;
  /**
   * The base's weights fingerprint (baseWeightsFingerprint, `sha256:…`); saveAdapter computes it
   * from the model when left out. Adapters saved before it was recorded have none and load unchecked.
   */
  weightsFingerprint?: string;
}

/**
 * The fingerprint of the base under `lm` (baseWeightsFingerprint): its token table with every
 * adapter's trainable rows put back to the base's values (LoraModel writes them in place).
 */
export function modelFingerprint(lm: LoraModel): string {
  const wte = lm.model.params.get('transformer.wte.weight');
  if (!wte) return baseWeightsFingerprint(lm.model.params);
  const table = wte.data.slice();
  const C = lm.model.config.nEmbd;
  for (const name of lm.adapterNames()) {
    const t = lm.adapter(name).tokens;
    if (t) t.indices.forEach((id, j) => table.set(t.original.subarray(j * C, (j + 1) * C), id * C));
  }
  return baseWeightsFingerprint([...lm.model.params].map(([name, p]) => [name, name === 'transformer.wte.weight' ? table : p.data] as const));
}

/**
 * Write adapter `name` of `lm` as PEFT's two files in `dir` (atomically each). The base it
 * records (`gptforge.base`, safetensors metadata: PEFT ignores it) gets the base's weights
 * fingerprint, computed from `lm.model` unless `base.weightsFingerprint` is given.
 * @param baseName what PEFT's base_model_name_or_path records (AdapterOptions.baseName: the name transformers loads the base by, or our base checkpoint's path).
 */
export function saveAdapter(dir: string, lm: LoraModel, name: string, base: AdapterBase, baseName: string | null = null): void {
  const a = lm.adapter(name);
  const head = lm.model.hasScalarHead;
  const cfg: PeftAdapterConfig = {
    peft_type: 'LORA',
    task_type: head ? 'SEQ_CLS' : 'CAUSAL_LM',
    base_model_name_or_path: baseName,
    r: a.config.r,
    lora_alpha: a.config.alpha,
    lora_dropout: a.config.dropout,
    target_modules: [...a.config.targets],
    use_rslora: a.config.rslora,
    fan_in_fan_out: true,
    bias: 'none',
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: head ? ['score'] : null,
    ...(a.tokens ? { trainable_token_indices: [...a.tokens.indices] } : {}),
  };
  const tensors = new Map<string, NamedTensor>();
  for (const p of a.pairs) {
    const key = `base_model.model.${p.site.weightName.slice(0, -'.weight'.length)}`;
    tensors.set(`${key}.lora_A.weight`, { shape: p.A.shape, data: p.A.data });
    tensors.set(`${key}.lora_B.weight`, { shape: p.B.shape, data: p.B.data });
  }
  for (const k of ['score.weight', 'score.bias']) {
    const t = lm.model.params.get(k);
    if (t) tensors.set(`base_model.model.${k}`, { shape: t.shape, data: t.data });
  }
  if (a.tokens) tensors.set(TOKEN_ROWS_KEY, { shape: a.tokens.rows.shape, data: a.tokens.rows.data });
  const recorded: AdapterBase = { ...base, weightsFingerprint: base.weightsFingerprint ?? modelFingerprint(lm) };
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt', 'gptforge.base': JSON.stringify(recorded) });
  atomicWriteFile(join(dir, ADAPTER_CONFIG), JSON.stringify(cfg, null, 2) + '\n');
}

/** A PEFT adapter read from disk: its config, tensors by PEFT key, and what base it names. */
export interface LoadedAdapter {
  dir: string;
  config: PeftAdapterConfig;
  lora: LoraConfig;
  tensors: Map<string, NamedTensor>;
  base: AdapterBase | null;
}

/**
 * Read `dir`'s adapter_config.json + adapter_model.safetensors.
 * @throws GptforgeError naming the file and field for a missing file, a non-LoRA adapter,
 *   or a config PEFT would not write (r, lora_alpha, target_modules).
 */
export function readAdapter(dir: string): LoadedAdapter {
  const cfgPath = join(dir, ADAPTER_CONFIG);
  if (!existsSync(cfgPath)) throw new GptforgeError(`no ${ADAPTER_CONFIG}: not a PEFT adapter directory`, { file: dir });
  let cfg: PeftAdapterConfig;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as PeftAdapterConfig;
  } catch (e) {
    throw new GptforgeError(`corrupt adapter config: ${(e as Error).message}`, { file: cfgPath });
  }
  if (cfg.peft_type !== 'LORA') throw new GptforgeError(`peft_type is ${JSON.stringify(cfg.peft_type)}; only LORA adapters are supported`, { file: cfgPath, field: 'peft_type' });
  if (!(Number.isInteger(cfg.r) && cfg.r >= 1)) throw new GptforgeError(`r must be a whole number ≥ 1, got ${JSON.stringify(cfg.r)}`, { file: cfgPath, field: 'r' });
  if (!(typeof cfg.lora_alpha === 'number' && cfg.lora_alpha > 0)) throw new GptforgeError(`lora_alpha must be a positive number, got ${JSON.stringify(cfg.lora_alpha)}`, { file: cfgPath, field: 'lora_alpha' });
  if (!Array.isArray(cfg.target_modules) || cfg.target_modules.length === 0) throw new GptforgeError('target_modules must be a non-empty list of module names', { file: cfgPath, field: 'target_modules' });
  if (cfg.fan_in_fan_out === false) throw new GptforgeError('fan_in_fan_out is false: this adapter was made for nn.Linear weights [out, in], not GPT-2 Conv1D [in, out]', { file: cfgPath, field: 'fan_in_fan_out' });
  const st = readSafetensors(join(dir, ADAPTER_WEIGHTS));
  let base: AdapterBase | null = null;
  if (st.metadata['gptforge.base']) {
    try {
      base = JSON.parse(st.metadata['gptforge.base']) as AdapterBase;
    } catch {
      throw new GptforgeError('corrupt gptforge.base metadata', { file: join(dir, ADAPTER_WEIGHTS), field: '__metadata__.gptforge.base' });
    }
  }
  const lora: LoraConfig = {
    r: cfg.r,
    alpha: cfg.lora_alpha,
    dropout: cfg.lora_dropout ?? 0,
    targets: cfg.target_modules as LinearModule[],
    rslora: cfg.use_rslora === true,
    trainableTokenIndices: tokenIndices(cfg.trainable_token_indices, cfgPath),
  };
  const rows = st.tensors.get(TOKEN_ROWS_KEY);
  const n = lora.trainableTokenIndices?.length ?? 0;
  if (n > 0 && !rows) throw new GptforgeError(`trainable_token_indices lists ${n} tokens but ${ADAPTER_WEIGHTS} has no ${TOKEN_ROWS_KEY}`, { file: join(dir, ADAPTER_WEIGHTS), field: TOKEN_ROWS_KEY });
  if (rows && (rows.shape.length !== 2 || rows.shape[0] !== n)) throw new GptforgeError(`${TOKEN_ROWS_KEY} is [${rows.shape.join(', ')}] but trainable_token_indices lists ${n} tokens`, { file: join(dir, ADAPTER_WEIGHTS), field: TOKEN_ROWS_KEY });
  return { dir, config: cfg, lora, tensors: st.tensors, base };
}

/**
 * PEFT's trainable_token_indices: a list (the input embedding's rows) or a dict naming the
 * module, which must be the input embedding (`wte`, `transformer.wte`); absent or null: none.
 */
function tokenIndices(v: PeftAdapterConfig['trainable_token_indices'], file: string): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  let ids: unknown = v;
  if (!Array.isArray(v)) {
    if (typeof v !== 'object') throw new GptforgeError('trainable_token_indices must be a list of token ids or {module: [ids]}', { file, field: 'trainable_token_indices' });
    const keys = Object.keys(v);
    const other = keys.find((k) => k !== 'wte' && k !== 'transformer.wte');
    if (other !== undefined) throw new GptforgeError(`trainable_token_indices names module "${other}"; only the input embedding (wte, transformer.wte) is supported`, { file, field: `trainable_token_indices.${other}` });
    ids = keys.flatMap((k) => v[k]);
  }
  if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id) && id >= 0)) throw new GptforgeError('trainable_token_indices must hold whole numbers ≥ 0 (token ids)', { file, field: 'trainable_token_indices' });
  return ids as number[];
}

/** Every block linear's weight name and [in, out] shape for a config (without building the model). */
export function linearShapes(cfg: GPTConfig): Map<string, number[]> {
  const { nEmbd: C, mlpHidden: H } = cfg;
  const out = new Map<string, number[]>();
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `transformer.h.${l}`;
    out.set(`${p}.attn.c_attn.weight`, [C, 3 * C]);
    out.set(`${p}.attn.c_proj.weight`, [C, C]);
    out.set(`${p}.mlp.c_fc.weight`, [C, H]);
    if (cfg.mlp === 'swiglu') out.set(`${p}.mlp.c_fc2.weight`, [C, H]);
    out.set(`${p}.mlp.c_proj.weight`, [H, C]);
  }
  return out;
}

/**
 * Refuse an adapter made for another base: model config fields, tokenizer hash, every tensor's
 * module and shape, and (when both are known) the base's weights fingerprint. The message names
 * what differs.
 * @param weightsFingerprint the base's (baseWeightsFingerprint); undefined: not compared.
 * @param override how the message says to load it anyway (the caller's option).
 */
export function checkAdapterBase(ad: LoadedAdapter, model: GPTConfig, tokenizerHash: string | undefined, sites: ReadonlyMap<string, readonly number[]>, weightsFingerprint?: string, override = 'or pass { skipWeightsCheck: true } to load it anyway'): void {
  const file = join(ad.dir, ADAPTER_WEIGHTS);
  if (ad.base) {
    for (const key of Object.keys(ad.base.model) as (keyof GPTConfig)[]) {
      if (ad.base.model[key] !== model[key]) throw new GptforgeError(`adapter made for another base: its base has ${key}=${JSON.stringify(ad.base.model[key])}, this model has ${JSON.stringify(model[key])}`, { file, field: `base.${key}` });
    }
    if (ad.base.tokenizerHash && tokenizerHash && ad.base.tokenizerHash !== tokenizerHash) {
      throw new GptforgeError(`adapter made for another base: its tokenizer hash is ${ad.base.tokenizerHash.slice(0, 12)}…, this model's is ${tokenizerHash.slice(0, 12)}…`, { file, field: 'base.tokenizerHash' });
    }
  }
  checkTensors(ad, model, sites);
  // after the shapes: a model of another shape is told that first
  const recorded = ad.base?.weightsFingerprint;
  if (recorded && weightsFingerprint && recorded !== weightsFingerprint) {
    throw new GptforgeError(
      `adapter made for another base: it was trained on base weights ${short(recorded)}, this model's are ${short(weightsFingerprint)} (same config and tokenizer: another run of the preset, another stage, or a base retrained since); load it on the base it was trained on${ad.config.base_model_name_or_path ? ` (base_model_name_or_path: ${ad.config.base_model_name_or_path})` : ''}, ${override}`,
      { file, field: 'base.weightsFingerprint' },
    );
  }
}

/** A fingerprint as messages show it: the algorithm and 12 hex digits. */
const short = (fp: string): string => `${fp.slice(0, fp.indexOf(':') + 13)}…`;

/** Every tensor's module exists in the model with the shape LoRA needs; token ids lie in the vocabulary. */
function checkTensors(ad: LoadedAdapter, model: GPTConfig, sites: ReadonlyMap<string, readonly number[]>): void {
  const file = join(ad.dir, ADAPTER_WEIGHTS);
  const ids = ad.lora.trainableTokenIndices ?? [];
  for (const id of ids) if (id >= model.vocabSize) throw new GptforgeError(`adapter made for another base: trainable token ${id} is outside this model's vocabulary of ${model.vocabSize}`, { file: join(ad.dir, ADAPTER_CONFIG), field: 'trainable_token_indices' });
  for (const [key, t] of ad.tensors) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
    if (!m) {
      if (key === 'base_model.model.score.weight' || key === 'base_model.model.score.bias') continue;
      if (key === TOKEN_ROWS_KEY) {
        if (t.shape[1] !== model.nEmbd) throw new GptforgeError(`adapter made for another base: ${key} is [${t.shape.join(', ')}], this model needs [${ids.length}, ${model.nEmbd}]`, { file, field: key });
        continue;
      }
      throw new GptforgeError(`unexpected tensor "${key}" (PEFT LoRA keys are base_model.model.<module>.lora_A.weight / lora_B.weight)`, { file, field: key });
    }
    const shape = sites.get(`${m[1]}.weight`);
    if (!shape) throw new GptforgeError(`adapter made for another base: module "${m[1]}" does not exist in this model`, { file, field: key });
    const [inF, outF] = shape;
    const want = m[2] === 'A' ? [ad.lora.r, inF] : [outF, ad.lora.r];
    if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
      throw new GptforgeError(`adapter made for another base: ${key} is [${t.shape.join(', ')}], this model needs [${want.join(', ')}]`, { file, field: key });
    }
  }
}

/** How loadAdapterInto checks an adapter's recorded base beyond the model's shape. */
export interface AdapterBaseCheck {
  /** The hash of the tokenizer the model `lm` wraps runs with (`tok.hash()`, CheckpointMeta.tokenizerHash). */
  tokenizerHash?: string;
  /**
   * Load an adapter that records its base's tokenizer without comparing it (the explicit opt-out:
   * the caller vouches that the model's tokenizer is the adapter's). Default false.
   */
  skipTokenizerCheck?: boolean;
  /**
   * Load an adapter whose recorded base weights fingerprint differs from this model's (the explicit
   * override: the caller vouches that the base is the adapter's, e.g. one re-exported or converted
   * in a way that moved its norms). Default false.
   */
  skipWeightsCheck?: boolean;
}

/**
 * Add a PEFT adapter read from disk to `lm` as adapter `name`, after checking its base
 * (checkAdapterBase). What is checked:
 * - the base config our adapters record (`gptforge.base` in adapter_model.safetensors' metadata):
 *   every GPTConfig field must equal `lm.model.config`'s (`err.field` `base.<field>`, e.g. `base.nEmbd`);
 * - the base's tokenizer hash the adapter records: it must equal `base.tokenizerHash` (or the
 *   string given as 4th argument). Left out, the load is refused (`err.field` `base.tokenizerHash`)
 *   rather than passed unchecked — an adapter from another run of the same shape would otherwise
 *   load silently over the wrong vocabulary; `{ skipTokenizerCheck: true }` opts out;
 * - always, for any PEFT adapter (also one without our metadata): every tensor's module exists in
 *   the model with the shape LoRA needs (A [r, in], B [out, r]) and trainable token ids lie in the
 *   vocabulary (`err.field` the tensor key or `trainable_token_indices`).
 * - the base's weights fingerprint the adapter records (baseWeightsFingerprint): it must equal
 *   `lm.model`'s, or two bases of one config and tokenizer (two runs of one preset) would pass
 *   (`err.field` `base.weightsFingerprint`, the message naming both fingerprints and the adapter's
 *   base_model_name_or_path); `{ skipWeightsCheck: true }` opts out; an adapter saved before the
 *   fingerprint was recorded is not compared;
 * @param base the model's tokenizer hash (a string, as before) or an AdapterBaseCheck.
 * @throws GptforgeError naming the file and field as listed above, or when a targeted module's tensors are missing.
 */
export function loadAdapterInto(lm: LoraModel, ad: LoadedAdapter, name: string, base: string | AdapterBaseCheck = {}): void {
  const check: AdapterBaseCheck = typeof base === 'string' ? { tokenizerHash: base } : base;
  const sites = new Map(lm.model.linearSites().map((s) => [s.weightName, s.weight.shape] as const));
  checkAdapterBase(ad, lm.model.config, check.tokenizerHash, sites, check.skipWeightsCheck || !ad.base?.weightsFingerprint ? undefined : modelFingerprint(lm));
  // after the config and shape checks, so a model of another shape is told that first
  const recorded = ad.base?.tokenizerHash;
  if (recorded && check.tokenizerHash === undefined && !check.skipTokenizerCheck) {
    throw new GptforgeError(`the adapter records its base's tokenizer (hash ${recorded.slice(0, 12)}…) and none was given to check this model's against: pass { tokenizerHash: tok.hash() } (the tokenizer the model runs with), or { skipTokenizerCheck: true } to load it unchecked`, {
      file: join(ad.dir, ADAPTER_WEIGHTS),
      field: 'base.tokenizerHash',
    });
  }
  // the modules the file holds tensors for: target_modules may be PEFT's suffixes ("c_attn", or
  // "c_proj" for both attn.c_proj and mlp.c_proj), the keys are exact
  const targets = new Set<LinearModule>();
  for (const key of ad.tensors.keys()) {
    const m = /^base_model\.model\.transformer\.h\.\d+\.(.+)\.lora_A\.weight$/.exec(key);
    if (m) targets.add(m[1] as LinearModule);
  }
  const a = lm.addAdapter(name, { ...ad.lora, targets: [...targets] });
  copyPeftTensors(a.pairs, ad.tensors, (key, p) => {
    throw new GptforgeError(`missing tensor ${key} for target module ${p.site.module}`, { file: join(ad.dir, ADAPTER_WEIGHTS) });
  });
  if (a.tokens) a.tokens.rows.data.set(ad.tensors.get(TOKEN_ROWS_KEY)!.data);
  setScoreHead(ad, lm.model.params);
}

function setScoreHead(ad: LoadedAdapter, params: ReadonlyMap<string, { data: Float32Array }>): void {
  for (const k of ['score.weight', 'score.bias']) {
    const src = ad.tensors.get(`base_model.model.${k}`);
    const dst = params.get(k);
    if (src && dst) dst.data.set(src.data);
  }
}

/**
 * Merge an adapter into a base's weight map in place (what `gptforge merge` and loading an
 * adapter checkpoint do): W [in, out] += s·(B·A)ᵀ per targeted module; a saved scalar head
 * replaces the base's. The weights must already have passed checkAdapterBase.
 */
export function mergeAdapterWeights(weights: Map<string, Float32Array>, ad: LoadedAdapter): void {
  const s = loraScaling(ad.lora);
  const k = getKernels();
  for (const [key, A] of ad.tensors) {
    const m = /^base_model\.model\.(.+)\.lora_A\.weight$/.exec(key);
    if (!m) continue;
    const B = ad.tensors.get(`base_model.model.${m[1]}.lora_B.weight`);
    const W = weights.get(`${m[1]}.weight`);
    if (!B || !W) throw new GptforgeError(`cannot merge ${m[1]}: ${!B ? 'lora_B is missing' : 'the base has no such weight'}`, { file: join(ad.dir, ADAPTER_WEIGHTS), field: key });
    const [r, inF] = A.shape;
    const outF = B.shape[0];
    const d = new Float32Array(inF * outF);
    k.matmul(A.data, B.data, d, inF, r, outF, true, true, false);
    k.axpy(s, d, W, W.length);
  }
  for (const k2 of ['score.weight', 'score.bias']) {
    const src = ad.tensors.get(`base_model.model.${k2}`);
    if (src) weights.set(k2, src.data);
  }
  // trainable token rows replace the table's (PEFT's index_copy); with a tied head that is the head too
  const rows = ad.tensors.get(TOKEN_ROWS_KEY);
  const ids = ad.lora.trainableTokenIndices ?? [];
  if (rows && ids.length > 0) {
    const wte = weights.get('transformer.wte.weight');
    if (!wte) throw new GptforgeError('cannot merge the trainable token rows: the base has no transformer.wte.weight', { file: join(ad.dir, ADAPTER_WEIGHTS), field: TOKEN_ROWS_KEY });
    const C = rows.shape[1];
    for (let j = 0; j < ids.length; j++) wte.set(rows.data.subarray(j * C, (j + 1) * C), ids[j] * C);
  }
}

/**
 * Copies PEFT's `base_model.model.<module>.lora_{A,B}.weight` tensors into an adapter's pairs
 * (A [r, in], B [out, r], as PEFT stores them). `missing(key, pair)` is called — and must
 * throw — for a tensor that is absent or of another size than the pair's.
 */
export function copyPeftTensors(pairs: readonly LoraPair[], tensors: ReadonlyMap<string, { data: Float32Array }>, missing: (key: string, pair: LoraPair) => never): void {
  for (const p of pairs) {
    const module = `base_model.model.${p.site.weightName.slice(0, -'.weight'.length)}`;
    for (const [which, t] of [
      ['A', p.A],
      ['B', p.B],
    ] as const) {
      const key = `${module}.lora_${which}.weight`;
      const src = tensors.get(key);
      if (!src || src.data.length !== t.size) missing(key, p);
      t.data.set(src.data);
    }
  }
}
