import { qlinearQ8 } from '../engine/qlinear.js';
import { GptforgeError } from '../util/errors.js';
import type { GPT } from './gpt.js';
import type { BlockMatrix } from '../engine/qlinear.js';
import { type BasePrecision, type QuantizedMatrix, blockScales, quantize, quantizeLinear } from './quantize.js';

/**
 * Decoding on block-quantized weights, ggml's CPU scheme (llama.cpp's Q8_0 / Q4_0 models):
 * every block linear — and by default the LM head — held as ggml blocks (src/model/quantize.ts;
 * the same bytes `gptforge export --format gguf --type q8_0` writes, so gptforge and llama.cpp
 * run the same weights), multiplied by the integer kernel (Kernels.qmatmulQ8): each activation
 * row is quantized to Q8_0 per block of 32 (its scale kept as fp16, as ggml's block_q8_0), then
 * exact integer block sums are scaled by the two blocks' scales — the same numbers as
 * llama.cpp's CPU matmuls (test/interop/llama-cpp.test.ts, docs/interop.md).
 *
 * **Inference only.** The activations are rounded to int8, so this is not the training forward:
 * per output, |y_int − y| ≤ Σ_b (max_b|x|/254 + max(max_b|x|·2⁻¹¹, 127·2⁻²⁵)) · Σ_{k∈b}|W[n,k]| against the float product with
 * the same (dequantized) weights, plus the weights' own rounding (Q8_0: |Δw| ≤ d/2 = max|w|/254
 * per block; Q4_0: ≤ d/2 = max|w|/16). The model's parameters are frozen; a forward with
 * gradients enabled is refused (qlinearQ8). The fp32 block-linear weights are dropped (the
 * memory a quantized model saves); the token embedding stays fp32 (it is also read by row),
 * and `loss` keeps the fp32 head, so perplexity evaluation measures the quantized blocks with
 * a float head.
 */
export interface InferencePrecisionInfo {
  readonly precision: BasePrecision;
  /** Whether the LM head (the tied embedding or lm_head) is quantized too. */
  readonly head: boolean;
  /** Bytes of the quantized matrices (plus 4 bytes a block for their scales as fp32, not counted). */
  readonly quantizedBytes: number;
  /** fp32 bytes they replace. */
  readonly f32Bytes: number;
  /** The blocks by parameter name (`transformer.h.0.attn.c_attn.weight`, …; the head under `lm_head.weight` or `transformer.wte.weight`). */
  readonly matrices: ReadonlyMap<string, QuantizedMatrix>;
}

const applied = new WeakMap<GPT, InferencePrecisionInfo>();

/** The precision a model was set to decode in (`f32` when never set). */
export function inferencePrecision(model: GPT): BasePrecision {
  return applied.get(model)?.precision ?? 'f32';
}

/**
 * Switch `model` to decode on `precision` blocks, in place (see {@link InferencePrecisionInfo}).
 * `f32` leaves it untouched.
 * @param opts.head quantize the LM head too (default true, as llama.cpp's Q8_0 files do).
 * @throws GptforgeError when the model already has a linear hook (LoRA adapters: merge them
 *   first, `gptforge merge`), was already quantized, or a matrix's input width is not a
 *   multiple of 32.
 */
export function setInferencePrecision(model: GPT, precision: BasePrecision, opts: { head?: boolean } = {}): InferencePrecisionInfo {
  const field = 'precision';
  if (precision === 'f32') return { precision, head: false, quantizedBytes: 0, f32Bytes: 0, matrices: new Map() };
  if (precision !== 'q8_0' && precision !== 'q4_0') throw new GptforgeError(`unknown precision "${String(precision)}"; valid: f32, q8_0, q4_0`, { field });
  if (applied.has(model)) throw new GptforgeError(`the model is already set to decode in ${applied.get(model)!.precision}`, { field });
  if (model.linearHook || model.headHook) throw new GptforgeError('the model already has a linear hook (LoRA adapters?): merge them into the base first (gptforge merge), then quantize for decoding', { field });
  const C = model.config.nEmbd;
  const sites = model.linearSites();
  for (const site of sites) {
    const [inF, outF] = site.weight.shape;
    if (inF % 32 !== 0) throw new GptforgeError(`${precision} decoding needs every linear layer's input width to be a multiple of 32; ${site.weightName} is [${inF}, ${outF}]`, { field });
  }
  const head = (opts.head ?? true) && C % 32 === 0;
  let quantizedBytes = 0;
  let f32Bytes = 0;
  const blocks = new Map<string, QuantizedMatrix>();
  // with each block's scale widened to fp32 once: the kernel then skips an fp16 conversion a block
  const withScales = new Map<string, BlockMatrix>();
  for (const site of sites) {
    const [inF, outF] = site.weight.shape;
    const q = quantizeLinear(precision, site.weight.data, inF, outF);
    blocks.set(site.weightName, q);
    withScales.set(site.weightName, { ...q, scales: blockScales(q) });
    quantizedBytes += q.data.length;
    f32Bytes += 4 * inF * outF;
    model.params.delete(site.weightName);
    (site.weight as { data: Float32Array }).data = new Float32Array(0);
  }
  for (const p of model.parameters()) p.requiresGrad = false;
  model.linearHook = (x, site) => {
    const q = withScales.get(site.weightName);
    if (!q) throw new GptforgeError(`no ${precision} blocks for ${site.weightName}`, { field });
    return qlinearQ8(x, q, site.bias);
  };
  if (head) {
    const name = model.params.has('lm_head.weight') ? 'lm_head.weight' : 'transformer.wte.weight';
    const w = model.params.get(name)!;
    // [V, C] is already ggml's orientation (rows = outputs, blocks along C)
    const V = w.shape[0];
    const q: QuantizedMatrix = { type: precision, rows: V, cols: C, data: quantize(precision, w.data) };
    blocks.set(name, q);
    quantizedBytes += q.data.length;
    f32Bytes += 4 * V * C;
    const qs: BlockMatrix = { ...q, scales: blockScales(q) };
    model.headHook = (h) => qlinearQ8(h, qs);
  }
  const info: InferencePrecisionInfo = { precision, head, quantizedBytes, f32Bytes, matrices: blocks };
  applied.set(model, info);
  return info;
}
