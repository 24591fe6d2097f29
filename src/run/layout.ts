import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TRAIN_A_RUN } from '../model/checkpoint.js';
import { GptforgeError } from '../util/errors.js';

/** The training stages that write a checkpoint directory inside a run. */
export type StageName = 'base' | 'sft' | 'rm' | 'rl' | 'rl-grpo' | 'rl-reinforce' | 'dpo';

/**
 * A run directory's layout, every path in one place (what `gptforge pipeline` writes):
 *
 *   runs/<name>/
 *     preset.json          the run preset (pretraining writes it; later stages read their section)
 *     tokenizer.json       the BPE tokenizer
 *     data/                the prepared pretraining mixture (token shards)
 *     base/ sft/ rm/ rl/ rl-grpo/ rl-reinforce/ dpo/
 *                          checkpoints per stage (latest.json points at the newest step)
 *     metrics.jsonl        every stage's logged steps and evaluations
 *     loss.svg sft-loss.svg <stage>-curves.svg
 *     comparisons/         simulated labelers' rankings (train.jsonl, val.jsonl, val.clean.jsonl)
 *     rankings.jsonl       your own rankings (`gptforge label`)
 *     rm-eval.json eval.json eval.md eval-chart.svg chat-transcript.txt
 */
export interface RunLayout {
  /** The run directory itself. */
  readonly root: string;
  readonly preset: string;
  readonly tokenizer: string;
  readonly data: string;
  readonly metrics: string;
  readonly comparisons: string;
  readonly rankings: string;
  readonly lossPlot: string;
  readonly sftLossPlot: string;
  readonly rmEval: string;
  readonly evalJson: string;
  readonly evalMarkdown: string;
  readonly evalChart: string;
  readonly chatTranscript: string;
  /** A stage's checkpoint directory (`base`, `sft`, …). */
  stage(name: StageName | (string & {})): string;
  /** A stage's curves plot (`rl-curves.svg`, `dpo-curves.svg`). */
  curves(name: StageName | (string & {})): string;
}

/** The paths of the run at `runDir` (nothing is created or checked). */
export function runLayout(runDir: string): RunLayout {
  const at = (f: string): string => join(runDir, f);
  return {
    root: runDir,
    preset: at('preset.json'),
    tokenizer: at('tokenizer.json'),
    data: at('data'),
    metrics: at('metrics.jsonl'),
    comparisons: at('comparisons'),
    rankings: at('rankings.jsonl'),
    lossPlot: at('loss.svg'),
    sftLossPlot: at('sft-loss.svg'),
    rmEval: at('rm-eval.json'),
    evalJson: at('eval.json'),
    evalMarkdown: at('eval.md'),
    evalChart: at('eval-chart.svg'),
    chatTranscript: at('chat-transcript.txt'),
    stage: (name) => at(name),
    curves: (name) => at(`${name}-curves.svg`),
  };
}

/**
 * Refuses a run directory that does not exist (or is not a directory), before a command that
 * reads a run (`serve`, `eval`) does anything else: "listening … loading" or "no checkpoint
 * to evaluate" would hide that the path is wrong.
 * @throws GptforgeError at the directory: it does not exist, and how to train one.
 */
export function requireRunDir(runDir: string): void {
  if (!existsSync(runDir)) throw new GptforgeError(`no such run directory — ${TRAIN_A_RUN}`, { file: runDir });
  if (!statSync(runDir).isDirectory()) throw new GptforgeError('not a run directory: it is a file', { file: runDir });
}
