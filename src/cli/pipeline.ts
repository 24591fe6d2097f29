import { join } from 'node:path';
import type { Command } from './command.js';
import { formatHelp, parseArgs, bool } from '../util/args.js';
import { atomicWriteFile } from '../util/atomic.js';
import { PRETRAIN_FLAGS } from './pretrain.js';

/**
 * The main command (npm start): the whole recipe from one preset —
 *   data → tokenizer → pretrain (base model, samples) → SFT → simulated comparisons → RM
 *   → PPO → evaluation (task accuracy; base vs SFT vs RLHF quality and diversity) → a chat.
 * Each stage resumes from its own checkpoints, so re-running continues where it stopped.
 * A preset without a later stage's section stops before it.
 */
export const command: Command = {
  summary: 'run every stage from one preset (the main command: npm start)',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp('gptforge pipeline [--preset small|tiny] [--run runs/<name>]', 'Runs the whole recipe on the embedded corpora: data mixture → tokenizer → pretraining (samples from the base model) → supervised fine-tuning on the synthetic task families → comparisons ranked by simulated labelers → reward model → PPO against it → evaluation of base vs SFT vs RLHF (task accuracy, reward, win rate, diversity) → a short scripted chat. Re-running resumes where it stopped.', PRETRAIN_FLAGS));
      return;
    }
    const t0 = performance.now();
    const stamp = (): string => `${((performance.now() - t0) / 60000).toFixed(1)} min`;
    const { command: pretrain, resolveRun } = await import('./pretrain.js');
    await pretrain.run(argv);
    if (process.exitCode === 130) return;
    const a = parseArgs(argv, PRETRAIN_FLAGS, 'pipeline');
    const { runDir, preset } = resolveRun(a);
    if (!preset.sft) return;
    const quiet = bool(a, 'quiet') ? ['--quiet'] : [];
    const common = ['--run', runDir, ...quiet, ...(bool(a, 'fresh') ? ['--fresh'] : [])];

    console.error(`\n== stage 2: supervised fine-tuning (${stamp()}) ==`);
    await (await import('./sft.js')).runSft(common);
    if (process.exitCode === 130) return;
    if (preset.rm) {
      console.error(`\n== stage 3: comparisons and the reward model (${stamp()}) ==`);
      await (await import('./rm.js')).runRm(common);
      if (process.exitCode === 130) return;
    }
    if (preset.rm && preset.rl) {
      console.error(`\n== stage 4: reinforcement learning (PPO) against the reward model (${stamp()}) ==`);
      await (await import('./rl.js')).runRl(common);
      if (process.exitCode === 130) return;
    }
    console.error(`\n== evaluation (${stamp()}) ==`);
    const { markdown } = (await import('./eval.js')).runEval(['--run', runDir, ...quiet]);
    const { scriptedChat } = await import('./chat.js');
    const transcript = scriptedChat(runDir, preset.sft.chat?.prompts ?? ['Hello!', 'What is 4821 times 37?']);
    atomicWriteFile(join(runDir, 'chat-transcript.txt'), transcript);
    console.log(`\n== a short chat with the assistant (gptforge chat --run ${runDir}) ==\n\n${transcript}`);
    console.log(markdown);
    console.log(`\npipeline: done in ${stamp()}. Run directory: ${runDir} (eval.md, eval-chart.svg, chat-transcript.txt, loss.svg, sft-loss.svg)`);
  },
};
