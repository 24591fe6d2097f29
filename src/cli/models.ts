import { loadCheckpoint, modelFromCheckpoint, resolveCheckpoint } from '../model/checkpoint.js';
import type { GPT } from '../model/gpt.js';
import { Tokenizer } from '../tokenizer/index.js';
import { GptforgeError } from '../util/errors.js';

export interface LoadedModel {
  model: GPT;
  tok: Tokenizer;
  /** The checkpoint directory it came from. */
  dir: string;
  /** The stage that wrote it (pretrain, sft, …). */
  stage: string;
}

const cache = new Map<string, LoadedModel>();

/**
 * A run's model and tokenizer: `path` is a run dir (+ stage), a stage dir or a checkpoint.
 * Cached per checkpoint; `fresh` loads a private copy (a stage that trains from it).
 */
export function loadModel(path: string, stage?: string, opts: { fresh?: boolean } = {}): LoadedModel {
  const dir = resolveCheckpoint(path, stage);
  const hit = cache.get(dir);
  if (hit && !opts.fresh) return hit;
  const ck = loadCheckpoint(dir);
  if (!ck.tokenizerJSON) throw new GptforgeError('checkpoint has no tokenizer.json', { file: dir });
  const loaded: LoadedModel = { model: modelFromCheckpoint(ck), tok: Tokenizer.fromJSON(ck.tokenizerJSON, `${dir}/tokenizer.json`), dir, stage: ck.meta.stage };
  if (!opts.fresh) cache.set(dir, loaded);
  return loaded;
}
