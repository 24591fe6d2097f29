import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './command.js';
import { formatHelp, parseArgs, bool, str } from '../util/args.js';
import { atomicWriteFile } from '../util/atomic.js';
import { holdRunLock } from '../util/lock.js';
import { loadMixtureConfig } from '../data/mixture.js';
import { Tokenizer } from '../tokenizer/index.js';
import { PRETRAIN_FLAGS } from './pretrain.js';
import { resolveMixturePath } from '../run/presets.js';
import { estimatePipeline, estimateText, formatDuration, timingTable } from './estimate.js';

/**
 * The main command (npm start): the whole recipe from one preset —
 *   data → tokenizer → pretrain (base model, samples) → SFT → simulated comparisons → RM
 *   → PPO → evaluation (task accuracy; base vs SFT vs RLHF quality and diversity) → a chat.
 * Each stage resumes from its own checkpoints, so re-running continues where it stopped.
 * A preset without a later stage's section stops before it. At its start it prints an
 * estimate of the whole run from timed work on this machine (estimate.ts), after each stage
 * that stage's measured wall time, and at the end a table of both.
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
    const a = parseArgs(argv, PRETRAIN_FLAGS, 'pipeline');
    const { runDir, preset, file } = resolveRun(a);
    holdRunLock(runDir, 'run', { create: true }); // before the calibration: a busy run is refused at once

    // an estimate of the whole run from timed work at this preset's shapes (src/cli/estimate.ts)
    const mixture = loadMixtureConfig(str(a, 'mixture') ?? resolveMixturePath(preset, file));
    const tokFile = join(runDir, 'tokenizer.json');
    const vocabSize = existsSync(tokFile) ? Tokenizer.load(tokFile).vocabSize : mixture.tokenizer?.vocabSize ?? 4096;
    const estimate = estimatePipeline(runDir, preset, vocabSize, mixture.sources.length);
    console.error(estimateText(estimate));
    const timings: { stage: string; measured: number; estimate?: number }[] = [];
    const estimateOf = (prefix: string): number | undefined => estimate.stages.find((s) => s.stage.startsWith(prefix))?.seconds;
    /** Run one stage, then print its measured wall time (and keep it for the table at the end). */
    const timed = async (stage: string, est: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
      const s0 = performance.now();
      await fn();
      const measured = (performance.now() - s0) / 1000;
      timings.push({ stage, measured, estimate: estimateOf(est) });
      console.error(`${stage}: ${formatDuration(measured)} measured (estimated ${formatDuration(estimateOf(est) ?? 0)})`);
    };
    const finish = (): void => console.error(`\n${timingTable(timings, estimate.machine)}`);

    await timed('1. data, tokenizer, pretraining', '1.', () => pretrain.run(argv));
    if (process.exitCode === 130) return finish();
    if (!preset.sft) return finish();
    const quiet = bool(a, 'quiet') ? ['--quiet'] : [];
    const common = ['--run', runDir, ...quiet, ...(bool(a, 'fresh') ? ['--fresh'] : [])];

    console.error(`\n== stage 2: supervised fine-tuning (${stamp()}) ==`);
    await timed('2. SFT', '2.', async () => (await import('./sft.js')).runSft(common));
    if (process.exitCode === 130) return finish();
    if (preset.rm) {
      console.error(`\n== stage 3: comparisons and the reward model (${stamp()}) ==`);
      await timed('3. comparisons + RM', '3.', async () => (await import('./rm.js')).runRm(common));
      if (process.exitCode === 130) return finish();
    }
    if (preset.rm && preset.rl) {
      console.error(`\n== stage 4: reinforcement learning (PPO) against the reward model (${stamp()}) ==`);
      await timed('4. RL', '4.', async () => (await import('./rl.js')).runRl(common));
      if (process.exitCode === 130) return finish();
    }
    console.error(`\n== evaluation (${stamp()}) ==`);
    let markdown = '';
    let transcript = '';
    await timed('evaluation, chat', 'evaluation', async () => {
      markdown = (await import('./eval.js')).runEval(['--run', runDir, ...quiet]).markdown;
      const { scriptedChat } = await import('./chat.js');
      transcript = scriptedChat(runDir, preset.sft!.chat?.prompts ?? ['Hello!', 'What is 4821 times 37?']);
    });
    atomicWriteFile(join(runDir, 'chat-transcript.txt'), transcript);
    console.log(`\n== a short chat with the assistant (gptforge chat --run ${runDir}) ==\n\n${transcript}`);
    console.log(markdown);
    finish();
    console.log(`\npipeline: done in ${stamp()}. Run directory: ${runDir} (eval.md, eval-chart.svg, chat-transcript.txt, loss.svg, sft-loss.svg)`);
  },
};
