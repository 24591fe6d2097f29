/**
 * Learning-rate schedule: linear warmup from 0 to `lr` over `warmupSteps`, then cosine
 * decay to `minLr` at `decaySteps`, flat at `minLr` after (nanoGPT's get_lr).
 */
export interface LrSchedule {
  lr: number;
  minLr: number;
  warmupSteps: number;
  decaySteps: number;
  /**
   * Set when a resumed stage was given a new horizon (`extendSchedule`): from `step` on, the
   * rate decays by a cosine from `lr` (the rate the stage had reached there) to `minLr` at
   * `decaySteps`, instead of the base schedule.
   */
  from?: { step: number; lr: number };
}

export function learningRate(step: number, s: LrSchedule): number {
  if (s.from && step >= s.from.step) {
    if (step >= s.decaySteps) return s.minLr;
    const ratio = (step - s.from.step) / Math.max(1, s.decaySteps - s.from.step);
    return s.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.from.lr - s.minLr);
  }
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / (s.warmupSteps + 1);
  if (step >= s.decaySteps) return s.minLr;
  const ratio = (step - s.warmupSteps) / Math.max(1, s.decaySteps - s.warmupSteps);
  const coeff = 0.5 * (1 + Math.cos(Math.PI * ratio));
  return s.minLr + coeff * (s.lr - s.minLr);
}

/**
 * The schedule a stage resumed at `step` continues with, given the one it was trained under
 * (`prev`, saved in its checkpoint) and the one its options now ask for (`next`).
 *
 * Only the horizon changed (more or fewer steps, `decaySteps` following `maxSteps`): the
 * rate continues from where it had got to and decays by a cosine to `minLr` at the new
 * horizon, with no jump back up. A finished stage (at `minLr`) extended from 160 to 400
 * steps thus goes on at `minLr`, as nanoGPT does when `max_iters` grows past
 * `lr_decay_iters`; recomputing the cosine over the new total (what HF Trainer's LambdaLR does
 * when `max_steps` grows on resume) would jump from 2e-4 back to 1.4e-3 at step 160 and undo
 * the annealing. Inside the warmup nothing has decayed yet: `next` as is. Any other change
 * (peak `lr`, `minLr`, `warmupSteps`) is an explicit new schedule: `next` as is.
 */
export function extendSchedule(prev: LrSchedule, next: LrSchedule, step: number): LrSchedule {
  const same = prev.lr === next.lr && prev.minLr === next.minLr && prev.warmupSteps === next.warmupSteps;
  if (!same) return next;
  if (prev.decaySteps === next.decaySteps) return { ...next, ...(prev.from ? { from: prev.from } : {}) };
  if (step < prev.warmupSteps && !prev.from) return next;
  return { ...next, from: { step, lr: learningRate(step, prev) } };
}
