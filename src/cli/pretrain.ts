import { presetFromFlags, stderrLog, pretrainCommand } from './common.js';
import { interruptSignal } from './interrupt.js';

export const command = pretrainCommand('pretrain')
  .summary('train the base model (builds tokenizer and data if missing)')
  .description('Pretraining: prepares the tokenizer and data mixture when missing, trains the base model with checkpoints (resumes automatically; Ctrl-C saves and exits), writes metrics.jsonl and loss.svg, and prints samples.')
  .action(async (o) => {
    const { runDir, preset, file } = await presetFromFlags(o);
    const [{ runLayout }, { runPretrain }, { pretrainReport, pretrainSamples }] = await Promise.all([import('../run/layout.js'), import('../run/pretrain.js'), import('../run/report.js')]);
    const r = await runPretrain(runDir, preset, { presetFile: file, mixture: o.mixture, fresh: o.fresh, quiet: o.quiet, signal: interruptSignal(runDir), log: stderrLog(o.quiet), onWarning: (w) => console.error(w), onPart: o.quiet ? (l) => console.error(l) : undefined });
    console.log(pretrainReport(r, runLayout(runDir).lossPlot, { chart: !o.quiet }));
    if (r.interrupted) process.exitCode = 130;
    else if (o.samples) for (const s of pretrainSamples(runDir, preset)) console.log(s);
  });
