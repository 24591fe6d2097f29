/**
 * sgemm GFLOP/s for the benchmark's shapes and layouts, ours against numpy/OpenBLAS
 * (bench/numpy_sgemm.py, OPENBLAS_* tuning variables removed from its environment), at 1 and
 * 2 threads. On a 2-vCPU VM the host takes a vCPU away for a while at times, so the two sides
 * are interleaved per cell (shape × layout × threads): `rounds` rounds, each a block of `reps`
 * numpy products and a block of ours (the order alternating, ABBA…), with a short idle gap
 * after every block (OpenBLAS's threads spin for tens of ms after a call). Per cell it reports
 * each side's best product (the least disturbed figure) and their ratio, the median and range
 * of the per-round ratios (each round's best of ours against its best of numpy), and the ratio
 * by CPU time (flops / the process's CPU seconds × threads, best product each side): CPU time
 * does not count the time other processes held the core, so it stays comparable between runs.
 * A cell is called below 1.0× only when both the best and the median round say so.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { getKernels } from '../src/engine/backend.js';

export const SGEMM_SHAPES: [number, number, number][] = [
  [1024, 1024, 1024],
  [4096, 384, 1536],
  [4096, 1536, 384],
  [768, 768, 3072],
  // the GPU config's weight gradients (dW = Xᵀ·dY: M = nEmbd, K = B·T tokens, TN in the step)
  [384, 4096, 1536],
];
const LAYOUTS = ['NN', 'NT', 'TN'] as const;

/** What to time; every field optional (defaults: all shapes, layouts, 1 and 2 threads, 7 rounds of 2). */
export interface SgemmBenchOptions {
  json: boolean;
  rounds?: number;
  reps?: number;
  threads?: number[];
  shapes?: [number, number, number][];
  layouts?: string[];
}

/**
 * The sgemm options from command-line flags: --sgemm-rounds=N, --sgemm-reps=N,
 * --sgemm-threads=1,2, --sgemm-shapes=1024x1024x1024,4096x384x1536 (M×K×N),
 * --sgemm-layouts=NN,TN. Throws on a malformed value, naming the flag.
 */
