import type { Command } from './command.js';
import { formatHelp } from '../util/args.js';
import { PRETRAIN_FLAGS } from './pretrain.js';

/**
 * The main command (npm start): every stage that exists, from one preset. Today that is
 * data → tokenizer → pretrain → samples; later stages (SFT, reward model, RL) join here.
 */
export const command: Command = {
  summary: 'run every stage from one preset (the main command: npm start)',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp('gptforge pipeline [--preset small|tiny] [--run runs/<name>]', 'Runs the whole recipe on the embedded corpora: data mixture → tokenizer → pretraining → samples from the base model. Re-running resumes where it stopped.', PRETRAIN_FLAGS));
      return;
    }
    const { command: pretrain } = await import('./pretrain.js');
    await pretrain.run(argv);
  },
};
