import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import type { BlockQuant, F32, Kernels } from './kernels.js';
import { bestIsa, resolveIsa, type IsaName, type IsaSupport } from './isa.js';

/**
 * The native backend: the C kernels in native/, built by node-gyp into
 * build/Release/gptforge_native.node and called through N-API on the tensors' own memory.
 *
 * The C side trusts its sizes, so every call is validated here first: a wrong size throws
 * an Error naming the kernel and the sizes instead of reading or writing out of bounds.
 */
/** What the addon exports: the kernel table's functions (same signatures) plus a few extras. */
type Addon = Omit<Kernels, 'name' | 'threads' | 'setThreads' | 'adamw' | 'attentionDecode' | 'attentionDecodeQkv' | 'qmatmul' | 'qmatmulQ8' | 'qmatmulBackward' | 'qdequantize'> & {
  /** Every row array given (the wrapper fills the defaults); pos0 is lengths[r]. */
  attentionDecode(q: F32, kc: F32, vc: F32, out: F32, B: number, Tq: number, Tmax: number, H: number, D: number, starts: Int32Array, lengths: Int32Array, rows: Int32Array): void;
  attentionDecodeQkv(qkv: F32, kc: F32, vc: F32, out: F32, B: number, Tq: number, Tmax: number, H: number, D: number, starts: Int32Array, lengths: Int32Array, rows: Int32Array): void;
  /** The block kernels take the type as a number: 0 = Q8_0, 1 = Q4_0 (native/qmatmul.c). */
  qmatmul(x: F32, w: Uint8Array, y: F32, M: number, K: number, N: number, type: number, acc: boolean): void;
  qmatmulQ8(x: F32, w: Uint8Array, y: F32, M: number, K: number, N: number, type: number, acc: boolean, scales: F32 | null): void;
  qmatmulBackward(dy: F32, w: Uint8Array, dx: F32, M: number, K: number, N: number, type: number): void;
  qdequantize(w: Uint8Array, out: F32, N: number, K: number, type: number): void;
  /** AdamW with the bias corrections precomputed (1 − β^step), so the C loop does no pow(). */
  adamw(p: F32, g: F32, m: F32, v: F32, n: number, lr: number, b1: number, b2: number, eps: number, wd: number, bc1: number, bc2: number, gs: number): void;
  setThreads(n: number): void;
  threads(): number;
  isa(): string;
  isas(): IsaSupport[];
  setIsa(name: string): boolean;
  peakGflops(iters: number): number;
};

