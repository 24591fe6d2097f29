import { str, type FlagSpecs, type ParsedArgs } from '../util/args.js';
import { parseBasePrecision } from '../model/quantize.js';
import type { AdapterOptions } from '../train/adapter.js';

/** `--lora` and `--base-precision`, shared by sft, rm, rl and dpo (docs/lora.md). */
export const LORA_FLAGS: FlagSpecs = {
  lora: { kind: 'string', help: 'train a LoRA adapter instead of every weight: r=8,alpha=16,targets=qkv,proj[,dropout=0.05][,rslora] (targets: qkv, proj, up, down, all-linear or module names)' },
  'base-precision': { kind: 'string', help: 'hold the frozen base in f32, q8_0 or q4_0 (ggml blocks; q8_0/q4_0 need --lora)' },
};

export function adapterOptions(a: ParsedArgs): AdapterOptions {
  const precision = str(a, 'base-precision');
  return { lora: str(a, 'lora'), basePrecision: precision === undefined ? undefined : parseBasePrecision(precision, '--base-precision') };
}
