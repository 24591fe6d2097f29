import { Rng } from './rng.js';

/**
 * A Tensor is a shape and a contiguous row-major Float32Array, plus (when it takes part in
 * autograd) a gradient buffer of the same size. There are no strided views: reshapes share
 * the data, every other layout change is an explicit copy or a flag on matmul.
 *
 * Autograd is a tape: each op that has an input needing a gradient pushes a closure that
 * accumulates its inputs' gradients from its output's gradient. `loss.backward()` runs the
 * tape in reverse and clears it. `noGrad(fn)` runs fn without recording (inference).
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  grad: Float32Array | null = null;
  requiresGrad: boolean;
  /** Optional name (parameters carry their checkpoint name). */
  name: string | undefined;
  /** Made by an op inside a training step: its gradient comes from the step arena too. */
  pooled = false;

  constructor(data: Float32Array, shape: readonly number[], requiresGrad = false, name?: string) {
    const n = numel(shape);
    if (data.length !== n) throw new Error(`Tensor: data length ${data.length} does not match shape [${shape.join(', ')}] (${n} elements)`);
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.requiresGrad = requiresGrad;
    this.name = name;
  }

  get size(): number {
    return this.data.length;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Size of the last dimension. */
  get lastDim(): number {
    return this.shape[this.shape.length - 1];
  }

  /** Number of rows when viewed as [rows, lastDim]. */
  get rows(): number {
    return this.shape.length === 0 ? 1 : this.data.length / this.lastDim;
  }

  /** The gradient buffer, allocated (zeroed) on first use. */
  gradBuffer(): Float32Array {
    if (!this.grad) this.grad = this.pooled ? allocBuffer(this.data.length, true) : new Float32Array(this.data.length);
    return this.grad;
  }

  /**
   * For a backward kernel that can either write its result or add it: true when this tensor had
   * no gradient yet; `grad` then holds a buffer that is **not** zero-filled (from the arena), and
   * the caller must write every element of it. False: `grad` holds the gradient so far, to add to.
   * Saves the zero fill and the kernel's read of the zeros (the first of an activation's
   * gradient contributions, e.g. a linear layer's dx, which the tape runs first).
   */
  takeFreshGrad(): boolean {
    if (this.grad) return false;
    this.grad = this.pooled ? allocBuffer(this.data.length, false) : new Float32Array(this.data.length);
    return true;
  }

  zeroGrad(): void {
    if (this.grad) this.grad.fill(0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1) throw new Error(`item(): tensor has shape [${this.shape.join(', ')}], not one element`);
    return this.data[0];
  }

  /** Run backpropagation from this scalar: d(this)/d(this) = 1, then the tape in reverse. */
  backward(): void {
    if (!this.requiresGrad) throw new Error(`backward(): tensor of shape [${this.shape.join(', ')}] does not require grad (was it computed under noGrad, or from inputs that need no gradient?)`);
    if (this.data.length !== 1) throw new Error(`backward(): expected a scalar loss, got shape [${this.shape.join(', ')}]`);
    this.gradBuffer()[0] += 1;
    runTapeBackward();
  }

  toString(): string {
    return `Tensor([${this.shape.join(', ')}]${this.name ? ` ${this.name}` : ''})`;
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
    n *= d;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// The tape

type BackwardFn = () => void;
/** A recorded backward closure, and the output whose gradient it consumes (when it made it). */
interface TapeNode {
  fn: BackwardFn;
  out: Tensor | undefined;
}
let tape: TapeNode[] = [];
let gradEnabled = true;

/** True when ops record for backward (false inside noGrad). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Record a backward closure when grad is enabled and some input needs a gradient. Returns
 * whether the output needs grad. `out` is the tensor the op made, when the closure is the last
 * reader of its gradient (true of an op's own output: every op that consumes it was recorded
 * later and runs earlier in backward). Its gradient buffer then goes back to the step arena as
 * soon as the closure has run, so a backward pass holds the gradients of the layers still to go
 * rather than of every activation at once. Omit `out` where the gradient is shared (reshape)
 * or where the closure adds to another op's output in place (a LoRA delta).
 */
export function record(inputs: readonly (Tensor | null | undefined)[], backward: BackwardFn, out?: Tensor): boolean {
  if (!gradEnabled) return false;
  let any = false;
  for (const t of inputs) if (t && t.requiresGrad) any = true;
  if (!any) return false;
  tape.push({ fn: backward, out });
  return true;
}

/** True while the tape runs backward: its gradient buffers belong in the step arena. */
let inBackward = false;

function runTapeBackward(): void {
  const nodes = tape;
  tape = [];
  const prev = gradEnabled;
  gradEnabled = false;
  inBackward = true;
  try {
    for (let i = nodes.length - 1; i >= 0; i--) {
      const { fn, out } = nodes[i];
      fn();
      if (out?.pooled && out.grad) releaseGrad(out);
    }
  } finally {
    gradEnabled = prev;
    inBackward = false;
  }
}

/** Drop whatever was recorded without running it (e.g. after an evaluation forward that did record). */
export function clearTape(): void {
  tape = [];
}

export function tapeLength(): number {
  return tape.length;
}

/** Run fn without recording any backward closures. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

// ---------------------------------------------------------------------------------------------
// The step arena
//
// A training step allocates the same set of activation and gradient buffers every time.
// Allocating them fresh costs a zero-fill and page faults on first touch (≈ as much as a
// small matmul). While the arena is enabled, op outputs, their gradients and kernel scratch
// come from size-keyed free lists and return to them at `resetArena()`, which the training
// loop calls before each micro-batch: nothing made by ops may be kept across that call.
// Parameters and their gradients never come from the arena.

const freeLists = new Map<number, Float32Array[]>();
let inUse = new Set<Float32Array>();
let arenaEnabled = false;

/** Turn the step arena on or off (off: plain allocation). Turning it off releases everything. */
export function setArenaEnabled(on: boolean): void {
  arenaEnabled = on;
  if (!on) {
    inUse = new Set();
    freeLists.clear();
  }
}

/** Whether the step arena is on (the training loop turns it on for its steps; the estimate's timed steps too). */
export function isArenaEnabled(): boolean {
  return arenaEnabled;
}

/** Buffers handed out by the arena since the last reset (tests check evaluation keeps none). */
export function arenaBuffersInUse(): number {
  return inUse.size;
}

/** Buffers parked in the free lists (tests check variable shapes do not pile up). */
export function arenaBuffersFree(): number {
  let n = 0;
  for (const list of freeLists.values()) n += list.length;
  return n;
}

/** Resets so far, and the reset at which each buffer size was last handed out. */
let resets = 0;
const lastUsed = new Map<number, number>();

/**
 * Bytes of free buffers the arena keeps for sizes not asked for in the last two steps, the
 * most recently used first. Variable-shape stages (reward modeling: batches padded to a
 * multiple of 16 tokens) cycle through a few shapes; dropping a shape's buffers after two
 * steps without it meant allocating them again and again — zero-fills, page faults and, in
 * a process with a big heap (the pipeline), full garbage collections that fresh external
 * memory triggers. Measured (an RM step at the small preset's shape, 32 rows of 21–111
 * tokens, 1 thread, a 115 MB heap of other objects; bench/rm-step.ts): 1.26 s → 0.89 s CPU with padding to 16
 * and this budget. The budget bounds what shapes seen long ago (a stage's evaluation, a
 * rare length) can hold.
 */
export const ARENA_KEEP_BYTES = 512 * 2 ** 20;
let keepBytes = ARENA_KEEP_BYTES;

/** Set the arena's budget for sizes not used in the last two steps (bytes ≥ 0; 0 releases them at once). */
export function setArenaKeepBytes(bytes: number): void {
  if (!(Number.isFinite(bytes) && bytes >= 0)) throw new Error(`setArenaKeepBytes: bytes must be a finite number ≥ 0, got ${bytes}`);
  keepBytes = bytes;
}

/** Bytes parked in the free lists. */
export function arenaBytesFree(): number {
  let n = 0;
  for (const [size, list] of freeLists) n += size * 4 * list.length;
  return n;
}

/**
 * Return every buffer handed out since the last reset to the free lists. Sizes asked for in
 * the last two steps are kept; older ones while they fit in ARENA_KEEP_BYTES (most recent
 * first), the rest released: a stage with variable shapes would otherwise keep a full set of
 * activation buffers for every length it ever saw.
 */
export function resetArena(): void {
  resets++;
  for (const b of inUse) {
    let list = freeLists.get(b.length);
    if (!list) freeLists.set(b.length, (list = []));
    list.push(b);
  }
  inUse = new Set();
  const old = [...freeLists.keys()].filter((size) => (lastUsed.get(size) ?? 0) < resets - 2).sort((a, b) => (lastUsed.get(b) ?? 0) - (lastUsed.get(a) ?? 0));
  let kept = 0;
  for (const size of old) {
    kept += size * 4 * freeLists.get(size)!.length;
    if (kept > keepBytes) {
      freeLists.delete(size);
      lastUsed.delete(size);
    }
  }
}

// A decode step's scope (GPT.nextLogits): one step of sampling allocates the same few dozen
// op outputs every time, [rows, C] to [rows, 4C] floats, and allocating them fresh (a zero-fill
// each, and garbage collection of their backing stores) cost more than the step's attention
// at 8 rows (measured, docs/journal/engine.md). Inside a scope, no-grad buffers come from their own
// size-keyed free lists (apart from the training arena's, which a sampling call inside a
// training step must not disturb) and go back to them when the scope ends, so nothing made
// by ops inside it may outlive it: the caller copies what it returns. Sizes not asked for in
// the last few scopes are dropped (prefills of many lengths would otherwise pile up).

let stepUsed: Float32Array[] | null = null;
const stepFree = new Map<number, Float32Array[]>();
const stepLastUsed = new Map<number, number>();
let stepScopes = 0;

/**
 * Run fn (no-grad work whose op outputs are all dead when it returns, e.g. one decode step that
 * returns a copy of its logits) with op buffers recycled from earlier scopes. Nested calls
 * join the outer scope.
 */
export function withStepScope<T>(fn: () => T): T {
  if (stepUsed) return fn();
  const used: Float32Array[] = [];
  stepUsed = used;
  try {
    return fn();
  } finally {
    stepUsed = null;
    stepScopes++;
    for (const b of used) {
      let list = stepFree.get(b.length);
      if (!list) stepFree.set(b.length, (list = []));
      list.push(b);
    }
    for (const size of stepFree.keys()) {
      if ((stepLastUsed.get(size) ?? 0) < stepScopes - 4) {
        stepFree.delete(size);
        stepLastUsed.delete(size);
      }
    }
  }
}

/** noGrad(fn) inside withStepScope: one decode step (GPT.nextLogits). */
export function noGradStep<T>(fn: () => T): T {
  return withStepScope(() => noGrad(fn));
}

/** A Float32Array of n elements: from the arena when enabled (zeroed only if asked), else fresh (always zero). */
export function allocBuffer(n: number, zero: boolean): Float32Array {
  if (stepUsed && !gradEnabled && !inBackward && n >= 64) {
    const list = stepFree.get(n);
    const reused = list?.pop();
    stepLastUsed.set(n, stepScopes + 1);
    if (reused && zero) reused.fill(0);
    const b = reused ?? new Float32Array(n);
    stepUsed.push(b);
    return b;
  }
  // Without grad (evaluation, sampling inside a training run) nothing is kept for a backward
  // pass and many forward passes may run between two resets: plain, collectable allocations,
  // or every one of them would stay parked in the arena (gigabytes for an evaluation).
  if (!arenaEnabled || n < 64 || (!gradEnabled && !inBackward)) return new Float32Array(n);
  const list = freeLists.get(n);
  const b = list && list.length > 0 ? list.pop()! : new Float32Array(n);
  lastUsed.set(n, resets);
  if (zero) b.fill(0);
  inUse.add(b);
  return b;
}

/** Hand t's gradient back to the arena before the next reset (the tape does it once consumed). */
function releaseGrad(t: Tensor): void {
  const g = t.grad;
  t.grad = null;
  if (g) releaseBuffer(g);
}

/**
 * Hand a buffer from allocBuffer back to the training arena before the next reset, once nothing
 * reads it any more (a backward closure's scratch gradient); a buffer the arena did not hand
 * out is left alone.
 */
export function releaseBuffer(b: Float32Array): void {
  if (!inUse.delete(b)) return;
  let list = freeLists.get(b.length);
  if (!list) freeLists.set(b.length, (list = []));
  list.push(b);
}

/** An op's output tensor. `zero` only when the kernel accumulates into it. */
export function opOutput(shape: readonly number[], zero = false): Tensor {
  const t = new Tensor(allocBuffer(numel(shape), zero), shape);
  t.pooled = arenaEnabled;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Constructors

export function zeros(shape: readonly number[], requiresGrad = false): Tensor {
  return new Tensor(new Float32Array(numel(shape)), shape, requiresGrad);
}

export function fromArray(values: ArrayLike<number>, shape?: readonly number[], requiresGrad = false): Tensor {
  return new Tensor(Float32Array.from(values as ArrayLike<number>), shape ?? [values.length], requiresGrad);
}

export function randn(shape: readonly number[], rng: Rng, std = 1, requiresGrad = false): Tensor {
  const t = zeros(shape, requiresGrad);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * std;
  return t;
}

/** A parameter: a named tensor that requires grad. */
export function parameter(name: string, shape: readonly number[], init: (data: Float32Array) => void): Tensor {
  const t = zeros(shape, true);
  t.name = name;
  init(t.data);
  return t;
}
