import { presetFromFlags, pretrainCommand } from './common.js';
import { number } from '../util/args.js';
import { interruptSignal } from './interrupt.js';
import { GptforgeError } from '../util/errors.js';

export const command = pretrainCommand('pipeline')
  .summary('run every stage from one preset (the main command: npm start)')
  .description(
    "Runs the whole recipe on the embedded corpora: data mixture → tokenizer → pretraining (samples from the base model) → supervised fine-tuning on the synthetic task families → comparisons ranked by simulated labelers → reward model → PPO against it → evaluation of base vs SFT vs RLHF (task accuracy, reward, win rate, diversity) → a short scripted chat. Prints an estimate at its start and each stage's measured time. Re-running resumes where it stopped: a stage already at its steps (and trained from the checkpoint its parent stage stands for now) gets one line (sft: done at step N (…); nothing to do) and is not run again; on a finished run (every stage at its steps, eval.md and chat-transcript.txt newer than every checkpoint) it prints those lines and where the results are (eval.md) and does nothing else.",
  )
  .option('--sft-max-steps <n>', "SFT's optimizer steps (default: the preset's sft.train.maxSteps; raised on a resumed run, it trains on)", number)
  .option('--rm-max-steps <n>', "the reward model's optimizer steps (default: the preset's rm.train.maxSteps)", number)
  .option('--rl-max-steps <n>', "RL's optimizer steps, one per update (default: the preset's rl.train.maxSteps)", number)
  .option(
    '--techniques-max-steps <n>',
    "the techniques model's optimizer steps (default: the preset's techniques.steps, else 2400); turns the stage on for a preset without a techniques section; training time scales with it (200 is 1/12 of the default's), accuracy falls well below the full run's (docs/techniques.md)",
    number,
  )
  .option('--techniques', 'train the prompting-techniques model and print direct vs step-by-step accuracy, for a preset without a techniques section (docs/techniques.md)')
  .option('--no-techniques', 'skip that stage (on by default in the small preset: npm start)')
  .action(async (o) => {
    // a step budget for a stage told to be skipped would be ignored: refused
    if (o.techniquesMaxSteps !== undefined && o.techniques === false) throw new GptforgeError('--techniques-max-steps sets the steps of the techniques stage, which --no-techniques skips: give one or the other', { field: '--techniques-max-steps' });
    const { runDir, preset: fromFlags, file } = await presetFromFlags(o);
    const { runPipeline, withStageSteps } = await import('../run/pipeline.js');
    const preset = withStageSteps(fromFlags, { sft: o.sftMaxSteps, rm: o.rmMaxSteps, rl: o.rlMaxSteps, techniques: o.techniquesMaxSteps });
    const r = await runPipeline(runDir, preset, {
      presetFile: file,
      mixture: o.mixture,
      fresh: o.fresh,
      quiet: o.quiet,
      samples: o.samples,
      techniques: o.techniques,
      signal: interruptSignal(runDir),
      startedAt: 0, // Node's clock starts with the process: the times include start-up
      log: (s) => console.error(s),
      print: (s) => console.log(s),
    });
    if (r.interrupted) {
      // how to go on (README): the same command line again resumes each stage
      console.error(`pipeline: stopped; the same command resumes each stage where it stopped: ${shellLine(['gptforge', 'pipeline', ...process.argv.slice(3)])}`);
      process.exitCode = 130;
    }
  });

/** Words as a POSIX shell reads them back: a word with other characters than [\w@%+=:,./-] in single quotes. */
function shellLine(words: readonly string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}
