import { Rng } from '../engine/rng.js';
import { Tensor, parameter, noGradStep, opOutput, isGradEnabled } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import { getKernels } from '../engine/backend.js';
import { type GPTConfig, validateConfig } from './config.js';
import { KVCache } from './kvcache.js';
import { GptforgeError } from '../util/errors.js';
import { randomPositionIds } from './positions.js';
import { abacusIds, offsetAbacusIds } from './abacus.js';

/**
 * The GPT, read top to bottom: token (+ position) embedding, nLayer pre-norm blocks of
 * causal self-attention and MLP with residual connections, a final norm, and heads:
 * the LM head (logits over the vocabulary) and an optional scalar head read at one
 * position (the reward model's reward token, PPO's value).
 *
 * Parameters carry Hugging Face GPT-2 names (transformer.h.0.attn.c_attn.weight …) and its
 * Conv1D layout (weights stored [in, out]) so checkpoints interoperate.
 */

interface Block {
  ln1w: Tensor;
  ln1b: Tensor | null;
  attnW: Tensor;
  attnB: Tensor | null;
  projW: Tensor;
  projB: Tensor | null;
  ln2w: Tensor;
  ln2b: Tensor | null;
  fcW: Tensor;
  fcB: Tensor | null;
  /** SwiGLU's second ("up") projection. */
  fc2W: Tensor | null;
  fc2B: Tensor | null;
  mlpProjW: Tensor;
  mlpProjB: Tensor | null;
}

/** The linear layers of a block, by their Hugging Face GPT-2 module names (c_fc2: SwiGLU's up projection). */
export type LinearModule = 'attn.c_attn' | 'attn.c_proj' | 'mlp.c_fc' | 'mlp.c_fc2' | 'mlp.c_proj';

/** One block linear y = x·W + b: its layer, module, and parameters (W stored [in, out]). */
export interface LinearSite {
  readonly layer: number;
  readonly module: LinearModule;
  /** `transformer.h.<layer>.<module>.weight` */
  readonly weightName: string;
  readonly weight: Tensor;
  readonly bias: Tensor | null;
}

/**
 * Computes a block linear in place of x·W + b (LoRA adapters and a quantized frozen base,
 * src/model/lora.ts). x is [..., in]; the result must be [..., out].
 */
export type LinearHook = (x: Tensor, site: LinearSite) => Tensor;

/** Rows of the token table that train on their own (PEFT's TrainableTokens): ids [n] and their values [n, C]. */
export interface TrainableRows {
  readonly indices: Int32Array;
  readonly rows: Tensor;
}

/**
 * Set by LoraModel (src/model/lora.ts): before every forward `prepare` writes the values the
 * token table's adapted rows should hold now into it, and returns the rows that train; the
 * embedding and the tied head route their gradients to those.
 */
export interface TokenRowsHook {
  prepare(): readonly TrainableRows[];
}

/** How a GPT is built: the seed of its initial weights (default 1337) and the reward/value head. */
export interface GPTOptions {
  seed?: number;
  /** Add the scalar head (`score.weight`, `score.bias`). */
  scalarHead?: boolean;
  /** How a reward model's head pools the hidden states (GPT.scorePool); absent: the last token's alone. */
  scorePool?: ScorePool;
}

/**
 * A reward head that reads more than the last token (issue #24): the head sees
 * ½·h_last + ½·mean(h over the reply), the reply being the tokens after the last
 * `afterToken` (`<|user_end|>`) up to the last token, so every reply position — the
 * calculator answer's digits among them — gets a direct gradient instead of only what
 * attention carries to the last token. Like sentence-transformers' `pooling_mode_mean_tokens`
 * beside `pooling_mode_lasttoken`, summed rather than concatenated so `score.weight` keeps
 * its [1, C] shape (and every export of it). Applied by src/train/reward.ts `rewardsOf`.
 */
export interface ScorePool {
  mode: 'last+mean';
  /** The token id after whose last occurrence the reply starts (the tokenizer's `<|user_end|>`). */
  afterToken: number;
}

