import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { engineSummary } from '../engine/backend.js';
import { clearTape, isArenaEnabled, noGrad, resetArena, setArenaEnabled } from '../engine/tensor.js';
import { makeConfig } from '../model/config.js';
import { GPT } from '../model/gpt.js';
import { TASKS } from '../data/synthetic/tasks.js';
import { DEFAULT_RL, updatesPerRollout } from '../train/rl.js';
import type { PretrainPreset } from './presets.js';
import { HEADLINE_STEPS } from '../assist/headline.js';
import { promptsPerBatch } from '../train/comparisons.js';

/**
 * How long the pipeline will take on this machine, from timing the work itself: a model of the
 * preset's shape (random weights) runs a few forward+backward passes at each training stage's
 * micro-batch shape and a few forward passes at each decoding shape (rows × 1 token, what one
 * decoding step computes) — each shape's time the fastest of its runs, robust to bursts of other
 * load — and each stage's configured work is counted in those units:
 *   - training stages: steps left (resume-aware: from the stage's latest.json) × micro-batches
 *     × one timed forward+backward (the optimizer update, ~1% at these sizes, is not timed),
 *     run as the training loop runs it: with the step arena on (tensor.ts), its buffers reused;
 *   - decoding (comparisons, rollouts, the evaluation's answers): one timed decode of the
 *     batch's rows on a KV cache (a 32-token prompt, then the reply's tokens) per batch —
 *     sampling, tool calls and prompt lengths beyond 32 are not timed, so it is a floor;
 *   - data preparation and tokenizer training are not estimated (they are measured and shown
 *     at the end), nor the pipeline's samples and the scripted chat (seconds).
 * It is an estimate, printed with what it is based on; the pipeline prints each stage's
 * measured wall time beside it at the end.
 */
export interface StageEstimate {
  /** Stage label as the pipeline prints it. */
  stage: string;
  /** Estimated wall time in seconds. */
  seconds: number;
  /** What was counted, in words. */
  basis: string;
}

export interface PipelineEstimate {
  stages: StageEstimate[];
  /** Sum of the stages, seconds. */
  total: number;
  /** The backend, kernel path (ISA), threads and CPU model the timings were taken on (engineSummary). */
  machine: string;
  /** Wall seconds the calibration itself took. */
  calibrationSeconds: number;
}

/**
 * Seconds of the fastest of `runs` timed calls of `fn` (wall clock): the estimate's unit timing.
 * Load from other processes only adds time to a run, so the minimum is the best measure of what
 * the work itself costs on this machine (timeit's advice; a mean lets one burst dominate).
 * With `o.minSeconds`, calls go on past `runs` until that much wall time was spent on them (at
 * most `o.maxRuns`, default 32), as timeit's autorange: a call of a few milliseconds is timed
 * often enough to get past the JIT's warm-up and a burst of other load, where 3 calls of the
 * tiny preset's step timed it 4–8× slower than its training ran; a long call is timed `runs` times.
 */
export function fastestRun(runs: number, fn: () => void, o: { minSeconds?: number; maxRuns?: number } = {}): number {
  const minSeconds = o.minSeconds ?? 0;
  const maxRuns = Math.max(runs, o.maxRuns ?? 32);
  let best = Infinity;
  let spent = 0;
  for (let i = 0; i < runs || (spent < minSeconds && i < maxRuns); i++) {
    const t = performance.now();
    fn();
    const s = (performance.now() - t) / 1000;
    best = Math.min(best, s);
    spent += s;
  }
  return best;
}

/** Steps already done by a stage of the run (its latest checkpoint), 0 when none. */
export function stepsDone(runDir: string, stage: string): number {
  return stepsDoneIn(runDir, stage);
}

function stepsDoneIn(runDir: string, stage: string): number {
  const p = join(runDir, stage, 'latest.json');
  if (!existsSync(p)) return 0;
  try {
    const s = (JSON.parse(readFileSync(p, 'utf8')) as { step?: unknown }).step;
    return typeof s === 'number' ? s : 0;
  } catch {
    return 0;
  }
}

