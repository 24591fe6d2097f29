/**
 * node dist/bench/rag-curriculum.js --preset <preset.json> --run <new run dir> --init-from <run | stage | checkpoint> [--fresh]
 *
 * The next phase of a pretraining curriculum (docs/journal/rag.md "Fourth attempt"): pretrains `--run`
 * with `--preset`'s mixture, steps and schedule, starting from the weights of `--init-from`
 * (`runPretrain`'s `initFrom`; a fresh optimizer). Copy the earlier run's tokenizer.json into the
 * new run first — the weights only make sense with the tokens they were trained on. Re-running
 * resumes the new run's own checkpoints, as `gptforge pretrain` does.
 */
import { benchParseArgs } from './args.js';
import { resolvePreset, runPretrain } from '../src/run/pretrain.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    preset: { type: 'string' },
    run: { type: 'string' },
    'init-from': { type: 'string' },
    fresh: { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  if (!args.preset || !args.run || !args['init-from']) throw new Error('--preset, --run and --init-from are required');
  const { runDir, preset, file } = resolvePreset(args.preset, { run: args.run });
  const r = await runPretrain(runDir, preset, { presetFile: file, initFrom: args['init-from'], fresh: args.fresh, quiet: true, log: (l) => console.error(l) });
  console.log(`${runDir}: ${r.history.length} records; last ${JSON.stringify(r.history[r.history.length - 1])}`);
}

await main();
