import assert from 'node:assert/strict';
import { noGrad, type Tensor } from '../../src/engine/tensor.js';

/**
 * Compare autograd's gradient at `t.data[i]` with the central difference
 * (loss(x + ε) − loss(x − ε)) / 2ε, ε = 1e-2, within 2e-3 + 3% of the numeric value: the LoRA
 * tests' check, in float32. `t.data[i]` is restored.
 */
export function assertGradAt(t: Tensor, i: number, loss: () => Tensor, g: Float32Array, label: string): void {
  const orig = t.data[i];
  const eps = 1e-2;
  t.data[i] = orig + eps;
  const fp = noGrad(loss).item();
  t.data[i] = orig - eps;
  const fm = noGrad(loss).item();
  t.data[i] = orig;
  const num = (fp - fm) / (2 * eps);
  assert.ok(Math.abs(num - g[i]) <= 2e-3 + 3e-2 * Math.abs(num), `${label}: autograd ${g[i]} vs numeric ${num}`);
}
