import { getKernels } from '../engine/backend.js';
import { qlinear } from '../engine/qlinear.js';
import { Rng } from '../engine/rng.js';
import { Tensor, isGradEnabled, parameter, record } from '../engine/tensor.js';
import * as op from '../engine/ops.js';
import { GptforgeError } from '../util/errors.js';
import type { GPT, LinearModule, LinearSite, TrainableRows } from './gpt.js';
import { type BasePrecision, type QuantizedMatrix, quantizeLinear } from './quantize.js';

/**
 * LoRA: low-rank adapters on a frozen base (Hu et al. 2021, "LoRA: Low-Rank Adaptation of
 * Large Language Models"), in Hugging Face PEFT's conventions, over a base that may be held
 * in ggml's Q8_0 or Q4_0 blocks (QLoRA's idea, Dettmers et al. 2023, with ggml's formats).
 *
 * For a targeted linear y = x·W + b (W [in, out]) each enabled adapter adds
 *
 *   y += s · (dropout(x)·Aᵀ)·Bᵀ,   A [r, in], B [out, r],   s = α/r  (rsLoRA: α/√r, Kalajdzievski 2023)
 *
 * initialised as PEFT's `init_lora_weights=True`: A ~ Kaiming-uniform(a=√5), i.e. U(±1/√in),
 * B = 0, so a new adapter leaves the model unchanged. Only A and B train (plus the scalar
 * head when the model has one: PEFT's `modules_to_save` for a sequence classifier); the base
 * gets no weight gradient. Several named adapters can sit on one base, each enabled or
 * disabled; `withAdaptersDisabled` runs the bare base (RL's and DPO's reference model).
 * `merge` folds an adapter into an fp32 base (W += s·(B·A)ᵀ) and `unmerge` takes it out again.
 *
 * An adapter may also train chosen rows of the token embedding — and so of the tied LM head —
 * PEFT's `trainable_token_indices` (TrainableTokens, PEFT ≥ 0.15): rows [n, C] initialised to
 * the base's and written over the table's while the adapter is on (PEFT's index_copy; PEFT
 * calls the values `trainable_tokens_delta` though they replace the rows rather than add to
 * them). The rows stay fp32 whatever the base's precision (embeddings are never quantized);
 * merging writes them into the table. Used for special tokens the base never saw in training.
 */

/** Short names of target modules, as `targets=` takes them. */
export const TARGET_ALIASES: Readonly<Record<string, readonly LinearModule[]>> = {
  qkv: ['attn.c_attn'],
  proj: ['attn.c_proj'],
  up: ['mlp.c_fc', 'mlp.c_fc2'],
  down: ['mlp.c_proj'],
  'all-linear': ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_fc2', 'mlp.c_proj'],
};

export interface LoraConfig {
  /** Rank r ≥ 1. */
  r: number;
  /** α: the update is scaled by α/r (or α/√r with rsLoRA). */
  alpha: number;
  /** Dropout probability on the adapter's input while training (PEFT's lora_dropout); 0 ≤ p < 1. */
  dropout: number;
  /** The block linears the adapter sits on. */
  targets: readonly LinearModule[];
  /** rsLoRA scaling α/√r instead of α/r (PEFT's use_rslora). */
  rslora: boolean;
  /** Seed of A's initialisation and of dropout masks. */
  seed?: number;
  /** Token ids whose embedding (and tied head) rows train too (PEFT's trainable_token_indices); absent or empty: none. */
  trainableTokenIndices?: readonly number[];
}

/** The defaults PEFT's LoraConfig uses where ours has the same field (r 8, alpha 8, dropout 0), with targets qkv. */
export const DEFAULT_LORA: LoraConfig = { r: 8, alpha: 8, dropout: 0, targets: ['attn.c_attn'], rslora: false };

/** One adapter's pair of matrices on one linear layer. */
export interface LoraPair {
  readonly site: LinearSite;
  /** [r, in] */
  readonly A: Tensor;
  /** [out, r] */
  readonly B: Tensor;
}

/** An adapter's trainable token rows: PEFT's trainable_tokens_delta [n, C] and the base's rows they replace. */
export interface TokenRows extends TrainableRows {
  /** The base's values of those rows [n·C] (PEFT's trainable_tokens_original), written back when the adapter is off. */
  readonly original: Float32Array;
}

export interface Adapter {
  readonly name: string;
  readonly config: LoraConfig;
  readonly scaling: number;
  readonly pairs: readonly LoraPair[];
  /** Trainable rows of the token table, or null. */
  readonly tokens: TokenRows | null;
  enabled: boolean;
  merged: boolean;
}

