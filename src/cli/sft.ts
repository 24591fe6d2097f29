import { interruptSignal } from '../util/interrupt.js';
import type { Command } from './command.js';
import { parseArgs, formatHelp, str, num, strs, bool, type FlagSpecs } from '../util/args.js';
import { GptforgeError } from '../util/errors.js';
import { terminalChart } from '../eval/plot.js';
import { runSft as runSftStage } from '../run/sft.js';
import { lossCurves } from '../run/plots.js';
import { LORA_FLAGS, adapterOptions } from './lora-flags.js';

// moved to the run layer (src/run); re-exported for the CLI modules that still import them from here
export { runPreset } from '../run/preset.js';
export { sftRows } from '../run/sft.js';

export const SFT_FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory with a base model (runs/<name>/base)', alias: 'r', default: 'runs/small' },
  preset: { kind: 'string', help: 'preset whose "sft" section to use (default: the run\'s preset.json, else small)', alias: 'p' },
  mixture: { kind: 'string', help: 'SFT mixture JSON ({"sources": [{"task"|"path", "weight"}], "examples"}) overriding the preset\'s' },
  data: { kind: 'strings', help: 'your own conversations JSONL, added to the mixture (repeatable; weight with --data-weight)' },
  'data-weight': { kind: 'number', help: 'mixture weight of each --data file, beside the preset\'s task weights (they sum to 7.6 in tiny, 8.6 in small: weight 8.6 makes your data half of the small mixture)', default: 1 },
  'only-data': { kind: 'boolean', help: 'train on the --data files alone, no synthetic tasks' },
  'on-bad': { kind: 'string', help: 'a bad conversation line: error (default) or skip (counted, reported)', default: 'error' },
  'max-steps': { kind: 'number', help: 'optimizer steps' },
  lr: { kind: 'number', help: 'peak learning rate' },
  'batch-size': { kind: 'number', help: 'rows per micro-batch' },
  'eval-every': { kind: 'number', help: 'evaluate held-out loss every N steps' },
  fresh: { kind: 'boolean', help: 'ignore existing SFT checkpoints and start over from the base model' },
  quiet: { kind: 'boolean', help: 'no progress bars' },
  ...LORA_FLAGS,
};

/** base model → SFT model in runs/<name>/sft: parse the flags, run the stage (src/run/sft.ts), print. */
export async function runSft(argv: string[]): Promise<{ runDir: string }> {
  const a = parseArgs(argv, SFT_FLAGS, 'sft');
  const runDir = str(a, 'run')!;
  const quiet = bool(a, 'quiet');
  const onBad = str(a, 'on-bad');
  if (onBad !== 'error' && onBad !== 'skip') throw new GptforgeError(`--on-bad must be "error" or "skip", not "${onBad}"`);
  if (bool(a, 'only-data') && strs(a, 'data').length === 0) throw new GptforgeError('--only-data needs at least one --data file');
  const result = await runSftStage(runDir, {
    preset: str(a, 'preset'),
    mixture: str(a, 'mixture'),
    dataFiles: strs(a, 'data'),
    dataWeight: num(a, 'data-weight'),
    onlyData: bool(a, 'only-data'),
    onBad,
    steps: num(a, 'max-steps'),
    lr: num(a, 'lr'),
    batchSize: num(a, 'batch-size'),
    evalEvery: num(a, 'eval-every'),
    fresh: bool(a, 'fresh'),
    ...adapterOptions(a),
    quiet,
    signal: interruptSignal(),
    log: quiet ? undefined : (line) => console.error(line),
  });
  if (!quiet) {
    console.log(terminalChart(lossCurves(result.history), { title: 'SFT loss (█ train, others: held-out per task)', width: 64, height: 10 }));
    console.log(`sft: ${result.interrupted ? 'stopped' : 'done'} at step ${result.step}, train loss ${result.lastLoss.toFixed(3)}${result.lastEval['val/loss'] !== undefined ? `, held-out loss ${result.lastEval['val/loss'].toFixed(3)}` : ''}; checkpoint ${result.checkpoint}`);
  }
  if (result.interrupted) process.exitCode = 130;
  return { runDir };
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
