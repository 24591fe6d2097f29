import { Command } from '@commander-js/extra-typings';
import { checkOnBad } from '../data/jsonl.js';
import { GptforgeError } from '../util/errors.js';
import { collect, number } from '../util/args.js';
import { stderrLog, baseNameOption, basePrecisionOption, loraOption } from './common.js';
import { interruptSignal } from './interrupt.js';

const score = new Command('score')
  .summary("score replies with the run's reward model")
  .description("Scores replies with the run's reward model (higher is better).")
  .option('-r, --run <dir>', 'run directory with a reward model (rm/) or an rm checkpoint', 'runs/small')
  .option('-p, --prompt <text>', 'the user prompt')
  .option('-c, --completion <text>', 'a reply to score (repeatable: scores each)', collect, [])
  .option('--reply <text>', 'the same as --completion (the name POST /v1/rewards gives the field)', collect, [])
  .action(async (o) => {
    const replies = [...o.completion, ...o.reply];
    if (o.prompt === undefined || replies.length === 0) throw new GptforgeError('give --prompt "…" and at least one --completion (or --reply) "…"');
    const [{ rmScores }, { completionMessages }] = await Promise.all([import('../run/rm.js'), import('../data/preferences.js')]);
    const scores = rmScores(o.run, o.prompt, replies);
    replies.forEach((c, i) => console.log(`${scores[i].toFixed(4)}\t${completionMessages(c)[0].content}`));
  });

export const command = new Command('rm')
  .summary('reward model: simulated (or your) rankings → a model that scores replies; rm score')
  .description(
    'Trains the reward model: the SFT model with a scalar head read at <|reward|>, loss −log σ(r_better − r_worse) over the pairs of each ranking that have a preference (tied replies make no pair). Rankings come from your files ({"prompt", "completions": [best … worst], "tiers"?: [0, 1, 1, 2] (equal tiers are ties)} or {"prompt", "chosen", "rejected"}), else from <run>/rankings.jsonl when it has rankings (what the Rank page and gptforge label write; --no-run-rankings skips it), else from simulated labelers ranking K samples of the SFT model per prompt (cached in <run>/comparisons). Checkpoints in <run>/rm; held-out pairwise accuracy in metrics.jsonl and rm-eval.json.',
  )
  .option('-r, --run <dir>', 'run directory with an SFT model', 'runs/small')
  .option('--rankings <file>', "your rankings/pairs JSONL (repeatable); default: <run>/rankings.jsonl when it has rankings (the web UI's Rank page and gptforge label write it), else simulated labelers on the SFT model's samples", collect, [])
  .option('--no-run-rankings', 'without --rankings, train on the simulated comparisons even when <run>/rankings.jsonl has rankings')
  .option('--on-bad <mode>', 'a bad ranking line: error or skip', 'error')
  .option('--noise <x>', "simulated labelers' error rate per adjacent comparison (default: the preset's)", number)
  .option('--contrast-fraction <x>', "share of every batch's rankings drawn from the correctness-contrast pairs, the rest from the sampled rankings (default: the preset's rm.contrastFraction; needs rm.comparisons.contrastPrompts)", number)
  .option('--max-steps <n>', "optimizer steps (default: the preset's rm.train.maxSteps)", number)
  .option('--lr <x>', "peak learning rate (default: the preset's rm.train.lr)", number)
  .option('--fresh', "start the reward model over (and re-sample the simulated comparisons); the replaced run's checkpoints past the new step are removed, each named, as it saves")
  .option('--allow-data-change', 'resume a checkpoint trained on other rankings than these (other --rankings, re-sampled comparisons), with a warning; without it such a resume is refused, naming --fresh and --into')
  .option('--from <stage>', 'the stage to start from, whose samples the simulated labelers rank, <run>/<stage> (default sft): e.g. sft-lora (its comparisons are cached in <run>/comparisons-<stage>)')
  .option('--into <stage>', "the stage to train into, <run>/<stage> (default rm): e.g. verifier keeps a second reward model beside the run's (rl takes --reward-model); its evaluation goes to <run>/<stage>-eval.json")
  .option('--quiet', 'no progress bars')
  .addOption(loraOption())
  .addOption(basePrecisionOption())
  .addOption(baseNameOption())
  .enablePositionalOptions()
  .addCommand(score)
  .action(async (o) => {
    checkOnBad(o.onBad);
    const [{ runRm }, { rmReport }] = await Promise.all([import('../run/rm.js'), import('../run/report.js')]);
    const r = await runRm(o.run, { ...o, stepsOption: '--max-steps', onBad: o.onBad, signal: interruptSignal(o.run), log: stderrLog(o.quiet), onWarning: (w) => console.error(w) });
    console.log(rmReport(r));
    if (r.interrupted) process.exitCode = 130;
  });
