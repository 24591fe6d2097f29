import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';
import { parseArgs, formatHelp, str, num, bool, type FlagSpecs } from '../util/args.js';
import { Progress } from '../util/progress.js';
import { DIGIT_PAIRS, Tokenizer, trainTokenizer } from '../tokenizer/index.js';
import { defaultMixtureConfig, loadMixtureConfig, type MixtureConfig } from '../data/mixture.js';
import { prepareData, mixtureTable, sampleTrainingText } from '../data/prepare.js';
import { holdRunLock } from '../util/lock.js';

const FLAGS: FlagSpecs = {
  config: { kind: 'string', help: 'mixture config JSON (default: the embedded corpora, presets/mixture.default.json)', alias: 'c' },
  out: { kind: 'string', help: 'data directory to write', default: 'runs/default/data', alias: 'o' },
  tokenizer: { kind: 'string', help: 'tokenizer.json to use; trained from the mixture when missing (default: <out>/../tokenizer.json)' },
  threads: { kind: 'number', help: 'tokenizer worker threads (default: all cores)' },
  quiet: { kind: 'boolean', help: 'no progress output' },
};

/** Load the run's tokenizer, or train one on a sample of the mixture and save it. */
export function ensureTokenizer(path: string, config: MixtureConfig, quiet = false): Tokenizer {
  if (existsSync(path)) return Tokenizer.load(path);
  const spec = config.tokenizer ?? { vocabSize: 4096 };
  const sample = [...sampleTrainingText(config, spec.sampleBytes ?? 8_000_000)];
  const bytes = sample.reduce((s, t) => s + t.length, 0);
  if (!quiet) console.error(`tokenizer: training a ${spec.vocabSize}-token BPE on ${(bytes / 1e6).toFixed(1)} MB of the mixture`);
  const bar = new Progress({ label: 'tokenizer', total: Math.max(1, spec.vocabSize - 270), unit: 'merge', quiet });
  const tok = trainTokenizer(sample, { vocabSize: spec.vocabSize, pattern: spec.pattern, requiredTokens: spec.digitPairs ? DIGIT_PAIRS : [], onProgress: (d) => bar.update(d) });
  bar.finish();
  tok.save(path);
  return tok;
}

export const command: Command = {
  summary: 'prepare the pretraining mixture: clean, mix, tokenize to shards',
  async run(argv: string[]): Promise<void> {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h' || sub !== 'prepare' || rest.includes('--help') || rest.includes('-h')) {
      if (sub && sub !== 'prepare' && !sub.startsWith('-')) throw new GptforgeError(`unknown subcommand "data ${sub}" (try "gptforge data prepare")`);
      console.log(formatHelp('gptforge data prepare [--config mixture.json] [--out runs/<name>/data]', 'Read the mixture\'s sources, clean them, hold out 1% per source for validation, tokenize to shards, print the mixture table.', FLAGS));
      return;
    }
    const a = parseArgs(rest, FLAGS, 'data prepare');
    const config = str(a, 'config') ? loadMixtureConfig(str(a, 'config')!) : defaultMixtureConfig();
    const out = str(a, 'out')!;
    const tokPath = str(a, 'tokenizer') ?? join(dirname(out), 'tokenizer.json');
    holdRunLock(dirname(out), 'run', { create: true }); // the run it writes into (src/util/lock.ts)
    const quiet = bool(a, 'quiet');
    const t0 = performance.now();
    const tok = ensureTokenizer(tokPath, config, quiet);
    const index = await prepareData(config, out, tok, { quiet, threads: num(a, 'threads') });
    console.log(mixtureTable(index));
    console.log(`data: ${out} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (tokenizer ${tokPath})`);
  },
};
