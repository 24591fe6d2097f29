import { getKernels } from './backend.js';
import type { BlockQuant } from './kernels.js';
import { type Tensor, record, opOutput, isGradEnabled } from './tensor.js';

/** A frozen weight as blocks of 32 (src/model/quantize.ts makes them): [rows = out, cols = in]. */
export interface BlockMatrix {
  readonly type: BlockQuant;
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;
  /** Optional: each block's d as fp32 [rows, cols/32] (qlinearQ8 then skips the fp16 conversions). */
  readonly scales?: Float32Array;
}

/**
 * y = x·Wᵀ + b with W a frozen block matrix [out, in] (ggml's orientation): x [..., in] →
 * [..., out]. The backward pass reaches x and b only — a quantized weight is frozen, it has
 * no gradient to receive (QLoRA, Dettmers et al. 2023, §3: the base stays 4-bit while the
 * adapters train). Kernels: qmatmul / qmatmulBackward (src/engine/kernels.ts).
 */
export function qlinear(x: Tensor, w: BlockMatrix, bias?: Tensor | null): Tensor {
  const { rows: N, cols: K } = w;
  if (x.lastDim !== K) throw new Error(`qlinear: input [${x.shape.join(', ')}] does not match the ${w.type} weight [${N}, ${K}] (last dim ${x.lastDim} vs ${K})`);
  if (bias && bias.size !== N) throw new Error(`qlinear: bias [${bias.shape.join(', ')}] does not match ${N} outputs`);
  const M = x.rows;
  const out = opOutput([...x.shape.slice(0, -1), N]);
  const k = getKernels();
  k.qmatmul(x.data, w.data, out.data, M, K, N, w.type, false);
  if (bias) k.addBias(out.data, bias.data, M, N);
  out.requiresGrad = record(
    [x, bias],
    () => {
      const dy = out.grad;
      if (!dy) return;
      if (x.requiresGrad) getKernels().qmatmulBackward(dy, w.data, x.gradBuffer(), M, K, N, w.type);
      if (bias && bias.requiresGrad) getKernels().biasGrad(dy, bias.gradBuffer(), M, N);
    },
    out,
  );
  return out;
}

/**
 * Inference only: y = x̂·Wᵀ + b with W a block matrix as in {@link qlinear} and x̂ the rows of x
 * quantized to Q8_0 (Kernels.qmatmulQ8: integer block products, ggml's CPU matmul). Versus
 * qlinear, |Δy| ≤ Σ_b max_b|x|/254 · Σ_{k∈b}|W[n,k]| per output (the activation rounding).
 * Records no backward: with gradients enabled, an input that requires one is refused (training
 * keeps float activations: use qlinear).
 * @throws Error on a shape mismatch, or when x or b would need a gradient.
 */
export function qlinearQ8(x: Tensor, w: BlockMatrix, bias?: Tensor | null): Tensor {
  const { rows: N, cols: K } = w;
  if (x.lastDim !== K) throw new Error(`qlinearQ8: input [${x.shape.join(', ')}] does not match the ${w.type} weight [${N}, ${K}] (last dim ${x.lastDim} vs ${K})`);
  if (bias && bias.size !== N) throw new Error(`qlinearQ8: bias [${bias.shape.join(', ')}] does not match ${N} outputs`);
  if (isGradEnabled() && (x.requiresGrad || (bias?.requiresGrad ?? false))) throw new Error('qlinearQ8 is for inference only (int8 activations, no backward): run it under noGrad() on frozen weights');
  const M = x.rows;
  const out = opOutput([...x.shape.slice(0, -1), N]);
  const k = getKernels();
  k.qmatmulQ8(x.data, w.data, out.data, M, K, N, w.type, false, w.scales);
  if (bias) k.addBias(out.data, bias.data, M, N);
  return out;
}