/** s = α/r, or α/√r with rsLoRA. */
export function loraScaling(cfg: Pick<LoraConfig, 'r' | 'alpha' | 'rslora'>): number {
  return cfg.rslora ? cfg.alpha / Math.sqrt(cfg.r) : cfg.alpha / cfg.r;
}

/** The modules a model has (SwiGLU models add mlp.c_fc2). */
export function modulesOf(model: GPT): LinearModule[] {
  return [...new Set(model.linearSites().map((s) => s.module))];
}

/** Checks a config against a model; errors name the field. */
export function validateLoraConfig(cfg: LoraConfig, model: GPT): void {
  if (!(Number.isInteger(cfg.r) && cfg.r >= 1)) throw new GptforgeError(`r must be a whole number ≥ 1, got ${cfg.r}`, { field: 'r' });
  if (!(Number.isFinite(cfg.alpha) && cfg.alpha > 0)) throw new GptforgeError(`alpha must be a positive number, got ${cfg.alpha}`, { field: 'alpha' });
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new GptforgeError(`dropout must be in [0, 1), got ${cfg.dropout}`, { field: 'dropout' });
  const have = modulesOf(model);
  if (cfg.targets.length === 0) throw new GptforgeError(`no target modules; this model has: ${have.join(', ')}`, { field: 'targets' });
  for (const t of cfg.targets) if (!have.includes(t)) throw new GptforgeError(`unknown target module "${t}"; this model has: ${have.join(', ')}`, { field: 'targets' });
  const ids = cfg.trainableTokenIndices ?? [];
  const V = model.config.vocabSize;
  for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new GptforgeError(`trainable token index ${id} is not a token id of this model (0…${V - 1})`, { field: 'trainable_token_indices' });
  if (new Set(ids).size !== ids.length) throw new GptforgeError('trainable token indices repeat an id', { field: 'trainable_token_indices' });
}

/** Inverted dropout on the adapter's input: only while gradients are recorded (training). */
function dropout(x: Tensor, p: number, rng: Rng): Tensor {
  if (p === 0 || !isGradEnabled()) return x;
  const keep = 1 / (1 - p);
  const mask = new Float32Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.random() < p ? 0 : keep;
  return op.mul(x, new Tensor(mask, x.shape));
}

/**
 * y += s·h·Bᵀ in place (h [..., r], B [out, r], y [..., out]), with its backward to h and B
 * recorded on y beside the base op's own: the adapter's output never takes a [..., out]
 * tensor (and gradient) of its own, which an add would cost per adapted layer. In place is
 * safe because neither linear's backward reads its output.
 */
function addLowRank(y: Tensor, h: Tensor, B: Tensor, s: number): void {
  const k = getKernels();
  const M = h.rows;
  const [N, r] = B.shape;
  const hs = new Float32Array(M * r);
  k.scale(h.data, s, hs, hs.length);
  k.matmul(hs, B.data, y.data, M, r, N, false, true, true);
  const rec = record([h, B], () => {
    const dy = y.grad;
    if (!dy) return;
    if (h.requiresGrad) {
      // dh += s·dy·B
      const t = new Float32Array(M * r);
      getKernels().matmul(dy, B.data, t, M, N, r, false, false, false);
      getKernels().axpy(s, t, h.gradBuffer(), t.length);
    }
    if (B.requiresGrad) {
      // dB += s·dyᵀ·h = dyᵀ·(s·h)
      getKernels().matmul(dy, hs, B.gradBuffer(), N, M, r, true, false, true);
    }
  });
  y.requiresGrad = y.requiresGrad || rec;
}

/**
 * A GPT with a frozen base (fp32, or its block linears quantized) and named LoRA adapters.
 * Construction freezes every base parameter and installs the model's linear hook; the
 * GPT keeps working everywhere a GPT does (forward, KV-cache decoding, loss).
 */
export class LoraModel {
  readonly model: GPT;
  readonly basePrecision: BasePrecision;
  private readonly adapters = new Map<string, Adapter>();
  /** The quantized block weights by parameter name (empty for an fp32 base). */
  private readonly quantized = new Map<string, QuantizedMatrix>();
  private disabledAll = 0;
  private readonly rng: Rng;

