import { getKernels } from './backend.js';
import type { Tensor } from './tensor.js';

/**
 * AdamW (decoupled weight decay, bias correction) over parameter groups, one fused kernel
 * call per parameter. Global-norm clipping is folded into the same pass as a gradient scale.
 */
export interface ParamGroup {
  params: Tensor[];
  weightDecay: number;
}

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Moments per parameter name, for checkpoints. */
export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  readonly groups: ParamGroup[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Number of updates applied so far. */
  stepCount = 0;
  private readonly m = new Map<Tensor, Float32Array>();
  private readonly v = new Map<Tensor, Float32Array>();

  constructor(groups: ParamGroup[], opts: AdamWOptions) {
    this.groups = groups;
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    for (const g of groups) {
      for (const p of g.params) {
        this.m.set(p, new Float32Array(p.size));
        this.v.set(p, new Float32Array(p.size));
      }
    }
  }

  get params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** Apply one update with the gradients currently in p.grad, each multiplied by gradScale. */
  step(gradScale = 1): void {
    this.stepCount++;
    const k = getKernels();
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        k.adamw(p.data, p.grad, this.m.get(p)!, this.v.get(p)!, p.size, this.lr, this.beta1, this.beta2, this.eps, g.weightDecay, this.stepCount, gradScale);
      }
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** Moments keyed by parameter name (all params must be named). */
  state(): AdamWState {
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const p of this.params) {
      if (!p.name) throw new Error('AdamW.state(): every parameter needs a name to be checkpointed');
      m.set(p.name, this.m.get(p)!);
      v.set(p.name, this.v.get(p)!);
    }
    return { step: this.stepCount, m, v };
  }

  loadState(st: AdamWState): void {
    for (const p of this.params) {
      const name = p.name ?? '';
      const m = st.m.get(name);
      const v = st.v.get(name);
      if (!m || !v) throw new Error(`optimizer state has no moments for parameter "${name}"`);
      if (m.length !== p.size || v.length !== p.size) throw new Error(`optimizer moments for "${name}" have ${m.length} elements, parameter has ${p.size}`);
      this.m.get(p)!.set(m);
      this.v.get(p)!.set(v);
    }
    this.stepCount = st.step;
  }
}

/** The global L2 norm of all gradients (0 for params without grad). */
export function gradNorm(params: readonly Tensor[]): number {
  const k = getKernels();
  let s = 0;
  for (const p of params) if (p.grad) s += k.sumSquares(p.grad, p.size);
  return Math.sqrt(s);
}

/** The scale that clips the global gradient norm to maxNorm (1 when under it or maxNorm ≤ 0). */
export function clipScale(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0) || !Number.isFinite(norm) || norm <= maxNorm) return 1;
  return maxNorm / (norm + 1e-6);
}

/**
 * Split parameters into the usual two groups: weight decay on matrices (≥2-D: linear and
 * embedding weights), none on vectors (biases, norm gains) — as nanoGPT and GPT-3 do.
 */
export function decayGroups(params: readonly Tensor[], weightDecay: number): ParamGroup[] {
  const decay = params.filter((p) => p.ndim >= 2);
  const noDecay = params.filter((p) => p.ndim < 2);
  return [
    { params: decay, weightDecay },
    { params: noDecay, weightDecay: 0 },
  ];
}