/**
 * The decoder-only transformer (GPT-2's layout, Radford et al. 2019, by default: pre-norm blocks of
 * causal self-attention and an MLP; LLaMA-style RMSNorm, SwiGLU and rotary positions per `config`), on the
 * autograd engine. Shapes: ids are Int32Array [B·T] row-major; `forward` gives logits [B, T, V],
 * `hidden` [B, T, C] (C = nEmbd); `loss` the mean (or summed) cross-entropy in nats/token.
 * Weights start as GPT-2's init (N(0, 0.02), residual projections scaled by 1/√(2·nLayer)), drawn
 * from `opts.seed`. Decoding goes through `createCache` + `nextLogits` (src/infer/pipeline.ts).
 * @example const m = new gf.GPT(gf.makeConfig({ vocabSize: 300, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 64 }), { seed: 1 })
 */
export class GPT {
  readonly config: GPTConfig;
  /** All parameters by name, in a stable order. */
  readonly params = new Map<string, Tensor>();
  private readonly wte: Tensor;
  private readonly wpe: Tensor | null;
  private readonly blocks: Block[] = [];
  private readonly lnfW: Tensor;
  private readonly lnfB: Tensor | null;
  private readonly lmHead: Tensor | null;
  private scoreW: Tensor | null = null;
  private scoreB: Tensor | null = null;
  private readonly sites: LinearSite[][] = [];
  /** When set, every block linear runs through it (see {@link LinearHook}); null: plain x·W + b. */
  linearHook: LinearHook | null = null;
  /** When set, trainable rows of the token table (see {@link TokenRowsHook}). */
  tokenHook: TokenRowsHook | null = null;
  /** When set, {@link logits} runs through it (a quantized head for decoding, src/model/inference-precision.ts); `loss` keeps the fp32 head. */
  headHook: ((hidden: Tensor) => Tensor) | null = null;
  /** Draws randomized position ids (config.randomPositions) when a forward is given none. */
  private positionRng: Rng;
  /** Abacus column embeddings [maxId + 1, C] (config.abacus), and the Rng of training's id offsets. */
  private readonly abacus: Tensor | null;
  private readonly abacusRng: Rng;

  /**
   * Restart the draws of randomized position ids (config.randomPositions) from `seed`: a decode
   * that follows gives the same ids as from a freshly loaded model built with `seed`, whatever
   * ran before. Without randomized positions it changes nothing.
   */
  seedPositions(seed: number): void {
    this.positionRng = new Rng(seed + 0x5eed);
  }

  /**
   * Run `fn` (synchronous) on its own randomized position draws (config.randomPositions),
   * started from `seed` as seedPositions does, then put the model's draws back exactly where they
   * were: what `fn` decodes neither depends on nor disturbs the draws of other decoding that
   * shares the model (a server's concurrent requests). Without randomized positions it only runs `fn`.
   */
  withPositionSeed<T>(seed: number, fn: () => T): T {
    const saved = this.positionRng;
    this.positionRng = new Rng(seed + 0x5eed);
    try {
      return fn();
    } finally {
      this.positionRng = saved;
    }
  }

  /** How the reward head pools the hidden states; null: the last token's (src/train/reward.ts `rewardsOf`). Recorded in the checkpoint. */
  scorePool: ScorePool | null = null;

