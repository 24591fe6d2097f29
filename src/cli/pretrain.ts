import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';

export const command: Command = {
  summary: 'pretrain',
  async run(): Promise<void> {
    throw new GptforgeError('"gptforge pretrain" is not built yet in this version');
  },
};