export function sgemmOptionsFromArgs(argv: string[]): Omit<SgemmBenchOptions, 'json'> {
  const get = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const posInt = (name: string, s: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got "${s}"`);
    return n;
  };
  const out: Omit<SgemmBenchOptions, 'json'> = {};
  const rounds = get('sgemm-rounds');
  if (rounds !== undefined) out.rounds = posInt('sgemm-rounds', rounds);
  const reps = get('sgemm-reps');
  if (reps !== undefined) out.reps = posInt('sgemm-reps', reps);
  const threads = get('sgemm-threads');
  if (threads !== undefined) out.threads = threads.split(',').map((t) => posInt('sgemm-threads', t));
  const shapes = get('sgemm-shapes');
  if (shapes !== undefined)
    out.shapes = shapes.split(',').map((s) => {
      const d = s.split('x').map((x) => posInt('sgemm-shapes', x));
      if (d.length !== 3) throw new Error(`--sgemm-shapes: expected MxKxN, got "${s}"`);
      return d as [number, number, number];
    });
  const layouts = get('sgemm-layouts');
  if (layouts !== undefined) {
    out.layouts = layouts.split(',');
    for (const l of out.layouts) if (!/^[NT][NT]$/.test(l)) throw new Error(`--sgemm-layouts: expected NN, NT, TN or TT, got "${l}"`);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface Block {
  times: number[];
  cpu: number[];
}

/** numpy_sgemm.py kept running for one thread count, answering one block per request. */
class NumpyServer {
  private readonly proc;
  private readonly waiting: ((line: string) => void)[] = [];
  private failed: string | null = null;

  constructor(threads: number) {
    const script = join(dirname(fileURLToPath(import.meta.url)).replace(/dist[\\/]bench$/, 'bench'), 'numpy_sgemm.py');
    const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    this.proc = spawn('/usr/bin/python3', [script, String(threads)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    this.proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    this.proc.on('error', (e) => this.fail(e.message));
    this.proc.stdin.on('error', (e) => this.fail(e.message));
    this.proc.on('exit', (code) => this.fail(`numpy_sgemm.py exited (${code}): ${err.trim().split('\n').pop() ?? ''}`));
    createInterface({ input: this.proc.stdout }).on('line', (line) => this.waiting.shift()?.(line));
  }

  private fail(msg: string): void {
    this.failed ??= msg;
    for (const w of this.waiting.splice(0)) w('');
  }

  async block(M: number, K: number, N: number, layout: string, reps: number, gap: number): Promise<Block | null> {
    if (this.failed) return null;
    const line = await new Promise<string>((resolve) => {
      this.waiting.push(resolve);
      this.proc.stdin.write(`${JSON.stringify({ M, K, N, layout, reps, gap })}\n`);
    });
    return line ? (JSON.parse(line) as Block) : null;
  }

  get error(): string | null {
    return this.failed;
  }

  close(): void {
    this.proc.stdin.end();
  }
}

/** A cell's figures (GFLOP/s; ratios ours/numpy, > 1 = ours faster). */
interface CellResult {
  gflops: number;
  numpyGflops: number | null;
  ratioBest: number | null;
  ratioRoundMedian: number | null;
  ratioRoundMin: number | null;
  ratioRoundMax: number | null;
  cpuGflops: number;
  numpyCpuGflops: number | null;
  cpuRatio: number | null;
}

async function timeCell(np: NumpyServer | null, M: number, K: number, N: number, layout: string, threads: number, rounds: number, reps: number): Promise<CellResult> {
  const k = getKernels();
  const a = new Float32Array(M * K).map(() => Math.random() - 0.5);
  const b = new Float32Array(K * N).map(() => Math.random() - 0.5);
  const c = new Float32Array(M * N);
  const tA = layout[0] === 'T';
  const tB = layout[1] === 'T';
  const gap = threads > 1 ? 0.05 : 0.005;
  k.matmul(a, b, c, M, K, N, tA, tB, false);
  const ours = async (): Promise<Block> => {
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < reps; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      k.matmul(a, b, c, M, K, N, tA, tB, false);
      times.push((performance.now() - t0) / 1000);
      const dc = process.cpuUsage(c0);
      cpu.push((dc.user + dc.system) / 1e6);
    }
    await sleep(gap * 1000);
    return { times, cpu };
  };
  const oursAll: Block = { times: [], cpu: [] };
  const npAll: Block = { times: [], cpu: [] };
  const roundRatios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let o: Block;
    let n: Block | null;
    if (r % 2 === 0) {
      n = np ? await np.block(M, K, N, layout, reps, gap) : null;
      o = await ours();
    } else {
      o = await ours();
      n = np ? await np.block(M, K, N, layout, reps, gap) : null;
    }
    oursAll.times.push(...o.times);
    oursAll.cpu.push(...o.cpu);
    if (n) {
      npAll.times.push(...n.times);
      npAll.cpu.push(...n.cpu);
      roundRatios.push(Math.min(...n.times) / Math.min(...o.times));
    }
  }
  const flops = 2 * M * K * N;
  const gflops = flops / Math.min(...oursAll.times) / 1e9;
  const cpuGflops = ((flops / Math.max(Math.min(...oursAll.cpu), 1e-9)) * threads) / 1e9;
  const have = npAll.times.length > 0;
  const numpyGflops = have ? flops / Math.min(...npAll.times) / 1e9 : null;
  const npCpu = have ? Math.min(...npAll.cpu) : 0;
  const numpyCpuGflops = have && npCpu > 0 ? ((flops / npCpu) * threads) / 1e9 : null;
  return {
    gflops,
    numpyGflops,
    ratioBest: numpyGflops ? gflops / numpyGflops : null,
    ratioRoundMedian: roundRatios.length ? median(roundRatios) : null,
    ratioRoundMin: roundRatios.length ? Math.min(...roundRatios) : null,
    ratioRoundMax: roundRatios.length ? Math.max(...roundRatios) : null,
    cpuGflops,
    numpyCpuGflops,
    cpuRatio: numpyCpuGflops ? cpuGflops / numpyCpuGflops : null,
  };
}

export async function benchSgemm(opts: SgemmBenchOptions): Promise<void> {
  const k = getKernels();
  const rounds = opts.rounds ?? 7;
  const reps = opts.reps ?? 2;
  const below: string[] = [];
  let cells = 0;
  for (const threads of opts.threads ?? [1, 2]) {
    k.setThreads?.(threads);
    const np = new NumpyServer(threads);
    for (const [M, K, N] of opts.shapes ?? SGEMM_SHAPES) {
      for (const layout of opts.layouts ?? LAYOUTS) {
        const r = await timeCell(np, M, K, N, layout, threads, rounds, reps);
        const name = `${`${M}x${K}x${N}`.padEnd(15)} ${layout} ${threads}T`;
        if (r.ratioBest !== null) {
          cells++;
          if (r.ratioBest < 1 && (r.ratioRoundMedian ?? 0) < 1) below.push(`${name.replace(/ +/g, ' ')} ${r.ratioBest.toFixed(3)}×`);
        }
        if (opts.json) {
          console.log(
            JSON.stringify({
              figure: 'sgemm',
              M,
              K,
              N,
              layout,
              threads,
              rounds,
              reps,
              gflops: r.gflops,
              numpy_gflops: r.numpyGflops,
              ratio: r.ratioBest,
              ratio_round_median: r.ratioRoundMedian,
              ratio_round_min: r.ratioRoundMin,
              ratio_round_max: r.ratioRoundMax,
              cpu_gflops: r.cpuGflops,
              numpy_cpu_gflops: r.numpyCpuGflops,
              cpu_ratio: r.cpuRatio,
            }),
          );
        } else {
          const vs = r.ratioBest !== null ? `   numpy ${r.numpyGflops!.toFixed(0).padStart(4)}   ours/numpy best ${r.ratioBest.toFixed(2)}×, rounds ${r.ratioRoundMedian!.toFixed(2)} [${r.ratioRoundMin!.toFixed(2)}–${r.ratioRoundMax!.toFixed(2)}]` : '';
          const vsCpu = r.cpuRatio !== null ? `   by CPU time ${r.cpuGflops.toFixed(0)} vs ${r.numpyCpuGflops!.toFixed(0)}: ${r.cpuRatio.toFixed(2)}×` : '';
          console.log(`sgemm ${name}: ${r.gflops.toFixed(0).padStart(4)} GFLOP/s${vs}${vsCpu}`);
        }
      }
    }
    if (np.error && !opts.json) console.log(`numpy reference unavailable at ${threads}T: ${np.error}`);
    np.close();
  }
  if (opts.json) console.log(JSON.stringify({ figure: 'sgemm_below', cells, below }));
  else if (cells) console.log(`sgemm cells below 1.0× numpy (best and median round both < 1): ${below.length ? below.join(', ') : 'none'} (of ${cells})`);
  k.setThreads?.(2);
}