  constructor(config: GPTConfig, opts: GPTOptions = {}) {
    validateConfig(config);
    this.config = config;
    this.scorePool = opts.scorePool ?? null;
    const rng = new Rng(opts.seed ?? 1337);
    this.positionRng = new Rng((opts.seed ?? 1337) + 0x5eed);
    this.abacusRng = new Rng((opts.seed ?? 1337) + 0xabac);
    const { vocabSize: V, blockSize, nLayer, nEmbd: C, mlpHidden: H, bias } = config;
    const normal = (std: number) => (d: Float32Array) => {
      for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
    };
    const fill = (v: number) => (d: Float32Array) => d.fill(v);
    // GPT-2: residual projections are scaled down so the residual stream's variance does not grow with depth.
    const projStd = 0.02 / Math.sqrt(2 * nLayer);
    const add = (name: string, shape: number[], init: (d: Float32Array) => void): Tensor => {
      const t = parameter(name, shape, init);
      this.params.set(name, t);
      return t;
    };
    const addIf = (cond: boolean, name: string, shape: number[], init: (d: Float32Array) => void): Tensor | null => (cond ? add(name, shape, init) : null);
    const normBias = bias && config.norm === 'layernorm';

    this.wte = add('transformer.wte.weight', [V, C], normal(0.02));
    this.wpe = addIf(config.position === 'learned', 'transformer.wpe.weight', [blockSize, C], normal(0.02));
    this.abacus = config.abacus ? add('transformer.abacus.weight', [config.abacus.maxId + 1, C], normal(config.abacus.initStd ?? 0.02)) : null;
    for (let i = 0; i < nLayer; i++) {
      const p = `transformer.h.${i}`;
      this.blocks.push({
        ln1w: add(`${p}.ln_1.weight`, [C], fill(1)),
        ln1b: addIf(normBias, `${p}.ln_1.bias`, [C], fill(0)),
        attnW: add(`${p}.attn.c_attn.weight`, [C, 3 * C], normal(0.02)),
        attnB: addIf(bias, `${p}.attn.c_attn.bias`, [3 * C], fill(0)),
        projW: add(`${p}.attn.c_proj.weight`, [C, C], normal(projStd)),
        projB: addIf(bias, `${p}.attn.c_proj.bias`, [C], fill(0)),
        ln2w: add(`${p}.ln_2.weight`, [C], fill(1)),
        ln2b: addIf(normBias, `${p}.ln_2.bias`, [C], fill(0)),
        fcW: add(`${p}.mlp.c_fc.weight`, [C, H], normal(0.02)),
        fcB: addIf(bias, `${p}.mlp.c_fc.bias`, [H], fill(0)),
        fc2W: addIf(config.mlp === 'swiglu', `${p}.mlp.c_fc2.weight`, [C, H], normal(0.02)),
        fc2B: addIf(config.mlp === 'swiglu' && bias, `${p}.mlp.c_fc2.bias`, [H], fill(0)),
        mlpProjW: add(`${p}.mlp.c_proj.weight`, [H, C], normal(projStd)),
        mlpProjB: addIf(bias, `${p}.mlp.c_proj.bias`, [C], fill(0)),
      });
    }
    for (let i = 0; i < nLayer; i++) {
      const b = this.blocks[i];
      const site = (module: LinearModule, weight: Tensor, bias: Tensor | null): LinearSite => ({ layer: i, module, weightName: `transformer.h.${i}.${module}.weight`, weight, bias });
      const row = [site('attn.c_attn', b.attnW, b.attnB), site('attn.c_proj', b.projW, b.projB), site('mlp.c_fc', b.fcW, b.fcB)];
      if (b.fc2W) row.push(site('mlp.c_fc2', b.fc2W, b.fc2B));
      row.push(site('mlp.c_proj', b.mlpProjW, b.mlpProjB));
      this.sites.push(row);
    }
    this.lnfW = add('transformer.ln_f.weight', [C], fill(1));
    this.lnfB = addIf(normBias, 'transformer.ln_f.bias', [C], fill(0));
    this.lmHead = addIf(!config.tieEmbeddings, 'lm_head.weight', [V, C], normal(0.02));
    if (opts.scalarHead) this.addScalarHead();
  }

  /** Add the scalar head (zero-initialised: every completion starts with reward 0). */
  addScalarHead(): void {
    if (this.scoreW) return;
    this.scoreW = parameter('score.weight', [1, this.config.nEmbd], (d) => d.fill(0));
    this.scoreB = parameter('score.bias', [1], (d) => d.fill(0));
    this.params.set('score.weight', this.scoreW);
    this.params.set('score.bias', this.scoreB);
  }

  get hasScalarHead(): boolean {
    return this.scoreW !== null;
  }

  parameters(): Tensor[] {
    return [...this.params.values()];
  }

  numParams(): number {
    let n = 0;
    for (const p of this.params.values()) n += p.size;
    return n;
  }

  /** Every block linear, layer by layer, in forward order. */
  linearSites(): LinearSite[] {
    return this.sites.flat();
  }

  /** GELU of block `layer`'s c_fc: one fused op (bias and GELU in one pass each way) unless a hook computes the linear. */
  private linearGelu(x: Tensor, layer: number): Tensor {
    const site = this.sites[layer].find((s) => s.module === 'mlp.c_fc')!;
    return this.linearHook ? op.gelu(this.linearHook(x, site)) : op.linearGelu(x, site.weight, site.bias);
  }

  /** Block `layer`'s linear `module`, through the hook when one is set. */
  private linear(x: Tensor, layer: number, module: LinearModule): Tensor {
    const site = this.sites[layer].find((s) => s.module === module)!;
    return this.linearHook ? this.linearHook(x, site) : op.linear(x, site.weight, site.bias);
  }

