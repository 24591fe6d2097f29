import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';

export const command: Command = {
  summary: 'sample',
  async run(): Promise<void> {
    throw new GptforgeError('"gptforge sample" is not built yet in this version');
  },
};
