import { GptforgeError } from '../util/errors.js';
import { join } from 'node:path';
import { interruptSignal } from '../util/interrupt.js';
import type { Command } from './command.js';
import { parseArgs, formatHelp, str, num, bool, type FlagSpecs } from '../util/args.js';
import { atomicWriteFile } from '../util/atomic.js';
import { loadMixtureConfig } from '../data/mixture.js';
import { prepareData, mixtureTable } from '../data/prepare.js';
import { BatchLoader, ValLoader } from '../data/loader.js';
import { GPT } from '../model/gpt.js';
import { makeConfig, countParams } from '../model/config.js';
import { pretrain } from '../train/pretrain.js';
import type { MetricRecord } from '../train/metrics.js';
import { MetricsLog } from '../train/metrics.js';
import { lossCurveSVG, terminalChart, type Series } from '../eval/plot.js';
import { getKernels } from '../engine/backend.js';
import { ensureTokenizer } from './data.js';
import { loadPreset, resolveMixturePath, type PretrainPreset } from '../run/presets.js';
import { sampleFromRun } from './sample.js';
import { holdRunLock } from '../util/lock.js';

export const PRETRAIN_FLAGS: FlagSpecs = {
  preset: { kind: 'string', help: 'tiny | small | a preset JSON file', default: 'small', alias: 'p' },
  run: { kind: 'string', help: 'run directory (default runs/<preset>)', alias: 'r' },
  mixture: { kind: 'string', help: 'mixture config JSON (overrides the preset\'s)' },
  'max-steps': { kind: 'number', help: 'optimizer steps' },
  'batch-size': { kind: 'number', help: 'rows per micro-batch' },
  'grad-accum': { kind: 'number', help: 'micro-batches per step' },
  lr: { kind: 'number', help: 'peak learning rate' },
  'eval-every': { kind: 'number', help: 'evaluate every N steps' },
  'checkpoint-every': { kind: 'number', help: 'checkpoint every N steps' },
  'log-every': { kind: 'number', help: 'log metrics every N steps' },
  fresh: { kind: 'boolean', help: 'ignore existing checkpoints and start over' },
  'no-samples': { kind: 'boolean', help: 'do not print samples at the end' },
  quiet: { kind: 'boolean', help: 'no progress bars' },
};

/** Apply command-line overrides to a preset. */
export function presetWithFlags(preset: PretrainPreset, a: ReturnType<typeof parseArgs>): PretrainPreset {
  const p: PretrainPreset = { ...preset, train: { ...preset.train } };
  const n = (k: string): number | undefined => num(a, k);
  const steps = n('max-steps');
  if (steps !== undefined && !(Number.isInteger(steps) && steps >= 1)) throw new GptforgeError(`--max-steps must be a positive whole number of optimizer steps, got ${steps}`, { field: '--max-steps' });
  if (steps !== undefined) p.train.maxSteps = steps;
  if (n('batch-size') !== undefined) p.batchSize = n('batch-size')!;
  if (n('grad-accum') !== undefined) p.train.gradAccum = n('grad-accum')!;
  if (n('lr') !== undefined) p.train.lr = n('lr')!;
  if (n('eval-every') !== undefined) p.train.evalEvery = n('eval-every')!;
  if (n('checkpoint-every') !== undefined) p.train.checkpointEvery = n('checkpoint-every')!;
  if (n('log-every') !== undefined) p.train.logEvery = n('log-every')!;
  return p;
}

/** The preset (with flag overrides) and run directory that pretrain flags name. */
export function resolveRun(a: ReturnType<typeof parseArgs>): { runDir: string; preset: PretrainPreset; file: string } {
  const { preset: base, file } = loadPreset(str(a, 'preset')!);
  const preset = presetWithFlags(base, a);
  return { runDir: str(a, 'run') ?? join('runs', preset.name), preset, file };
}

