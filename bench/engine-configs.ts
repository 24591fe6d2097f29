/**
 * The training-step shapes bench/engine.ts times against PyTorch (and bench/engine-profile.ts
 * breaks down by kernel): nanoGPT's shakespeare_char CPU and GPU configs, and the small
 * preset's own model and batch (presets/pretrain.small.json, its tokenizer's 4096-token
 * vocabulary: where `npm start` spends its time).
 */
import { AdamW, clipScale, decayGroups, gradNorm } from '../src/engine/optim.js';
import { Rng } from '../src/engine/rng.js';
import { type Tensor, resetArena, setArenaEnabled } from '../src/engine/tensor.js';
import { makeConfig } from '../src/model/config.js';
import { GPT } from '../src/model/gpt.js';

export interface StepConfig {
  name: string;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  block: number;
  batch: number;
  vocab: number;
  /** timed steps (after 3 warm-up steps); quickSteps with --quick */
  steps: number;
  quickSteps: number;
  position?: 'learned' | 'rope';
}

export const STEP_CONFIGS: StepConfig[] = [
  { name: 'cpu', nLayer: 4, nHead: 4, nEmbd: 128, block: 64, batch: 12, vocab: 65, steps: 60, quickSteps: 20 },
  { name: 'gpu', nLayer: 6, nHead: 6, nEmbd: 384, block: 256, batch: 16, vocab: 65, steps: 10, quickSteps: 4 },
  { name: 'small', nLayer: 4, nHead: 4, nEmbd: 256, block: 256, batch: 16, vocab: 4096, position: 'rope', steps: 10, quickSteps: 4 },
];

/** The step configs named in a --config=a,b flag (all when absent); throws on an unknown name. */
export function selectConfigs(argv: string[]): StepConfig[] {
  const only = argv
    .find((a) => a.startsWith('--config='))
    ?.slice('--config='.length)
    .split(',');
  if (only) for (const n of only) if (!STEP_CONFIGS.some((c) => c.name === n)) throw new Error(`--config: unknown step config "${n}" (one of ${STEP_CONFIGS.map((c) => c.name).join(', ')})`);
  return STEP_CONFIGS.filter((c) => !only || only.includes(c.name));
}

/** The model config a step config times (both implementations build the same one). */
export function stepModelConfig(c: StepConfig): ReturnType<typeof makeConfig> {
  return makeConfig({ vocabSize: c.vocab, blockSize: c.block, nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd, position: c.position ?? 'learned' });
}

/** The model, optimizer and one random batch a step config times (seeded: every bench times the same step). */
export function stepSetup(c: StepConfig): { model: GPT; opt: AdamW; ids: Int32Array; targets: Int32Array } {
  const model = new GPT(stepModelConfig(c), { seed: 0 });
  const opt = new AdamW(decayGroups(model.parameters(), 0.1), { lr: 1e-3, beta2: 0.99 });
  const rng = new Rng(0);
  const n = c.batch * c.block;
  const ids = Int32Array.from({ length: n }, () => rng.int(c.vocab));
  const targets = Int32Array.from({ length: n }, () => rng.int(c.vocab));
  return { model, opt, ids, targets };
}

/**
 * The engine functions a timed step calls besides the model's own. Passed in so that
 * bench/engine-ab-step.mjs can run another tree's engine (a base checkout's dist/) through
 * this one loop; this tree's by default.
 */
export interface StepEngine {
  resetArena(): void;
  setArenaEnabled(on: boolean): void;
  gradNorm(params: readonly Tensor[]): number;
  clipScale(norm: number, maxNorm: number): number;
}
const OWN_ENGINE: StepEngine = { resetArena, setArenaEnabled, gradNorm, clipScale };

/**
 * The training step every engine bench times (bench/engine.ts, engine-profile.ts,
 * engine-ab-step.mjs), `warm` + `steps` times with the arena on (as the training loop runs
 * it): arena reset, zeroGrad, forward and loss, backward, gradient norm, clip to 1, AdamW.
 * `before(i)` runs before step i (i < warm: warm-up). Returns each timed step's wall ms
 * (performance.now) and process CPU ms (process.cpuUsage, user + system: all threads).
 */
export function timeSteps(setup: ReturnType<typeof stepSetup>, c: StepConfig, o: { warm: number; steps: number; engine?: StepEngine; before?: (i: number) => void }): { ms: number[]; cpu: number[] } {
  const e = o.engine ?? OWN_ENGINE;
  const { model, opt, ids, targets } = setup;
  const ms: number[] = [];
  const cpu: number[] = [];
  e.setArenaEnabled(true);
  try {
    for (let i = 0; i < o.warm + o.steps; i++) {
      o.before?.(i);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      e.resetArena();
      opt.zeroGrad();
      const loss = model.loss(ids, targets, c.batch, c.block);
      loss.backward();
      opt.step(e.clipScale(e.gradNorm(model.parameters()), 1));
      const wall = performance.now() - t0;
      const dc = process.cpuUsage(c0);
      if (i >= o.warm) {
        ms.push(wall);
        cpu.push((dc.user + dc.system) / 1000);
      }
    }
  } finally {
    e.setArenaEnabled(false);
  }
  return { ms, cpu };
}
