/**
 * `node dist/bench/decode-phases.js` (after `npx tsc -p .`): where one decode step of the
 * bench:serve model (4 layers × 256, vocab 512, position 64) spends its time at 1 and 4 rows,
 * kernel by kernel, plus the JS between the kernels and each row's sampling (logit bias and
 * temperature 1, as the bench's requests). Every function of the kernel backend is wrapped to
 * time each call; per call site (the i-th kernel call of a step) the median over the steps is
 * taken and the medians are summed by kernel (matmuls by shape), so a step preempted by
 * another process moves no median. "JS between kernels" is the step's median less the
 * kernels' sum. The two sizes alternate step by step. `PHASE_STEPS` steps per size (default
 * 400); run with GPTFORGE_THREADS=1 to leave the pool out.
 */
import { engineSummary, getKernels } from '../src/engine/backend.js';
import { Rng } from '../src/engine/rng.js';
import { buildProcessors, Sampler } from '../src/infer/processors.js';
import { makeConfig } from '../src/model/config.js';
import { GPT } from '../src/model/gpt.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}); // --help: the usage above; an unknown flag refused, before any work

const STEPS = Number(process.env.PHASE_STEPS ?? 400);
const POS = 64;
const V = 512;
const config = makeConfig({ vocabSize: V, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, position: 'rope' });
const model = new GPT(config, { seed: 1 });

/** The calls of the step being recorded: kernel (matmuls named by K×N) and ms. */
let calls: Array<[string, number]> | null = null;
const k = getKernels() as unknown as Record<string, unknown>;
for (const name of Object.keys(k)) {
  const f = k[name];
  if (typeof f !== 'function') continue;
  k[name] = function (this: unknown, ...args: unknown[]): unknown {
    if (!calls) return f.apply(this, args);
    const t0 = performance.now();
    const r = f.apply(this, args);
    calls.push([name === 'matmul' ? `matmul ${args[4]}×${args[5]}${args[7] ? 'ᵀ' : ''}` : name, performance.now() - t0]);
    return r;
  };
}

const SIZES = [1, 4];
const bias = { 1: -100, 2: -100 };
const view = { prompt: [1, 2], ids: [], sampledCounts: new Map<number, number>(), contextIds: new Set([1, 2]) };
interface Acc {
  step: number[];
  forward: number[];
  sample: number[];
  calls: Array<Array<[string, number]>>;
}
const acc = new Map<number, Acc>(SIZES.map((B) => [B, { step: [], forward: [], sample: [], calls: [] }]));
const caches = new Map(SIZES.map((B) => [B, model.createCache(B)]));
const samplers = new Map(SIZES.map((B) => [B, Array.from({ length: B }, (_, b) => new Sampler(buildProcessors({ logitBias: bias }, V), { temperature: 1 }, new Rng(b + 1)))]));
for (let s = -20; s < STEPS; s++) {
  for (const B of s % 2 ? SIZES : [...SIZES].reverse()) {
    const cache = caches.get(B)!;
    for (let b = 0; b < B; b++) cache.lengths[b] = POS;
    const ids = Int32Array.from({ length: B }, (_, b) => 5 + b);
    const rows = Int32Array.from({ length: B }, (_, b) => b);
    const rec: Array<[string, number]> = [];
    calls = rec;
    const t0 = performance.now();
    const logits = model.nextLogits(ids, cache, rows);
    const t1 = performance.now();
    calls = null;
    samplers.get(B)!.forEach((sm, b) => sm.pick(sm.process(logits.subarray(b * V, (b + 1) * V), view)));
    const t2 = performance.now();
    if (s < 0) continue; // warm-up
    const a = acc.get(B)!;
    a.step.push(t2 - t0);
    a.forward.push(t1 - t0);
    a.sample.push(t2 - t1);
    a.calls.push(rec);
  }
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1];
const sums = new Map<number, { byKernel: Map<string, number>; kernels: number }>();
for (const [B, a] of acc) {
  const byKernel = new Map<string, number>();
  let kernels = 0;
  for (let i = 0; i < a.calls[0].length; i++) {
    const m = median(a.calls.map((c) => c[i][1]));
    byKernel.set(a.calls[0][i][0], (byKernel.get(a.calls[0][i][0]) ?? 0) + m);
    kernels += m;
  }
  sums.set(B, { byKernel, kernels });
}
console.log(`engine: ${engineSummary()}; ${STEPS} steps per size, position ${POS}; µs per step (medians per call site)`);
console.log('| phase | 1 row | 4 rows | 4 ÷ 1 |');
console.log('|---|---|---|---|');
const line = (name: string, one: number, four: number): void => console.log(`| ${name} | ${(one * 1000).toFixed(1)} | ${(four * 1000).toFixed(1)} | ${(four / one).toFixed(2)} |`);
const [s1, s4] = [sums.get(1)!, sums.get(4)!];
const [a1, a4] = [acc.get(1)!, acc.get(4)!];
for (const name of s1.byKernel.keys()) line(name, s1.byKernel.get(name)!, s4.byKernel.get(name) ?? 0);
line('kernels', s1.kernels, s4.kernels);
line('JS between kernels', median(a1.forward) - s1.kernels, median(a4.forward) - s4.kernels);
line('nextLogits', median(a1.forward), median(a4.forward));
line('sampling (every row)', median(a1.sample), median(a4.sample));
line('step', median(a1.step), median(a4.step));
