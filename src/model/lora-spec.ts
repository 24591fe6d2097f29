import { GptforgeError } from '../util/errors.js';
import type { LinearModule } from './gpt.js';
import { DEFAULT_LORA, TARGET_ALIASES, type LoraConfig } from './lora.js';

/**
 * The `--lora` spec string: comma-separated `key=value` fields, where `targets=` takes every
 * following bare name up to the next `key=`:
 *
 *   r=8,alpha=16,targets=qkv,proj,dropout=0.05,rslora
 *
 * Fields: r (rank, default 8), alpha (default 8, PEFT's lora_alpha), dropout (default 0),
 * targets (qkv, proj, up, down, all-linear, or module names such as attn.c_attn; default qkv),
 * rslora (a flag, or rslora=true|false), seed. An empty string gives the defaults.
 */

const KEYS = ['r', 'alpha', 'dropout', 'targets', 'rslora', 'seed'] as const;

/**
 * Parse a spec against the modules a model has (for expanding aliases and naming them in errors).
 * @throws GptforgeError naming the bad field (`lora.<key>`), listing valid keys or the modules that exist.
 */
export function parseLoraSpec(spec: string, modules: readonly LinearModule[], field = 'lora'): LoraConfig {
  // an empty spec is most likely a shell variable left unset: say so rather than train PEFT's defaults silently
  if (spec.trim() === '') throw new GptforgeError('empty LoRA spec; give at least one field, e.g. r=8,alpha=16,targets=qkv,proj (fields: r, alpha, dropout, targets, rslora; docs/lora.md)', { field });
  const cfg: LoraConfig = { ...DEFAULT_LORA, targets: [...DEFAULT_LORA.targets] };
  const targets: LinearModule[] = [];
  let inTargets = false;
  const addTarget = (name: string): void => {
    const alias = TARGET_ALIASES[name];
    const mods = alias ? alias.filter((m) => modules.includes(m)) : modules.filter((m) => m === name || m.endsWith(`.${name}`));
    if (mods.length === 0) {
      throw new GptforgeError(`unknown target module "${name}"; this model has: ${modules.join(', ')} (aliases: ${Object.keys(TARGET_ALIASES).join(', ')})`, { field: `${field}.targets` });
    }
    for (const m of mods) if (!targets.includes(m)) targets.push(m);
  };
  const num = (key: string, v: string, ok: (n: number) => boolean, what: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new GptforgeError(`${key} must be ${what}, got "${v}"`, { field: `${field}.${key}` });
    return n;
  };
  for (const raw of spec.split(',')) {
    const tok = raw.trim();
    if (tok === '') continue;
    const eq = tok.indexOf('=');
    const key = (eq < 0 ? tok : tok.slice(0, eq)).trim();
    const value = eq < 0 ? null : tok.slice(eq + 1).trim();
    if (value === null && inTargets && key !== 'rslora') {
      addTarget(key);
      continue;
    }
    inTargets = false;
    if (!(KEYS as readonly string[]).includes(key)) throw new GptforgeError(`unknown field "${key}"; fields: ${KEYS.join(', ')}`, { field: `${field}.${key}` });
    if (key === 'rslora') {
      if (value === null || value === 'true' || value === '1') cfg.rslora = true;
      else if (value === 'false' || value === '0') cfg.rslora = false;
      else throw new GptforgeError(`rslora must be true or false, got "${value}"`, { field: `${field}.rslora` });
      continue;
    }
    if (value === null || value === '') throw new GptforgeError(`${key} needs a value (${key}=…)`, { field: `${field}.${key}` });
    switch (key) {
      case 'r':
        cfg.r = num(key, value, (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1');
        break;
      case 'alpha':
        cfg.alpha = num(key, value, (n) => n > 0, 'a positive number');
        break;
      case 'dropout':
        cfg.dropout = num(key, value, (n) => n >= 0 && n < 1, 'in [0, 1)');
        break;
      case 'seed':
        cfg.seed = num(key, value, (n) => Number.isInteger(n) && n >= 0, 'a whole number ≥ 0');
        break;
      case 'targets':
        inTargets = true;
        addTarget(value);
        break;
    }
  }
  if (targets.length > 0) cfg.targets = targets;
  return cfg;
}

/** The spec string of a config (parseLoraSpec's inverse, module names spelled out). */
export function formatLoraSpec(cfg: LoraConfig): string {
  return `r=${cfg.r},alpha=${cfg.alpha},dropout=${cfg.dropout},targets=${cfg.targets.join(',')}${cfg.rslora ? ',rslora' : ''}${cfg.seed !== undefined ? `,seed=${cfg.seed}` : ''}`;
}
