import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';

export const command: Command = {
  summary: 'data',
  async run(): Promise<void> {
    throw new GptforgeError('"gptforge data" is not built yet in this version');
  },
};
