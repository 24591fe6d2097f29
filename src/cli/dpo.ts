import { Command } from '@commander-js/extra-typings';
import { checkOnBad } from '../data/jsonl.js';
import { collect, number } from '../util/args.js';
import { stderrLog, baseNameOption, basePrecisionOption, loraOption } from './common.js';
import { interruptSignal } from './interrupt.js';

export const command = new Command('dpo')
  .summary('DPO: preference pairs → policy, no reward model (the offline alternative to RL)')
  .description("Direct preference optimisation from the SFT model: each ranking expands to its pairs; the frozen SFT model's log-likelihoods are computed once and cached; loss −log σ(β·[(log π − log ref)(chosen) − (log π − log ref)(rejected)]). Checkpoints in <run>/dpo; TRL's rewards/* metrics in metrics.jsonl.")
  .option('-r, --run <dir>', 'run directory with an SFT model', 'runs/small')
  .option('--pairs <file>', 'rankings/pairs JSONL (repeatable); default: the simulated comparisons in <run>/comparisons (run "gptforge rm" first)', collect, [])
  .option('--on-bad <mode>', 'a bad line: error or skip', 'error')
  .option('--beta <x>', "β: how far the policy may move from the SFT model (default: the preset's)", number)
  .option('--max-steps <n>', "optimizer steps (default: the preset's dpo.train.maxSteps)", number)
  .option('--lr <x>', "peak learning rate (default: the preset's dpo.train.lr)", number)
  .option('--fresh', "start over from the SFT model; the replaced run's checkpoints past the new step are removed, each named, as it saves")
  .option('--from <stage>', 'the stage to start from and hold as the reference, <run>/<stage> (default sft): e.g. sft-lora')
  .option('--into <stage>', 'the stage to train into, <run>/<stage> (default dpo): e.g. dpo-lora keeps a full DPO model beside a LoRA one (chat/serve take --stage)')
  .option('--quiet', 'no progress bars')
  .addOption(loraOption())
  .addOption(basePrecisionOption())
  .addOption(baseNameOption())
  .action(async (o) => {
    checkOnBad(o.onBad);
    const [{ runDpo }, { dpoReport }] = await Promise.all([import('../run/dpo.js'), import('../run/report.js')]);
    const r = await runDpo(o.run, { ...o, stepsOption: '--max-steps', onBad: o.onBad, signal: interruptSignal(o.run), log: stderrLog(o.quiet), onWarning: (w) => console.error(w) });
    console.log(dpoReport(r));
    if (r.interrupted) process.exitCode = 130;
  });
