import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';

export const command: Command = {
  summary: 'tokenizer',
  async run(): Promise<void> {
    throw new GptforgeError('"gptforge tokenizer" is not built yet in this version');
  },
};
