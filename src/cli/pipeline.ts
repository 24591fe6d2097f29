import { presetFromFlags, pretrainCommand } from './common.js';
import { interruptSignal } from './interrupt.js';

export const command = pretrainCommand('pipeline')
  .summary('run every stage from one preset (the main command: npm start)')
  .description(
    "Runs the whole recipe on the embedded corpora: data mixture → tokenizer → pretraining (samples from the base model) → supervised fine-tuning on the synthetic task families → comparisons ranked by simulated labelers → reward model → PPO against it → evaluation of base vs SFT vs RLHF (task accuracy, reward, win rate, diversity) → a short scripted chat. Prints an estimate at its start and each stage's measured time. Re-running resumes where it stopped; on a finished run (every stage at its steps, eval.md and chat-transcript.txt newer than every checkpoint) it prints the stored chat and evaluation at once and does nothing else.",
  )
  .option('--techniques', 'train the prompting-techniques model and print direct vs step-by-step accuracy, for a preset without a techniques section (docs/techniques.md)')
  .option('--no-techniques', 'skip that stage (on by default in the small preset: npm start)')
  .action(async (o) => {
    const { runDir, preset, file } = await presetFromFlags(o);
    const { runPipeline } = await import('../run/pipeline.js');
    const r = await runPipeline(runDir, preset, {
      presetFile: file,
      mixture: o.mixture,
      fresh: o.fresh,
      quiet: o.quiet,
      samples: o.samples,
      techniques: o.techniques,
      signal: interruptSignal(),
      startedAt: 0, // Node's clock starts with the process: the times include start-up
      log: (s) => console.error(s),
      print: (s) => console.log(s),
    });
    if (r.interrupted) process.exitCode = 130;
  });