/** Wall seconds as "45 s", "12.3 min", "2 h 05 min". */
export function formatDuration(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/**
 * Time the preset's work on this machine and estimate each pipeline stage (see the module comment).
 * @param vocabSize the run's vocabulary (the tokenizer's, or the mixture's configured size).
 * @param sources the mixture's source count (pretraining evaluates every source).
 * @param o.techniques also estimate the techniques stage (the addition model of src/assist/headline.ts).
 * @param o.fresh the run starts over (pipeline --fresh): every stage's steps and the comparisons count as not done, whatever the run directory holds.
 */
export function estimatePipeline(runDir: string, preset: PretrainPreset, vocabSize: number, sources: number, o: { techniques?: boolean; fresh?: boolean } = {}): PipelineEstimate {
  // the timed steps run as the training loop's do, with the step arena on (src/train/loop.ts):
  // without it every step allocates its activations and gradients fresh (zero-fill, page faults,
  // garbage collection), which timed a step of the small preset ~2× slower than the trainer runs it
  const arena = isArenaEnabled();
  setArenaEnabled(true);
  try {
    return estimateWithArena(runDir, preset, vocabSize, sources, o);
  } finally {
    setArenaEnabled(arena);
  }
}

function estimateWithArena(runDir: string, preset: PretrainPreset, vocabSize: number, sources: number, o: { techniques?: boolean; fresh?: boolean }): PipelineEstimate {
  // --fresh starts every stage over: what the run directory holds is not done work
  const stepsDone = (dir: string, stage: string): number => (o.fresh ? 0 : stepsDoneIn(dir, stage));
  const t0 = performance.now();
  let vocab = vocabSize;
  let model = new GPT(makeConfig({ ...preset.model, vocabSize }), { seed: 1 });
  let ctx = preset.model.blockSize;
  // a task prompt rendered as a conversation is ~32 tokens; replies are up to maxTokens
  const PROMPT = 32;
  const cache = new Map<string, number>();
  const randomIds = (n: number): Int32Array => {
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[i] = (i * 2654435761) % vocab;
    return ids;
  };
  /**
   * The fastest of 1 + reps timed runs, or more up to 0.3 s of them (the first ones warm up:
   * first-touch allocations, thread start, the JIT, so they are rarely the fastest), as benchmark tools take the minimum (timeit, hyperfine's
   * min): another process's burst only ever adds time, so the minimum is the machine's own
   * speed, where a mean of one or two runs under bursty load overestimated a stage 5×.
   */
  const timed = (key: string, reps: number, fn: () => void): number => {
    key = `${ctx} ${vocab} ${key}`; // the techniques model is timed with the same helpers
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const s = fastestRun(1 + reps, fn, { minSeconds: 0.3 });
    cache.set(key, s);
    return s;
  };
  /** Seconds for one forward+backward of rows × T tokens. */
  const train = (rows: number, T: number): number => {
    T = Math.max(1, Math.min(ctx, Math.round(T)));
    rows = Math.max(1, Math.round(rows));
    return timed(`train ${rows}x${T}`, 2, () => {
      const ids = randomIds(rows * T);
      resetArena(); // as the training loop, before each micro-batch
      model.loss(ids, ids, rows, T).backward();
      for (const p of model.parameters()) p.grad?.fill(0);
      clearTape();
      resetArena();
    });
  };
  /** Seconds for one forward of rows × T tokens (evaluation and scoring passes). */
  const forward = (rows: number, T: number): number => {
    T = Math.max(1, Math.min(ctx, Math.round(T)));
    rows = Math.max(1, Math.round(rows));
    return timed(`forward ${rows}x${T}`, 2, () => {
      noGrad(() => model.forward(randomIds(rows * T), rows, T));
      resetArena();
    });
  };
  /**
   * Seconds to decode `rows` replies of `tokens` tokens together after a PROMPT-token prompt,
   * on a KV cache as the chat engine does (next-token logits of every row per step; sampling,
   * tools and stopping early are not included). Clamped to the context, scaled back up.
   */
  const decode = (rows: number, tokens: number): number => {
    rows = Math.max(1, Math.round(rows));
    const prompt = Math.min(PROMPT, Math.floor(ctx / 2));
    const steps = Math.max(1, Math.min(tokens, ctx - prompt));
    return (
      (tokens / steps) *
      timed(`decode ${rows}x${steps}`, 2, () => {
        noGrad(() => {
          const cache = model.createCache(rows, prompt + steps);
          model.nextLogits(randomIds(rows * prompt), cache);
          for (let i = 0; i < steps; i++) model.nextLogits(randomIds(rows), cache);
        });
        resetArena();
      })
    );
  };

  const stages: StageEstimate[] = [];
  const p = preset.train;
  const left = Math.max(0, p.maxSteps - stepsDone(runDir, 'base'));
  const evals = p.evalEvery > 0 ? Math.floor(left / p.evalEvery) + (left > 0 ? 1 : 0) : left > 0 ? 1 : 0;
  stages.push({
    stage: '1. pretraining',
    seconds: left * p.gradAccum * train(preset.batchSize, preset.seqLen) + evals * sources * preset.evalBatches * forward(preset.batchSize, preset.seqLen),
    basis: `${left} steps × ${p.gradAccum} × ${preset.batchSize}×${preset.seqLen} forward+backward, ${evals} evaluations; data and tokenizer preparation not included`,
  });
  const sft = preset.sft;
  if (sft) {
    const l = Math.max(0, sft.train.maxSteps - stepsDone(runDir, 'sft'));
    stages.push({ stage: '2. SFT', seconds: l * sft.train.gradAccum * train(sft.batchSize, sft.seqLen), basis: `${l} steps × ${sft.train.gradAccum} × ${sft.batchSize}×${sft.seqLen} forward+backward` });
  }
  const rm = preset.rm;
  if (sft && rm) {
    const c = rm.comparisons;
    const done = !o.fresh && existsSync(join(runDir, 'comparisons', 'train.jsonl'));
    // G prompts × K replies a decode (comparisons.ts promptRepliesBatched), train and val apart
    const G = promptsPerBatch(c.k);
    const gen = done ? 0 : (Math.ceil(c.prompts / G) + Math.ceil(c.valPrompts / G)) * decode(G * c.k, c.maxTokens);
    const l = Math.max(0, rm.train.maxSteps - stepsDone(runDir, 'rm'));
    const rows = rm.rankingsPerBatch * c.k;
    stages.push({
      stage: '3. comparisons + RM',
      seconds: gen + l * rm.train.gradAccum * train(rows, PROMPT + c.maxTokens),
      basis: `${done ? 'comparisons already sampled' : `${c.prompts + c.valPrompts} prompts × ${c.k} replies × ${c.maxTokens} tokens decoded, ${G} prompts a batch`}; ${l} steps × ${rows}×${PROMPT + c.maxTokens} forward+backward`,
    });
  }
  const rl = preset.rl;
  if (sft && rm && rl) {
    const cfg = { ...DEFAULT_RL, ...rl.config };
    const l = Math.max(0, rl.train.maxSteps - stepsDone(runDir, 'rl'));
    const rollouts = Math.ceil(l / updatesPerRollout(cfg));
    const P = cfg.promptsPerRollout;
    const L = PROMPT + cfg.maxNewTokens;
    // per rollout: decode, then old log-probs/values, reference and reward-model passes
    const perRollout = decode(P, cfg.maxNewTokens) + 3 * forward(P, L);
    const perUpdate = train(P / cfg.minibatches, L) + (cfg.ptxCoef > 0 ? train(cfg.ptxRows, sft.seqLen) : 0);
    stages.push({
      stage: '4. RL',
      seconds: rollouts * perRollout + l * perUpdate,
      basis: `${rollouts} rollouts × ${P} prompts × ${cfg.maxNewTokens} tokens decoded + 3 forward passes; ${l} updates × ${Math.round(P / cfg.minibatches)}×${L} forward+backward${cfg.ptxCoef > 0 ? ` + ${cfg.ptxRows}×${sft.seqLen} ptx` : ''}`,
    });
  }
  if (sft) {
    const ev = sft.eval ?? {};
    const perTask = ev.perTask ?? 50;
    const models = 1 + 2 + (rm && rl ? 1 : 0); // base, SFT without and with the tool, PPO
    const answers = TASKS.length * perTask * models;
    const cmp = rm ? { prompts: 48, samplesPerPrompt: 8, bestOfN: 4, oracleBestOfN: 0, maxTokens: 48, ...ev.compare } : null;
    // compare (src/eval/compare.ts): each chat model's samples ⌊64 / n⌋ prompts × n replies a
    // decode: SFT's reference replies, SFT's and PPO's replies (n = 1), best-of-N and the
    // oracle's best-of-M, and the diversity samples (6 prompts) of SFT and PPO; the base model
    // completes its few-shot documents one sample at a time (its replies and 6 × n diversity samples)
    const batches = (prompts: number, n: number): number => Math.ceil(prompts / Math.max(1, Math.floor(64 / n))) * decode(Math.min(64, Math.max(1, Math.floor(64 / n)) * n), cmp!.maxTokens);
    const DIVERSITY_PROMPTS = 6;
    const compareSeconds = cmp
      ? (2 + (rl ? 1 : 0)) * batches(cmp.prompts, 1) +
        (cmp.bestOfN > 1 ? batches(cmp.prompts, cmp.bestOfN) : 0) +
        (cmp.oracleBestOfN > 1 ? batches(cmp.prompts, cmp.oracleBestOfN) : 0) +
        (1 + (rl ? 1 : 0)) * batches(DIVERSITY_PROMPTS, cmp.samplesPerPrompt) +
        (cmp.prompts + DIVERSITY_PROMPTS * cmp.samplesPerPrompt) * decode(1, cmp.maxTokens)
      : 0;
    stages.push({
      stage: 'evaluation',
      seconds: answers * decode(1, 24) + compareSeconds,
      basis: `${answers} greedy answers × ~24 tokens${cmp ? `; ${cmp.prompts} compared prompts (replies, best-of-${cmp.bestOfN}${cmp.oracleBestOfN > 0 ? `, oracle best-of-${cmp.oracleBestOfN}` : ''}, ${cmp.samplesPerPrompt} diversity samples of ${DIVERSITY_PROMPTS} prompts per model) × ${cmp.maxTokens} tokens, chat models' up to 64 rows a decode` : ''}`,
    });
  }
  if (o.techniques) {
    // src/assist/headline.ts: the addition model (trainThinking's default shape, its own 384-token
    // BPE; the abacus table is one more embedding lookup, not timed) for `steps` steps of 8 × 256,
    // then 5–8 digits × (direct, step by step) × perCell greedy replies, 16 rows at a time,
    // direct ~24 tokens and step by step up to ~170 (8 digits)
    const t = preset.techniques ?? {};
    vocab = 384;
    model = new GPT(makeConfig({ nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 384, position: 'rope', vocabSize: vocab }), { seed: 1 });
    ctx = 384;
    const l = Math.max(0, (t.steps ?? HEADLINE_STEPS.abacus) - stepsDone(runDir, join('techniques', 'sft')));
    const perCell = t.perCell ?? 20;
    const chunks = 4 * Math.ceil(perCell / 16);
    const rows = Math.min(perCell, 16);
    stages.push({
      stage: 'techniques',
      seconds: l * train(8, 256) + chunks * (decode(rows, 24) + decode(rows, 170)),
      basis: `the addition model: ${l} steps × 8×256 forward+backward; 4 lengths × ${perCell} problems × (direct ~24, step by step ~170 tokens) decoded ${rows} at a time`,
    });
  }
  return {
    stages,
    total: stages.reduce((s, x) => s + x.seconds, 0),
    machine: engineSummary(),
    calibrationSeconds: (performance.now() - t0) / 1000,
  };
}

/** The estimate as the pipeline prints it at its start. */
export function estimateText(e: PipelineEstimate): string {
  const w = Math.max(...e.stages.map((s) => s.stage.length));
  return [
    `estimate for this run: about ${formatDuration(e.total)} on ${e.machine}`,
    `  (from timing this preset's model at each stage's training and decoding shapes for ${formatDuration(e.calibrationSeconds)}, the fastest of several runs of each, scaled by the steps left; decoding is a floor: sampling and tools are not timed; once a stage runs, its progress line re-estimates its ETA from the measured rate)`,
    ...e.stages.map((s) => `  ${s.stage.padEnd(w)}  ${formatDuration(s.seconds).padStart(10)}   ${s.basis}`),
  ].join('\n');
}

/** The end-of-run table: each stage's measured wall time beside its estimate. */
export function timingTable(rows: readonly { stage: string; measured: number; estimate?: number }[], machine: string): string {
  const w = Math.max(5, ...rows.map((r) => r.stage.length));
  const total = rows.reduce((s, r) => s + r.measured, 0);
  const est = rows.reduce((s, r) => s + (r.estimate ?? 0), 0);
  const line = (a: string, b: string, c: string): string => `  ${a.padEnd(w)}  ${b.padStart(10)}  ${c.padStart(10)}`;
  return [`stage times on ${machine}:`, line('stage', 'measured', 'estimated'), ...rows.map((r) => line(r.stage, formatDuration(r.measured), r.estimate !== undefined ? formatDuration(r.estimate) : '—')), line('total', formatDuration(total), formatDuration(est))].join('\n');
}
