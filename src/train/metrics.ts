import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile } from '../util/atomic.js';

/**
 * metrics.jsonl: one JSON object per logged step, shared by every stage of a run
 * (`stage` tells them apart). Names follow TRL's where one exists (loss, learning_rate,
 * grad_norm, …). On resume, entries past the resumed step are dropped so the curve has
 * no duplicated or orphaned points. The known numeric metrics are typed (`rec.loss` is a
 * `number | undefined`); a stage's own ones (`objective/kl`, `val/accuracy`, …) are `rec[key]`.
 */
export type MetricRecord = {
  stage: string;
  /** The optimizer step the record is at (0: before training, e.g. RL's first validation). */
  step: number;
  /** Tokens trained on so far in this stage. */
  tokens?: number;
  /** The step's training loss (nats/token for the language-model stages; the stage's objective otherwise). */
  loss?: number;
  learning_rate?: number;
  /** Global L2 norm of the gradient before clipping. */
  grad_norm?: number;
  tokens_per_sec?: number;
  /** Model FLOPs utilisation, a fraction of the machine's peak. */
  mfu?: number;
  /** Held-out loss (evaluation records). */
  'val/loss'?: number;
} & Record<string, number | string | undefined>;

export class MetricsLog {
  readonly path: string;

  constructor(runDir: string) {
    this.path = join(runDir, 'metrics.jsonl');
  }

  append(rec: MetricRecord): void {
    appendFileSync(this.path, JSON.stringify(rec) + '\n');
  }

  read(stage?: string): MetricRecord[] {
    if (!existsSync(this.path)) return [];
    const out: MetricRecord[] = [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as MetricRecord;
        if (!stage || r.stage === stage) out.push(r);
      } catch {
        // a torn last line after a kill: ignore it
      }
    }
    return out;
  }

  /** Keep this stage's records up to and including `step` (and every other stage's). */
  truncateStage(stage: string, step: number): void {
    if (!existsSync(this.path)) return;
    const kept = this.read().filter((r) => r.stage !== stage || r.step <= step);
    atomicWriteFile(this.path, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  }
}
