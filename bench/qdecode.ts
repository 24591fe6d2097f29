/**
 * `node dist/bench/qdecode.js [small|big]` — the block matmul kernels at decode shapes, timed as
 * the minimum over 3000 single calls (the time of an uninterrupted call: on a shared machine a
 * best-of-loops figure still includes other jobs' time slices), 1 thread unless
 * GPTFORGE_THREADS says otherwise:
 *
 * - `big` (default): y = x·W for the 768 × 3072 matrix of bench:lora's "hot" regime, M = 1, 2,
 *   3, 4, 8;
 * - `small`: the linears of the small preset (256 wide, 4 layers) and its 4096 × 256 head at
 *   M = 1, summed per decoded token.
 *
 * Columns: fp32 sgemm on W [K, N]; qmatmul on Q8_0 / Q4_0 blocks with float activations (the
 * training kernels); qmatmulQ8 with int8 activations and the scales passed as fp32 (what
 * setInferencePrecision runs).
 */
import { engineSummary, getKernels } from '../src/engine/backend.js';
import { Rng } from '../src/engine/rng.js';
import { blockScales, quantize, type QuantType } from '../src/model/quantize.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {}, { positional: 1 });

const k = getKernels();
if (!process.env.GPTFORGE_THREADS) k.setThreads?.(1);
const rng = new Rng(4);
const rand = (n: number, s: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * s);

function minCall(f: () => void): number {
  for (let i = 0; i < 50; i++) f();
  let best = Infinity;
  for (let r = 0; r < 3000; r++) {
    const t0 = process.hrtime.bigint();
    f();
    best = Math.min(best, Number(process.hrtime.bigint() - t0));
  }
  return best / 1000;
}

type Row = Record<'sgemm' | 'q8_0' | 'q8_0·int8' | 'q4_0' | 'q4_0·int8', number>;

function measure(K: number, N: number, M: number): Row {
  const w = rand(K * N, 0.02);
  // quantized as a model holds them: [N, K] rows of blocks along K
  const t = new Float32Array(K * N);
  for (let i = 0; i < K; i++) for (let o = 0; o < N; o++) t[o * K + i] = w[i * N + o];
  const q = { q8_0: quantize('q8_0', t), q4_0: quantize('q4_0', t) };
  const x = rand(M * K, 1);
  const y = new Float32Array(M * N);
  const row = { sgemm: minCall(() => k.matmul(x, w, y, M, K, N, false, false, false)) } as Row;
  for (const type of ['q8_0', 'q4_0'] as QuantType[]) {
    const scales = blockScales({ type, rows: N, cols: K, data: q[type] });
    row[type] = minCall(() => k.qmatmul(x, q[type], y, M, K, N, type, false));
    row[`${type}·int8`] = minCall(() => k.qmatmulQ8(x, q[type], y, M, K, N, type, false, scales));
  }
  return row;
}

const fmt = (r: Row): string =>
  `${r.sgemm.toFixed(1).padStart(8)} ${r.q8_0.toFixed(1).padStart(8)} ${r['q8_0·int8'].toFixed(1).padStart(10)} ${(r.sgemm / r['q8_0·int8']).toFixed(2).padStart(6)} ${r.q4_0.toFixed(1).padStart(8)} ${r['q4_0·int8'].toFixed(1).padStart(10)} ${(r.sgemm / r['q4_0·int8']).toFixed(2).padStart(6)}`;
console.log(`bench:qdecode: ${engineSummary()}; µs per call, minimum of 3000`);
const head = '   sgemm     q8_0  q8_0·int8 ×sgemm     q4_0  q4_0·int8 ×sgemm';
if (process.argv[2] === 'small') {
  console.log(`shape (×per token)  ${head}`);
  const sum: Row = { sgemm: 0, q8_0: 0, q8_0·int8: 0, q4_0: 0, q4_0·int8: 0 };
  for (const [K, N, n] of [
    [256, 768, 4],
    [256, 256, 4],
    [256, 1024, 4],
    [1024, 256, 4],
    [256, 4096, 1],
  ]) {
    const r = measure(K, N, 1);
    for (const key of Object.keys(sum) as (keyof Row)[]) sum[key] += n * r[key];
    console.log(`${`${K}×${N} (×${n})`.padEnd(19)} ${fmt(r)}`);
  }
  console.log(`${'per token'.padEnd(19)} ${fmt(sum)}`);
} else {
  console.log(` M  ${head}   (K = 768, N = 3072)`);
  for (const M of [1, 2, 3, 4, 8]) console.log(`${String(M).padStart(2)}  ${fmt(measure(768, 3072, M))}`);
}
