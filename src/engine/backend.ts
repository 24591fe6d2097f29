import { GptforgeError } from '../util/errors.js';
import type { Kernels } from './kernels.js';
import { referenceKernels } from './backend-reference.js';
import { loadNativeKernels } from './backend-native.js';
import { cpuModel } from './isa.js';

/**
 * Which kernel table the engine runs on. Default: native when the addon loaded, else the
 * reference backend with one warning. GPTFORGE_BACKEND=native|reference forces a choice.
 */
let current: Kernels | null = null;
let nativeCache: Kernels | null | undefined;
let nativeError = '';

function native(): Kernels | null {
  if (nativeCache === undefined) {
    const r = loadNativeKernels();
    if ('kernels' in r) nativeCache = r.kernels;
    else {
      nativeCache = null;
      nativeError = r.error;
    }
  }
  return nativeCache ?? null;
}

export function getKernels(): Kernels {
  if (current) return current;
  const threads = process.env.GPTFORGE_THREADS;
  // the pool reads it with atoi, which would take "abc" as "use every core" without a word
  if (threads !== undefined && threads !== '' && !/^[1-9][0-9]*$/.test(threads.trim())) {
    throw new GptforgeError(`GPTFORGE_THREADS must be a positive whole number of threads, got "${threads}"`, { field: 'GPTFORGE_THREADS' });
  }
  const want = process.env.GPTFORGE_BACKEND;
  if (want === 'reference') current = referenceKernels;
  else if (want === 'native') {
    const k = native();
    if (!k) throw new GptforgeError(`GPTFORGE_BACKEND=native but the native addon could not be loaded: ${nativeError}`, { field: 'GPTFORGE_BACKEND' });
    current = k;
  } else if (want !== undefined && want !== '') {
    throw new GptforgeError(`GPTFORGE_BACKEND must be "native" or "reference", got "${want}"`, { field: 'GPTFORGE_BACKEND' });
  } else {
    const k = native();
    if (k) current = k;
    else {
      process.emitWarning(`native kernels unavailable (${nativeError}); using the slow reference backend. Run "npm rebuild" with a C compiler installed.`, { code: 'GPTFORGE_NO_NATIVE' });
      current = referenceKernels;
    }
  }
  return current;
}

/** Switch backends (tests and benchmarks). Returns the previous one. */
export function setBackend(name: 'native' | 'reference'): Kernels {
  const prev = getKernels();
  if (name === 'reference') current = referenceKernels;
  else {
    const k = native();
    if (!k) throw new Error(`native backend unavailable: ${nativeError}`);
    current = k;
  }
  return prev;
}

export function nativeAvailable(): boolean {
  return native() !== null;
}

let peakCache: number | null | undefined;

/**
 * The machine's fp32 FMA peak in GFLOP/s for the current thread count, measured once by
 * the native backend (null on the reference backend). GPTFORGE_PEAK_GFLOPS overrides it.
 * MFU is reported against this measured figure, not a datasheet number.
 */
export function machinePeakGflops(): number | null {
  const env = Number(process.env.GPTFORGE_PEAK_GFLOPS);
  if (Number.isFinite(env) && env > 0) return env;
  if (peakCache === undefined) {
    const k = getKernels() as Kernels & { peakGflops?: () => number };
    peakCache = k.peakGflops ? k.peakGflops() : null;
  }
  return peakCache;
}

/**
 * One line naming what the engine runs on, printed by every training stage and benchmark:
 * "native backend, avx2 kernels, 2 threads, CPU AMD EPYC 7B13 64-Core Processor"
 * (or "reference backend, CPU …"). A run's speed and float trajectory depend on all three.
 */
export function engineSummary(): string {
  const k = getKernels() as Kernels & { isa?: string };
  const kern = k.isa ? `, ${k.isa} kernels` : '';
  return `${k.name} backend${kern}, ${k.threads} thread${k.threads === 1 ? '' : 's'}, CPU ${cpuModel()}`;
}
