/**
 * `npm run bench:lora`: what LoRA over a quantized frozen base costs and saves, at GPT-2
 * 124M's shape (12 layers, 768 wide, 50257 tokens; random weights — this measures steps and
 * memory, not quality):
 *
 * - trainable parameters of the adapter as a share of the model;
 * - peak RSS and time of one SFT step (forward, backward, AdamW) for full fine-tuning and for
 *   LoRA on an f32, Q8_0 and Q4_0 base, each in its own child process. The peak is the
 *   step's: the child resets Linux's high-water mark (/proc/self/clear_refs) once the model is
 *   built, so building the fp32 model before quantizing it does not count (a real run loads
 *   the fp32 checkpoint first too); the process's lifetime peak is printed beside it;
 * - the quantized matmul against fp32 sgemm on the same weights at decode shapes (M = 1…8
 *   rows), hot in cache (one 768×3072 matrix) and streamed (every linear of the 12 layers in
 *   turn, as one decoded token reads them), as throughput ratios measured in one run.
 *
 * Options: --batch B (4) --seq T (128) --rank r (8) --targets spec (all-linear) --token-rows n
 * (523, the trainable token rows SFT's default LoRA adds on the small preset) --reps n (5)
 * --modes full,lora-f32,lora-q8_0,lora-q4_0 (the children to run, full first; none: only the
 * matmul comparison) --no-decode
 * --json. Prints the engine line (ISA, threads, CPU) first.
 *
 * `--ppl-run <run dir> [--ppl-batches n]` instead measures what a quantized base costs in
 * quality: the run's base model's loss on each pretraining validation split (its own batch
 * shape, n batches per source, default the preset's evalBatches) with the base in f32, Q8_0
 * and Q4_0, and the perplexity increase exp(Δloss) − 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { engineSummary, getKernels } from '../src/engine/backend.js';
import { AdamW, decayGroups } from '../src/engine/optim.js';
import { Rng } from '../src/engine/rng.js';
import { resetArena, setArenaEnabled } from '../src/engine/tensor.js';
import { GPT } from '../src/model/gpt.js';
import { makeConfig, type GPTConfig } from '../src/model/config.js';
import { LoraModel } from '../src/model/lora.js';
import { parseLoraSpec } from '../src/model/lora-spec.js';
import { quantize, type BasePrecision, type QuantType } from '../src/model/quantize.js';
import { loadCheckpoint, modelFromCheckpoint, resolveCheckpoint } from '../src/model/checkpoint.js';
import { readDataIndex } from '../src/data/prepare.js';
import { ValLoader } from '../src/data/loader.js';
import { evaluateSplits } from '../src/train/pretrain.js';
import { join } from 'node:path';
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, { batch: 'value', seq: 'value', steps: 'value', 'token-rows': 'value', rank: 'value', targets: 'value', 'ppl-batches': 'value', 'ppl-run': 'value', child: 'value', json: 'switch', reps: 'value', modes: 'value', 'no-decode': 'switch' });

const GPT2: GPTConfig = makeConfig({ vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768 });

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function statusKb(field: string): number | null {
  if (!existsSync('/proc/self/status')) return null;
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : null;
}

interface ChildResult {
  mode: string;
  trainable: number;
  total: number;
  stepPeakMiB: number | null;
  lifetimePeakMiB: number;
  stepMs: number[];
  baseMiB: number;
}

/** One child: build the model, reset the RSS high-water mark, run `steps` SFT steps. */
function child(mode: string): void {
  const B = Number(arg('batch', '4'));
  const T = Number(arg('seq', '128'));
  const steps = Number(arg('steps', '3'));
  const model = new GPT(GPT2, { seed: 1 });
  let params = model.parameters();
  let baseMiB = (model.numParams() * 4) / 2 ** 20;
  const total = model.numParams();
  if (mode !== 'full') {
    const precision = mode.slice('lora-'.length) as BasePrecision;
    const lm = new LoraModel(model, { basePrecision: precision });
    // SFT's default LoRA also trains token rows (special tokens + the 512 most frequent answer
    // tokens: 523 on the small preset); which ids does not change the cost, so rows 0…n−1
    const rows = Number(arg('token-rows', '523'));
    lm.addAdapter('default', { ...parseLoraSpec(`r=${arg('rank', '8')},alpha=16,targets=${arg('targets', 'all-linear')}`, ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']), trainableTokenIndices: Array.from({ length: rows }, (_, i) => i) });
    params = lm.trainableParameters();
    baseMiB = lm.baseBytes() / 2 ** 20;
  }
  const trainable = params.reduce((s, p) => s + p.size, 0);
  const opt = new AdamW(decayGroups(params, 0.1), { lr: 1e-4 });
  const rng = new Rng(2);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(GPT2.vocabSize));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(GPT2.vocabSize));
  (globalThis as { gc?: () => void }).gc?.();
  // clear_refs resets the high-water mark getrusage reports too: read the build's peak first
  const buildPeakMiB = (statusKb('VmHWM') ?? process.resourceUsage().maxRSS) / 1024;
  let reset = false;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    reset = true;
  } catch {
    // not Linux, or not allowed: only the lifetime peak is reported
  }
  setArenaEnabled(true);
  const stepMs: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    opt.zeroGrad();
    resetArena();
    model.loss(ids, targets, B, T).backward();
    opt.step(1);
    stepMs.push(performance.now() - t0);
  }
  const out: ChildResult = {
    mode,
    trainable,
    total,
    baseMiB,
    stepPeakMiB: reset ? (statusKb('VmHWM') ?? 0) / 1024 : null,
    lifetimePeakMiB: Math.max(buildPeakMiB, (statusKb('VmHWM') ?? 0) / 1024, reset ? 0 : process.resourceUsage().maxRSS / 1024),
    stepMs,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runChild(mode: string): ChildResult {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--expose-gc', script, '--child', mode, ...process.argv.slice(2)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench child ${mode} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

/** Best-of-reps microseconds of fn (each rep runs it `inner` times). */
function time(fn: () => void, reps: number, inner: number): number {
  let best = Infinity;
  fn();
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    best = Math.min(best, (performance.now() - t0) / inner);
  }
  return best * 1000;
}

interface DecodeRow {
  M: number;
  regime: string;
  sgemmUs: number;
  q8Us: number;
  q4Us: number;
  /** qmatmulQ8: the activations quantized to Q8_0 too, integer block products (inference). */
  q8iUs: number;
  q4iUs: number;
}

/**
 * y = x·W at M rows: sgemm on W [K, N] fp32 (the model's layout) vs qmatmul on the same
 * weights as Q8_0 / Q4_0 blocks. "hot": one 768×3072 matrix over and over (fits in L2/L3);
 * "model": the 48 linears of the 12 layers in turn (what one decode step reads; 340 MB in
 * fp32, 90 MB in Q8_0, 48 MB in Q4_0).
 */
function decodeBench(reps: number): DecodeRow[] {
  const k = getKernels();
  const rng = new Rng(3);
  const C = GPT2.nEmbd;
  const shapes: [number, number][] = [];
  for (let l = 0; l < GPT2.nLayer; l++) shapes.push([C, 3 * C], [C, C], [C, 4 * C], [4 * C, C]);
  const mats = shapes.map(([K, N]) => {
    const w = Float32Array.from({ length: K * N }, () => rng.normal() * 0.02);
    // quantized as the model holds them: [N, K] rows of blocks along K
    const t = new Float32Array(K * N);
    for (let i = 0; i < K; i++) for (let o = 0; o < N; o++) t[o * K + i] = w[i * N + o];
    const q: Record<QuantType, Uint8Array> = { q8_0: quantize('q8_0', t), q4_0: quantize('q4_0', t) };
    return { K, N, w, q };
  });
  const rows: DecodeRow[] = [];
  for (const regime of ['hot', 'model'] as const) {
    const set = regime === 'hot' ? [mats[2]] : mats;
    const inner = regime === 'hot' ? 20 : 1;
    for (const M of [1, 2, 4, 8]) {
      const xs = set.map((m) => Float32Array.from({ length: M * m.K }, () => rng.normal()));
      const ys = set.map((m) => new Float32Array(M * m.N));
      const run = (f: (i: number) => void) => () => {
        for (let i = 0; i < set.length; i++) f(i);
      };
      // interleave the three so drift in the machine's load hits all of them alike
      const s: number[] = [];
      const a: number[] = [];
      const b: number[] = [];
      const ai: number[] = [];
      const bi: number[] = [];
      for (let r = 0; r < reps; r++) {
        s.push(
          time(
            run((i) => k.matmul(xs[i], set[i].w, ys[i], M, set[i].K, set[i].N, false, false, false)),
            1,
            inner,
          ),
        );
        a.push(
          time(
            run((i) => k.qmatmul(xs[i], set[i].q.q8_0, ys[i], M, set[i].K, set[i].N, 'q8_0', false)),
            1,
            inner,
          ),
        );
        b.push(
          time(
            run((i) => k.qmatmul(xs[i], set[i].q.q4_0, ys[i], M, set[i].K, set[i].N, 'q4_0', false)),
            1,
            inner,
          ),
        );
        ai.push(
          time(
            run((i) => k.qmatmulQ8(xs[i], set[i].q.q8_0, ys[i], M, set[i].K, set[i].N, 'q8_0', false)),
            1,
            inner,
          ),
        );
        bi.push(
          time(
            run((i) => k.qmatmulQ8(xs[i], set[i].q.q4_0, ys[i], M, set[i].K, set[i].N, 'q4_0', false)),
            1,
            inner,
          ),
        );
      }
      rows.push({ M, regime, sgemmUs: Math.min(...s), q8Us: Math.min(...a), q4Us: Math.min(...b), q8iUs: Math.min(...ai), q4iUs: Math.min(...bi) });
    }
  }
  return rows;
}

/** Validation loss of a run's base with its block linears in f32, Q8_0 and Q4_0. */
function perplexityCost(runDir: string): void {
  const preset = JSON.parse(readFileSync(join(runDir, 'preset.json'), 'utf8')) as { batchSize: number; seqLen: number; evalBatches?: number };
  const B = preset.batchSize;
  const T = preset.seqLen;
  const batches = Number(arg('ppl-batches', String(preset.evalBatches ?? 4)));
  const dataDir = join(runDir, 'data');
  const index = readDataIndex(dataDir);
  const splits = index.sources.map((s) => ({ name: s.name, open: () => new ValLoader(dataDir, index, s.name, B, T) }));
  const ckDir = resolveCheckpoint(runDir, 'base');
  console.log(`perplexity cost of a quantized base: ${ckDir}, ${splits.length} validation splits × ${batches} batches of ${B}×${T}`);
  const losses: Record<string, number> = {};
  for (const precision of ['f32', 'q8_0', 'q4_0'] as const) {
    const model = modelFromCheckpoint(loadCheckpoint(ckDir));
    if (precision !== 'f32') new LoraModel(model, { basePrecision: precision });
    losses[precision] = evaluateSplits(model, splits, B, T, batches)['val/loss'];
  }
  for (const p of ['f32', 'q8_0', 'q4_0']) {
    const inc = Math.exp(losses[p] - losses.f32) - 1;
    console.log(`${p.padEnd(5)} val loss ${losses[p].toFixed(5)}  perplexity ${Math.exp(losses[p]).toFixed(3)}  cost ${(100 * inc).toFixed(3)}%`);
  }
}

function main(): void {
  const childMode = arg('child', '');
  if (childMode) return child(childMode);
  const pplRun = arg('ppl-run', '');
  if (pplRun) {
    console.log(`bench:lora: ${engineSummary()}`);
    return perplexityCost(pplRun);
  }
  const json = process.argv.includes('--json');
  const reps = Number(arg('reps', '5'));
  const line = `bench:lora: ${engineSummary()}`;
  console.log(line);
  const B = Number(arg('batch', '4'));
  const T = Number(arg('seq', '128'));
  console.log(`GPT-2 124M shape (12 layers, 768 wide, vocab 50257), SFT step of ${B}×${T} tokens, LoRA r=${arg('rank', '8')} alpha=16 targets=${arg('targets', 'all-linear')} + ${arg('token-rows', '523')} token rows`);
  const modes = arg('modes', 'full,lora-f32,lora-q8_0,lora-q4_0');
  const results = modes === 'none' ? [] : modes.split(',').map(runChild);
  const full = results[0];
  const fmt = (x: number | null, d = 0): string => (x === null ? 'n/a' : x.toFixed(d));
  if (results.length > 0) console.log('\nmode        trainable        %  base MiB  step peak MiB  ×full  lifetime peak MiB  step ms (median)  ×full');
  for (const r of results) {
    const step = median(r.stepMs.slice(1).length ? r.stepMs.slice(1) : r.stepMs);
    const fstep = median(full.stepMs.slice(1).length ? full.stepMs.slice(1) : full.stepMs);
    console.log(
      `${r.mode.padEnd(10)} ${String(r.trainable).padStart(10)} ${((100 * r.trainable) / r.total).toFixed(2).padStart(7)} ${fmt(r.baseMiB).padStart(9)} ${fmt(r.stepPeakMiB).padStart(14)} ${r.stepPeakMiB !== null && full.stepPeakMiB ? (r.stepPeakMiB / full.stepPeakMiB).toFixed(2).padStart(6) : '   n/a'} ${fmt(r.lifetimePeakMiB).padStart(18)} ${step.toFixed(0).padStart(17)} ${(step / fstep).toFixed(2).padStart(6)}`,
    );
  }
  const dec = process.argv.includes('--no-decode') ? [] : decodeBench(reps);
  const col = (us: number, sg: number): string => `${us.toFixed(0).padStart(9)} ${(sg / us).toFixed(2).padStart(7)}`;
  if (dec.length > 0) {
    console.log('\ndecode shapes: y = x·W, time per pass (µs) and throughput vs fp32 sgemm on the same weights');
    console.log('(q8_0, q4_0: float activations, as training runs; ·int8: activations quantized to Q8_0, integer products, as decoding runs)');
    console.log('regime  M  sgemm µs   q8_0 µs  ×sgemm   q4_0 µs  ×sgemm  q8_0·int8  ×sgemm  q4_0·int8  ×sgemm');
  }
  for (const r of dec) console.log(`${r.regime.padEnd(6)} ${String(r.M).padStart(2)} ${r.sgemmUs.toFixed(0).padStart(9)} ${col(r.q8Us, r.sgemmUs)} ${col(r.q4Us, r.sgemmUs)}  ${col(r.q8iUs, r.sgemmUs)}  ${col(r.q4iUs, r.sgemmUs)}`);
  if (json) console.log(JSON.stringify({ engine: engineSummary(), B, T, steps: results, decode: dec }));
}

main();