/** data → tokenizer → pretrain for a preset; returns the run directory. */
export async function runPretrain(argv: string[]): Promise<{ runDir: string; preset: PretrainPreset }> {
  const a = parseArgs(argv, PRETRAIN_FLAGS, 'pretrain');
  const { runDir, preset, file } = resolveRun(a);
  holdRunLock(runDir, 'run', { create: true }); // one writer per run (src/util/lock.ts)
  const quiet = bool(a, 'quiet');
  const mixturePath = str(a, 'mixture') ?? resolveMixturePath(preset, file);
  const mixture = loadMixtureConfig(mixturePath);

  // 1. tokenizer and data (reused when already prepared for the same inputs)
  const tokPath = join(runDir, 'tokenizer.json');
  const tok = ensureTokenizer(tokPath, mixture, quiet);
  const dataDir = join(runDir, 'data');
  const index = await prepareData(mixture, dataDir, tok, { quiet });
  if (!quiet) console.error(mixtureTable(index));

  // 2. the model
  const config = makeConfig({ ...preset.model, vocabSize: tok.vocabSize });
  const model = new GPT(config, { seed: 1337 });
  atomicWriteFile(join(runDir, 'preset.json'), JSON.stringify({ ...preset, mixture: mixturePath }, null, 2));
  const k = getKernels();
  if (!quiet) console.error(`pretrain: ${(countParams(config) / 1e6).toFixed(2)}M parameters (${preset.model.nLayer} layers, ${preset.model.nEmbd} wide, context ${preset.model.blockSize}), vocabulary ${tok.vocabSize}, ${preset.batchSize}×${preset.seqLen}×${preset.train.gradAccum} tokens/step, ${k.name} backend, ${k.threads} threads`);

  // 3. batches
  const B = preset.batchSize;
  const T = preset.seqLen;
  // one concat stream per row of a step, so a step reads the same rows however gradAccum splits it
  const train = BatchLoader.open(dataDir, { batchSize: B, seqLen: T, mode: preset.loader ?? 'concat', streams: B * preset.train.gradAccum });
  const val = index.sources.map((s) => ({
    name: s.name,
    bytesPerToken: s.val.bytes / Math.max(1, s.val.tokens),
    open: () => new ValLoader(dataDir, index, s.name, B, T),
  }));

  // 4. train, plotting the curves after every evaluation
  const onEval = (history: MetricRecord[]): void => writePlot(runDir, history);
  const result = await pretrain(
    { model, train, val, batchSize: B, seqLen: T, evalBatches: preset.evalBatches, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() },
    preset.train,
    { runDir, stageDir: join(runDir, 'base'), resume: !bool(a, 'fresh'), quiet, signal: interruptSignal(), onEval },
  );
  const history = new MetricsLog(runDir).read('pretrain');
  writePlot(runDir, history);
  if (!quiet) {
    console.log(terminalChart(curves(history), { title: 'loss (█ train, others: validation per source)', width: 64, height: 12 }));
    console.log(`pretrain: ${result.interrupted ? 'stopped' : 'done'} at step ${result.step}, train loss ${result.lastLoss.toFixed(3)}${result.lastEval['val/loss'] !== undefined ? `, val loss ${result.lastEval['val/loss'].toFixed(3)}` : ''}; checkpoint ${result.checkpoint}; curves in ${join(runDir, 'loss.svg')}`);
  }
  if (result.interrupted) process.exitCode = 130;
  return { runDir, preset };
}

export function curves(history: readonly MetricRecord[]): Series[] {
  const train: Series = { name: 'train', points: history.filter((r) => typeof r.loss === 'number').map((r) => [r.step, r.loss as number]) };
  const valNames = [...new Set(history.flatMap((r) => Object.keys(r).filter((k) => k.startsWith('val/loss/'))))];
  return [train, ...valNames.map((k) => ({ name: k.slice('val/loss/'.length), points: history.filter((r) => typeof r[k] === 'number').map((r) => [r.step, r[k] as number] as [number, number]) }))];
}

function writePlot(runDir: string, history: readonly MetricRecord[]): void {
  atomicWriteFile(join(runDir, 'loss.svg'), lossCurveSVG(curves(history), { title: 'pretraining loss', xLabel: 'step', yLabel: 'cross-entropy (nats/token)' }));
}

export const command: Command = {
  summary: 'train the base model (builds tokenizer and data if missing)',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp('gptforge pretrain [--preset tiny|small|file.json] [--run runs/<name>] [flags]', 'Pretraining: prepares the tokenizer and data mixture when missing, trains the base model with checkpoints (resumes automatically; Ctrl-C saves and exits), writes metrics.jsonl and loss.svg, and prints samples.', PRETRAIN_FLAGS));
      return;
    }
    const { runDir, preset } = await runPretrain(argv);
    if (!argv.includes('--no-samples') && preset.samples && process.exitCode !== 130) {
      for (const prompt of preset.samples.prompts) {
        const { text } = sampleFromRun(runDir, prompt, { maxTokens: preset.samples.maxTokens, temperature: preset.samples.temperature ?? 0.8, topK: preset.samples.topK, topP: preset.samples.topP, seed: 1 });
        console.log(`\n--- sample: ${JSON.stringify(prompt)}\n${prompt}${text}`);
      }
    }
  },
};
