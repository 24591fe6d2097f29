/**
 * Learning-rate schedule: linear warmup from 0 to `lr` over `warmupSteps`, then cosine
 * decay to `minLr` at `decaySteps`, flat at `minLr` after (nanoGPT's get_lr).
 */
export interface LrSchedule {
  lr: number;
  minLr: number;
  warmupSteps: number;
  decaySteps: number;
}

export function learningRate(step: number, s: LrSchedule): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / (s.warmupSteps + 1);
  if (step >= s.decaySteps) return s.minLr;
  const ratio = (step - s.warmupSteps) / Math.max(1, s.decaySteps - s.warmupSteps);
  const coeff = 0.5 * (1 + Math.cos(Math.PI * ratio));
  return s.minLr + coeff * (s.lr - s.minLr);
}