  /**
   * @param opts.basePrecision f32 keeps the base as it is; q8_0 / q4_0 quantize every block linear
   *   (ggml blocks along the input dimension) and drop its fp32 weights: embeddings, norms,
   *   biases and the head stay fp32.
   * @throws GptforgeError when a block linear's input width is not a multiple of 32.
   */
  constructor(model: GPT, opts: { basePrecision?: BasePrecision; seed?: number } = {}) {
    this.model = model;
    this.basePrecision = opts.basePrecision ?? 'f32';
    this.rng = new Rng(opts.seed ?? 1234);
    for (const p of model.parameters()) p.requiresGrad = false;
    if (this.basePrecision !== 'f32') {
      const type = this.basePrecision;
      for (const site of model.linearSites()) {
        const [inF, outF] = site.weight.shape;
        if (inF % 32 !== 0) throw new GptforgeError(`a ${type} base needs every linear layer's input width to be a multiple of 32; ${site.weightName} is [${inF}, ${outF}]`, { field: 'basePrecision' });
        this.quantized.set(site.weightName, quantizeLinear(type, site.weight.data, inF, outF));
        // the fp32 copy is what a quantized base saves: drop it (the GPT no longer lists it)
        model.params.delete(site.weightName);
        (site.weight as { data: Float32Array }).data = new Float32Array(0);
      }
    }
    model.linearHook = (x, site) => this.forwardSite(x, site);
    model.tokenHook = { prepare: () => this.prepareTokens() };
  }

  /** The token table (the embedding, and the head when tied): fp32 whatever the base's precision. */
  private get table(): Tensor {
    return this.model.params.get('transformer.wte.weight')!;
  }

  /**
   * Before a forward: write each adapter's token rows into the table — its own values when it is
   * enabled (or merged), the base's when it is off or every adapter is (withAdaptersDisabled) —
   * and return the rows that train now. n·C floats an adapter: cheap beside any forward.
   */
  private prepareTokens(): TrainableRows[] {
    const out: TrainableRows[] = [];
    const W = this.table.data;
    const C = this.model.config.nEmbd;
    for (const a of this.adapters.values()) {
      const t = a.tokens;
      if (!t) continue;
      const on = a.merged || (a.enabled && this.disabledAll === 0);
      const src = on ? t.rows.data : t.original;
      for (let j = 0; j < t.indices.length; j++) W.set(src.subarray(j * C, (j + 1) * C), t.indices[j] * C);
      if (on && !a.merged) out.push(t);
    }
    return out;
  }

  /** True when the base's block linears are quantized (they cannot be trained or merged into). */
  get isQuantized(): boolean {
    return this.quantized.size > 0;
  }

  private forwardSite(x: Tensor, site: LinearSite): Tensor {
    const q = this.quantized.get(site.weightName);
    const y = q ? qlinear(x, q, site.bias) : op.linear(x, site.weight, site.bias);
    if (this.disabledAll > 0) return y;
    for (const a of this.adapters.values()) {
      if (!a.enabled || a.merged) continue;
      const pair = a.pairs.find((p) => p.site === site);
      if (!pair) continue;
      const h = op.matmul(dropout(x, a.config.dropout, this.rng), pair.A, { transB: true });
      addLowRank(y, h, pair.B, a.scaling);
    }
    return y;
  }

  /**
   * Add an adapter (enabled). Its parameters are named PEFT's way,
   * `base_model.model.<module path>.lora_A.<name>.weight`.
   * @throws GptforgeError for a bad config (naming the field) or a name already used.
   */
  addAdapter(name: string, cfg: LoraConfig): Adapter {
    if (this.adapters.has(name)) throw new GptforgeError(`an adapter named "${name}" already exists`, { field: 'adapter' });
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new GptforgeError(`adapter names are letters, digits, _ and -; got "${name}"`, { field: 'adapter' });
    validateLoraConfig(cfg, this.model);
    const rng = new Rng(cfg.seed ?? 42);
    const pairs: LoraPair[] = [];
    for (const site of this.model.linearSites()) {
      if (!cfg.targets.includes(site.module)) continue;
      const [inF, outF] = site.weight.shape;
      const prefix = `base_model.model.transformer.h.${site.layer}.${site.module}`;
      // kaiming_uniform_(a=√5) on [r, in]: gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√in
      const bound = 1 / Math.sqrt(inF);
      const A = parameter(`${prefix}.lora_A.${name}.weight`, [cfg.r, inF], (d) => {
        for (let i = 0; i < d.length; i++) d[i] = (2 * rng.random() - 1) * bound;
      });
      const B = parameter(`${prefix}.lora_B.${name}.weight`, [outF, cfg.r], (d) => d.fill(0));
      pairs.push({ site, A, B });
    }
    const a: Adapter = { name, config: { ...cfg, targets: [...cfg.targets] }, scaling: loraScaling(cfg), pairs, tokens: this.makeTokenRows(name, cfg.trainableTokenIndices ?? []), enabled: true, merged: false };
    this.adapters.set(name, a);
    return a;
  }

