import type { BasePrecision } from '../model/quantize.js';
import { GptforgeServer, type ServerOptions } from './app.js';
import { loadRunModels } from './models.js';
import { registerWeb, type WebOptions } from './web.js';
import { requireRunDir } from '../run/layout.js';

export { GptforgeServer, type ServerOptions } from './app.js';
export { ApiError } from './errors.js';
export { registerResponseFormat, type ConstraintCompiler, type ResponseFormatType } from './formats.js';
export { loadRunModels, runStages, GENERATION_STAGES, REWARD_STAGE, type ServedModel } from './models.js';
export { Scheduler, type SchedulerOptions } from './scheduler.js';
export { registerWeb, STAGE_RUNNERS, type StageRunner, type StageJobOptions, type WebOptions } from './web.js';

/**
 * Start serving a run: listen first (so /health answers 503 while loading), then load the
 * run's stage models (the generation stages on `precision` blocks: src/model/inference-precision.ts). Resolves with the server and its address once listening;
 * `reload(cause)` rereads the run's stages (a stage trained from the command line since: see `POST /v1/gptforge/reload`);
 * `onReload` is told after every reload, whatever asked for it (WebOptions.onReload).
 */
export async function serveRun(runDir: string, opts: ServerOptions & { host?: string; port?: number; precision?: BasePrecision; onReload?: WebOptions['onReload'] }): Promise<{ server: GptforgeServer; address: string; loaded: Promise<void>; reload(cause: string): string[] }> {
  requireRunDir(runDir); // before "listening … loading"
  const server = new GptforgeServer(opts);
  const web = await registerWeb(server, { runDir, precision: opts.precision, onReload: opts.onReload });
  const address = await server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1');
  const loaded = new Promise<void>((resolve, reject) => {
    setImmediate(() => {
      try {
        server.setModels(loadRunModels(runDir, undefined, { precision: opts.precision, onSkip: (stage, reason) => process.stderr.write(`gptforge serve: not serving ${stage}: ${reason}\n`) }));
        resolve();
      } catch (e) {
        server.setLoadError((e as Error).message);
        reject(e);
      }
    });
  });
  // the run's stages reread from disk: new stage directories are served (SIGHUP to `gptforge serve`)
  return { server, address, loaded, reload: (cause) => web?.reloadModels(cause) ?? [] };
}
