/**
 * The kernel table: every numeric primitive the engine needs, implemented once in
 * plain TypeScript (`reference`, the readable specification and test oracle) and once
 * in C (`native`, built by node-gyp). Ops in `ops.ts` compose these; nothing above the
 * engine calls a kernel directly.
 *
 * Conventions (shared by both backends, tested against each other):
 * - All tensors are dense row-major float32; integer ids are Int32Array.
 * - "Backward" kernels ACCUMULATE (+=) into their gradient outputs, so a tensor used
 *   twice simply receives both contributions. Forward kernels overwrite their output.
 * - Sizes are element counts, never bytes. Callers validate shapes before calling:
 *   the native kernels trust their arguments.
 */
export type F32 = Float32Array;

/**
 * A frozen weight held as ggml blocks of 32 (src/model/quantize.ts has the layouts):
 * Q8_0 (34 bytes a block, x = q·d) or Q4_0 (18 bytes, x = (q − 8)·d), d an fp16.
 */
export type BlockQuant = 'q8_0' | 'q4_0';

export interface Kernels {
  readonly name: 'native' | 'reference';
  /** Threads the backend uses (1 for reference). */
  readonly threads: number;
  /** Change the thread count (native only; benchmarks compare 1 and 2). */
  setThreads?(n: number): void;

  /**
   * C[M,N] = (accumulate ? C : 0) + op(A)·op(B).
   * op(A) is M×K: A is stored M×K, or K×M when transA. op(B) is K×N: B is stored K×N, or N×K when transB.
   */
  matmul(a: F32, b: F32, c: F32, M: number, K: number, N: number, transA: boolean, transB: boolean, accumulate: boolean): void;
  /**
   * A linear layer's forward: C[M,N] = A[M,K]·op(B) + bias[N] (bias broadcast over rows; B as in
   * matmul, A not transposed), and when `act` is given also act[M,N] = GELU(C), C keeping the
   * pre-activation. The same values, bit for bit, as matmul (accumulate off) then addBias, or
   * then biasGeluForward; the native kernel applies the bias and GELU to each product tile
   * while it is in cache (llm.c's matmul_forward bias and gelu_forward, one pass over C fewer).
   * `linear` uses it for its bias; `linearGelu` does not pass `act` (measured 10–14% more CPU
   * than the separate pass at the GPU config's c_fc: docs/journal/engine.md, engine17).
   */
  matmulBias(a: F32, b: F32, c: F32, M: number, K: number, N: number, transB: boolean, bias: F32, act: F32 | null): void;
  /**
   * y[M,N] = (accumulate ? y : 0) + x[M,K]·Wᵀ with W [N,K] held as `type` blocks, each row K/32
   * blocks (ggml's orientation for mul_mat); K a multiple of 32. The weight is dequantized to
   * fp32 (exactly: q·d fits a float) and multiplied in fp32.
   */
  qmatmul(x: F32, w: Uint8Array, y: F32, M: number, K: number, N: number, type: BlockQuant, accumulate: boolean): void;
  /**
   * Inference only: y[M,N] = (accumulate ? y : 0) + x̂[M,K]·Wᵀ, W as in qmatmul, where x̂ is x
   * quantized to Q8_0 per row and block of 32 (q = round-half-even(x·127/max|x|), the block's
   * scale d_x = fp16(max|x|/127) as ggml's block_q8_0 stores it; ggml-cpu quantize_row_q8_0, x86)
   * and each block product is an exact integer sum scaled by d_w·d_x — ggml's CPU matmul
   * (vec_dot_type Q8_0). Versus qmatmul (float x): |Δy[m,n]| ≤ Σ_b (max_b|x_m|/254 +
   * max(max_b|x_m|·2⁻¹¹, 127·2⁻²⁵)) · Σ_{k∈b}|W[n,k]| plus fp32 rounding. A row's result does not depend on M or the other rows. No backward: the
   * training forward keeps float activations (qmatmul). `scales` (optional): the blocks' d as
   * fp32 [N, K/32], precomputed once per matrix so the kernel skips an fp16 conversion a block;
   * it must hold exactly the blocks' values (the result is then bit-identical).
   */
  qmatmulQ8(x: F32, w: Uint8Array, y: F32, M: number, K: number, N: number, type: BlockQuant, accumulate: boolean, scales?: F32 | null): void;
  /** dx[M,K] += dy[M,N]·W, W as in qmatmul: the gradient to the input only (a frozen base gets none). */
  qmatmulBackward(dy: F32, w: Uint8Array, dx: F32, M: number, K: number, N: number, type: BlockQuant): void;
  /** out[N,K] = W dequantized (merging, export, the large-M path). */
  qdequantize(w: Uint8Array, out: F32, N: number, K: number, type: BlockQuant): void;
  /** out[r,c] += bias[c] for r < rows. */
  addBias(out: F32, bias: F32, rows: number, cols: number): void;
  /** dbias[c] += Σ_r dout[r,c]. */
  biasGrad(dout: F32, dbias: F32, rows: number, cols: number): void;

