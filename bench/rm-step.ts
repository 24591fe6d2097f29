import { makeConfig } from '../src/model/config.js';
import { GPT } from '../src/model/gpt.js';
import * as op from '../src/engine/ops.js';
import { ARENA_KEEP_BYTES, clearTape, fromArray, resetArena, setArenaEnabled, setArenaKeepBytes } from '../src/engine/tensor.js';
import { rewardsOf } from '../src/train/reward.js';
import { engineSummary } from '../src/engine/backend.js';

/**
 * A reward-model training step at the small preset's shape (4 layers × 256, RoPE, vocabulary
 * 4096; 32 rows = 4 rankings × 8 replies of 21–111 tokens, a fresh length every step), in two
 * settings interleaved in one process so that machine load hits both:
 *
 *   node dist/bench/rm-step.js [steps=40] [heapObjects=1500000]
 *
 * - `before`: rows padded to the batch's longest (padMultiple 1), the step arena releasing a
 *   size two steps after its last use (setArenaKeepBytes(0));
 * - `now`: padded to a multiple of 16 (trainRewardModel) and the arena's ARENA_KEEP_BYTES budget.
 *
 * `heapObjects` small JS objects stay live meanwhile, as the pipeline's comparisons do (its heap
 * was ≈ 1.6 GB at the RM stage): fresh Float32Arrays are external memory, and allocating them
 * triggers full garbage collections whose cost grows with the heap. Prints each setting's
 * median and mean CPU ms a step (process.cpuUsage, every engine thread counted) and the ratio.
 */
const USAGE = 'usage: node dist/bench/rm-step.js [steps=40, a multiple of 10] [heapObjects=1500000]';
if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
  console.log(USAGE);
  process.exit(0);
}
const steps = Number(process.argv[2] ?? 40);
const heapObjects = Number(process.argv[3] ?? 1_500_000);
if (!(Number.isInteger(steps) && steps >= 10 && steps % 10 === 0) || !(Number.isInteger(heapObjects) && heapObjects >= 0)) {
  console.error(`rm-step: steps must be a multiple of 10 (≥ 10) and heapObjects a whole number ≥ 0; got ${process.argv.slice(2).join(' ')}\n${USAGE}`);
  process.exit(1);
}
const live: { j: number; s: string }[][] = [];
for (let i = 0; i < heapObjects / 1000; i++) live.push(Array.from({ length: 1000 }, (_, j) => ({ j, s: `x${j}` })));

const model = new GPT(makeConfig({ vocabSize: 4096, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, position: 'rope' }), { seed: 1, scalarHead: true });
let state = 7;
const rnd = (): number => {
  state = (state * 1103515245 + 12345) & 0x7fffffff;
  return state / 0x7fffffff;
};
const settings = [
  { name: 'before', pad: 1, keep: 0 },
  { name: 'now', pad: 16, keep: ARENA_KEEP_BYTES },
];
const times: number[][] = settings.map(() => []);
// each setting in runs of 10 steps (the arena's behaviour shows over consecutive steps), alternating
for (let s = 0; s < steps; s += 10) {
  settings.forEach((st, k) => {
    setArenaEnabled(false); // releases everything: each run starts cold
    setArenaEnabled(true);
    setArenaKeepBytes(st.keep);
    for (let i = 0; i < 10; i++) {
      const longest = 40 + Math.floor(rnd() * 72);
      const seqs = Array.from({ length: 32 }, () => Array.from({ length: longest - Math.floor(rnd() * 20) }, () => 5 + Math.floor(rnd() * 4000)));
      const t0 = process.cpuUsage();
      resetArena();
      const rewards = rewardsOf(model, seqs, 0, st.pad); // (32,)
      op.sum(op.mul(rewards, fromArray(new Float32Array(32).fill(0.01)))).backward();
      clearTape();
      for (const p of model.params.values()) p.grad?.fill(0);
      const u = process.cpuUsage(t0);
      times[k].push((u.user + u.system) / 1000);
    }
  });
}
setArenaEnabled(false);
setArenaKeepBytes(ARENA_KEEP_BYTES);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(engineSummary());
console.log(`RM step, small preset's shape, 32 rows of 21–111 tokens, ${live.length * 1000} live heap objects (heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB), ${steps} steps each:`);
settings.forEach((st, k) => console.log(`  ${st.name.padEnd(6)} pad ${String(st.pad).padStart(2)}, keep ${(st.keep / 2 ** 20).toFixed(0).padStart(3)} MiB: median ${median(times[k]).toFixed(1)} ms CPU, mean ${mean(times[k]).toFixed(1)}`));
console.log(`  now / before (median): ${(median(times[1]) / median(times[0])).toFixed(2)}`);
