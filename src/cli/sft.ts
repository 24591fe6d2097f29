import { Command } from '@commander-js/extra-typings';
import { checkOnBad } from '../data/jsonl.js';
import { GptforgeError } from '../util/errors.js';
import { collect, number } from '../util/args.js';
import { stderrLog, baseNameOption, basePrecisionOption, legacyPresetShort, loraOption, presetFlag } from './common.js';
import { interruptSignal } from './interrupt.js';

export const command = new Command('sft')
  .summary('supervised fine-tuning: base model → assistant (synthetic tasks and your conversations)')
  .description(
    'Fine-tunes the run\'s base model on conversations: the synthetic task families (definitions, kinds, synonyms, antonyms, arithmetic with a calculator, rhymes, syllables, chat) and/or your own {"messages": [...]} JSONL files. Loss on the assistant\'s tokens only. Checkpoints in <run>/sft (resumes automatically; Ctrl-C saves), held-out loss per task in metrics.jsonl and sft-loss.svg.',
  )
  .option('-r, --run <dir>', 'run directory with a base model (runs/<name>/base)', 'runs/small')
  .option('--preset <preset>', 'preset whose "sft" section to use (default: the run\'s preset.json, else small)')
  .addOption(legacyPresetShort())
  .option('--mixture <file>', 'SFT mixture JSON ({"sources": [{"task"|"path", "weight"}], "examples"}) overriding the preset\'s')
  .option('--data <file>', 'your own conversations JSONL, added to the mixture (repeatable; weight with --data-weight)', collect, [])
  .option('--data-weight <x>', "mixture weight of each --data file, beside the preset's task weights (they sum to 7.6 in tiny, 8.6 in small: weight 8.6 makes your data half of the small mixture)", number, 1)
  .option('--only-data', 'train on the --data files alone, no synthetic tasks')
  .option('--on-bad <mode>', 'a bad conversation line, or one longer than a training row (seqLen + 1 tokens): error or skip (counted; each named by file and line); default the mixture\'s "onBad", else error')
  .option('--writer-error-rate <p>', "e_w: share of synthetic demonstrations the simulated writers spoil (wrong answer, no tool call, rambling, repetition, broken format; docs/assistant.md); default the preset's", number)
  .option('--max-steps <n>', "optimizer steps (default: the preset's sft.train.maxSteps)", number)
  .option('--lr <x>', "peak learning rate (default: the preset's sft.train.lr)", number)
  .option('--batch-size <n>', "rows per micro-batch (default: the preset's sft.batchSize)", number)
  .option('--eval-every <n>', "evaluate held-out loss every N steps (default: the preset's sft.train.evalEvery)", number)
  .option('--fresh', "ignore existing SFT checkpoints and start over from the base model; the replaced run's checkpoints past the new step are removed, each named, as it saves")
  .option('--allow-data-change', 'resume a checkpoint trained on other conversations than these (other --data, --mixture or preset), with a warning; without it such a resume is refused, naming --fresh and --into')
  .option('--from <stage>', 'the model to start from: a stage of the run (default base) or a checkpoint/run path (e.g. sft, to fine-tune the SFT model further into another stage)')
  .option('--into <stage>', 'the stage to train into, <run>/<stage> (default sft): e.g. sft-lora keeps the full SFT model beside a LoRA one (chat/merge/serve take --stage or the model name)')
  .option('--quiet', 'no progress bars or charts (the summary line still prints)')
  .addOption(loraOption())
  .addOption(basePrecisionOption())
  .addOption(baseNameOption())
  .action(async (o) => {
    checkOnBad(o.onBad);
    if (o.onlyData && o.data.length === 0) throw new GptforgeError('--only-data needs at least one --data file');
    const [{ runSft }, { sftReport }] = await Promise.all([import('../run/sft.js'), import('../run/report.js')]);
    const r = await runSft(o.run, { ...o, preset: presetFlag(o), dataFiles: o.data, stepsOption: '--max-steps', onBad: o.onBad, signal: interruptSignal(o.run), log: stderrLog(o.quiet), onWarning: (w) => console.error(w) });
    console.log(sftReport(r, { chart: !o.quiet }));
    if (r.interrupted) process.exitCode = 130;
  });
