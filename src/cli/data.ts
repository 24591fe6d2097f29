import { Command } from '@commander-js/extra-typings';
import { number } from '../util/args.js';
import { stderrLog } from './common.js';

const prepare = new Command('prepare')
  .summary('clean, mix and tokenize the mixture to shards; print the mixture table')
  .description("Read the mixture's sources, clean them, hold out 1% of each source's documents for validation (a source of one document: its last tenth), tokenize to shards, print the mixture table.")
  .option('-c, --config <file>', 'mixture config JSON (default: the embedded corpora, presets/mixture.default.json)')
  .option('-o, --out <dir>', 'data directory to write', 'runs/default/data')
  .option('--tokenizer <file>', 'tokenizer.json to use; trained from the mixture when missing (default: <out>/../tokenizer.json)')
  .option('--threads <n>', 'tokenizer worker threads (default: all cores)', number)
  .option('--on-bad <mode>', 'a source file that is not text (binary, UTF-16, …) or a bad JSONL line (not JSON, no text field): error (default) or skip, with a warning naming the file, or counting its bad lines', 'error')
  .option('--quiet', 'no progress output')
  .action(async (o) => {
    const t0 = performance.now();
    const { runDataPrepare } = await import('../run/data.js');
    const r = await runDataPrepare(o.out, { ...o, onBad: o.onBad as 'error' | 'skip', mixture: o.config, log: stderrLog(o.quiet), onWarning: (w) => console.error(w) });
    console.log(r.table);
    console.log(`data: ${o.out} ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (tokenizer ${r.tokenizer})`);
  });

export const command = new Command('data')
  .summary('prepare the pretraining mixture: clean, mix, tokenize to shards')
  .description(
    "Pretraining data: `data prepare` reads the mixture file's sources, cleans them, holds out 1% per source for validation, tokenizes them to shards and prints the mixture table. `pretrain` and `pipeline` run it themselves when the shards are missing; run it alone to inspect the mixture first. See docs/data.md.",
  )
  .addCommand(prepare);
