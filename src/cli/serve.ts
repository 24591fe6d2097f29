import type { Command } from './command.js';
import { parseArgs, formatHelp, str, num, strs, bool, type FlagSpecs } from '../util/args.js';
import { GptforgeError } from '../util/errors.js';
import { serveRun } from '../server/index.js';

const FLAGS: FlagSpecs = {
  run: { kind: 'string', help: 'run directory: its stages base, sft, rl, dpo are the models (rm scores at /v1/rewards)', alias: 'r', default: 'runs/small' },
  host: { kind: 'string', help: 'address to bind (loopback unless you say otherwise)', default: '127.0.0.1' },
  port: { kind: 'number', help: 'port (0: any free one)', default: 8080 },
  'api-key': { kind: 'strings', help: 'accepted API key (repeatable); also GPTFORGE_API_KEY. None: no authentication' },
  parallel: { kind: 'number', help: 'most rows (requests × n) decoded together per model', default: 8 },
  'max-queue': { kind: 'number', help: 'most rows waiting per model before 429 (default 8 × parallel)' },
  'body-limit': { kind: 'number', help: 'largest request body in bytes (413 beyond)', default: 4 * 1024 * 1024 },
  log: { kind: 'boolean', help: 'log every request to stderr' },
};

export const command: Command = {
  summary: 'serve a run\'s models over an OpenAI-compatible HTTP API',
  async run(argv: string[]): Promise<void> {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(formatHelp('gptforge serve --run <dir> [--host 127.0.0.1] [--port 8080] [--api-key KEY …] [--parallel N]', 'OpenAI-compatible server: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, /v1/rewards, /tokenize, /detokenize, /health, /metrics. See docs/server.md.', FLAGS));
      return;
    }
    const a = parseArgs(argv, FLAGS, 'serve');
    const port = num(a, 'port')!;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GptforgeError(`--port must be an integer in [0, 65535], got ${port}`, { field: 'port' });
    const keys = [...strs(a, 'api-key'), ...(process.env.GPTFORGE_API_KEY ? [process.env.GPTFORGE_API_KEY] : [])];
    const host = str(a, 'host')!;
    const { server, address, loaded } = await serveRun(str(a, 'run')!, { host, port, apiKeys: keys, parallel: num(a, 'parallel'), maxQueue: num(a, 'max-queue'), bodyLimit: num(a, 'body-limit'), log: bool(a, 'log') });
    console.error(`gptforge serve: listening on ${address}${keys.length ? ` (${keys.length} API key${keys.length > 1 ? 's' : ''})` : ' (no API key)'}; loading ${str(a, 'run')} …`);
    try {
      await loaded;
    } catch (e) {
      await server.close();
      throw e;
    }
    console.error(`gptforge serve: ready`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        void server.close().then(resolve);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
