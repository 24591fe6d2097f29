/**
 * sgemm GFLOP/s for the benchmark's shapes and layouts, ours (1 and 2 threads) against
 * numpy/OpenBLAS measured in the same run (bench/numpy_sgemm.py, OPENBLAS_* tuning variables
 * removed from its environment). Two ratios: by wall time (the figure that matters on an idle
 * machine) and by CPU time (flops / the process's CPU seconds × threads, medians of the reps):
 * on cores shared with other work the wall time counts the time other processes held the
 * core, the CPU time does not, so the CPU ratio stays comparable between runs.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getKernels } from '../src/engine/backend.js';

export const SGEMM_SHAPES: [number, number, number][] = [
  [1024, 1024, 1024],
  [4096, 384, 1536],
  [4096, 1536, 384],
  [768, 768, 3072],
];
const LAYOUTS = ['NN', 'NT', 'TN'] as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeOurs(M: number, K: number, N: number, layout: string, reps: number, threads: number): { gflops: number; cpuGflops: number } {
  const k = getKernels();
  const a = new Float32Array(M * K).map(() => Math.random() - 0.5);
  const b = new Float32Array(K * N).map(() => Math.random() - 0.5);
  const c = new Float32Array(M * N);
  const tA = layout[0] === 'T';
  const tB = layout[1] === 'T';
  k.matmul(a, b, c, M, K, N, tA, tB, false);
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    k.matmul(a, b, c, M, K, N, tA, tB, false);
    times.push(performance.now() - t0);
    const dc = process.cpuUsage(c0);
    cpu.push((dc.user + dc.system) / 1e6);
  }
  const flops = 2 * M * K * N;
  return { gflops: flops / (median(times) / 1000) / 1e9, cpuGflops: ((flops / median(cpu)) * threads) / 1e9 };
}

function numpyGflops(threads: number, reps: number): Map<string, { gflops: number; cpuGflops: number | null }> | null {
  const script = join(dirname(fileURLToPath(import.meta.url)).replace(/dist[\\/]bench$/, 'bench'), 'numpy_sgemm.py');
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('/usr/bin/python3', [script, String(reps), String(threads), JSON.stringify(SGEMM_SHAPES)], { env, encoding: 'utf8' });
  if (r.status !== 0) return null;
  const out = new Map<string, { gflops: number; cpuGflops: number | null }>();
  for (const line of r.stdout.trim().split('\n')) {
    const rec = JSON.parse(line) as { M: number; K: number; N: number; layout: string; gflops: number; cpu_gflops: number | null };
    out.set(`${rec.M}x${rec.K}x${rec.N} ${rec.layout}`, { gflops: rec.gflops, cpuGflops: rec.cpu_gflops });
  }
  return out;
}

export async function benchSgemm(opts: { json: boolean; reps?: number }): Promise<void> {
  const k = getKernels();
  const reps = opts.reps ?? 7;
  for (const threads of [1, 2]) {
    k.setThreads?.(threads);
    const np = numpyGflops(threads, reps);
    for (const [M, K, N] of SGEMM_SHAPES) {
      for (const layout of LAYOUTS) {
        const ours = timeOurs(M, K, N, layout, reps, threads);
        const theirs = np?.get(`${M}x${K}x${N} ${layout}`);
        const ratio = theirs ? ours.gflops / theirs.gflops : null;
        const cpuRatio = theirs?.cpuGflops ? ours.cpuGflops / theirs.cpuGflops : null;
        if (opts.json) {
          const fig = { figure: 'sgemm', M, K, N, layout, threads, gflops: ours.gflops, numpy_gflops: theirs?.gflops ?? null, ratio, cpu_gflops: ours.cpuGflops, numpy_cpu_gflops: theirs?.cpuGflops ?? null, cpu_ratio: cpuRatio };
          console.log(JSON.stringify(fig));
        } else {
          const vs = theirs ? `   numpy ${theirs.gflops.toFixed(0).padStart(4)}   ours/numpy ${ratio!.toFixed(2)}×` : '';
          const vsCpu = cpuRatio !== null ? `   by CPU time ${ours.cpuGflops.toFixed(0)} vs ${theirs!.cpuGflops!.toFixed(0)}: ${cpuRatio.toFixed(2)}×` : '';
          console.log(`sgemm ${`${M}x${K}x${N}`.padEnd(15)} ${layout} ${threads}T: ${ours.gflops.toFixed(0).padStart(4)} GFLOP/s${vs}${vsCpu}`);
        }
      }
    }
  }
  k.setThreads?.(2);
}
