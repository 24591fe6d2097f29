/**
 * npm run bench:engine — the engine's speed against references measured in the same run:
 * sgemm GFLOP/s (ours vs numpy/OpenBLAS) and a full GPT training step (forward + backward +
 * clip + AdamW) at nanoGPT's shakespeare_char CPU and GPU configs and at the small preset's own
 * shape (4 layers, 256 wide, T 256, B 16, RoPE, vocabulary 4096: where `npm start` spends its
 * time) — ours vs PyTorch, best of 1 and 2 threads each. Also checks RSS stays flat over many steps.
 * Flags: --json (one JSON line per figure), --quick (fewer reps), --skip-sgemm, --skip-torch,
 * --sgemm-only (the peak and sgemm figures, no training step),
 * --config=cpu,gpu,small (the step configs to time; default all); the sgemm rows' own flags
 * (--sgemm-rounds=, --sgemm-reps=, --sgemm-threads=, --sgemm-shapes=, --sgemm-layouts=) are in
 * bench/engine-sgemm.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { engineSummary, getKernels } from '../src/engine/backend.js';
import { cpuModel } from '../src/engine/isa.js';
import type { NativeInfo } from '../src/engine/backend-native.js';
import { AdamW, decayGroups } from '../src/engine/optim.js';
import { Rng } from '../src/engine/rng.js';
import { GPT } from '../src/model/gpt.js';
import { resetArena, setArenaEnabled } from '../src/engine/tensor.js';
import { makeConfig, flopsPerToken } from '../src/model/config.js';
import { benchSgemm, sgemmOptionsFromArgs } from './engine-sgemm.js';
import { STEP_CONFIGS, type StepConfig, selectConfigs, stepModelConfig, stepSetup, timeSteps } from './engine-configs.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, { json: 'switch', quick: 'switch', 'skip-sgemm': 'switch', 'skip-torch': 'switch', 'sgemm-only': 'switch', config: 'inline', 'sgemm-rounds': 'inline', 'sgemm-reps': 'inline', 'sgemm-threads': 'inline', 'sgemm-shapes': 'inline', 'sgemm-layouts': 'inline' });

const args = new Set(process.argv.slice(2));
const json = args.has('--json');
const quick = args.has('--quick');
const configs = selectConfigs(process.argv.slice(2));
const benchDir = dirname(fileURLToPath(import.meta.url)).replace(/dist[\\/]bench$/, 'bench');

function emit(fig: Record<string, unknown>, text: string): void {
  if (json) console.log(JSON.stringify(fig));
  else console.log(text);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeOurs(c: StepConfig, threads: number): { msMedian: number; msBest: number } {
  getKernels().setThreads?.(threads);
  const { ms } = timeSteps(stepSetup(c), c, { warm: 3, steps: quick ? c.quickSteps : c.steps });
  return { msMedian: median(ms), msBest: Math.min(...ms) };
}

function torchAvailable(): boolean {
  if (args.has('--skip-torch') || !existsSync('/usr/bin/python3')) return false;
  return spawnSync('/usr/bin/python3', ['-c', 'import torch'], { env: cleanEnv(1) }).status === 0;
}

/** OpenBLAS runs ≈1.4× slower with this machine's OPENBLAS_* settings: remove them for the reference only. */
function cleanEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

function timeTorch(c: StepConfig, threads: number): { msMedian: number; msBest: number } | null {
  const r = spawnSync('/usr/bin/python3', [join(benchDir, 'torch_gpt_step.py'), ...[c.nLayer, c.nHead, c.nEmbd, c.block, c.batch, c.vocab, threads, quick ? c.quickSteps : c.steps].map(String), c.position ?? 'learned'], { env: cleanEnv(threads), encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`PyTorch reference failed: ${r.stderr}`);
    return null;
  }
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms_median: number; ms_best: number };
  return { msMedian: out.ms_median, msBest: out.ms_best };
}

