import type { AdapterOptions } from '../train/adapter.js';

/**
 * What every training stage runner after SFT takes besides its own options (`runRm`, `runRl`,
 * `runDpo`): how long, how fast, whether to start over, where progress goes, when to stop,
 * and — through `AdapterOptions` — LoRA on a frozen, possibly quantized base (docs/lora.md).
 */
export interface StageRunOptions extends AdapterOptions {
  /** Optimizer steps (the preset's otherwise). */
  maxSteps?: number;
  /** Peak learning rate (the preset's otherwise). */
  lr?: number;
  /** Start over from the SFT model instead of resuming this stage's checkpoints. */
  fresh?: boolean;
  /** No progress bars. */
  quiet?: boolean;
  /** Stops training after the step in progress; a checkpoint is saved and the result says `interrupted`. */
  signal?: AbortSignal;
  /** Progress lines (the setup, the data); default none. */
  log?(line: string): void;
}
