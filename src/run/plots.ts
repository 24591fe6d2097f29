import type { Series } from '../eval/plot.js';
import type { MetricRecord } from '../train/metrics.js';

/** Loss curves from a stage's metric history: the training loss and one held-out curve per `val/loss/<name>`. */
export function lossCurves(history: readonly MetricRecord[]): Series[] {
  const train: Series = { name: 'train', points: history.filter((r) => typeof r.loss === 'number').map((r) => [r.step, r.loss as number]) };
  const valNames = [...new Set(history.flatMap((r) => Object.keys(r).filter((k) => k.startsWith('val/loss/'))))];
  return [train, ...valNames.map((k) => ({ name: k.slice('val/loss/'.length), points: history.filter((r) => typeof r[k] === 'number').map((r) => [r.step, r[k] as number] as [number, number]) }))];
}
