/**
 * Does our engine learn induction (copying by content) as PyTorch does? Side by side, on the
 * same batches (docs/journal/rag.md, "Seventh attempt").
 *
 * Data: random token ids, no tokenizer. `--task repeat`: a random segment of L ∈ [lo, hi]
 * ids, then the same segment again, then random filler to T + 1 ids (Olsson et al. 2022's
 * repeated random tokens; L varies per row so position alone cannot copy). `--task mqar`:
 * N key → value pairs, then the N keys in a random order each followed by its value
 * (Zoology's multi-query associative recall, Arora et al. 2023; keys from the lower half
 * of the vocabulary, values from the upper half). `--task mix`: repeat and MQAR rows
 * alternate, scored on MQAR rows. Scored: the copyable targets only (the
 * repeat's 2nd…Lth ids; the queries' values), as mean nats and argmax accuracy on a fixed
 * held-out batch, every `--eval-every` steps.
 *
 * The batches are drawn here and written to a temporary file that bench/torch_induction.py
 * reads, so both see the same ids; model (GPT-2 shape: pre-LayerNorm, GELU, biases, tied
 * embeddings, RoPE or learned positions), init recipe (N(0, 0.02), residual projections
 * 0.02/√(2·layers)), AdamW (decay on ≥2-D only), warmup + cosine schedule and grad clip 1
 * are the same in both.
 *
 * Flags: --task repeat|mqar, --vocab 512, --layers 2, --embd 128, --heads 4, --T 128,
 * --batch 16, --steps 600, --lr 6e-3, --min-lr (lr/10), --warmup 30, --wd 0, --beta2 0.95,
 * --position rope|learned, --lo 8 --hi 60 (repeat), --pairs 16 (mqar),
 * --train-on all|scored (the loss on every target, or on the scored ones only),
 * --eval-every 50, --seed 1 (the batches), --init-seed (the weights; default 1337 + seed),
 * --impl both|ours|torch, --json.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GPT } from '../src/model/gpt.js';
import { flopsPerToken, makeConfig } from '../src/model/config.js';
import { Rng } from '../src/engine/rng.js';
import * as op from '../src/engine/ops.js';
import { noGrad } from '../src/engine/tensor.js';
import { engineSummary } from '../src/engine/backend.js';
import { train } from '../src/train/loop.js';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, {
  T: 'value',
  batch: 'value',
  beta2: 'value',
  embd: 'value',
  'eval-every': 'value',
  heads: 'value',
  hi: 'value',
  impl: 'value',
  'init-seed': 'value',
  layers: 'value',
  lo: 'value',
  lr: 'value',
  'min-lr': 'value',
  pairs: 'value',
  position: 'value',
  seed: 'value',
  steps: 'value',
  task: 'value',
  'train-on': 'value',
  vocab: 'value',
  warmup: 'value',
  wd: 'value',
  json: 'switch',
});

const argv = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const num = (name: string, def: number): number => {
  const v = Number(flag(name, String(def)));
  if (!Number.isFinite(v)) throw new Error(`--${name}: not a number: ${flag(name, '')}`);
  return v;
};
const task = flag('task', 'repeat');
if (task !== 'repeat' && task !== 'mqar' && task !== 'mix') throw new Error(`--task must be repeat, mqar or mix, got ${task}`);
const V = num('vocab', 512);
const nLayer = num('layers', 2);
const nEmbd = num('embd', 128);
const nHead = num('heads', 4);
const T = num('T', 128);
const B = num('batch', 16);
const steps = num('steps', 600);
const lr = num('lr', 6e-3);
const minLr = num('min-lr', lr / 10);
const warmup = num('warmup', 30);
const wd = num('wd', 0);
const beta2 = num('beta2', 0.95);
const position = flag('position', 'rope') as 'rope' | 'learned';
if (position !== 'rope' && position !== 'learned') throw new Error(`--position must be rope or learned, got ${position}`);
const lo = num('lo', 8);
const hi = num('hi', 60);
const pairs = num('pairs', 16);
const trainOn = flag('train-on', 'all');
if (trainOn !== 'all' && trainOn !== 'scored') throw new Error(`--train-on must be all or scored, got ${trainOn}`);
const evalEvery = num('eval-every', 50);
const seed = num('seed', 1);
const initSeed = num('init-seed', 1337 + seed);
const impl = flag('impl', 'both');
const json = argv.includes('--json');
if (task !== 'mqar' && 2 * hi + 1 > T + 1) throw new Error(`--hi ${hi}: two copies do not fit in T + 1 = ${T + 1}`);
if (task !== 'repeat' && 4 * pairs > T + 1) throw new Error(`--pairs ${pairs}: pairs and queries do not fit in T + 1 = ${T + 1}`);
const benchDir = dirname(fileURLToPath(import.meta.url)).replace(/dist[\\/]bench$/, 'bench');

/** One row of T + 1 ids and the scored flags of its T targets. */
function drawRow(rng: Rng, ids: Int32Array, scored: Uint8Array, kind: 'repeat' | 'mqar'): void {
  scored.fill(0);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.int(V);
  if (kind === 'repeat') {
    const L = lo + rng.int(hi - lo + 1);
    for (let i = 0; i < L; i++) ids[L + i] = ids[i];
    // target t predicts ids[t + 1]: the copies of ids[1..L-1] sit at L+1..2L-1
    for (let t = L; t < 2 * L - 1; t++) scored[t] = 1;
    return;
  }
  const half = V >> 1;
  const keys: number[] = [];
  const seen = new Set<number>();
  while (keys.length < pairs) {
    const k = 1 + rng.int(half - 1);
    if (!seen.has(k)) {
      seen.add(k);
      keys.push(k);
    }
  }
  const vals = keys.map(() => half + rng.int(V - half));
  for (let i = 0; i < pairs; i++) {
    ids[2 * i] = keys[i];
    ids[2 * i + 1] = vals[i];
  }
  const order = keys.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const q0 = 2 * pairs;
  for (let i = 0; i < pairs; i++) {
    ids[q0 + 2 * i] = keys[order[i]];
    ids[q0 + 2 * i + 1] = vals[order[i]];
    scored[q0 + 2 * i] = 1; // target at the query key's position: its value
  }
}

