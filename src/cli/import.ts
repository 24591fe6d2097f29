import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';
import { parseArgs, formatHelp, str, type FlagSpecs } from '../util/args.js';
import { importHuggingFace } from '../model/export/hf.js';

const FLAGS: FlagSpecs = {
  out: { kind: 'string', help: 'stage directory to write (e.g. runs/x/base); the checkpoint goes in step-0000000', alias: 'o' },
  stage: { kind: 'string', help: 'stage name recorded in the checkpoint (default: the one the export recorded, else "import")' },
};

export const command: Command = {
  summary: 'import a Hugging Face GPT-2 / GPT-NeoX directory as a gptforge checkpoint',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp(
        'gptforge import <hf-dir> --out runs/<name>/<stage>',
        'Reads a transformers directory (config.json, model.safetensors or its shards, tokenizer.json): GPT-2, or GPT-NeoX with rotary_pct 1.0, use_parallel_residual false and the tanh GELU. Config values that change the maths in ways gptforge does not implement are refused by name. The result is a checkpoint that sample, chat, eval and the training stages read (e.g. import to runs/x/base, then "gptforge sft --run runs/x").',
        FLAGS,
      ));
      return;
    }
    const a = parseArgs(argv, FLAGS, 'import');
    const src = a.positionals[0];
    if (!src) throw new GptforgeError('give the Hugging Face directory to import');
    const out = str(a, 'out');
    if (!out) throw new GptforgeError('give --out <stage dir>, e.g. runs/imported/base');
    const r = importHuggingFace(src, out, { stage: str(a, 'stage') });
    console.log(`import: ${src} (${r.arch}, ${r.config.nLayer} layers, ${r.config.nEmbd} wide, vocabulary ${r.config.vocabSize}) → ${r.checkpoint}`);
  },
};
