import { existsSync, readFileSync } from 'node:fs';
import { interruptSignal } from '../util/interrupt.js';
import { join } from 'node:path';
import type { Command } from './command.js';
import { parseArgs, formatHelp, str, num, strs, bool, type FlagSpecs } from '../util/args.js';
import { GptforgeError } from '../util/errors.js';
import { buildSftDataset, PackedLoader, sftTable, type SftDataset, type SftMixtureConfig } from '../data/sft.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { OnBad } from '../data/chat.js';
import { sft } from '../train/sft.js';
import { MetricsLog, type MetricRecord } from '../train/metrics.js';
import { lossCurveSVG, terminalChart } from '../eval/plot.js';
import { atomicWriteFile } from '../util/atomic.js';
import { getKernels } from '../engine/backend.js';
import { loadPreset, presetsDir, type PretrainPreset, type SftPreset } from './presets.js';
import { loadModel } from './models.js';
import { curves } from './pretrain.js';
import { holdRunLock } from '../util/lock.js';

export const SFT_FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory with a base model (runs/<name>/base)', alias: 'r', default: 'runs/small' },
  preset: { kind: 'string', help: 'preset whose "sft" section to use (default: the run\'s preset.json, else small)', alias: 'p' },
  mixture: { kind: 'string', help: 'SFT mixture JSON ({"sources": [{"task"|"path", "weight"}], "examples"}) overriding the preset\'s' },
  data: { kind: 'strings', help: 'your own conversations JSONL, added to the mixture (repeatable; weight with --data-weight)' },
  'data-weight': { kind: 'number', help: 'mixture weight of each --data file (the task weights sum to 1 in the presets)', default: 1 },
  'only-data': { kind: 'boolean', help: 'train on the --data files alone, no synthetic tasks' },
  'on-bad': { kind: 'string', help: 'a bad conversation line: error (default) or skip (counted, reported)', default: 'error' },
  'max-steps': { kind: 'number', help: 'optimizer steps' },
  lr: { kind: 'number', help: 'peak learning rate' },
  'batch-size': { kind: 'number', help: 'rows per micro-batch' },
  'eval-every': { kind: 'number', help: 'evaluate held-out loss every N steps' },
  fresh: { kind: 'boolean', help: 'ignore existing SFT checkpoints and start over from the base model' },
  quiet: { kind: 'boolean', help: 'no progress bars' },
};

/** The run's preset (written by pretrain), or the named one; its sft section is required. */
export function runPreset(runDir: string, name?: string): PretrainPreset {
  const saved = join(runDir, 'preset.json');
  if (name === undefined && existsSync(saved)) {
    let p: PretrainPreset;
    try {
      p = JSON.parse(readFileSync(saved, 'utf8')) as PretrainPreset;
    } catch (e) {
      throw new GptforgeError(`not valid JSON: ${(e as Error).message}`, { file: saved });
    }
    // a run pretrained before its preset had an sft section: take the section from the preset of that name
    if (!p.sft && existsSync(join(presetsDir(), `pretrain.${p.name}.json`))) p.sft = loadPreset(p.name).preset.sft;
    return p;
  }
  return loadPreset(name ?? 'small').preset;
}

function sftPresetWithFlags(p: SftPreset, a: ReturnType<typeof parseArgs>): SftPreset {
  const out: SftPreset = { ...p, mixture: { ...p.mixture, sources: [...p.mixture.sources] }, train: { ...p.train } };
  const mix = str(a, 'mixture');
  if (mix) {
    try {
      out.mixture = JSON.parse(readFileSync(mix, 'utf8')) as SftMixtureConfig;
    } catch (e) {
      throw new GptforgeError(`cannot read the SFT mixture: ${(e as Error).message}`, { file: mix });
    }
  }
  if (bool(a, 'only-data')) {
    if (strs(a, 'data').length === 0) throw new GptforgeError('--only-data needs at least one --data file');
    out.mixture.sources = [];
  }
  for (const path of strs(a, 'data')) {
    if (!existsSync(path)) throw new GptforgeError('no such file', { file: path });
    out.mixture.sources.push({ path, weight: num(a, 'data-weight')! });
  }
  const onBad = str(a, 'on-bad');
  if (onBad !== 'error' && onBad !== 'skip') throw new GptforgeError(`--on-bad must be "error" or "skip", not "${onBad}"`);
  out.mixture.onBad = onBad as OnBad;
  if (num(a, 'max-steps') !== undefined) out.train.maxSteps = num(a, 'max-steps')!;
  if (num(a, 'lr') !== undefined) out.train.lr = num(a, 'lr')!;
  if (num(a, 'batch-size') !== undefined) out.batchSize = num(a, 'batch-size')!;
  if (num(a, 'eval-every') !== undefined) out.train.evalEvery = num(a, 'eval-every')!;
  return out;
}

