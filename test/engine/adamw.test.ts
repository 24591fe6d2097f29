import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, clipScale, decayGroups, gradNorm } from '../../src/engine/optim.js';
import { fromArray } from '../../src/engine/tensor.js';

test('AdamW matches a hand-computed step (bias correction, decoupled weight decay, grad scale)', () => {
  const p = fromArray([1.0, -2.0], [2, 1], true);
  p.name = 'w';
  const opt = new AdamW([{ params: [p], weightDecay: 0.1 }], { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8 });
  p.grad = Float32Array.from([0.5, -1.0]);
  opt.step(0.5);
  // step 1: g = 0.5*grad = [0.25, -0.5]; m = 0.1 g; v = 0.01 g²; m̂ = g; v̂ = g²; update = g/|g| = sign(g)
  // p -= 0.01 * (sign(g) + 0.1 p)
  const want = [1.0 - 0.01 * (1 + 0.1 * 1.0), -2.0 - 0.01 * (-1 + 0.1 * -2.0)];
  assert.ok(Math.abs(p.data[0] - want[0]) < 1e-6, `${p.data[0]} vs ${want[0]}`);
  assert.ok(Math.abs(p.data[1] - want[1]) < 1e-6, `${p.data[1]} vs ${want[1]}`);
  // second step with the same grads: m = 0.9*0.1g + 0.1g = 0.19g, v = 0.99*0.01g² + 0.01g² = 0.0199g²
  // m̂ = 0.19g/0.19 = g, v̂ = 0.0199g²/0.0199 = g² → update sign(g) again
  const before = Float32Array.from(p.data);
  opt.step(0.5);
  for (let i = 0; i < 2; i++) {
    const s = i === 0 ? 1 : -1;
    const w = before[i] - 0.01 * (s + 0.1 * before[i]);
    assert.ok(Math.abs(p.data[i] - w) < 1e-5);
  }
  assert.equal(opt.stepCount, 2);
});

test('grad clipping scale and decay groups', () => {
  const a = fromArray([3, 4], [1, 2], true);
  a.grad = Float32Array.from([3, 4]);
  assert.equal(gradNorm([a]), 5);
  assert.ok(Math.abs(clipScale(5, 1) - 0.2) < 1e-6);
  assert.equal(clipScale(0.5, 1), 1);
  const bias = fromArray([0, 0], [2], true);
  const [decay, noDecay] = decayGroups([a, bias], 0.1);
  assert.deepEqual(decay.params, [a]);
  assert.deepEqual(noDecay.params, [bias]);
  assert.equal(noDecay.weightDecay, 0);
});
