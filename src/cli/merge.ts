import { Command } from '@commander-js/extra-typings';

export const command = new Command('merge')
  .summary('fold a LoRA adapter checkpoint into its base: a full checkpoint')
  .description('Merges the adapter of a LoRA stage (--lora) into the fp32 base it was trained on (W += s·(B·A)ᵀ) and writes a full checkpoint that export, serve and every stage read. See docs/lora.md.')
  .option('-r, --run <dir>', 'run directory (or an adapter checkpoint directory)', 'runs/small')
  .option('--stage <stage>', 'the stage whose latest adapter checkpoint to merge', 'sft')
  .option('--into <dir>', 'stage (in the run) or directory for the full checkpoint (default <stage>-merged)')
  .action(async (o) => {
    const { runMerge } = await import('../run/merge.js');
    const r = runMerge(o.run, { stage: o.stage, into: o.into });
    console.log(`merge: ${r.adapter} (on ${r.base}) → ${r.checkpoint}`);
  });