/**
 * The SFT conversations and their row length: rows of T + 1 tokens (inputs and shifted
 * targets), T = min(seqLen, the model's context). Shared by SFT and by RL's ptx term, so
 * the two read the same conversations in the same shape.
 */
export function sftRows(tok: Tokenizer, cfg: Pick<SftPreset, 'mixture' | 'seqLen'>, blockSize: number, file: string): { T: number; data: SftDataset } {
  const T = Math.min(cfg.seqLen, blockSize);
  return { T, data: buildSftDataset(tok, cfg.mixture, T + 1, file) };
}

/** base model → SFT model in runs/<name>/sft. */
export async function runSft(argv: string[]): Promise<{ runDir: string }> {
  const a = parseArgs(argv, SFT_FLAGS, 'sft');
  const runDir = str(a, 'run')!;
  holdRunLock(runDir); // one writer per run (src/util/lock.ts)
  const quiet = bool(a, 'quiet');
  const preset = runPreset(runDir, str(a, 'preset'));
  if (!preset.sft) throw new GptforgeError(`preset "${preset.name}" has no "sft" section`, { field: 'sft' });
  const cfg = sftPresetWithFlags(preset.sft, a);

  // the base model is the starting point (a private copy: training it in place would turn
  // the cached base, which later stages of the same process evaluate, into the SFT model);
  // a resumed SFT run overwrites it with its own checkpoint
  const base = loadModel(runDir, 'base', { fresh: true });
  const { model, tok } = base;
  const { T, data } = sftRows(tok, cfg, model.config.blockSize, str(a, 'mixture') ?? join(runDir, 'preset.json'));
  const B = cfg.batchSize;
  if (!quiet) console.error(sftTable(data.report));
  const skipped = data.report.reduce((s, r) => s + r.skipped, 0);
  if (skipped > 0 && !quiet) console.error(`sft: skipped ${skipped} conversations (--on-bad skip or longer than ${T + 1} tokens)`);
  const pad = tok.specialId('<|pad|>');
  const train = new PackedLoader(data.train, B, T, pad, cfg.mixture.seed ?? 1337);
  const val = new Map([...data.val].map(([name, items]) => [name, () => new PackedLoader(items, B, T, pad, 0, false)] as const));
  const k = getKernels();
  if (!quiet) console.error(`sft: from ${base.dir}; ${data.train.length} conversations in ${train.rowsPerEpoch} rows of ${T + 1} (${((cfg.train.maxSteps * B * cfg.train.gradAccum) / train.rowsPerEpoch).toFixed(2)} epochs), ${B}×${T} tokens/step, ${k.name} backend`);

  const result = await sft(
    { model, train, val, batchSize: B, seqLen: T, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() },
    cfg.train,
    { runDir, stageDir: join(runDir, 'sft'), resume: !bool(a, 'fresh'), quiet, signal: interruptSignal(), onEval: (h) => writePlot(runDir, h) },
  );
  const history = new MetricsLog(runDir).read('sft');
  writePlot(runDir, history);
  if (!quiet) {
    console.log(terminalChart(curves(history), { title: 'SFT loss (█ train, others: held-out per task)', width: 64, height: 10 }));
    console.log(`sft: ${result.interrupted ? 'stopped' : 'done'} at step ${result.step}, train loss ${result.lastLoss.toFixed(3)}${result.lastEval['val/loss'] !== undefined ? `, held-out loss ${result.lastEval['val/loss'].toFixed(3)}` : ''}; checkpoint ${result.checkpoint}`);
  }
  if (result.interrupted) process.exitCode = 130;
  return { runDir };
}

function writePlot(runDir: string, history: readonly MetricRecord[]): void {
  atomicWriteFile(join(runDir, 'sft-loss.svg'), lossCurveSVG(curves(history), { title: 'SFT loss (assistant tokens)', xLabel: 'step', yLabel: 'cross-entropy (nats/token)' }));
}

export const command: Command = {
  summary: 'supervised fine-tuning: base model → assistant (synthetic tasks and your conversations)',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(
        formatHelp(
          'gptforge sft [--run runs/<name>] [--data my.jsonl …] [flags]',
          'Fine-tunes the run\'s base model on conversations: the synthetic task families (definitions, kinds, synonyms, antonyms, arithmetic with a calculator, rhymes, syllables, chat) and/or your own {"messages": [...]} JSONL files. Loss on the assistant\'s tokens only. Checkpoints in <run>/sft (resumes automatically; Ctrl-C saves), held-out loss per task in metrics.jsonl and sft-loss.svg.',
          SFT_FLAGS,
        ),
      );
      return;
    }
    await runSft(argv);
  },
};
