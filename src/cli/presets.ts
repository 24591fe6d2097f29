import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GptforgeError } from '../util/errors.js';
import type { TrainConfig } from '../train/loop.js';
import type { GPTConfigInput } from '../model/config.js';

/**
 * A pretraining preset: which mixture, which model, batch shape and schedule, and what to
 * sample at the end. Presets are JSON files in presets/ (pretrain.<name>.json); --config
 * points at your own file of the same shape, and flags override single fields.
 */
export interface PretrainPreset {
  name: string;
  description?: string;
  /** Mixture config: a file name in presets/ or a path. */
  mixture: string;
  model: Omit<GPTConfigInput, 'vocabSize'>;
  batchSize: number;
  seqLen: number;
  loader?: 'concat' | 'bestfit';
  evalBatches: number;
  train: TrainConfig;
  samples?: { prompts: string[]; maxTokens: number; temperature?: number; topK?: number; topP?: number };
}

export function presetsDir(): string {
  // dist/src/cli/presets.js → <package>/presets
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'presets');
}

export function loadPreset(nameOrPath: string): { preset: PretrainPreset; file: string } {
  const file = existsSync(nameOrPath) ? nameOrPath : join(presetsDir(), `pretrain.${nameOrPath}.json`);
  if (!existsSync(file)) throw new GptforgeError(`no preset "${nameOrPath}" (presets: tiny, small; or a path to a JSON file)`, { file });
  let p: PretrainPreset;
  try {
    p = JSON.parse(readFileSync(file, 'utf8')) as PretrainPreset;
  } catch (e) {
    throw new GptforgeError(`not valid JSON: ${(e as Error).message}`, { file });
  }
  for (const f of ['mixture', 'model', 'batchSize', 'seqLen', 'train'] as const) if (p[f] === undefined) throw new GptforgeError('missing field', { file, field: f });
  if (p.seqLen > p.model.blockSize) throw new GptforgeError(`seqLen ${p.seqLen} exceeds model.blockSize ${p.model.blockSize}`, { file, field: 'seqLen' });
  return { preset: p, file };
}

export function resolveMixturePath(preset: PretrainPreset, presetFile: string): string {
  if (isAbsolute(preset.mixture) || existsSync(preset.mixture)) return preset.mixture;
  const beside = join(dirname(presetFile), preset.mixture);
  return existsSync(beside) ? beside : join(presetsDir(), preset.mixture);
}