async function main(): Promise<void> {
  const k = getKernels();
  const info = k as Partial<NativeInfo>;
  const load = loadavg()[0];
  emit({ figure: 'backend', backend: k.name, isa: info.isa ?? null, cpu: cpuModel(), threads: k.threads, load }, `engine: ${engineSummary()}; load average ${load.toFixed(1)}`);
  if (info.peakGflops) {
    for (const threads of [1, 2]) {
      k.setThreads?.(threads);
      const peak = info.peakGflops();
      emit({ figure: 'peak', isa: info.isa, threads, gflops: peak }, `measured fp32 FMA peak (${info.isa}, ${threads}T): ${peak.toFixed(0)} GFLOP/s`);
    }
    k.setThreads?.(2);
  }
  if (!args.has('--skip-sgemm')) await benchSgemm({ json, ...sgemmOptionsFromArgs(process.argv.slice(2)) });
  if (args.has('--sgemm-only')) return;
  const torch = torchAvailable();
  if (!torch) emit({ figure: 'note', text: 'PyTorch not available' }, 'PyTorch not available (apt-get install python3-torch libopenblas0-pthread): ours only');
  for (const c of configs) {
    const tokens = c.batch * c.block;
    const cfg = stepModelConfig(c);
    const flops = 3 * flopsPerToken(cfg, c.block) * tokens;
    let bestOurs = Infinity;
    let bestTorch = Infinity;
    for (const threads of [1, 2]) {
      const ours = timeOurs(c, threads);
      bestOurs = Math.min(bestOurs, ours.msMedian);
      emit(
        { figure: 'gpt_step', config: c.name, impl: 'gptforge', threads, ms_median: ours.msMedian, ms_best: ours.msBest, tokens_per_sec: (tokens / ours.msMedian) * 1000, gflops: flops / ours.msMedian / 1e6 },
        `gpt step ${c.name.padEnd(3)} gptforge ${threads}T: ${ours.msMedian.toFixed(1)} ms (best ${ours.msBest.toFixed(1)}), ${Math.round((tokens / ours.msMedian) * 1000)} tok/s, ${(flops / ours.msMedian / 1e6).toFixed(0)} GFLOP/s`,
      );
      if (torch) {
        const t = timeTorch(c, threads);
        if (t) {
          bestTorch = Math.min(bestTorch, t.msMedian);
          emit(
            { figure: 'gpt_step', config: c.name, impl: 'pytorch', threads, ms_median: t.msMedian, ms_best: t.msBest, tokens_per_sec: (tokens / t.msMedian) * 1000 },
            `gpt step ${c.name.padEnd(3)} pytorch  ${threads}T: ${t.msMedian.toFixed(1)} ms (best ${t.msBest.toFixed(1)}), ${Math.round((tokens / t.msMedian) * 1000)} tok/s`,
          );
        }
      }
    }
    if (Number.isFinite(bestTorch)) {
      emit({ figure: 'gpt_step_ratio', config: c.name, ours_ms: bestOurs, torch_ms: bestTorch, speedup: bestTorch / bestOurs }, `gpt step ${c.name}: tokens/s ours/pytorch (best thread count each) = ${(bestTorch / bestOurs).toFixed(2)}×  (target ≥ 2.0×)`);
    }
  }
  // Memory: RSS over 200 steps of the CPU config must not grow.
  const c = STEP_CONFIGS[0];
  getKernels().setThreads?.(2);
  const model = new GPT(makeConfig({ vocabSize: c.vocab, blockSize: c.block, nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd }), { seed: 0 });
  const opt = new AdamW(decayGroups(model.parameters(), 0.1), { lr: 1e-3 });
  const rng = new Rng(1);
  const n = c.batch * c.block;
  const ids = Int32Array.from({ length: n }, () => rng.int(c.vocab));
  const rss: number[] = [];
  setArenaEnabled(true);
  for (let i = 0; i < 200; i++) {
    resetArena();
    opt.zeroGrad();
    const loss = model.loss(ids, ids, c.batch, c.block);
    loss.backward();
    opt.step();
    if (i === 20 || i === 199) {
      global.gc?.();
      rss.push(process.memoryUsage().rss / 2 ** 20);
    }
  }
  emit({ figure: 'rss', step20_mb: rss[0], step200_mb: rss[1] }, `RSS over 200 steps: ${rss[0].toFixed(0)} MB at step 20, ${rss[1].toFixed(0)} MB at step 200`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
