import { cpus, arch as osArch } from 'node:os';
import { readFileSync } from 'node:fs';
import { GptforgeError } from '../util/errors.js';

/**
 * Instruction-set paths of the native kernels (native/isa.h): every kernel — sgemm,
 * attention, the row and pointwise ops — runs on one path at a time. By default the best
 * the CPU supports; `GPTFORGE_ISA` forces one, so one machine can test and benchmark every
 * path it can run (an AVX-512 machine also runs the AVX2 and scalar code).
 */
export const ISA_NAMES = ['avx512', 'avx2', 'scalar', 'neon'] as const;
export type IsaName = (typeof ISA_NAMES)[number];

/** One path as the addon reports it: built and runnable on this CPU, or not. */
export interface IsaSupport {
  name: string;
  supported: boolean;
}

/** What each path needs of the CPU, for the refusal message. */
const NEEDS: Record<IsaName, string> = {
  avx512: 'AVX-512F',
  avx2: 'AVX2 and FMA',
  scalar: 'nothing',
  neon: 'ARM64 (Advanced SIMD)',
};

const X86_ONLY: ReadonlySet<string> = new Set(['avx512', 'avx2']);

/** The CPU's model name (os.cpus(), else /proc/cpuinfo), for logs and refusals. */
export function cpuModel(): string {
  const m = cpus()[0]?.model?.trim();
  if (m) return m.replace(/\s+/g, ' ');
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => /^(model name|Hardware|CPU part)\s*:/.test(l));
    if (line) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // no /proc (macOS, Windows): fall through
  }
  return `unknown ${osArch()} CPU`;
}

/** Where a request comes from and what machine it is judged for (tests pass another machine). */
export interface ResolveOptions {
  /** Names the request in errors (default "GPTFORGE_ISA"). */
  label?: string;
  /** process.arch / os.arch() spelling: x64, arm64, … (default: this machine's). */
  arch?: string;
  /** CPU model for messages (default: cpuModel()). */
  model?: string;
}

/** The path the addon picks by default: the first supported of avx512, avx2, neon, scalar. */
export function bestIsa(support: readonly IsaSupport[]): IsaName {
  for (const n of ['avx512', 'avx2', 'neon'] as const) if (support.find((s) => s.name === n)?.supported) return n;
  return 'scalar';
}

/**
 * Validates a requested path (the value of GPTFORGE_ISA) against what the addon supports
 * on this CPU. Returns the name to switch to, or null for "default" (unset or empty).
 * @throws GptforgeError naming the value: unknown (listing the valid ones), built for
 *   another architecture, or one this CPU lacks (naming the CPU and the missing feature).
 */
export function resolveIsa(want: string | undefined, support: readonly IsaSupport[], opts: ResolveOptions = {}): IsaName | null {
  if (want === undefined || want.trim() === '') return null;
  const arch = opts.arch ?? osArch();
  const model = opts.model ?? cpuModel();
  const req = `${opts.label ?? 'GPTFORGE_ISA'}=${want}`;
  const name = want.trim().toLowerCase();
  const here = ISA_NAMES.filter((n) => support.some((s) => s.name === n && s.supported));
  const hereText = `paths this CPU runs: ${here.join(', ')}`;
  if (!(ISA_NAMES as readonly string[]).includes(name)) {
    throw new GptforgeError(`${req}: unknown instruction set; valid values are avx512, avx2, scalar (x86-64) and neon (ARM64 only); ${hereText}`);
  }
  const isa = name as IsaName;
  if (isa === 'neon' && arch !== 'arm64') {
    throw new GptforgeError(`${req}: NEON is valid only on ARM64; this CPU (${model}) is ${arch}; ${hereText}`);
  }
  if (X86_ONLY.has(isa) && arch !== 'x64') {
    throw new GptforgeError(`${req}: an x86-64 instruction set; this CPU (${model}) is ${arch}; ${hereText}`);
  }
  if (!support.find((s) => s.name === isa)?.supported) {
    const why = isa === 'neon' ? 'this build of the addon has no NEON kernels (rebuild it on ARM64: npm rebuild)' : `this CPU (${model}) has no ${NEEDS[isa]}`;
    throw new GptforgeError(`${req}: ${why}; ${hereText}`);
  }
  return isa;
}