interface Batch {
  ids: Int32Array;
  targets: Int32Array;
  scoredTargets: Int32Array;
}

/** A batch of rows of `kind` (mix: repeat and MQAR rows alternate). */
function drawBatch(rng: Rng, kind: 'repeat' | 'mqar' | 'mix'): Batch {
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const scoredTargets = new Int32Array(B * T);
  const row = new Int32Array(T + 1);
  const scored = new Uint8Array(T);
  for (let b = 0; b < B; b++) {
    drawRow(rng, row, scored, kind === 'mix' ? (b % 2 === 0 ? 'repeat' : 'mqar') : kind);
    ids.set(row.subarray(0, T), b * T);
    for (let t = 0; t < T; t++) {
      targets[b * T + t] = trainOn === 'all' || scored[t] ? row[t + 1] : -1;
      scoredTargets[b * T + t] = scored[t] ? row[t + 1] : -1;
    }
  }
  return { ids, targets, scoredTargets };
}

const dataRng = new Rng(seed);
// mix: trained on both, scored on MQAR rows (does the copying the repeats teach carry to lookups?)
const evalKind = task === 'mix' ? 'mqar' : task;
const evalBatches = [drawBatch(dataRng, evalKind), drawBatch(dataRng, evalKind)];
const trainBatches: Batch[] = Array.from({ length: steps }, () => drawBatch(dataRng, task));

interface Point {
  step: number;
  loss: number;
  acc: number;
}

/** Mean nats and argmax accuracy over the scored targets of the held-out batches. */
function evaluate(model: GPT): { loss: number; acc: number } {
  let nats = 0;
  let right = 0;
  let n = 0;
  noGrad(() => {
    for (const e of evalBatches) {
      const logits = model.forward(e.ids, B, T).data;
      for (let r = 0; r < B * T; r++) {
        const y = e.scoredTargets[r];
        if (y < 0) continue;
        const row = logits.subarray(r * V, (r + 1) * V);
        let max = -Infinity;
        let arg = 0;
        for (let i = 0; i < V; i++)
          if (row[i] > max) {
            max = row[i];
            arg = i;
          }
        let z = 0;
        for (let i = 0; i < V; i++) z += Math.exp(row[i] - max);
        nats += Math.log(z) + max - row[y];
        if (arg === y) right++;
        n++;
      }
    }
  });
  return { loss: nats / n, acc: right / n };
}

