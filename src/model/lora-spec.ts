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
 * rslora (a flag, or rslora=true|false), seed, tokens (the token ids whose embedding and tied
 * head rows train too, PEFT's trainable_token_indices: `special` for the tokenizer's special
 * tokens, `all` for every row, `top:k` for the k most frequent target tokens of the stage's
 * training data, `none`, or ids / special-token names, the list running on like targets'; absent:
 * the stage's default, see prepareAdapter).
 */

const KEYS = ['r', 'alpha', 'dropout', 'targets', 'rslora', 'seed', 'tokens'] as const;

/** What parseLoraSpec may need beyond the model's modules. */
export interface LoraSpecContext {
  /** The tokenizer's special tokens (name → id): `tokens=special` and names in `tokens=` need them. */
  specialTokens?: ReadonlyMap<string, number>;
  /** The model's vocabulary size: `tokens=all` (every row of the embedding, PEFT's modules_to_save in effect) needs it. */
  vocabSize?: number;
  /** The k most frequent target tokens of the stage's training data: `tokens=top:k` needs it. */
  frequentTokens?: (k: number) => number[];
}

/**
 * Parse a spec against the modules a model has (for expanding aliases and naming them in errors).
 * @throws GptforgeError at the bad key's field (`lora.r`; an unknown key at `lora`), its detail
 *   not repeating the key (the CLI prints `--lora r: must be a whole number ≥ 1, got "0"`), listing
 *   valid keys or the modules that exist.
 */
export function parseLoraSpec(spec: string, modules: readonly LinearModule[], field = 'lora', ctx: LoraSpecContext = {}): LoraConfig {
  // an empty spec is most likely a shell variable left unset: say so rather than train PEFT's defaults silently
  if (spec.trim() === '') throw new GptforgeError('empty LoRA spec; give at least one field, e.g. r=8,alpha=16,targets=qkv,proj (fields: r, alpha, dropout, targets, rslora, seed, tokens; docs/lora.md)', { field });
  const cfg: LoraConfig = { ...DEFAULT_LORA, targets: [...DEFAULT_LORA.targets] };
  const targets: LinearModule[] = [];
  let inList: 'targets' | 'tokens' | null = null;
  let tokens: number[] | undefined;
  const seen = new Set<number>();
  const push = (id: number): void => {
    if (seen.has(id)) return;
    seen.add(id);
    tokens!.push(id);
  };
  const addToken = (v: string): void => {
    tokens ??= [];
    if (v === 'none') return;
    const top = /^top:(\d+)$/.exec(v);
    if (top) {
      if (!ctx.frequentTokens) throw new GptforgeError(`"${v}": the most frequent answer tokens are known only to sft (its training data); here give token ids, special, all or none`, { field: `${field}.tokens` });
      for (const id of ctx.frequentTokens(Number(top[1]))) push(id);
      return;
    }
    if (v === 'all') {
      if (ctx.vocabSize === undefined) throw new GptforgeError(`"all" needs the model's vocabulary size, which this caller does not pass; give token ids`, { field: `${field}.tokens` });
      for (let id = 0; id < ctx.vocabSize; id++) push(id);
      return;
    }
    const specials = ctx.specialTokens;
    if (v === 'special' || !/^\d+$/.test(v)) {
      if (!specials) throw new GptforgeError(`"${v}" needs the tokenizer's special tokens, which this stage does not pass; give token ids`, { field: `${field}.tokens` });
      if (v === 'special') {
        for (const id of specials.values()) push(id);
        return;
      }
      const id = specials.get(v);
      if (id === undefined) throw new GptforgeError(`"${v}" is not a token id, special, all, none, top:k (k a whole number) or a special token of this tokenizer (${[...specials.keys()].join(' ')})`, { field: `${field}.tokens` });
      push(id);
      return;
    }
    const id = Number(v);
    push(id);
  };
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
    if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new GptforgeError(`must be ${what}, got "${v}"`, { field: `${field}.${key}` });
    return n;
  };
  for (const raw of spec.split(',')) {
    const tok = raw.trim();
    if (tok === '') continue;
    const eq = tok.indexOf('=');
    const key = (eq < 0 ? tok : tok.slice(0, eq)).trim();
    const value = eq < 0 ? null : tok.slice(eq + 1).trim();
    if (value === null && inList !== null && key !== 'rslora') {
      if (inList === 'targets') addTarget(key);
      else addToken(key);
      continue;
    }
    inList = null;
    if (!(KEYS as readonly string[]).includes(key)) throw new GptforgeError(`unknown field "${key}"; fields: ${KEYS.join(', ')}`, { field });
    if (key === 'rslora') {
      if (value === null || value === 'true' || value === '1') cfg.rslora = true;
      else if (value === 'false' || value === '0') cfg.rslora = false;
      else throw new GptforgeError(`must be true or false, got "${value}"`, { field: `${field}.rslora` });
      continue;
    }
    if (value === null || value === '') throw new GptforgeError(`needs a value (${key}=…)`, { field: `${field}.${key}` });
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
        inList = 'targets';
        addTarget(value);
        break;
      case 'tokens':
        inList = 'tokens';
        addToken(value);
        break;
    }
  }
  if (targets.length > 0) cfg.targets = targets;
  if (tokens !== undefined) cfg.trainableTokenIndices = tokens;
  return cfg;
}

/** The spec string of a config (parseLoraSpec's inverse, module names spelled out). */
export function formatLoraSpec(cfg: LoraConfig): string {
  const ids = cfg.trainableTokenIndices;
  const tokens = ids === undefined ? '' : `,tokens=${ids.length > 0 ? ids.join(',') : 'none'}`;
  return `r=${cfg.r},alpha=${cfg.alpha},dropout=${cfg.dropout},targets=${cfg.targets.join(',')}${cfg.rslora ? ',rslora' : ''}${cfg.seed !== undefined ? `,seed=${cfg.seed}` : ''}${tokens}`;
}
