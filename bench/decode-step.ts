/**
 * `npm run bench:decode -- [preset…]` (`node dist/bench/decode-step.js`): the cost of one decode step (GPT.nextLogits of
 * one token per row on the KV cache) at 1, 2, 4 and 8 rows, per row and against one row —
 * the in-process ceiling of continuous batching, without sampling or HTTP. Also the time
 * per step spent in the block linears and the logits head (native matmul), attention and
 * the rest (norms, residual adds, JS glue), measured by timing the same matmuls alone.
 *
 * Presets: `bench` (the bench:serve model: 4 layers × 256, vocab 512), `small` (the small
 * preset's model: 4 × 256, vocab 4096), `tiny` (2 × 96, vocab 1024). Weights are random
 * (a forward pass costs the same whatever they are). Each row sits at position POS (default
 * 64) of its cache. `DECODE_STEPS` steps per size (default 200).
 *
 * For instruction counts run one size under callgrind without the matmul timing
 * (DECODE_MATMULS=0), at two step counts, and take the difference per step, e.g.
 *   GPTFORGE_THREADS=1 DECODE_MATMULS=0 DECODE_ROWS=4 DECODE_STEPS=40 valgrind --tool=callgrind node dist/bench/decode-step.js bench
 */
import { getKernels, engineSummary } from '../src/engine/backend.js';
import { makeConfig, type GPTConfig, type GPTConfigInput } from '../src/model/config.js';
import { GPT } from '../src/model/gpt.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}, { positional: Number.POSITIVE_INFINITY }); // --help: the usage above; an unknown flag refused, before any work

const SHAPES: Record<string, GPTConfigInput> = {
  bench: { vocabSize: 512, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, position: 'rope' },
  small: { vocabSize: 4096, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, position: 'rope' },
  tiny: { vocabSize: 1024, blockSize: 128, nLayer: 2, nHead: 2, nEmbd: 96, position: 'rope' },
};
const STEPS = Number(process.env.DECODE_STEPS ?? 200);
const POS = Number(process.env.POS ?? 64);
/** DECODE_CLOCK=cpu: process CPU time instead of wall time (a shared machine; meaningful with GPTFORGE_THREADS=1). */
const CPU_CLOCK = process.env.DECODE_CLOCK === 'cpu';
const ROWS = process.env.DECODE_ROWS ? [Number(process.env.DECODE_ROWS)] : [1, 2, 4, 8];

/** CPU time of this process so far, ms (user + system): unlike wall time, it leaves out the time other processes hold the cores. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const clock = (): number => (CPU_CLOCK ? cpuMs() : performance.now());

function stepTime(model: GPT, B: number): number {
  const cache = model.createCache(B);
  cache.length = POS;
  const ids = Int32Array.from({ length: B }, (_, b) => 5 + b);
  const rows = Int32Array.from({ length: B }, (_, b) => b);
  const warm = Math.max(2, STEPS >> 3);
  let t0 = 0;
  for (let s = 0; s < warm + STEPS; s++) {
    if (s === warm) t0 = clock();
    model.nextLogits(ids, cache, rows);
    cache.length = POS; // stay at one position: every step costs the same
  }
  return (clock() - t0) / STEPS;
}

/** The step's matmuls alone (same shapes, same kernels): ms per step. */
function matmulTime(config: GPTConfig, B: number): { linears: number; head: number } {
  const k = getKernels();
  const { nEmbd: C, mlpHidden: H, vocabSize: V, nLayer } = config;
  const shapes: Array<[number, number]> = [
    [C, 3 * C],
    [C, C],
    [C, H],
    [H, C],
  ];
  const ws = shapes.map(([K, N]) => Array.from({ length: nLayer }, () => Float32Array.from({ length: K * N }, (_, i) => Math.sin(i) * 0.02)));
  const wte = Float32Array.from({ length: V * C }, (_, i) => Math.cos(i) * 0.02);
  const a = Float32Array.from({ length: B * H }, (_, i) => Math.sin(i * 0.3));
  const out = new Float32Array(B * Math.max(V, 3 * C, H));
  const time = (f: () => void): number => {
    for (let s = 0; s < Math.max(2, STEPS >> 3); s++) f();
    const t0 = clock();
    for (let s = 0; s < STEPS; s++) f();
    return (clock() - t0) / STEPS;
  };
  const linears = time(() => {
    for (let l = 0; l < nLayer; l++) shapes.forEach(([K, N], i) => k.matmul(a.subarray(0, B * K), ws[i][l], out.subarray(0, B * N), B, K, N, false, false, false));
  });
  const head = time(() => k.matmul(a.subarray(0, B * C), wte, out.subarray(0, B * V), B, C, V, false, true, false));
  return { linears, head };
}

const presets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['bench', 'small', 'tiny'];
if (presets.some((p) => p === '--help' || p === '-h' || !(p in SHAPES))) {
  const bad = presets.find((p) => p !== '--help' && p !== '-h' && !(p in SHAPES));
  console.error(`${bad ? `unknown preset "${bad}"\n` : ''}usage: npm run bench:decode -- [${Object.keys(SHAPES).join('|')} …]  (env: DECODE_STEPS, DECODE_ROWS, POS, DECODE_CLOCK=cpu, DECODE_MATMULS=0; see docs/engine.md)`);
  process.exit(bad ? 1 : 0);
}
console.log(`engine: ${engineSummary()}; position ${POS}, ${STEPS} steps per size; ${CPU_CLOCK ? 'CPU' : 'wall'} time`);
for (const p of presets) {
  const shape = SHAPES[p];
  if (!shape) throw new Error(`unknown preset "${p}" (one of ${Object.keys(SHAPES).join(', ')})`);
  const config = makeConfig(shape);
  const model = new GPT(config, { seed: 1 });
  console.log(`\n${p}: ${config.nLayer} layers × ${config.nEmbd}, MLP ${config.mlpHidden}, vocab ${config.vocabSize} (${(model.numParams() / 1e6).toFixed(2)}M parameters)`);
  console.log('| rows | ms/step | ms/row | step ÷ 1-row step | rows·tok/s ÷ 1 row | linears ms | head ms | rest ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  let one = 0;
  for (const B of ROWS) {
    const t = stepTime(model, B);
    if (B === ROWS[0]) one = t / B;
    const mm = process.env.DECODE_MATMULS === '0' ? { linears: NaN, head: NaN } : matmulTime(config, B);
    console.log(`| ${B} | ${t.toFixed(3)} | ${(t / B).toFixed(3)} | ${(t / (one * ROWS[0])).toFixed(2)} | ${(B / t / (1 / one)).toFixed(2)}× | ${mm.linears.toFixed(3)} | ${mm.head.toFixed(3)} | ${(t - mm.linears - mm.head).toFixed(3)} |`);
  }
}