  /** LayerNorm over the last dim. weight/bias may be null (treated as 1/0). mean, rstd: [rows], written. */
  layerNormForward(x: F32, weight: F32 | null, bias: F32 | null, out: F32, mean: F32, rstd: F32, rows: number, cols: number, eps: number): void;
  /** dx, dweight, dbias accumulate; dweight/dbias null when weight/bias are null. */
  layerNormBackward(dout: F32, x: F32, weight: F32 | null, mean: F32, rstd: F32, dx: F32, dweight: F32 | null, dbias: F32 | null, rows: number, cols: number): void;
  /** RMSNorm: out = x / sqrt(mean(x²)+eps) * weight. rstd: [rows], written. */
  rmsNormForward(x: F32, weight: F32 | null, out: F32, rstd: F32, rows: number, cols: number, eps: number): void;
  rmsNormBackward(dout: F32, x: F32, weight: F32 | null, rstd: F32, dx: F32, dweight: F32 | null, rows: number, cols: number): void;

  /** GELU, tanh approximation (GPT-2's). */
  geluForward(x: F32, out: F32, n: number): void;
  geluBackward(x: F32, dout: F32, dx: F32, n: number): void;
  /**
   * A linear layer's bias and GELU fused (llm.c's matmul + gelu pair), over [rows, cols]:
   * pre[r,c] += bias[c] in place, then act = GELU(pre). The same values as addBias then
   * geluForward, in one pass over pre instead of two.
   */
  biasGeluForward(pre: F32, bias: F32, act: F32, rows: number, cols: number): void;
  /**
   * Its backward: dpre = dout·GELU'(pre), **written** (not added), and dbias[c] += Σ_r dpre[r,c]
   * (dbias null: none). The same values as geluBackward into zeros then biasGrad, in one pass.
   */
  biasGeluBackward(pre: F32, dout: F32, dpre: F32, dbias: F32 | null, rows: number, cols: number): void;
  /** SiLU: x·σ(x). */
  siluForward(x: F32, out: F32, n: number): void;
  siluBackward(x: F32, dout: F32, dx: F32, n: number): void;

  /** Row-wise softmax over the last dim. */
  softmaxForward(x: F32, out: F32, rows: number, cols: number): void;
  /** dx += out ⊙ (dout − Σ(dout⊙out)) per row. */
  softmaxBackward(out: F32, dout: F32, dx: F32, rows: number, cols: number): void;

  /**
   * Fused causal self-attention from packed qkv [B,T,3C] (q | k | v per row, heads
   * contiguous inside each: head h uses columns h·D..h·D+D−1), C = H·D.
   * out: [B,T,C]; lse: [B,H,T] log-sum-exp of the scaled scores of each query row
   * (saved for backward). Scale is 1/√D. Blocked (online softmax): memory per call does
   * not grow with T²; no [B,H,T,T] buffer exists.
   */
  attentionForward(qkv: F32, out: F32, lse: F32, B: number, T: number, H: number, D: number): void;
  /**
   * Recomputes probabilities from qkv and lse. `accumulate` (default true): dqkv += the
   * gradient; false: dqkv is written and its old contents never read (an activation's first
   * gradient, Tensor.takeFreshGrad: no zero fill), the same bits as adding it to zeros.
   */
  attentionBackward(qkv: F32, out: F32, lse: F32, dout: F32, dqkv: F32, B: number, T: number, H: number, D: number, accumulate?: boolean): void;
  /**
   * Attention for incremental decoding against a KV cache.
   * q: [B,Tq,C] queries at absolute positions pos0..pos0+Tq−1; kCache, vCache: [R,Tmax,C]
   * (R ≥ B cache rows) holding keys/values for positions 0..pos0+Tq−1 already. Query i
   * attends keys 0..pos0+i, or starts[r]..pos0+i when `starts` is given: row r's first
   * starts[r] positions are left padding (prompts of different lengths decoded in one batch).
   * A query with no key to attend (itself padding) gets zeros. out: [B,Tq,C].
   * Continuous batching: `rows[b]` is the cache row batch row b reads (default b), and
   * `lengths[r]`, when given, replaces pos0 per cache row (rows at different lengths decode
   * together). `starts` and `lengths` are indexed by cache row.
   */
  attentionDecode(q: F32, kCache: F32, vCache: F32, out: F32, B: number, Tq: number, pos0: number, Tmax: number, H: number, D: number, starts?: Int32Array, lengths?: Int32Array, rows?: Int32Array): void;
  /**
   * attentionDecode fed straight from a decode step's fused projection qkv [B,Tq,3C] (q, k, v
   * of each position side by side, as c_attn writes them): first writes each position's key
   * and value into cache row rows[b] at positions lengths[r]..lengths[r]+Tq−1, then attends
   * as attentionDecode with those lengths (queries read in place). `lengths` is not advanced.
   * Same arithmetic as attentionDecode (same bits); it spares the caller a query copy and the
   * per-row key/value copies (GPT's KV-cache step). out: [B,Tq,C].
   */
  attentionDecodeQkv(qkv: F32, kCache: F32, vCache: F32, out: F32, B: number, Tq: number, Tmax: number, H: number, D: number, starts: Int32Array, lengths: Int32Array, rows: Int32Array): void;

