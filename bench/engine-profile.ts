/**
 * Where a training step's time goes, kernel by kernel: node dist/bench/engine-profile.js
 * [--config=gpu] [--threads=1] [--steps=3]. Wraps every function of the kernel table (matmuls
 * keyed by shape, layout and accumulate), runs warm-up steps and then `steps` timed ones of
 * bench/engine.ts's step (forward, backward, clip, AdamW), and prints per kernel the calls, ms
 * and share of the step by wall time and by process CPU time (CPU time does not count time
 * other processes held the core: on a shared machine that is the figure to compare). "outside
 * kernels" is the step's time not spent in any kernel (TypeScript glue, allocation). A last
 * line gives the page faults and context switches a step (process.resourceUsage), to tell
 * time the scheduler took away from waits.
 */
import { getKernels } from '../src/engine/backend.js';
import type { Kernels } from '../src/engine/kernels.js';
import { selectConfigs, stepSetup, timeSteps } from './engine-configs.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, { threads: 'inline', steps: 'inline', config: 'inline' });

const argv = process.argv.slice(2);
function intFlag(name: string, dflt: number): number {
  const v = argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got "${v}"`);
  return n;
}
const threads = intFlag('threads', 1);
const steps = intFlag('steps', 3);
const configs = selectConfigs(argv.some((a) => a.startsWith('--config=')) ? argv : ['--config=gpu']);

interface Acc {
  calls: number;
  wallMs: number;
  cpuMs: number;
}
const stats = new Map<string, Acc>();
let recording = false;

/** Replace each function of the kernel table by a timed wrapper (nested calls count once, in the outer one). */
function instrument(k: Kernels): void {
  let depth = 0;
  const table = k as unknown as Record<string, unknown>;
  for (const name of Object.keys(table)) {
    const fn = table[name];
    if (typeof fn !== 'function' || name === 'setThreads') continue;
    table[name] = (...args: unknown[]): unknown => {
      if (!recording || depth > 0) return (fn as (...a: unknown[]) => unknown).apply(k, args);
      let key = name;
      if (name === 'matmul') {
        const [, , , M, K, N, tA, tB, acc] = args as [unknown, unknown, unknown, number, number, number, boolean, boolean, boolean];
        key = `matmul ${M}x${K}x${N} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}${acc ? '+' : ''}`;
      }
      depth++;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      try {
        return (fn as (...a: unknown[]) => unknown).apply(k, args);
      } finally {
        const wall = performance.now() - t0;
        const dc = process.cpuUsage(c0);
        depth--;
        const s = stats.get(key) ?? { calls: 0, wallMs: 0, cpuMs: 0 };
        s.calls++;
        s.wallMs += wall;
        s.cpuMs += (dc.user + dc.system) / 1000;
        stats.set(key, s);
      }
    };
  }
}

const k = getKernels();
k.setThreads?.(threads);
instrument(k);
for (const c of configs) {
  stats.clear();
  let ru0 = null as NodeJS.ResourceUsage | null; // set in before(): a cast keeps TypeScript from narrowing it to null
  const run = timeSteps(stepSetup(c), c, {
    warm: 2,
    steps,
    before: (i) => {
      recording = i >= 2;
      if (i === 2) ru0 = process.resourceUsage();
    },
  });
  recording = false;
  const ru = process.resourceUsage();
  const wall = run.ms.reduce((s, x) => s + x, 0);
  const cpu = run.cpu.reduce((s, x) => s + x, 0);
  const rows = [...stats.entries()].sort((a, b) => b[1].cpuMs - a[1].cpuMs);
  const inWall = rows.reduce((s, [, a]) => s + a.wallMs, 0);
  const inCpu = rows.reduce((s, [, a]) => s + a.cpuMs, 0);
  console.log(`config ${c.name} (${c.nLayer} layers × ${c.nEmbd}, T ${c.block}, B ${c.batch}, vocab ${c.vocab}), ${threads} thread(s), ${steps} steps: ${(wall / steps).toFixed(1)} ms wall, ${(cpu / steps).toFixed(1)} ms CPU a step`);
  console.log(`${'kernel'.padEnd(34)} ${'calls'.padStart(6)} ${'wall ms'.padStart(9)} ${'%'.padStart(5)} ${'CPU ms'.padStart(9)} ${'%'.padStart(5)}`);
  const line = (name: string, calls: number, w: number, cp: number): void => console.log(`${name.padEnd(34)} ${calls.toFixed(0).padStart(6)} ${w.toFixed(1).padStart(9)} ${((100 * w) / (wall / steps)).toFixed(1).padStart(5)} ${cp.toFixed(1).padStart(9)} ${((100 * cp) / (cpu / steps)).toFixed(1).padStart(5)}`);
  for (const [name, a] of rows) line(name, a.calls / steps, a.wallMs / steps, a.cpuMs / steps);
  line('outside kernels', 0, (wall - inWall) / steps, (cpu - inCpu) / steps);
  // Wall above CPU means the thread was off the core: involuntary switches are the scheduler
  // taking it away (other load), voluntary ones waits (pool, locks, I/O); page faults count the
  // first touches of memory (CPU time, the kernel's).
  if (ru0) {
    const per = (a: number, b: number): string => ((a - b) / steps).toFixed(0);
    console.log(
      `a step: ${per(ru.minorPageFault, ru0.minorPageFault)} minor / ${per(ru.majorPageFault, ru0.majorPageFault)} major page faults, ${per(ru.voluntaryContextSwitches, ru0.voluntaryContextSwitches)} voluntary / ${per(ru.involuntaryContextSwitches, ru0.involuntaryContextSwitches)} involuntary context switches; ${((wall - cpu) / steps).toFixed(1)} ms wall above CPU`,
    );
  }
}
