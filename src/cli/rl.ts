import { Command, Option } from '@commander-js/extra-typings';
import { collect, number } from '../util/args.js';
import { stderrLog, baseNameOption, basePrecisionOption, loraOption } from './common.js';
import { interruptSignal } from './interrupt.js';

export const command = new Command('rl')
  .summary('reinforcement learning against the reward model (PPO, GRPO, REINFORCE)')
  .description(
    "Trains the SFT model against the reward model: sample replies (tools work), score them with the RM at <|reward|>, reinforce the sampled tokens, with a KL leash to the frozen SFT model. PPO (value head on the policy trunk, GAE, clipped ratio and value loss), GRPO (group-relative advantages, KL in the loss) or the talk's plain REINFORCE. Checkpoints in <run>/rl (PPO), <run>/rl-grpo, <run>/rl-reinforce; TRL's metric names in metrics.jsonl.",
  )
  .option('-r, --run <dir>', 'run directory with SFT (sft/) and reward (rm/) models', 'runs/small')
  .addOption(new Option('--algo <algo>', "the algorithm (default: the preset's, ppo)").choices(['ppo', 'grpo', 'reinforce'] as const))
  .option('--prompts <file>', 'your prompts JSONL ({"prompt": "…", "task"?: family}), added to the task families\' prompts (repeatable)', collect, [])
  .option('--only-prompts', 'use the --prompts files alone')
  .option('--checker-bonus <x>', 'add this to the RM score when the task checker accepts the reply', number)
  .option('--kl-coef <x>', 'β, the KL penalty to the SFT model', number)
  .option('--ptx-coef <x>', 'γ, weight of the SFT loss mixed into every update (PPO-ptx; 0 = off)', number)
  .option('--val-prompts <n>', "early stopping: validation-split prompts the checkpoint is chosen on (<stage>/best, <stage>-validation.svg; 0 = keep the last; default the preset's)", number)
  .option('--eval-every <n>', "validate every N updates (default the preset's rl.train.evalEvery; 0 = only at the end)", number)
  .option('--max-steps <n>', 'optimizer steps (each rollout batch gives epochs × minibatches of them)', number)
  .option('--lr <x>', 'peak learning rate', number)
  .option('--fresh', "start over from the SFT model; the replaced run's checkpoints past the new step are removed, each named, as it saves")
  .option('--from <stage>', 'the stage to start from and hold as the KL reference, <run>/<stage> (default sft): e.g. sft-lora')
  .option('--into <stage>', 'the stage to train into, <run>/<stage> (default rl, rl-grpo or rl-reinforce by --algo): e.g. rl-lora keeps a LoRA policy beside the full one (chat/serve take --stage)')
  .option('--reward-model <stage>', 'the reward model stage, <run>/<stage> (default rm): e.g. one trained with rm --into')
  .option('--quiet', 'no progress bars')
  .addOption(loraOption())
  .addOption(basePrecisionOption())
  .addOption(baseNameOption())
  .action(async (o) => {
    const [{ runRl }, { rlReport }] = await Promise.all([import('../run/rl.js'), import('../run/report.js')]);
    const r = await runRl(o.run, { ...o, stepsOption: '--max-steps', signal: interruptSignal(o.run), log: stderrLog(o.quiet) });
    console.log(rlReport(r));
    if (r.interrupted) process.exitCode = 130;
  });