function packageRoot(): string {
  // dist/src/engine/backend-native.js → the package root is three levels up
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

class ArgError extends Error {}

function size(kernel: string, name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new ArgError(`${kernel}: ${name} must be a non-negative 32-bit integer, got ${n}`);
}

/** `size` for each named dimension: sizes('attentionForward', { B, T, H, D }). */
function sizes(kernel: string, dims: Record<string, number>): void {
  for (const [name, n] of Object.entries(dims)) size(kernel, name, n);
}

function need(kernel: string, name: string, a: ArrayLike<number> | null | undefined, n: number, nullable = false): void {
  if (a === null || a === undefined) {
    if (nullable) return;
    throw new ArgError(`${kernel}: ${name} is missing`);
  }
  if (a.length < n) throw new ArgError(`${kernel}: ${name} has ${a.length} elements, needs at least ${n}`);
}

function f32(kernel: string, name: string, a: unknown, n: number, nullable = false): void {
  if (nullable && (a === null || a === undefined)) return;
  if (!(a instanceof Float32Array)) throw new ArgError(`${kernel}: ${name} must be a Float32Array`);
  need(kernel, name, a, n);
}

function f64(kernel: string, name: string, a: unknown, n: number): void {
  if (!(a instanceof Float64Array)) throw new ArgError(`${kernel}: ${name} must be a Float64Array`);
  need(kernel, name, a, n);
}

function i32(kernel: string, name: string, a: unknown, n: number): void {
  if (!(a instanceof Int32Array)) throw new ArgError(`${kernel}: ${name} must be an Int32Array`);
  need(kernel, name, a, n);
}

/** The checks every sgemm entry shares: M, K, N sizes and Float32Array A [M,K], B [K,N], C [M,N]. */
function productArgs(kernel: string, a: unknown, b: unknown, c: unknown, M: number, K: number, N: number): void {
  sizes(kernel, { M, K, N });
  f32(kernel, 'A', a, M * K);
  f32(kernel, 'B', b, K * N);
  f32(kernel, 'C', c, M * N);
}

/** Checks a block matrix [N,K] of `type` and returns the addon's type code. */
function blocks(kernel: string, w: unknown, N: number, K: number, type: BlockQuant): number {
  if (type !== 'q8_0' && type !== 'q4_0') throw new ArgError(`${kernel}: type must be "q8_0" or "q4_0", got ${String(type)}`);
  if (K % 32 !== 0) throw new ArgError(`${kernel}: K must be a multiple of 32 (whole blocks), got ${K}`);
  if (!(w instanceof Uint8Array)) throw new ArgError(`${kernel}: W must be a Uint8Array of ${type} blocks`);
  need(kernel, 'W', w, ((N * K) / 32) * (type === 'q8_0' ? 34 : 18));
  return type === 'q8_0' ? 0 : 1;
}

/** Extra facts the native backend can tell about the machine. */
export interface NativeInfo {
  /** The instruction-set path every kernel runs on: avx512, avx2 or scalar (src/engine/isa.ts). */
  readonly isa: string;
  /** Every path name with whether this CPU and build can run it. */
  isas(): IsaSupport[];
  /**
   * Switch every kernel to another path (tests run each path in one process). Call between
   * kernels only. @throws GptforgeError as for GPTFORGE_ISA when the path is unknown or unsupported.
   */
  setIsa(name: IsaName | string): void;
  /** Measured fp32 FMA peak of all pool threads, GFLOP/s. */
  peakGflops(): number;
}

/**
 * Loads the addon and applies GPTFORGE_ISA (avx512 | avx2 | scalar | neon; unset = the best
 * the CPU supports). Returns { error } when the addon cannot be loaded (the caller may fall
 * back to the reference backend).
 * @throws GptforgeError when GPTFORGE_ISA names an unknown path or one this CPU lacks: a
 *   forced path is never silently replaced by another.
 */
export function loadNativeKernels(): { kernels: Kernels & NativeInfo } | { error: string } {
  const path = join(packageRoot(), 'build', 'Release', 'gptforge_native.node');
  if (!existsSync(path)) return { error: `${path} not found (the addon was not built)` };
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    return { error: `cannot load ${path}: ${(e as Error).message}` };
  }
  if (typeof addon.setIsa !== 'function') return { error: `${path} is an older build without instruction-set selection; run "npm rebuild"` };
  const setIsa = (want: string, label: string): void => {
    const isa = resolveIsa(want, addon.isas(), { label }) ?? (label === 'GPTFORGE_ISA' ? null : bestIsa(addon.isas()));
    if (isa !== null && !addon.setIsa(isa)) throw new Error(`native addon refused the instruction set ${isa}`);
  };
  setIsa(process.env.GPTFORGE_ISA ?? '', 'GPTFORGE_ISA');
  const k: Kernels & NativeInfo = {
    name: 'native',
    get isa(): string {
      return addon.isa();
    },
    isas: () => addon.isas(),
    setIsa: (name: string) => setIsa(name, 'setIsa'),
    // best of three: a run that shares a core with something else reads low
    peakGflops: () => Math.max(addon.peakGflops(20_000_000), addon.peakGflops(20_000_000), addon.peakGflops(20_000_000)),
    get threads(): number {
      return addon.threads();
    },
    setThreads(n: number): void {
      size('setThreads', 'n', n);
      addon.setThreads(Math.max(1, n));
    },
    matmul(a, b, c, M, K, N, tA, tB, acc) {
      productArgs('matmul', a, b, c, M, K, N);
      addon.matmul(a, b, c, M, K, N, tA, tB, acc);
    },
    matmulBias(a, b, c, M, K, N, tB, bias, act) {
      const kn = 'matmulBias';
      productArgs(kn, a, b, c, M, K, N);
      f32(kn, 'bias', bias, N);
      if (act) f32(kn, 'act', act, M * N);
      addon.matmulBias(a, b, c, M, K, N, tB, bias, act);
    },
    qmatmul(x, w, y, M, K, N, type, acc) {
      const kn = 'qmatmul';
      size(kn, 'M', M);
      size(kn, 'K', K);
      size(kn, 'N', N);
      const t = blocks(kn, w, N, K, type);
      f32(kn, 'x', x, M * K);
      f32(kn, 'y', y, M * N);
      addon.qmatmul(x, w, y, M, K, N, t, acc);
    },
    qmatmulQ8(x, w, y, M, K, N, type, acc, scales) {
      const kn = 'qmatmulQ8';
      size(kn, 'M', M);
      size(kn, 'K', K);
      size(kn, 'N', N);
      const t = blocks(kn, w, N, K, type);
      f32(kn, 'x', x, M * K);
      f32(kn, 'y', y, M * N);
      if (scales) f32(kn, 'scales', scales, (N * K) / 32);
      addon.qmatmulQ8(x, w, y, M, K, N, t, acc, scales ?? null);
    },
    qmatmulBackward(dy, w, dx, M, K, N, type) {
      const kn = 'qmatmulBackward';
      size(kn, 'M', M);
      size(kn, 'K', K);
      size(kn, 'N', N);
      const t = blocks(kn, w, N, K, type);
      f32(kn, 'dy', dy, M * N);
      f32(kn, 'dx', dx, M * K);
      addon.qmatmulBackward(dy, w, dx, M, K, N, t);
    },
    qdequantize(w, out, N, K, type) {
      const kn = 'qdequantize';
      size(kn, 'N', N);
      size(kn, 'K', K);
      const t = blocks(kn, w, N, K, type);
      f32(kn, 'out', out, N * K);
      addon.qdequantize(w, out, N, K, t);
    },
    addBias(out, bias, rows, cols) {
      size('addBias', 'rows', rows);
      size('addBias', 'cols', cols);
      f32('addBias', 'out', out, rows * cols);
      f32('addBias', 'bias', bias, cols);
      addon.addBias(out, bias, rows, cols);
    },
    biasGrad(dout, dbias, rows, cols) {
      size('biasGrad', 'rows', rows);
      size('biasGrad', 'cols', cols);
      f32('biasGrad', 'dout', dout, rows * cols);
      f32('biasGrad', 'dbias', dbias, cols);
      addon.biasGrad(dout, dbias, rows, cols);
    },
    layerNormForward(x, w, b, out, mean, rstd, rows, cols, eps) {
      const kn = 'layerNormForward';
      size(kn, 'rows', rows);
      size(kn, 'cols', cols);
      f32(kn, 'x', x, rows * cols);
      f32(kn, 'weight', w, cols, true);
      f32(kn, 'bias', b, cols, true);
      f32(kn, 'out', out, rows * cols);
      f32(kn, 'mean', mean, rows);
      f32(kn, 'rstd', rstd, rows);
      addon.layerNormForward(x, w, b, out, mean, rstd, rows, cols, eps);
    },
    layerNormBackward(dout, x, w, mean, rstd, dx, dw, db, rows, cols) {
      const kn = 'layerNormBackward';
      size(kn, 'rows', rows);
      size(kn, 'cols', cols);
      f32(kn, 'dout', dout, rows * cols);
      f32(kn, 'x', x, rows * cols);
      f32(kn, 'weight', w, cols, true);
      f32(kn, 'mean', mean, rows);
      f32(kn, 'rstd', rstd, rows);
      f32(kn, 'dx', dx, rows * cols);
      f32(kn, 'dweight', dw, cols, true);
      f32(kn, 'dbias', db, cols, true);
      addon.layerNormBackward(dout, x, w, mean, rstd, dx, dw, db, rows, cols);
    },
    rmsNormForward(x, w, out, rstd, rows, cols, eps) {
      const kn = 'rmsNormForward';
      size(kn, 'rows', rows);
      size(kn, 'cols', cols);
      f32(kn, 'x', x, rows * cols);
      f32(kn, 'weight', w, cols, true);
      f32(kn, 'out', out, rows * cols);
      f32(kn, 'rstd', rstd, rows);
      addon.rmsNormForward(x, w, out, rstd, rows, cols, eps);
    },
    rmsNormBackward(dout, x, w, rstd, dx, dw, rows, cols) {
      const kn = 'rmsNormBackward';
      size(kn, 'rows', rows);
      size(kn, 'cols', cols);
      f32(kn, 'dout', dout, rows * cols);
      f32(kn, 'x', x, rows * cols);
      f32(kn, 'weight', w, cols, true);
      f32(kn, 'rstd', rstd, rows);
      f32(kn, 'dx', dx, rows * cols);
      f32(kn, 'dweight', dw, cols, true);
      addon.rmsNormBackward(dout, x, w, rstd, dx, dw, rows, cols);
    },
    geluForward(x, out, n) {
      size('geluForward', 'n', n);
      f32('geluForward', 'x', x, n);
      f32('geluForward', 'out', out, n);
      addon.geluForward(x, out, n);
    },
    geluBackward(x, dout, dx, n) {
      size('geluBackward', 'n', n);
      f32('geluBackward', 'x', x, n);
      f32('geluBackward', 'dout', dout, n);
      f32('geluBackward', 'dx', dx, n);
      addon.geluBackward(x, dout, dx, n);
    },
    biasGeluForward(pre, bias, act, rows, cols) {
      const kn = 'biasGeluForward';
      size(kn, 'rows', rows);
      size(kn, 'cols', cols);
      f32(kn, 'pre', pre, rows * cols);
      f32(kn, 'bias', bias, cols);
      f32(kn, 'act', act, rows * cols);
      addon.biasGeluForward(pre, bias, act, rows, cols);
    },
    biasGeluBackward(pre, dout, dpre, dbias, rows, cols) {
      const kn = 'biasGeluBackward';
      size(kn, 'rows', rows);
      size(kn, 'cols', cols);
      f32(kn, 'pre', pre, rows * cols);
      f32(kn, 'dout', dout, rows * cols);
      f32(kn, 'dpre', dpre, rows * cols);
      f32(kn, 'dbias', dbias, cols, true);
      addon.biasGeluBackward(pre, dout, dpre, dbias, rows, cols);
    },
    siluForward(x, out, n) {
      size('siluForward', 'n', n);
      f32('siluForward', 'x', x, n);
      f32('siluForward', 'out', out, n);
      addon.siluForward(x, out, n);
    },
    siluBackward(x, dout, dx, n) {
      size('siluBackward', 'n', n);
      f32('siluBackward', 'x', x, n);
      f32('siluBackward', 'dout', dout, n);
      f32('siluBackward', 'dx', dx, n);
      addon.siluBackward(x, dout, dx, n);
    },
    softmaxForward(x, out, rows, cols) {
      size('softmaxForward', 'rows', rows);
      size('softmaxForward', 'cols', cols);
      f32('softmaxForward', 'x', x, rows * cols);
      f32('softmaxForward', 'out', out, rows * cols);
      addon.softmaxForward(x, out, rows, cols);
    },
    softmaxBackward(out, dout, dx, rows, cols) {
      size('softmaxBackward', 'rows', rows);
      size('softmaxBackward', 'cols', cols);
      f32('softmaxBackward', 'out', out, rows * cols);
      f32('softmaxBackward', 'dout', dout, rows * cols);
      f32('softmaxBackward', 'dx', dx, rows * cols);
      addon.softmaxBackward(out, dout, dx, rows, cols);
    },
    attentionForward(qkv, out, lse, B, T, H, D) {
      const kn = 'attentionForward';
      sizes(kn, { B, T, H, D });
      f32(kn, 'qkv', qkv, B * T * 3 * H * D);
      f32(kn, 'out', out, B * T * H * D);
      f32(kn, 'lse', lse, B * H * T);
      addon.attentionForward(qkv, out, lse, B, T, H, D);
    },
    attentionBackward(qkv, out, lse, dout, dqkv, B, T, H, D, accumulate = true) {
      const kn = 'attentionBackward';
      sizes(kn, { B, T, H, D });
      f32(kn, 'qkv', qkv, B * T * 3 * H * D);
      f32(kn, 'out', out, B * T * H * D);
      f32(kn, 'lse', lse, B * H * T);
      f32(kn, 'dout', dout, B * T * H * D);
      f32(kn, 'dqkv', dqkv, B * T * 3 * H * D);
      addon.attentionBackward(qkv, out, lse, dout, dqkv, B, T, H, D, accumulate);
    },
    attentionDecode(q, kc, vc, out, B, Tq, pos0, Tmax, H, D, starts, lengths, rows) {
      const kn = 'attentionDecode';
      sizes(kn, { B, Tq, pos0, Tmax, H, D });
      const R = Math.floor(kc.length / (Tmax * H * D)); // cache rows
      f32(kn, 'q', q, B * Tq * H * D);
      f32(kn, 'kCache', kc, (rows ? 1 : B) * Tmax * H * D);
      f32(kn, 'vCache', vc, Math.max(R, rows ? 1 : B) * Tmax * H * D);
      f32(kn, 'out', out, B * Tq * H * D);
      const checkRowArray = (name: string, a: Int32Array | undefined, n: number): void => {
        if (a !== undefined && (!(a instanceof Int32Array) || a.length < n)) throw new ArgError(`${kn}: ${name} must be an Int32Array of at least ${n} elements`);
      };
      checkRowArray('rows', rows, B);
      const rw = rows ?? Int32Array.from({ length: B }, (_, b) => b);
      for (let b = 0; b < B; b++) if (!(rw[b] >= 0 && rw[b] < R)) throw new ArgError(`${kn}: rows[${b}] = ${rw[b]} is not a row of the cache (0..${R - 1})`);
      checkRowArray('starts', starts, rows ? R : B);
      checkRowArray('lengths', lengths, rows ? R : B);
      const len = lengths ?? new Int32Array(R).fill(pos0);
      const st = starts ?? new Int32Array(R);
      for (let b = 0; b < B; b++) {
        const r = rw[b];
        if (!(len[r] >= 0) || len[r] + Tq > Tmax) throw new ArgError(`${kn}: positions ${len[r]}+${Tq} exceed the cache capacity ${Tmax}`);
        if (st[r] < 0 || st[r] > Tmax) throw new ArgError(`${kn}: starts[${r}] = ${st[r]} is outside the cache (0..${Tmax})`);
      }
      addon.attentionDecode(q, kc, vc, out, B, Tq, Tmax, H, D, st, len, rw);
    },
    attentionDecodeQkv(qkv, kc, vc, out, B, Tq, Tmax, H, D, starts, lengths, rows) {
      const kn = 'attentionDecodeQkv';
      sizes(kn, { B, Tq, Tmax, H, D });
      const C = H * D;
      const R = Math.floor(kc.length / (Tmax * C)); // cache rows
      f32(kn, 'qkv', qkv, B * Tq * 3 * C);
      f32(kn, 'kCache', kc, Tmax * C);
      f32(kn, 'vCache', vc, R * Tmax * C);
      f32(kn, 'out', out, B * Tq * C);
      for (const [name, a] of [
        ['rows', rows],
        ['starts', starts],
        ['lengths', lengths],
      ] as const) {
        if (!(a instanceof Int32Array) || a.length < (name === 'rows' ? B : R)) throw new ArgError(`${kn}: ${name} must be an Int32Array of at least ${name === 'rows' ? B : R} elements`);
      }
      const seen = new Uint8Array(R); // distinct rows: tasks write the cache in parallel
      for (let b = 0; b < B; b++) {
        const r = rows[b];
        if (!(r >= 0 && r < R) || seen[r]) throw new ArgError(`${kn}: rows[${b}] = ${r} is not a distinct row of the cache (0..${R - 1})`);
        seen[r] = 1;
        if (!(lengths[r] >= 0) || lengths[r] + Tq > Tmax) throw new ArgError(`${kn}: positions ${lengths[r]}+${Tq} exceed the cache capacity ${Tmax}`);
        if (starts[r] < 0 || starts[r] > Tmax) throw new ArgError(`${kn}: starts[${r}] = ${starts[r]} is outside the cache (0..${Tmax})`);
      }
      addon.attentionDecodeQkv(qkv, kc, vc, out, B, Tq, Tmax, H, D, starts, lengths, rows);
    },
    crossEntropyForward(logits, targets, losses, rows, V, ignore) {
      const kn = 'crossEntropyForward';
      size(kn, 'rows', rows);
      size(kn, 'V', V);
      f32(kn, 'logits', logits, rows * V);
      i32(kn, 'targets', targets, rows);
      f32(kn, 'losses', losses, rows);
      checkTargets(kn, targets, rows, V, ignore);
      addon.crossEntropyForward(logits, targets, losses, rows, V, ignore);
    },
    crossEntropyBackward(logits, targets, dloss, dlogits, rows, V, ignore) {
      const kn = 'crossEntropyBackward';
      size(kn, 'rows', rows);
      size(kn, 'V', V);
      f32(kn, 'logits', logits, rows * V);
      i32(kn, 'targets', targets, rows);
      f32(kn, 'dloss', dloss, rows);
      f32(kn, 'dlogits', dlogits, rows * V);
      checkTargets(kn, targets, rows, V, ignore);
      addon.crossEntropyBackward(logits, targets, dloss, dlogits, rows, V, ignore);
    },
    crossEntropyFused(logits, targets, dloss, losses, dlogits, rows, V, ignore) {
      const kn = 'crossEntropyFused';
      size(kn, 'rows', rows);
      size(kn, 'V', V);
      f32(kn, 'logits', logits, rows * V);
      i32(kn, 'targets', targets, rows);
      f32(kn, 'dloss', dloss, rows);
      f32(kn, 'losses', losses, rows);
      f32(kn, 'dlogits', dlogits, rows * V);
      checkTargets(kn, targets, rows, V, ignore);
      addon.crossEntropyFused(logits, targets, dloss, losses, dlogits, rows, V, ignore);
    },
    embeddingForward(ids, table, out, n, C) {
      const kn = 'embeddingForward';
      size(kn, 'n', n);
      size(kn, 'C', C);
      i32(kn, 'ids', ids, n);
      f32(kn, 'out', out, n * C);
      if (!(table instanceof Float32Array)) throw new ArgError(`${kn}: table must be a Float32Array`);
      checkIds(kn, ids, n, C > 0 ? Math.floor(table.length / C) : 0);
      addon.embeddingForward(ids, table, out, n, C);
    },
    embeddingBackward(ids, dout, dtable, n, C) {
      const kn = 'embeddingBackward';
      size(kn, 'n', n);
      size(kn, 'C', C);
      i32(kn, 'ids', ids, n);
      f32(kn, 'dout', dout, n * C);
      if (!(dtable instanceof Float32Array)) throw new ArgError(`${kn}: dtable must be a Float32Array`);
      checkIds(kn, ids, n, C > 0 ? Math.floor(dtable.length / C) : 0);
      addon.embeddingBackward(ids, dout, dtable, n, C);
    },
    rope(src, dst, cos, sin, B, T, H, D, sign) {
      const kn = 'rope';
      sizes(kn, { B, T, H, D });
      if (D % 2 !== 0) throw new ArgError(`${kn}: head size D must be even, got ${D}`);
      if (sign !== 1 && sign !== -1) throw new ArgError(`${kn}: sign must be 1 or −1, got ${sign}`);
      f32(kn, 'src', src, B * T * 3 * H * D);
      f32(kn, 'dst', dst, B * T * 3 * H * D);
      f32(kn, 'cos', cos, (T * D) / 2);
      f32(kn, 'sin', sin, (T * D) / 2);
      addon.rope(src, dst, cos, sin, B, T, H, D, sign);
    },
    add(a, b, out, n) {
      size('add', 'n', n);
      f32('add', 'a', a, n);
      f32('add', 'b', b, n);
      f32('add', 'out', out, n);
      addon.add(a, b, out, n);
    },
    mul(a, b, out, n) {
      size('mul', 'n', n);
      f32('mul', 'a', a, n);
      f32('mul', 'b', b, n);
      f32('mul', 'out', out, n);
      addon.mul(a, b, out, n);
    },
    scale(a, s, out, n) {
      size('scale', 'n', n);
      f32('scale', 'a', a, n);
      f32('scale', 'out', out, n);
      addon.scale(a, s, out, n);
    },
    axpy(s, x, y, n) {
      size('axpy', 'n', n);
      f32('axpy', 'x', x, n);
      f32('axpy', 'y', y, n);
      addon.axpy(s, x, y, n);
    },
    sumSquares(x, n) {
      size('sumSquares', 'n', n);
      f32('sumSquares', 'x', x, n);
      return addon.sumSquares(x, n);
    },
    tempExp(l, mx, T, e, n) {
      size('tempExp', 'n', n);
      f32('tempExp', 'l', l, n);
      f64('tempExp', 'e', e, n);
      return addon.tempExp(l, mx, T, e, n);
    },
    shiftExp(s, mx, e, n) {
      size('shiftExp', 'n', n);
      f64('shiftExp', 's', s, n);
      f64('shiftExp', 'e', e, n);
      return addon.shiftExp(s, mx, e, n);
    },
    walkCdf(e, sum, n, u) {
      size('walkCdf', 'n', n);
      f64('walkCdf', 'e', e, n);
      return addon.walkCdf(e, sum, n, u);
    },
    adamw(p, g, m, v, n, lr, b1, b2, eps, wd, step, gs) {
      const kn = 'adamw';
      size(kn, 'n', n);
      f32(kn, 'param', p, n);
      f32(kn, 'grad', g, n);
      f32(kn, 'm', m, n);
      f32(kn, 'v', v, n);
      if (!Number.isInteger(step) || step < 1) throw new ArgError(`${kn}: step must be a positive integer, got ${step}`);
      // bias corrections in double here; the kernel multiplies by their reciprocals
      addon.adamw(p, g, m, v, n, lr, b1, b2, eps, wd, 1 - Math.pow(b1, step), 1 - Math.pow(b2, step), gs);
    },
  };
  return { kernels: k };
}

function checkTargets(kernel: string, t: Int32Array, rows: number, V: number, ignore: number): void {
  for (let r = 0; r < rows; r++) {
    const v = t[r];
    if (v !== ignore && (v < 0 || v >= V)) throw new ArgError(`${kernel}: target ${v} at row ${r} is out of range for ${V} classes`);
  }
}

function checkIds(kernel: string, ids: Int32Array, n: number, V: number): void {
  for (let i = 0; i < n; i++) {
    const v = ids[i];
    if (v < 0 || v >= V) throw new ArgError(`${kernel}: id ${v} at position ${i} is out of range for a table of ${V} rows`);
  }
}
