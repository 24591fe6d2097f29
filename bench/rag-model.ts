/**
 * The model a rag bench reads (`--run` and `--stage`), loaded once the same way in each:
 * bench/rag-effect.ts, rag-rerank.ts, rag-phase-probe.ts, rag-repeat-probe.ts and
 * rag-base-read.ts.
 */
import { GPT } from '../src/model/gpt.js';
import { loadModel } from '../src/run/models.js';
import type { Tokenizer } from '../src/tokenizer/index.js';

/** `--run` (a run dir, stage dir or checkpoint) and `--stage` as loadModel reads them; throws naming the flag when `--run` is missing. */
export function benchModel(run: string | undefined, stage: string | undefined): ReturnType<typeof loadModel> {
  if (!run) throw new Error('--run <run dir | stage dir | checkpoint> is required');
  return loadModel(run, stage);
}

/** The same, as an f32 GPT: `need` says why (a probe runs the forward pass; a quantized checkpoint has none), for the error. */
export function benchF32Model(run: string | undefined, stage: string | undefined, need: string): { model: GPT; tok: Tokenizer; dir: string } {
  const { model, tok, dir } = benchModel(run, stage);
  if (!(model instanceof GPT)) throw new Error(`${dir}: ${need} needs an f32 (unquantized) model`);
  return { model, tok, dir };
}
