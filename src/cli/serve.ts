import { Command, Option } from '@commander-js/extra-typings';
import { GptforgeError } from '../util/errors.js';
import { collect, number } from '../util/args.js';
import { precisionOption } from './common.js';
import { logFormatFor, logStream } from './log-format.js';

export const command = new Command('serve')
  .summary("serve a run's models over an OpenAI-compatible HTTP API")
  .description(
    'OpenAI-compatible server and the web UI (at /: chat, training dashboard, rank, compare; docs/web.md): /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, /v1/rewards, /tokenize, /detokenize, /health, /metrics; gptforge extensions /v1/gptforge/assist (prompting techniques), /v1/gptforge/rag and /v1/gptforge/passages/{id} (with --rag). See docs/server.md.',
  )
  .option('-r, --run <dir>', 'run directory: its stages are the models — base, sft, rl, dpo, then every other stage with a checkpoint (sft-lora, rl-grpo …), a run inside it as <dir>/<stage> (techniques/sft); rm scores at /v1/rewards', 'runs/small')
  .option('--host <host>', 'address to bind (loopback unless you say otherwise)', '127.0.0.1')
  .option('--port <n>', 'port (0: any free one)', number, 8080)
  .option('--api-key <key>', 'accepted API key (repeatable); also GPTFORGE_API_KEY. None: no authentication', collect, [])
  .option('--parallel <n>', 'most rows (requests × n) decoded together per model', number, 8)
  .option('--max-queue <n>', 'most rows waiting per model before 429 (default 8 × parallel)', number)
  .option('--body-limit <bytes>', 'largest request body in bytes (413 beyond)', number, 4 * 1024 * 1024)
  .option('--log', "log every request to stderr: readable lines on a terminal, JSON lines (pino's) when piped")
  .addOption(new Option('--log-format <format>', "with --log: pretty (readable lines) or json (pino's JSON lines, for a log collector); default pretty on a terminal, json when piped").choices(['pretty', 'json'] as const))
  .option('--no-prefix-cache', "don't reuse cached prompt prefixes across requests (each request's prompt is prefilled in full)")
  .option('--no-decode-thread', "run each decode step's forward on the main thread, not on a thread of its own beside the HTTP work (docs/server.md)")
  .addOption(precisionOption())
  .option('--rag <db>', 'a RAG store (gptforge rag index): chat requests with "rag": true answer from its passages, citing them; the web UI\'s RAG toggle (docs/rag.md, docs/server.md)')
  .action(async (o) => {
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new GptforgeError(`--port: expects an integer from 0 to 65535, got ${o.port}`, { field: '--port' });
    if (o.logFormat !== undefined && !o.log) throw new GptforgeError('--log-format shapes the lines of --log: give --log too, or drop --log-format', { field: 'logFormat' });
    const format = logFormatFor(o.logFormat, process.stderr.isTTY);
    const log = o.log ? logStream(format, process.stderr, format === 'pretty' && process.stderr.isTTY === true) : undefined;
    const keys = [...o.apiKey, ...(process.env.GPTFORGE_API_KEY ? [process.env.GPTFORGE_API_KEY] : [])];
    // one line per reload, the same whatever asked for it (SIGHUP, POST /v1/gptforge/reload, a web job's end)
    const onReload = (stages: string[], cause: string): void => console.error(`gptforge serve: ${cause} — serving ${stages.join(', ')}`);
    const { serveRun } = await import('../server/index.js');
    const { server, address, loaded, reload } = await serveRun(o.run, { host: o.host, port: o.port, apiKeys: keys, parallel: o.parallel, maxQueue: o.maxQueue, bodyLimit: o.bodyLimit, log, ragStore: o.rag, precision: o.precision, prefixCache: o.prefixCache, decodeThread: o.decodeThread, onReload });
    console.error(`gptforge serve: listening on ${address}${keys.length ? ` (${keys.length} API key${keys.length > 1 ? 's' : ''})` : ' (no API key)'}; loading ${o.run} …`);
    try {
      await loaded;
    } catch (e) {
      await server.close();
      throw e;
    }
    console.error(`gptforge serve: ready — web UI at ${address}/ (chat, training, rank, compare); API at ${address}/v1`);
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals): void => {
        console.error(`gptforge serve: ${signal} — closing (no new connections; requests in flight finish) …`);
        void server.close().then(() => {
          console.error('gptforge serve: closed');
          resolve();
        });
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // SIGHUP: reread the run's stages (one trained from the command line since start), as POST /v1/gptforge/reload
      const hup = (): void => {
        try {
          reload('SIGHUP');
        } catch (e) {
          console.error(`gptforge serve: SIGHUP — could not reload the run's models (the ones before stay): ${(e as Error).message}`);
        }
      };
      process.on('SIGHUP', hup);
    });
  });
