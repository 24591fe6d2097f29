import type { Command } from './command.js';
import { parseArgs, formatHelp, str, type FlagSpecs } from '../util/args.js';
import { runMerge } from '../run/merge.js';

const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory (or an adapter checkpoint directory)', alias: 'r', default: 'runs/small' },
  stage: { kind: 'string', help: 'the stage whose latest adapter checkpoint to merge', default: 'sft' },
  into: { kind: 'string', help: 'stage (in the run) or directory for the full checkpoint (default <stage>-merged)' },
};

export const command: Command = {
  summary: 'fold a LoRA adapter checkpoint into its base: a full checkpoint',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp('gptforge merge [--run runs/<name>] [--stage sft] [--into sft-merged]', 'Merges the adapter of a LoRA stage (--lora) into the fp32 base it was trained on (W += s·(B·A)ᵀ) and writes a full checkpoint that export, serve and every stage read. See docs/lora.md.', FLAGS));
      return;
    }
    const a = parseArgs(argv, FLAGS, 'merge');
    const r = runMerge(str(a, 'run')!, { stage: str(a, 'stage'), into: str(a, 'into') });
    console.log(`merge: ${r.adapter} (on ${r.base}) → ${r.checkpoint}`);
  },
};