  /**
   * Per-row cross-entropy of logits [rows,V] against targets; losses[r] = −log softmax(logits[r])[t_r],
   * and 0 where t_r === ignoreIndex.
   */
  crossEntropyForward(logits: F32, targets: Int32Array, losses: F32, rows: number, V: number, ignoreIndex: number): void;
  /** dlogits[r] += dloss[r]·(softmax(logits[r]) − onehot(t_r)); rows with t_r === ignoreIndex get nothing. */
  crossEntropyBackward(logits: F32, targets: Int32Array, dloss: F32, dlogits: F32, rows: number, V: number, ignoreIndex: number): void;
  /**
   * crossEntropyForward and crossEntropyBackward of the same rows in one sweep, for a loss whose
   * gradient is known up front (linearCrossEntropy's chunks): losses as the forward writes them,
   * dlogits WRITTEN (not accumulated) as the backward would add them to zeros; zeros on ignored rows.
   */
  crossEntropyFused(logits: F32, targets: Int32Array, dloss: F32, losses: F32, dlogits: F32, rows: number, V: number, ignoreIndex: number): void;

  /**
   * Rotary position embedding on packed qkv [B,T,3·H·D]: pairs (2i, 2i+1) of every q and k
   * head at time t are rotated by the angle whose cos/sin are cos[t·D/2 + i], sin[…]
   * (sign −1 rotates backwards: the backward pass). v is copied. dst accumulates (+=).
   */
  rope(src: F32, dst: F32, cos: F32, sin: F32, B: number, T: number, H: number, D: number, sign: number): void;

  /** out[i,:] = table[ids[i],:] (ids validated by the caller). */
  embeddingForward(ids: Int32Array, table: F32, out: F32, n: number, C: number): void;
  /** dtable[ids[i],:] += dout[i,:]. */
  embeddingBackward(ids: Int32Array, dout: F32, dtable: F32, n: number, C: number): void;

  /** out = a + b (same length). out may alias a or b. */
  add(a: F32, b: F32, out: F32, n: number): void;
  /** out = a ⊙ b. */
  mul(a: F32, b: F32, out: F32, n: number): void;
  /** out = s·a. */
  scale(a: F32, s: number, out: F32, n: number): void;
  /** y += s·x. */
  axpy(s: number, x: F32, y: F32, n: number): void;
  /** Σ x² as a double (for global grad norms). */
  sumSquares(x: F32, n: number): number;

  /**
   * The sampler's tempered exponentials (Sampler.pick, src/infer/processors.ts): for i < n,
   * e[i] = Math.exp((l[i] − mx) / T) in float64 (l[i] widened, then one subtraction and one
   * division), and returns Σ e[i] summed left to right. Bit-identical on every backend and
   * instruction set: the native kernel (native/sample.c) ports V8's Math.exp (fdlibm's e_exp.c)
   * operation for operation, so the tokens drawn never depend on the backend. l: [≥ n] float32,
   * e: [≥ n] float64, written; mx, T: any doubles (the sampler passes max(l) and T > 0).
   */
  tempExp(l: F32, mx: number, T: number, e: Float64Array, n: number): number;
  /**
   * The same over float64 scores (drawToken, after the warpers): e[i] = Math.exp(s[i] − mx) for
   * i < n, returns Σ e[i] left to right; bit-identical on every backend and instruction set.
   * s, e: [≥ n] float64 (e written; may not alias s).
   */
  shiftExp(s: Float64Array, mx: number, e: Float64Array, n: number): number;
  /**
   * The inverse CDF of e[i] / sum in id order at u ∈ [0, 1): the first i < n where
   * u −= e[i] / sum goes below 0; if rounding leaves u ≥ 0, the last i with e[i] / sum > 0; else 0.
   * The same float64 operations on every backend. e: [≥ n] float64.
   */
  walkCdf(e: Float64Array, sum: number, n: number, u: number): number;

  /**
   * One fused AdamW step (decoupled weight decay, bias correction) on n elements:
   * m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; m̂ = m/(1−β1^step); v̂ = v/(1−β2^step);
   * p −= lr·(m̂/(√v̂+eps) + wd·p). `step` is 1 on the first update. g is scaled by gradScale first
   * (so clipping costs no extra pass).
   */
  adamw(param: F32, grad: F32, m: F32, v: F32, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, gradScale: number): void;
}