async function runOurs(): Promise<{ curve: Point[]; seconds: number }> {
  const cfg = makeConfig({ vocabSize: V, blockSize: T, nLayer, nHead, nEmbd, position });
  const model = new GPT(cfg, { seed: initSeed });
  const curve: Point[] = [{ step: 0, ...evaluate(model) }];
  const runDir = mkdtempSync(join(tmpdir(), 'gf-induction-'));
  let step = 0;
  const t0 = performance.now();
  console.error(`gptforge: ${task}, vocab ${V}, ${model.numParams()} params, ${position}; ${engineSummary()}`);
  try {
    await train(
      {
        stage: 'induction',
        model,
        nextMicroBatch: () => trainBatches[step % steps],
        weight: ({ targets }) => targets.reduce((s, y) => s + (y >= 0 ? 1 : 0), 0),
        forwardMicroBatch: ({ ids, targets }, total) => {
          const n = targets.reduce((s, y) => s + (y >= 0 ? 1 : 0), 0);
          return { loss: op.scale(model.loss(ids, targets, B, T), n / total), tokens: B * T };
        },
        state: () => step,
        restore: () => {},
        flopsPerToken: 3 * flopsPerToken(cfg, T),
      },
      { maxSteps: steps, lr, minLr, warmupSteps: warmup, decaySteps: steps, weightDecay: wd, beta1: 0.9, beta2, gradClip: 1, gradAccum: 1, evalEvery: 0, checkpointEvery: 0, keepLast: 1, logEvery: 1 },
      {
        runDir,
        stageDir: join(runDir, 'ckpt'),
        resume: false,
        quiet: true,
        onStep: () => {
          step++;
          if (step % evalEvery === 0 || step === steps) {
            const p = { step, ...evaluate(model) };
            curve.push(p);
            if (!json) console.error(`  ours  step ${p.step}: scored loss ${p.loss.toFixed(3)}, acc ${(100 * p.acc).toFixed(1)}%`);
          }
        },
      },
    );
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
  return { curve, seconds: (performance.now() - t0) / 1000 };
}

function runTorch(): { curve: Point[]; seconds: number } {
  const dir = mkdtempSync(join(tmpdir(), 'gf-induction-torch-'));
  try {
    const pack = (bs: Batch[], key: 'ids' | 'targets' | 'scoredTargets'): Buffer => Buffer.concat(bs.map((b) => Buffer.from(b[key].buffer, b[key].byteOffset, b[key].byteLength)));
    writeFileSync(join(dir, 'train_ids.bin'), pack(trainBatches, 'ids'));
    writeFileSync(join(dir, 'train_targets.bin'), pack(trainBatches, 'targets'));
    writeFileSync(join(dir, 'eval_ids.bin'), pack(evalBatches, 'ids'));
    writeFileSync(join(dir, 'eval_targets.bin'), pack(evalBatches, 'scoredTargets'));
    const spec = { V, T, B, steps, nLayer, nHead, nEmbd, position, lr, minLr, warmup, wd, beta2, evalEvery, seed: initSeed, evalBatches: evalBatches.length };
    const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    const r = spawnSync('/usr/bin/python3', [join(benchDir, 'torch_induction.py'), dir, JSON.stringify(spec)], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', json ? 'pipe' : 'inherit'] });
    if (r.status !== 0) throw new Error(`PyTorch run failed:\n${r.stderr ?? ''}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { curve: Point[]; seconds: number };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const desc = `${task}${task !== 'mqar' ? ` L ${lo}-${hi}` : ''}${task !== 'repeat' ? ` ${pairs} pairs` : ''}, V ${V}, ${nLayer}x${nEmbd} ${nHead} heads ${position}, ${B}x${T}, ${steps} steps, lr ${lr}→${minLr} warmup ${warmup}, wd ${wd}, beta2 ${beta2}, train on ${trainOn}`;
  const results: Record<string, { curve: Point[]; seconds: number }> = {};
  if (impl !== 'torch') results.gptforge = await runOurs();
  if (impl !== 'ours') results.pytorch = runTorch();
  if (json) {
    console.log(JSON.stringify({ figure: 'induction', desc, ...results }));
    return;
  }
  console.log(desc);
  const names = Object.keys(results);
  console.log(`step  | ${names.map((n) => `${n} loss / acc`).join(' | ')}`);
  const curve0 = results[names[0]].curve;
  for (let i = 0; i < curve0.length; i++) {
    const cells = names.map((n) => {
      const p = results[n].curve[i];
      return p ? `${p.loss.toFixed(3)} / ${(100 * p.acc).toFixed(1)}%` : '—';
    });
    console.log(`${String(curve0[i].step).padStart(5)} | ${cells.join(' | ')}`);
  }
  console.log(names.map((n) => `${n} ${results[n].seconds.toFixed(0)} s`).join(', '));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
