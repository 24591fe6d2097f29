/**
 * The arithmetic of RL from human feedback as small pure functions over plain numbers (tests
 * check them against hand-computed values): GAE (Schulman et al. 2016), TRL's whitening,
 * GRPO's group advantages (Shao et al. 2024, DeepSeekMath), PPO's clipped policy and value
 * losses (Schulman et al. 2017), the k3 KL estimator (Schulman, "Approximating KL divergence").
 */

/** Generalised advantage estimation over one reply's action steps; the value after the last step is 0. */
export function gae(rewards: readonly number[], values: readonly number[], gamma: number, lam: number): { advantages: number[]; returns: number[] } {
  const n = rewards.length;
  const advantages = new Array<number>(n).fill(0);
  let last = 0;
  for (let t = n - 1; t >= 0; t--) {
    const next = t + 1 < n ? values[t + 1] : 0;
    const delta = rewards[t] + gamma * next - values[t];
    last = delta + gamma * lam * last;
    advantages[t] = last;
  }
  return { advantages, returns: advantages.map((a, t) => a + values[t]) };
}

/** (x − mean) / std over all entries (std with Bessel's correction, as TRL's whiten). */
export function whiten(xs: readonly number[], shiftMean = true): number[] {
  const n = xs.length;
  if (n < 2) return [...xs];
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const v = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  const inv = 1 / Math.sqrt(v + 1e-8);
  return xs.map((x) => (shiftMean ? (x - mean) * inv : (x - mean) * inv + mean));
}

/** GRPO's advantages: each score minus its group's mean, over the group's std (groups are consecutive). */
export function grpoAdvantages(scores: readonly number[], groupSize: number): number[] {
  const out: number[] = [];
  for (let g = 0; g < scores.length; g += groupSize) {
    const grp = scores.slice(g, g + groupSize);
    const mean = grp.reduce((s, x) => s + x, 0) / grp.length;
    const std = Math.sqrt(grp.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, grp.length - 1));
    for (const x of grp) out.push((x - mean) / (std + 1e-4));
  }
  return out;
}

export interface PolicyLoss {
  loss: number;
  /** ∂loss/∂log p_t. */
  dlogp: Float64Array;
  clipfrac: number;
  approxkl: number;
  ratio: number;
}

/** PPO's clipped surrogate, mean over tokens: max(−A·r, −A·clip(r, 1−ε, 1+ε)), r = exp(logp − old). */
export function ppoPolicyLoss(logp: ArrayLike<number>, old: ArrayLike<number>, adv: ArrayLike<number>, clip: number): PolicyLoss {
  const n = logp.length;
  const dlogp = new Float64Array(n);
  let loss = 0;
  let clipped = 0;
  let approxkl = 0;
  let ratioSum = 0;
  for (let t = 0; t < n; t++) {
    const r = Math.exp(logp[t] - old[t]);
    const rc = Math.min(Math.max(r, 1 - clip), 1 + clip);
    const l1 = -adv[t] * r;
    const l2 = -adv[t] * rc;
    loss += Math.max(l1, l2);
    // the unclipped branch carries the gradient unless the clipped one is strictly larger
    if (l1 >= l2) dlogp[t] = (-adv[t] * r) / n;
    if (l2 > l1) clipped++;
    approxkl += 0.5 * (logp[t] - old[t]) ** 2;
    ratioSum += r;
  }
  return { loss: loss / n, dlogp, clipfrac: clipped / n, approxkl: approxkl / n, ratio: ratioSum / n };
}

/** PPO's clipped value loss, mean over tokens: ½·max((V − R)², (V_old + clip(V − V_old) − R)²). */
export function ppoValueLoss(v: ArrayLike<number>, old: ArrayLike<number>, returns: ArrayLike<number>, clip: number): { loss: number; dv: Float64Array; clipfrac: number } {
  const n = v.length;
  const dv = new Float64Array(n);
  let loss = 0;
  let clipped = 0;
  for (let t = 0; t < n; t++) {
    const vc = old[t] + Math.min(Math.max(v[t] - old[t], -clip), clip);
    const l1 = (v[t] - returns[t]) ** 2;
    const l2 = (vc - returns[t]) ** 2;
    loss += 0.5 * Math.max(l1, l2);
    if (l1 >= l2) dv[t] = (v[t] - returns[t]) / n;
    else {
      clipped++;
      // the clipped branch depends on V only inside the clip window
      if (Math.abs(v[t] - old[t]) < clip) dv[t] = (vc - returns[t]) / n;
    }
  }
  return { loss: loss / n, dv, clipfrac: clipped / n };
}

/** The k3 KL estimator exp(ref − logp) − (ref − logp) − 1 ≥ 0 (zero when equal), per token, and its derivative in logp. */
export function klK3(logp: number, ref: number): { kl: number; dlogp: number } {
  const d = ref - logp;
  return { kl: Math.exp(d) - d - 1, dlogp: 1 - Math.exp(d) };
}

/** The arithmetic mean; 0 for no values. */
export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0;
}
