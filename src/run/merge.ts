import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { loadCheckpoint, modelFromCheckpoint, saveCheckpoint, withResolvedCheckpoint } from '../model/checkpoint.js';
import { GptforgeError } from '../util/errors.js';
import { holdRunLock } from '../util/lock.js';

/** Where `runMerge` reads the adapter and writes the full checkpoint. */
export interface RunMergeOptions {
  /** The stage holding the adapter checkpoint when `path` is a run directory (default `sft`). */
  stage?: string;
  /** Stage directory (in the run) or absolute path the full checkpoint goes to; default `<stage>-merged` beside the adapter's stage. */
  into?: string;
}

export interface RunMergeResult {
  /** The adapter checkpoint that was merged. */
  adapter: string;
  /** The base checkpoint it sat on. */
  base: string;
  /** The full checkpoint written (model.safetensors with the adapter folded in). */
  checkpoint: string;
}

/**
 * `gptforge merge`: fold a LoRA adapter checkpoint (PEFT files over a base checkpoint,
 * docs/lora.md) into its fp32 base, W += s·(B·A)ᵀ per targeted layer, and write a full
 * checkpoint that every tool reads without knowing about adapters (export, serve, llama.cpp).
 * The adapter's scalar head, when it has one, comes along.
 *
 * @throws GptforgeError when the checkpoint is not an adapter checkpoint, its base is gone or
 *   differs from the one it was trained on (naming what differs).
 */
export function runMerge(path: string, opts: RunMergeOptions = {}): RunMergeResult {
  const stage = opts.stage ?? 'sft';
  const runDir = existsSync(join(path, 'config.json')) ? null : path;
  const { dir, ck } = withResolvedCheckpoint(path, runDir ? stage : undefined, (d) => ({ dir: d, ck: loadCheckpoint(d) }));
  if (!ck.meta.adapter) throw new GptforgeError('not an adapter checkpoint: it already holds the full model (model.safetensors), there is nothing to merge', { file: dir });
  const model = modelFromCheckpoint(ck);
  const into = opts.into ?? `${stage}-merged`;
  if (runDir) holdRunLock(runDir);
  const stageDir = isAbsolute(into) || !runDir ? into : join(runDir, into);
  const checkpoint = saveCheckpoint(stageDir, model, {
    stage: ck.meta.stage,
    scalarHead: ck.meta.scalarHead,
    step: ck.meta.step,
    tokenizerJSON: ck.tokenizerJSON ?? undefined,
    tokenizerHash: ck.meta.tokenizerHash,
  });
  return { adapter: dir, base: join(dir, ck.meta.adapter.base), checkpoint };
}