  private norm(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
    return this.config.norm === 'layernorm' ? op.layerNorm(x, w, b) : op.rmsNorm(x, w);
  }

  private checkIds(ids: Int32Array, B: number, T: number, pos0: number): void {
    if (ids.length !== B * T) throw new Error(`GPT.forward: ids length ${ids.length} is not B·T = ${B}·${T}`);
    if (pos0 + T > this.config.blockSize) throw new Error(`GPT.forward: sequence of ${pos0 + T} positions exceeds the context length ${this.config.blockSize}`);
  }

  /**
   * Final hidden states [B, T, C] (after the last norm) for token ids [B·T].
   * With a KV cache (inference only), ids are the next T tokens after each cache row's
   * length. `rows` (continuous batching) names the cache row of each of the B batch rows
   * (distinct; default: B = cache.batch, row b is cache row b); the other cache rows are
   * untouched. Rows may sit at different lengths. `positions` (B·T of them): RoPE position ids of the
   * tokens (default: their indices; drawn at random when config.randomPositions is set); with
   * a cache each slot keeps its id (cache.positionIds), so keys stay rotated at their ids.
   */
  hidden(ids: Int32Array, B: number, T: number, cache?: KVCache, rows?: Int32Array, positions?: Int32Array): Tensor {
    if (!cache) this.checkIds(ids, B, T, 0);
    if (cache && !rows && cache.batch !== B) throw new Error(`GPT.forward: cache is for batch ${cache.batch}, got ${B}`);
    if (rows && !cache) throw new Error('GPT.forward: rows need a cache');
    const rowOf = cache ? (rows ?? Int32Array.from({ length: B }, (_, b) => b)) : new Int32Array(0);
    // each batch row's first position: its cache row's length
    const pos0s = new Int32Array(B);
    if (cache) {
      if (rowOf.length !== B) throw new Error(`GPT.forward: ${rowOf.length} cache rows given for a batch of ${B}`);
      const seen = new Set<number>();
      for (let b = 0; b < B; b++) {
        const r = rowOf[b];
        if (!(r >= 0 && r < cache.batch) || seen.has(r)) throw new Error(`GPT.forward: cache row ${r} is not a distinct row of the cache's ${cache.batch}`);
        seen.add(r);
        pos0s[b] = cache.lengths[r];
        this.checkIds(ids, B, T, pos0s[b]);
        if (pos0s[b] + T > cache.capacity) throw new Error(`GPT.forward: cache row ${r} holds ${pos0s[b]} of ${cache.capacity} positions, no room for ${T} more`);
      }
    }
    const { nHead } = this.config;
    const trainable = this.tokenHook?.prepare() ?? []; // before the lookup: it writes the rows the table holds now
    let x = op.embedding(ids, [B, T], this.wte);
    for (const r of trainable) op.embeddingRowsGrad(x, ids, r.indices, r.rows);
    if (this.wpe) {
      const pos = new Int32Array(B * T);
      // a left-padded cache row counts positions from its first real token (padding gets 0, and is never attended to)
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) pos[b * T + t] = Math.max(0, pos0s[b] + t - (cache ? cache.starts[rowOf[b]] : 0));
      x = op.add(x, op.embedding(pos, [B, T], this.wpe));
    }
    if (this.abacus) x = op.add(x, op.embedding(this.abacusColumns(ids, B, T, cache, rowOf, pos0s), [B, T], this.abacus));
    const uniform = pos0s.every((p) => p === pos0s[0]);
    const ropePos = uniform ? (B > 0 ? pos0s[0] : 0) : pos0s;
    const posIds = this.positionIds(B, T, pos0s, cache, rowOf, positions);
    for (let l = 0; l < this.blocks.length; l++) {
      const blk = this.blocks[l];
      // attention sub-block
      let qkv = this.linear(this.norm(x, blk.ln1w, blk.ln1b), l, 'attn.c_attn');
      if (this.config.position === 'rope') qkv = op.rope(qkv, nHead, ropePos, undefined, posIds);
      const att = cache ? this.cachedAttention(qkv, cache, l, B, T, rowOf) : op.causalSelfAttention(qkv, nHead);
      x = op.add(x, this.linear(att, l, 'attn.c_proj'));
      // MLP sub-block
      const h = this.norm(x, blk.ln2w, blk.ln2b);
      let m: Tensor;
      if (this.config.mlp === 'gelu') m = this.linearGelu(h, l);
      else m = op.mul(op.silu(this.linear(h, l, 'mlp.c_fc')), this.linear(h, l, 'mlp.c_fc2'));
      x = op.add(x, this.linear(m, l, 'mlp.c_proj'));
    }
    if (cache) for (let b = 0; b < B; b++) cache.lengths[rowOf[b]] += T;
    return this.norm(x, this.lnfW, this.lnfB);
  }

  /** hidden's position ids: given, or drawn (config.randomPositions); recorded in the cache's slots when ids are in use. */
  private positionIds(B: number, T: number, pos0s: Int32Array, cache: KVCache | undefined, rowOf: Int32Array, given?: Int32Array): Int32Array | undefined {
    if (given && (given.length !== B * T || this.config.position !== 'rope')) throw new Error(`GPT.forward: ${given.length} position ids for B·T = ${B}·${T}${this.config.position !== 'rope' ? ' (position ids need position: "rope")' : ''}`);
    const max = this.config.randomPositions;
    if (!given && !max) {
      if (cache?.positionIds) for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) cache.positionIds[rowOf[b] * cache.capacity + pos0s[b] + t] = pos0s[b] + t;
      return undefined;
    }
    const slots = cache?.positionIdsOrIdentity();
    const prev = Array.from(pos0s, (p, b) => (cache && slots && p > 0 ? slots[rowOf[b] * cache.capacity + p - 1] : -1));
    const ids = given ?? randomPositionIds(B, T, prev, max!, this.config.blockSize, this.positionRng);
    if (cache && slots) for (let b = 0; b < B; b++) slots.set(ids.subarray(b * T, (b + 1) * T), rowOf[b] * cache.capacity + pos0s[b]);
    return ids;
  }

  /**
   * hidden's abacus column ids [B·T] (src/model/abacus.ts): each row's from its own tokens —
   * with a cache, from the tokens it holds (KVCache.tokens, written here) and the new ones; a
   * training forward (no cache, gradients on) adds a random offset per row.
   */
  private abacusColumns(ids: Int32Array, B: number, T: number, cache: KVCache | undefined, rowOf: Int32Array, pos0s: Int32Array): Int32Array {
    const a = this.config.abacus!;
    const out = new Int32Array(B * T);
    if (!cache) {
      for (let b = 0; b < B; b++) out.set(abacusIds(ids.subarray(b * T, (b + 1) * T), a), b * T);
      return isGradEnabled() && (a.maxOffset > 0 || a.stretch) ? offsetAbacusIds(out, B, T, a, this.abacusRng) : out;
    }
    const hist = cache.tokensOrAlloc();
    for (let b = 0; b < B; b++) {
      const base = rowOf[b] * cache.capacity;
      hist.set(ids.subarray(b * T, (b + 1) * T), base + pos0s[b]);
      const s = cache.starts[rowOf[b]]; // left padding before it: no ids
      const end = pos0s[b] + T;
      const col = s < end ? abacusIds(hist.subarray(base + s, base + end), a) : new Int32Array(0);
      for (let t = 0; t < T; t++) out[b * T + t] = pos0s[b] + t >= s ? col[pos0s[b] + t - s] : 0;
    }
    return out;
  }

  /** Write this step's keys/values into each row's cache slots and attend over everything cached so far in that row. */
  private cachedAttention(qkv: Tensor, cache: KVCache, layer: number, B: number, T: number, rows: Int32Array): Tensor {
    if (qkv.requiresGrad) throw new Error('GPT: KV-cache decoding is inference only; run it under noGrad()');
    const { nHead, nEmbd: C } = this.config;
    // one kernel call writes the new keys/values and attends, the queries read in place
    const out = opOutput([B, T, C]); // every element written (padding queries get zeros)
    getKernels().attentionDecodeQkv(qkv.data, cache.keys[layer], cache.values[layer], out.data, B, T, cache.capacity, nHead, C / nHead, cache.starts, cache.lengths, rows);
    return out;
  }

  /** Logits [..., V] from hidden states (tied: h·wteᵀ). */
  logits(hidden: Tensor): Tensor {
    if (this.headHook) return this.headHook(hidden);
    const rows = this.lmHead ? [] : (this.tokenHook?.prepare() ?? []);
    const out = op.matmul(hidden, this.lmHead ?? this.wte, { transB: true });
    for (const r of rows) op.headRowsGrad(out, hidden, r.indices, r.rows);
    return out;
  }

  /** Logits [B, T, V] for token ids [B·T] (cache and rows: see hidden). */
  forward(ids: Int32Array, B: number, T: number, cache?: KVCache, rows?: Int32Array, positions?: Int32Array): Tensor {
    return this.logits(this.hidden(ids, B, T, cache, rows, positions));
  }

  /**
   * Next-token cross-entropy of ids [B·T] against targets [B·T], a scalar: the weighted mean
   * (or sum) over rows; targets −1 are ignored; weights (e.g. the SFT mask) weight rows. The
   * head and the loss are fused over chunks of rows (op.linearCrossEntropy), so the [B·T, V]
   * logits never exist at once. `positions`: see hidden.
   */
  loss(ids: Int32Array, targets: Int32Array, B: number, T: number, weights?: Float32Array, reduction: 'mean' | 'sum' = 'mean', positions?: Int32Array): Tensor {
    const hidden = this.hidden(ids, B, T, undefined, undefined, positions);
    const rows = this.lmHead ? [] : (this.tokenHook?.prepare() ?? []);
    return op.linearCrossEntropy(hidden, this.lmHead ?? this.wte, targets, { weights, reduction, rows });
  }

  /** The scalar head read at the given flat row positions (b·T + t) of hidden [B, T, C] → [k]. */
  scalar(hidden: Tensor, rows: Int32Array): Tensor {
    if (!this.scoreW || !this.scoreB) throw new Error('GPT.scalar: this model has no scalar head (score.weight)');
    return this.scoreRows(op.gatherRows(hidden, rows));
  }

  /** The scalar head applied to k hidden vectors [k, C] (a pooled reading, GPT.scorePool) → [k]. */
  scoreRows(x: Tensor): Tensor {
    if (!this.scoreW || !this.scoreB) throw new Error('GPT.scoreRows: this model has no scalar head (score.weight)');
    const s = op.add(op.matmul(x, this.scoreW, { transB: true }), this.scoreB);
    return op.reshape(s, [x.rows]);
  }

  /** A KV cache sized for this model. */
  createCache(batch: number, capacity = this.config.blockSize): KVCache {
    if (capacity > this.config.blockSize) throw new Error(`cache capacity ${capacity} exceeds the context length ${this.config.blockSize}`);
    return new KVCache(this.config.nLayer, batch, capacity, this.config.nEmbd);
  }

  /**
   * Copy parameter values from a name → data map (checkpoint load). Missing or mis-sized entries are errors.
   * @throws GptforgeError `{ file: source }` naming the tensor
   */
  loadState(state: ReadonlyMap<string, Float32Array>, source = 'checkpoint'): void {
    for (const [name, t] of this.params) {
      const d = state.get(name);
      if (!d) throw new GptforgeError(`missing tensor "${name}"`, { file: source });
      if (d.length !== t.size) throw new GptforgeError(`tensor "${name}" has ${d.length} elements, the model expects ${t.size} [${t.shape.join(', ')}]`, { file: source });
      t.data.set(d);
    }
  }

  /**
   * Greedy/sampled decoding lives in src/infer; this is the one-step helper it uses: feed T
   * tokens to each cache row (ids [B·T]; B = rows.length, or cache.batch without `rows`)
   * and return each row's last logits [B·V].
   */
  nextLogits(ids: Int32Array, cache: KVCache, rows?: Int32Array): Float32Array {
    return noGradStep(() => {
      // op buffers recycled step to step (withStepScope): only the copy at the end leaves
      const B = rows ? rows.length : cache.batch;
      const T = ids.length / B;
      if (!Number.isInteger(T) || T < 1) throw new Error(`GPT.nextLogits: ${ids.length} ids for ${B} rows`);
      const h = this.hidden(ids, B, T, cache, rows); // (B, T, C)
      // only each row's last position needs logits: a prefill of T tokens skips T−1 rows of the
      // head, about a quarter of its multiply-adds at the small preset's shape (V = 4096, C = 256)
      const last =
        T === 1
          ? h
          : op.gatherRows(
              h,
              Int32Array.from({ length: B }, (_, b) => (b + 1) * T - 1),
            ); // (B, C)
      return this.logits(last).data.slice(); // (B, V), a copy: the tensor may live in the step arena
    });
  }
}
