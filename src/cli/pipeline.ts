import type { Command } from './command.js';
import { GptforgeError } from '../util/errors.js';

export const command: Command = {
  summary: 'pipeline',
  async run(): Promise<void> {
    throw new GptforgeError('"gptforge pipeline" is not built yet in this version');
  },
};