  /** Token rows for a new adapter, starting at the base's values (PEFT's init_weights=True: a no-op until trained). */
  private makeTokenRows(name: string, ids: readonly number[]): TokenRows | null {
    if (ids.length === 0) return null;
    for (const other of this.adapters.values()) {
      const clash = ids.find((id) => other.tokens?.indices.includes(id));
      if (clash !== undefined) throw new GptforgeError(`token ${clash} already trains in adapter "${other.name}"; adapters' trainable tokens must be disjoint (as PEFT requires)`, { field: 'trainable_token_indices' });
    }
    const C = this.model.config.nEmbd;
    const indices = Int32Array.from(ids);
    const original = new Float32Array(ids.length * C);
    const W = this.table.data;
    for (let j = 0; j < ids.length; j++) original.set(W.subarray(ids[j] * C, (ids[j] + 1) * C), j * C);
    const rows = parameter(`base_model.model.transformer.wte.token_adapter.trainable_tokens_delta.${name}`, [ids.length, C], (d) => d.set(original));
    return { indices, rows, original };
  }

  adapter(name: string): Adapter {
    const a = this.adapters.get(name);
    if (!a) throw new GptforgeError(`no adapter named "${name}"; adapters: ${[...this.adapters.keys()].join(', ') || '(none)'}`, { field: 'adapter' });
    return a;
  }

  adapterNames(): string[] {
    return [...this.adapters.keys()];
  }

  enable(name: string): void {
    this.adapter(name).enabled = true;
    this.prepareTokens();
  }

  disable(name: string): void {
    this.adapter(name).enabled = false;
    this.prepareTokens();
  }

  /** Run fn on the bare base (every adapter off, merged ones excepted: unmerge those first). */
  withAdaptersDisabled<T>(fn: () => T): T {
    for (const a of this.adapters.values()) {
      if (a.merged && a.enabled) throw new GptforgeError(`adapter "${a.name}" is merged into the base; unmerge it before asking for the bare base`, { field: 'adapter' });
    }
    this.disabledAll++;
    this.prepareTokens();
    try {
      return fn();
    } finally {
      this.disabledAll--;
      this.prepareTokens();
    }
  }

  /** ΔW [in, out] = s·(B·A)ᵀ of one pair. */
  private delta(a: Adapter, p: LoraPair): Float32Array {
    const [inF, outF] = p.site.weight.shape;
    const d = new Float32Array(inF * outF);
    // (B·A)ᵀ = Aᵀ·Bᵀ: A [r, in] transposed times B [out, r] transposed
    getKernels().matmul(p.A.data, p.B.data, d, inF, a.config.r, outF, true, true, false);
    getKernels().scale(d, a.scaling, d, d.length);
    return d;
  }

  /**
   * Fold adapter `name` into the base weights (W += s·(B·A)ᵀ); the forward pass then skips it.
   * @throws GptforgeError on a quantized base (re-quantizing would not be exact: merge onto the fp32 base, as `gptforge merge` does).
   */
  merge(name: string): void {
    const a = this.adapter(name);
    if (a.merged) return;
    if (this.isQuantized) throw new GptforgeError(`cannot merge adapter "${name}" into a ${this.basePrecision} base: the sum would have to be re-quantized; merge onto the fp32 base (gptforge merge)`, { field: 'basePrecision' });
    for (const p of a.pairs) getKernels().axpy(1, this.delta(a, p), p.site.weight.data, p.site.weight.size);
    a.merged = true;
    this.prepareTokens(); // its token rows, if any, now stay in the table
  }

  /** Take a merged adapter out of the base again (W −= s·(B·A)ᵀ). */
  unmerge(name: string): void {
    const a = this.adapter(name);
    if (!a.merged) return;
    for (const p of a.pairs) getKernels().axpy(-1, this.delta(a, p), p.site.weight.data, p.site.weight.size);
    a.merged = false;
    this.prepareTokens();
  }

  /** What trains: the enabled, unmerged adapters' A and B (or only `name`'s), and the scalar head if the model has one. */
  trainableParameters(name?: string): Tensor[] {
    const out: Tensor[] = [];
    for (const a of this.adapters.values()) {
      if ((name !== undefined && a.name !== name) || (name === undefined && !a.enabled) || a.merged) continue;
      for (const p of a.pairs) out.push(p.A, p.B);
      if (a.tokens) out.push(a.tokens.rows);
    }
    for (const k of ['score.weight', 'score.bias']) {
      const t = this.model.params.get(k);
      if (t) out.push(t);
    }
    for (const t of out) t.requiresGrad = true;
    return out;
  }

  /** Parameters of the base model as built (quantized ones counted by their weights, not bytes). */
  baseParameterCount(): number {
    let n = this.model.numParams();
    for (const q of this.quantized.values()) n += q.rows * q.cols;
    return n;
  }

  /** Bytes the base's weights take in memory (fp32 tensors at 4 bytes, quantized blocks as stored). */
  baseBytes(): number {
    let n = this.model.numParams() * 4;
    for (const q of this.quantized.values()) n += q.data.length;
    return n;
  }
}
