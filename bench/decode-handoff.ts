/**
 * `node dist/bench/decode-handoff.js`: what a decode step costs on the decode thread
 * (src/infer/forward-thread.ts) against the same step on the calling thread: the hand-off's
 * round trip (ask, wake, answer, wake) at 1, 4 and 8 rows of the bench:serve model (4 × 256,
 * vocab 512, rows at position 64). Direct and threaded steps alternate, HANDOFF_STEPS (default
 * 400) of each per size, so a burst of other jobs hits both; printed are the medians and the
 * 10th percentiles (the quiet steps) and their difference, the hand-off; and the process's
 * CPU time per step (every thread, process.cpuUsage), which other processes' load inflates far
 * less than wall time: threaded minus direct is what the hand-off costs in CPU. Run it from
 * another build's dist to compare hand-offs (the ForwardThread API is the same).
 */
import { cpus, loadavg } from 'node:os';
import { engineSummary } from '../src/engine/backend.js';
import { ForwardThread } from '../src/infer/forward-thread.js';
import { makeConfig } from '../src/model/config.js';
import { GPT } from '../src/model/gpt.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}); // --help: the usage above; an unknown flag refused, before any work

const STEPS = Number(process.env.HANDOFF_STEPS ?? 400);
const POS = 64;
const config = makeConfig({ vocabSize: 512, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, position: 'rope' });
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const model = new GPT(config, { seed: 1 });
  const ft = new ForwardThread(model);
  console.log(`engine: ${engineSummary()}, ${cpus().length} cores; load before: ${loadavg()[0].toFixed(2)}`);
  console.log('| rows | direct median ms | threaded median ms | hand-off (median) ms | direct p10 | threaded p10 | hand-off (p10) ms | CPU ms/step direct | threaded | hand-off CPU ms |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const B of [1, 4, 8]) {
    const local = model.createCache(B);
    const shared = ft.createCache(B);
    const rows = Int32Array.from({ length: B }, (_, b) => b);
    const prompt = Int32Array.from({ length: POS }, (_, i) => (i * 13) % 512);
    for (let b = 0; b < B; b++) {
      model.nextLogits(prompt, local, Int32Array.of(b));
      await ft.nextLogits(prompt, shared, Int32Array.of(b));
    }
    const ids = Int32Array.from({ length: B }, (_, b) => (b * 31 + 7) % 512);
    const direct: number[] = [];
    const threaded: number[] = [];
    const cpu = { direct: 0, threaded: 0 };
    const cpuMs = (): number => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    for (let s = 0; s < STEPS + 20; s++) {
      if (s % 100 === 0) {
        local.lengths.fill(POS);
        shared.lengths.fill(POS);
      }
      const c0 = cpuMs();
      let t0 = performance.now();
      model.nextLogits(ids, local, rows);
      const d = performance.now() - t0;
      const c1 = cpuMs();
      t0 = performance.now();
      await ft.nextLogits(ids, shared, rows);
      const t = performance.now() - t0;
      const c2 = cpuMs();
      if (s >= 20) {
        direct.push(d);
        threaded.push(t);
        cpu.direct += c1 - c0;
        cpu.threaded += c2 - c1;
      }
    }
    const [dm, tm, d10, t10] = [pct(direct, 50), pct(threaded, 50), pct(direct, 10), pct(threaded, 10)];
    console.log(`| ${B} | ${dm.toFixed(3)} | ${tm.toFixed(3)} | ${(tm - dm).toFixed(3)} | ${d10.toFixed(3)} | ${t10.toFixed(3)} | ${(t10 - d10).toFixed(3)} | ${(cpu.direct / STEPS).toFixed(3)} | ${(cpu.threaded / STEPS).toFixed(3)} | ${((cpu.threaded - cpu.direct) / STEPS).toFixed(3)} |`);
  }
  console.log(`load after: ${loadavg()[0].toFixed(2)}`);
  await ft.close();
}

void main();
