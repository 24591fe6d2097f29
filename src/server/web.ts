import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { appendJSONLine, readPreferencesJSONL, type Completion } from '../data/preferences.js';
import { appendRankingLine } from '../data/preferences.js';
import { TASKS } from '../data/synthetic/tasks.js';
import { ChatEngine } from '../infer/engine.js';
import { defaultTools } from '../infer/tools/registry.js';
import { latestCheckpoint } from '../model/checkpoint.js';
import type { BasePrecision } from '../model/quantize.js';
import { formatCompletion, handledPrompts, RankingSession, readPromptsJSONL, sampleCompletions, skippedFile, type LabelPrompt } from '../run/label.js';
import { runLayout } from '../run/layout.js';
import { loadModel } from '../run/models.js';
import type { MetricRecord } from '../train/metrics.js';
import { GptforgeError } from '../util/errors.js';
import { holdLock, processAlive, readLock, releaseLock, type LockInfo } from '../util/lock.js';
import type { GptforgeServer } from './app.js';
import { ApiError, badRequest } from './errors.js';
import { loadRunModels, runStages } from './models.js';
import { asBody, optBool, optNumber, optString } from './validate.js';
import { SSE_HEADERS } from './sse.js';

/**
 * The web UI's server side (docs/web.md): the static pages under `web/` at `/` (through
 * @fastify/static), the vendored browser libraries (htm's Preact bundle, uPlot) from
 * node_modules, and a small run API under `/web/api/` for what the OpenAI-shaped routes do
 * not cover — the run's stages and a training job (start/stop), metrics.jsonl pushed as
 * server-sent events, the reports, and hand ranking through src/run/label.ts. Chat and
 * compare use the public API (`/v1/chat/completions`, `/v1/completions`, `/v1/rewards`) as any
 * client does. The pages are public (static files; no secrets); `/web/api/` needs the API key
 * like every other route.
 *
 * Server-sent events are written to the raw socket, as the chat route does: an event stream
 * is a few header lines and `data:` frames, and the plugin (@fastify/sse) would add a
 * dependency for what is ten lines here.
 */

/** Options of a training job started from the page. */
export interface StageJobOptions {
  /** Stops the stage after the step in progress (it saves a checkpoint). */
  signal: AbortSignal;
  /** Optimizer steps (the preset's otherwise). */
  steps?: number;
  /** Ignore the stage's checkpoints and start over. */
  fresh?: boolean;
  /** Called with the PID of the process the stage runs in (runStageProcess), whose run lock is the job's own. */
  onProcess?(pid: number): void;
}

/** Runs one stage of a run; resolves when it ends: finished, or stopped by the signal (a checkpoint saved). Rejects when it fails. */
export type StageRunner = (runDir: string, opts: StageJobOptions) => Promise<unknown>;

/** The command line's entry point beside this module: dist/src/server/web.js → dist/src/cli/main.js. */
const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');

/**
 * A stage's process that failed: `message` says which command and its exit code with the last
 * lines of its stderr; `detail` is the error the stage printed, its last `gptforge: …` line less
 * that prefix (the command line's one-line error: what is wrong and where), when it printed one.
 */
export class StageProcessError extends Error {
  constructor(
    message: string,
    readonly detail: string | undefined,
  ) {
    super(message);
    this.name = 'StageProcessError';
  }
}

/**
 * Run `gptforge <args…>` as a child process: the stage trains on its own event loop and its
 * own native thread pool, so the server keeps answering (chat, the dashboard's events) while
 * it trains. The child takes the run lock itself and releases it when it exits; the signal
 * sends it SIGINT, which the command line turns into the stage's own stop (the step in
 * progress finishes, a checkpoint is saved, exit code 130). Resolves on exit 0 or 130;
 * rejects with a StageProcessError (the last lines of the child's stderr, and its error line) otherwise.
 */
export function runStageProcess(args: readonly string[], signal: AbortSignal, onProcess?: (pid: number) => void): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (child.pid !== undefined) onProcess?.(child.pid);
    let tail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      tail = (tail + d).slice(-4000);
    });
    const stop = (): void => void child.kill('SIGINT');
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    child.on('error', (e) => reject(new Error(`could not start gptforge ${args[0]}: ${e.message}`)));
    child.on('exit', (code, sig) => {
      signal.removeEventListener('abort', stop);
      if (code === 0 || code === 130) return resolveRun();
      const lines = tail
        .trim()
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('    at '));
      const printed = [...lines].reverse().find((l) => l.startsWith('gptforge: '));
      reject(new StageProcessError(`gptforge ${args.join(' ')} exited with ${code ?? sig}${lines.length ? `: ${lines.slice(-3).join(' / ')}` : ''}`, printed?.slice('gptforge: '.length)));
    });
  });
}

/** The command-line arguments of a page job: the stage's command, the run, its steps and fresh start. */
function stageArgs(command: readonly string[], runDir: string, o: StageJobOptions): string[] {
  return [...command, '--run', runDir, '--quiet', ...(o.steps !== undefined ? ['--max-steps', String(o.steps)] : []), ...(o.fresh ? ['--fresh'] : [])];
}

/**
 * The stages the page can start, by checkpoint directory name: each is the stage's own
 * command (`gptforge sft …`) in a child process (runStageProcess). Another stage plugs in
 * with one line here; a library user may put an in-process runner of src/run/ instead.
 */
export const STAGE_RUNNERS: Record<string, StageRunner> = {
  sft: (runDir, o) => runStageProcess(stageArgs(['sft'], runDir, o), o.signal, o.onProcess),
  rm: (runDir, o) => runStageProcess(stageArgs(['rm'], runDir, o), o.signal, o.onProcess),
  rl: (runDir, o) => runStageProcess(stageArgs(['rl', '--algo', 'ppo'], runDir, o), o.signal, o.onProcess),
  'rl-grpo': (runDir, o) => runStageProcess(stageArgs(['rl', '--algo', 'grpo'], runDir, o), o.signal, o.onProcess),
  dpo: (runDir, o) => runStageProcess(stageArgs(['dpo'], runDir, o), o.signal, o.onProcess),
};

/** The preset section a runner's command reads (its own name otherwise). */
const STAGE_SECTION: Record<string, string> = { 'rl-grpo': 'rl' };

/** Task families whose held-out prompts are ranked when the run has no label-prompts.jsonl. */
const DEFAULT_LABEL_FAMILIES = ['arithmetic', 'chat'];

/** The stages the dashboard lists, in recipe order (checkpoint directories of src/run/layout.ts). */
const DASHBOARD_STAGES = ['base', 'sft', 'rm', 'rl', 'rl-grpo', 'rl-reinforce', 'dpo'];

/** Where the page's files live: `web/` at the package root (beside `dist/`). */
function webRoot(): string {
  // dist/src/server/web.js → the package root is three levels up
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web');
}

/** Static paths served without an API key: the page and its assets (never `/web/api/`). */
export function isPublicWebPath(url: string): boolean {
  const path = url.split('?')[0];
  return path === '/' || path === '/favicon.ico' || (path.startsWith('/web/') && !path.startsWith('/web/api/'));
}

export interface WebOptions {
  /** The run directory served: the dashboard, rank and report routes need it (404 without). */
  runDir?: string;
  /** Prompts to rank (JSONL as `gptforge label --prompts`); default `<run>/label-prompts.jsonl`, else held-out arithmetic and chat prompts. */
  labelPrompts?: string;
  /** Metrics file poll interval in ms (default 250). */
  pollMs?: number;
  /** The precision the run's models are reloaded in after a job (as `serve --precision` loaded them; default f32). */
  precision?: BasePrecision;
  /**
   * Told after each reload of the run's models, whatever asked for it (`cause`: `POST
   * /v1/gptforge/reload`, `SIGHUP`, `the sft job ended`), with the ids now served: `gptforge serve`
   * prints one line for each, the same for all three.
   */
  onReload?(stages: string[], cause: string): void;
}

interface Job {
  stage: string;
  started: string;
  state: 'running' | 'finished' | 'stopped' | 'failed';
  error?: string;
  /**
   * What went wrong, as the stage said it (the page shows this; `error` has the whole story):
   * the command line's error line of a stage's process (StageProcessError.detail), or a
   * GptforgeError's message (its location and detail) from an in-process runner.
   */
  detail?: string;
  ended?: string;
  ac: AbortController;
  /** Settles when the job has ended and the models are reloaded. */
  done: Promise<void>;
  /** The PID of the job's process (runStageProcess): its run lock is not "another process". */
  pid?: number;
}

interface Candidates {
  prompt: LabelPrompt;
  completions: Completion[];
}

/** Server-sent events on the raw socket: `event: name` + `data: json`; `open` tracks the live streams so closing the server ends them. */
function openEvents(req: FastifyRequest, reply: FastifyReply, open: Set<FastifyReply['raw']>): { send(event: string, data: unknown): void; closed(): boolean; onClose(f: () => void): void } {
  reply.hijack();
  open.add(reply.raw);
  req.raw.on('close', () => open.delete(reply.raw));
  reply.raw.writeHead(200, { ...SSE_HEADERS, 'x-accel-buffering': 'no' });
  reply.raw.write(': gptforge\n\n');
  let closed = false;
  const hooks: Array<() => void> = [];
  req.raw.on('close', () => {
    closed = true;
    for (const f of hooks) f();
  });
  return {
    send(event, data) {
      if (!closed && !reply.raw.destroyed) reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    closed: () => closed,
    onClose: (f) => hooks.push(f),
  };
}

/** Parse complete metrics.jsonl lines (a torn last line is left for the next read). */
function parseRecords(text: string): { records: MetricRecord[]; rest: string } {
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  const records: MetricRecord[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as MetricRecord);
    } catch {
      // a line being rewritten: the next reset brings it
    }
  }
  return { records, rest };
}

function readJsonIfPresent(file: string): unknown {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return null;
  }
}

function readTextIfPresent(file: string, max = 200_000): string | null {
  if (!existsSync(file)) return null;
  const t = readFileSync(file, 'utf8');
  return t.length > max ? t.slice(0, max) + '\n…' : t;
}

/** The run's web API (see the module comment). */
class WebRun {
  private job: Job | null = null;
  private readonly candidates = new Map<string, Candidates>();
  private prompts: LabelPrompt[] | null = null;
  /** Open event streams: ended when the server closes (they would keep it open: fastify waits for busy connections). */
  readonly streams = new Set<FastifyReply['raw']>();

  constructor(
    private readonly server: GptforgeServer,
    readonly runDir: string,
    private readonly opts: WebOptions,
  ) {}

  get rankingsFile(): string {
    return runLayout(this.runDir).rankings;
  }

  /** The run lock's holder when it is another live process. */
  private otherLockHolder(): LockInfo | null {
    const info = readLock(join(this.runDir, 'run.lock'));
    if (!info || info.pid === process.pid || !processAlive(info.pid)) return null;
    if (this.job?.state === 'running' && info.pid === this.job.pid) return null;
    return info;
  }

  info(): unknown {
    // the recipe's stages, then every other stage directory with a checkpoint (`sft --into sft-mine` from the
    // command line), as the server lists its models
    const preset = readJsonIfPresent(runLayout(this.runDir).preset);
    const names = [...new Set([...DASHBOARD_STAGES, ...runStages(this.runDir, { nested: false }).filter((s) => existsSync(join(this.runDir, s)) && latestCheckpoint(join(this.runDir, s)) !== null)])];
    const stages = names.map((name) => {
      const dir = runLayout(this.runDir).stage(name);
      let checkpoint: string | null = null;
      let step: number | null = null;
      if (existsSync(dir)) {
        checkpoint = latestCheckpoint(dir);
        // checkpoints are step-N directories (src/model/checkpoint.ts)
        const m = checkpoint ? /step-(\d+)$/.exec(checkpoint) : null;
        step = m ? Number(m[1]) : null;
      }
      const running = this.job?.state === 'running' && this.job.stage === name;
      return { name, checkpoint, step, runnable: name in STAGE_RUNNERS, noStart: this.noStart(name, preset), state: running ? 'running' : checkpoint ? 'trained' : 'absent' };
    });
    const job = this.job && { stage: this.job.stage, started: this.job.started, state: this.job.state, error: this.job.error ?? null, detail: this.job.detail ?? null, ended: this.job.ended ?? null };
    return { runDir: this.runDir, stages, job, lock: this.otherLockHolder(), runners: Object.keys(STAGE_RUNNERS) };
  }

  /**
   * Why the page offers no Start for a stage (a newcomer read a card without one as broken), or
   * null when it does: no runner for it (pretraining, REINFORCE, a stage trained `--into` a
   * directory of its own: their commands train them), or the run's preset.json has no section
   * for it (the stage's command would exit naming it).
   * @param preset the run's preset.json as parsed (null when absent or unreadable: no check)
   */
  private noStart(name: string, preset: unknown): string | null {
    const run = this.runDir;
    if (name === 'base') return `pretraining runs from the command line: gptforge pretrain --run ${run}`;
    if (name === 'rl-reinforce') return `the page has no runner for REINFORCE: gptforge rl --algo reinforce --run ${run}`;
    if (!(name in STAGE_RUNNERS)) return 'trained from the command line (--into): its command trains it again';
    const section = STAGE_SECTION[name] ?? name;
    if (preset && typeof preset === 'object' && !(section in preset)) {
      const presetName = (preset as { name?: unknown }).name;
      return `preset${typeof presetName === 'string' ? ` "${presetName}"` : ''} has no "${section}" section: add one to ${runLayout(run).preset} to train ${name}`;
    }
    return null;
  }

  report(): unknown {
    const l = runLayout(this.runDir);
    // the chart as text: the page shows it as an image (a data: URL), which needs no route of its own behind the API key
    return {
      eval: readJsonIfPresent(l.evalJson),
      evalMarkdown: readTextIfPresent(l.evalMarkdown),
      evalAge: this.evalAge(),
      evalChart: readTextIfPresent(l.evalChart),
      rmEval: readJsonIfPresent(l.rmEval),
      transcript: readTextIfPresent(l.chatTranscript),
    };
  }

  /**
   * eval.md's age against the stages it measures (a newcomer read a new rm-eval.json beside an
   * eval.md about the old reward model): when it was written, and each stage whose newest
   * checkpoint was saved after it (name, step, ISO time). eval.json records no checkpoint steps,
   * so "after" is by file times. Null without eval.md.
   */
  evalAge(): { written: string; newer: { stage: string; step: number | null; saved: string }[] } | null {
    const file = runLayout(this.runDir).evalMarkdown;
    if (!existsSync(file)) return null;
    const written = statSync(file).mtimeMs;
    const newer: { stage: string; step: number | null; saved: string }[] = [];
    for (const s of (this.info() as { stages: { name: string; checkpoint: string | null; step: number | null }[] }).stages) {
      if (!s.checkpoint) continue;
      // a checkpoint directory's files are written into it: its newest file is when it was saved
      const saved = Math.max(statSync(s.checkpoint).mtimeMs, ...readdirSync(s.checkpoint).map((f) => statSync(join(s.checkpoint!, f)).mtimeMs));
      if (saved > written) newer.push({ stage: s.name, step: s.step, saved: new Date(saved).toISOString() });
    }
    return { written: new Date(written).toISOString(), newer };
  }

  /** Start a stage runner; 409 while a job runs or another process holds the run. */
  startJob(b: Record<string, unknown>): unknown {
    const stage = optString(b, 'stage');
    if (stage === undefined || !(stage in STAGE_RUNNERS)) throw badRequest(`'stage' must be one of: ${Object.keys(STAGE_RUNNERS).join(', ')}`, 'stage');
    if (this.job?.state === 'running') throw new ApiError(409, `a job is running (${this.job.stage}, since ${this.job.started}): stop it first`, 'invalid_request_error', null, 'job_running');
    const steps = optNumber(b, 'steps', 1, 1e9, { integer: true });
    const fresh = optBool(b, 'fresh') ?? false;
    // the run lock: refused here, before anything starts, when another process writes the run;
    // the job's child process takes it (the default runners), so this process must not hold it
    const lockFile = join(this.runDir, 'run.lock');
    const other = this.otherLockHolder();
    if (other) throw new ApiError(409, `run directory ${this.runDir} is being written by another process (PID ${other.pid}: ${other.command}, since ${other.started}); wait for it to finish`, 'invalid_request_error', null, 'run_locked');
    const heldBefore = readLock(lockFile)?.pid === process.pid;
    if (heldBefore) throw new ApiError(409, `this server's own process holds the run lock of ${this.runDir} (it trained a stage itself): a job's process could not write the run until this process exits`, 'invalid_request_error', null, 'run_locked');
    const ac = new AbortController();
    let ended = (): void => undefined;
    const job: Job = { stage, started: new Date().toISOString(), state: 'running', ac, done: new Promise((r) => (ended = r)) };
    this.job = job;
    // the runner starts on the next turn so this request answers first
    setImmediate(() => {
      STAGE_RUNNERS[stage](this.runDir, { signal: ac.signal, steps, fresh, onProcess: (pid) => (job.pid = pid) })
        .then(() => {
          job.state = ac.signal.aborted ? 'stopped' : 'finished';
        })
        .catch((e: unknown) => {
          job.state = 'failed';
          job.error = (e as Error)?.message ?? String(e);
          job.detail = e instanceof StageProcessError ? e.detail : e instanceof GptforgeError ? e.message : undefined;
          process.stderr.write(`gptforge serve: the ${stage} job failed: ${job.error}\n`);
        })
        .finally(() => {
          job.ended = new Date().toISOString();
          // an in-process runner (a library user's STAGE_RUNNERS entry) holds the run lock until
          // its process exits: release it, so the command line can write the run again
          releaseLock(lockFile);
          // serve what was trained: the stages' newest checkpoints
          try {
            this.reloadModels(`the ${stage} job ended`);
          } catch (e) {
            process.stderr.write(`gptforge serve: could not reload the run's models: ${(e as Error).message}\n`);
          }
          ended();
        });
    });
    return { stage, started: job.started, state: job.state };
  }

  /**
   * Serve the run's stages as they are on disk now: every stage's newest checkpoint, new stage
   * directories included (`sft --into sft-mine` trained from the command line while the server ran).
   * What a finished web job does, `POST /v1/gptforge/reload` and `SIGHUP` to `gptforge serve` too.
   * @param cause what asked for it, for WebOptions.onReload
   * @returns the ids now served
   * @throws GptforgeError when no generation stage loads (the models served before stay)
   */
  reloadModels(cause: string): string[] {
    const models = loadRunModels(this.runDir, undefined, { precision: this.opts.precision, onSkip: (s, reason) => process.stderr.write(`gptforge serve: not serving ${s}: ${reason}\n`) });
    this.server.setModels(models);
    const ids = [...models.keys()];
    this.opts.onReload?.(ids, cause);
    return ids;
  }

  /** Stop a running job and wait for it to end (its checkpoint saved): the server is closing. */
  async stopAndWait(): Promise<void> {
    if (this.job?.state !== 'running') return;
    this.job.ac.abort();
    await this.job.done;
  }

  /** Whether a web job is training now. */
  jobRunning(): boolean {
    return this.job?.state === 'running';
  }

  stopJob(): unknown {
    if (this.job?.state !== 'running') throw new ApiError(409, 'no job is running', 'invalid_request_error', null, 'no_job');
    this.job.ac.abort();
    return { stage: this.job.stage, state: 'stopping' };
  }

  /** metrics.jsonl as events: `reset` (every record, also after the file was rewritten on resume), `append` (new ones), `job` (its state when it changes). */
  streamMetrics(req: FastifyRequest, reply: FastifyReply): void {
    const ev = openEvents(req, reply, this.streams);
    const file = runLayout(this.runDir).metrics;
    let ino = -1;
    let offset = 0;
    let rest = '';
    let jobKey = '';
    const tick = (): void => {
      if (ev.closed()) return;
      const j = this.job ? `${this.job.stage}:${this.job.state}` : '';
      if (j !== jobKey) {
        jobKey = j;
        ev.send('job', (this.info() as { job: unknown }).job);
      }
      if (!existsSync(file)) {
        if (ino !== -1 || offset === 0) {
          if (ino !== -1) ev.send('reset', []);
          ino = 0;
        }
        return;
      }
      const st = statSync(file);
      const reset = st.ino !== ino || st.size < offset;
      if (reset) {
        offset = 0;
        rest = '';
        ino = st.ino;
      }
      if (st.size === offset && !reset) return;
      const fd = openSync(file, 'r');
      try {
        const buf = Buffer.alloc(st.size - offset);
        readSync(fd, buf, 0, buf.length, offset);
        offset = st.size;
        const parsed = parseRecords(rest + buf.toString('utf8'));
        rest = parsed.rest;
        if (reset) ev.send('reset', parsed.records);
        else if (parsed.records.length > 0) ev.send('append', parsed.records);
      } finally {
        closeSync(fd);
      }
    };
    tick();
    const timer = setInterval(tick, this.opts.pollMs ?? 250);
    const ping = setInterval(() => ev.send('ping', Date.now()), 15_000);
    ev.onClose(() => {
      clearInterval(timer);
      clearInterval(ping);
    });
  }

  // ---- ranking (src/run/label.ts; the same file and format as `gptforge label`)

  private labelPrompts(): LabelPrompt[] {
    if (this.prompts) return this.prompts;
    const file = this.opts.labelPrompts ?? join(this.runDir, 'label-prompts.jsonl');
    if (existsSync(file)) this.prompts = readPromptsJSONL(file);
    else {
      // held-out prompts of the families that generate in milliseconds (the word families
      // load WordNet and CMUdict first: seconds), four each, fixed
      const seen = new Set<string>();
      this.prompts = [];
      for (const t of TASKS.filter((x) => DEFAULT_LABEL_FAMILIES.includes(x.name))) {
        for (const e of t.generate('test', 4, 4242)) {
          if (seen.has(e.prompt)) continue;
          seen.add(e.prompt);
          this.prompts.push({ prompt: e.prompt, task: t.name });
        }
      }
    }
    return this.prompts;
  }

  rankState(): unknown {
    const prompts = this.labelPrompts();
    const handled = handledPrompts(this.rankingsFile);
    const todo = prompts.filter((p) => !handled.has(p.prompt));
    // `ranked`: the rankings `gptforge rm` (the dashboard's Start rm) will train on, counted as it reads them
    const ranked = existsSync(this.rankingsFile) ? readPreferencesJSONL(this.rankingsFile, { onBad: 'skip' }).rankings.length : 0;
    return { out: this.rankingsFile, total: prompts.length, done: prompts.length - todo.length, next: todo[0] ?? null, remaining: todo.length, ranked };
  }

  /** K completions of the prompt from the newest chat model, as `gptforge label` samples them. */
  rankSample(b: Record<string, unknown>): unknown {
    const k = optNumber(b, 'k', 2, 9, { integer: true }) ?? 4;
    const text = optString(b, 'prompt');
    if (text === undefined || text.trim() === '') throw badRequest("'prompt' must be a non-empty string", 'prompt');
    const task = this.labelPrompts().find((p) => p.prompt === text)?.task;
    const prompt: LabelPrompt = task === undefined ? { prompt: text } : { prompt: text, task };
    const stage = optString(b, 'stage');
    let loaded;
    try {
      loaded = loadModel(this.runDir, stage);
    } catch (e) {
      if (e instanceof GptforgeError) throw badRequest(e.message, 'stage');
      throw e;
    }
    const engine = new ChatEngine(loaded.model, loaded.tok);
    const completions = sampleCompletions(engine, text, k, {
      temperature: optNumber(b, 'temperature', 0, 2) ?? 1,
      // bounded by the model's context, as the chat and technique endpoints are
      maxTokens: optNumber(b, 'max_tokens', 1, loaded.model.config.blockSize, { integer: true }) ?? Math.min(96, loaded.model.config.blockSize),
      seed: optNumber(b, 'seed', 0, 2 ** 31, { integer: true }) ?? 1,
      tools: defaultTools(),
    });
    const id = randomUUID();
    this.candidates.set(id, { prompt, completions });
    if (this.candidates.size > 64) this.candidates.delete(this.candidates.keys().next().value as string);
    return { id, prompt: text, stage: loaded.stage, completions: completions.map((c) => formatCompletion(c)) };
  }

  /**
   * Save a ranking: `order` (candidate indices, best first, all of them) and `tied[i]` (order[i]
   * ties with order[i − 1]), replayed as key presses through label.ts's RankingSession, so the
   * page obeys the terminal's rules (the implied last one never ties), then appended atomically.
   */
  rankSubmit(b: Record<string, unknown>): unknown {
    const c = this.takeCandidates(b);
    const order = b.order;
    const tied = b.tied ?? [];
    const k = c.completions.length;
    if (!Array.isArray(order) || order.length !== k || !order.every((x) => Number.isInteger(x)) || new Set(order).size !== k) throw badRequest(`'order' must list each of the ${k} candidates once`, 'order');
    if (!Array.isArray(tied) || !tied.every((x) => typeof x === 'boolean')) throw badRequest("'tied' must be an array of booleans", 'tied');
    if (tied[k - 1] === true) throw badRequest('the last reply cannot tie (its place is implied, as in gptforge label)', 'tied');
    const session = new RankingSession(k);
    let done: { order: number[]; tiers?: number[] } | null = null;
    for (let i = 0; i < k - 1 && !done; i++) {
      if (tied[i] === true) {
        const t = session.press('=');
        if (t.type === 'invalid') throw badRequest(t.message, 'tied');
      }
      const e = session.press(String((order[i] as number) + 1));
      if (e.type === 'invalid') throw badRequest(e.message, 'order');
      if (e.type === 'done') done = e;
    }
    if (!done) throw badRequest('the ranking is incomplete', 'order');
    const best = done.order;
    const tiers = done.tiers;
    this.withRankingsLock(() =>
      appendRankingLine(this.rankingsFile, {
        prompt: c.prompt.prompt,
        completions: best.map((j) => c.completions[j]),
        ...(tiers !== undefined ? { tiers } : {}),
        ...(c.prompt.task !== undefined ? { task: c.prompt.task } : {}),
      }),
    );
    this.candidates.delete(String(b.id));
    return { saved: session.describe(), ...(this.rankState() as object) };
  }

  rankSkip(b: Record<string, unknown>): unknown {
    const c = this.takeCandidates(b);
    this.withRankingsLock(() => appendJSONLine(skippedFile(this.rankingsFile), { prompt: c.prompt.prompt, reason: 'skipped by labeler' }));
    this.candidates.delete(String(b.id));
    return this.rankState();
  }

  private takeCandidates(b: Record<string, unknown>): Candidates {
    const c = typeof b.id === 'string' ? this.candidates.get(b.id) : undefined;
    if (!c) throw badRequest("'id' names no sampled candidates (sample again)", 'id');
    return c;
  }

  /**
   * Write under the rankings file's lock, as `gptforge label` holds it (src/util/lock.ts): a
   * terminal labeler on the same file refuses the page (409 naming its PID) and the page
   * holds the lock only while it writes, so the terminal can label the file between the
   * page's rankings.
   */
  private withRankingsLock(write: () => void): void {
    const file = `${this.rankingsFile}.lock`;
    try {
      holdLock(file, `rankings file ${this.rankingsFile}`);
    } catch (e) {
      if (e instanceof GptforgeError) throw new ApiError(409, e.message, 'invalid_request_error', null, 'rankings_locked');
      throw e;
    }
    try {
      write();
    } finally {
      releaseLock(file);
    }
  }
}

/**
 * Register the web UI on a server (before it listens): the page at `/`, its assets, and the
 * run API under `/web/api/` when `runDir` is given.
 * @returns with `runDir`, what rereads the run's stages from disk (the route `POST /v1/gptforge/reload`); else null
 */
export async function registerWeb(server: GptforgeServer, opts: WebOptions = {}): Promise<{ reloadModels(cause: string): string[] } | null> {
  const app = server.app;
  const require = createRequire(import.meta.url);
  const htmDir = dirname(dirname(require.resolve('htm')));
  const uplotDir = dirname(require.resolve('uplot'));
  // markdown-it renders eval.md (tables included) on the dashboard: well kept, CommonMark + GFM tables, raw HTML off by default
  const markdownItDir = dirname(require.resolve('markdown-it'));
  await app.register(fastifyStatic, { root: webRoot(), prefix: '/web/', decorateReply: true, index: false });
  app.get('/', (_req, reply) => reply.sendFile('index.html', webRoot()));
  app.get('/web/vendor/preact-htm.js', (_req, reply) => reply.type('text/javascript').sendFile('preact/standalone.module.js', htmDir));
  app.get('/web/vendor/uplot.js', (_req, reply) => reply.type('text/javascript').sendFile('uPlot.iife.min.js', uplotDir));
  app.get('/web/vendor/markdown-it.js', (_req, reply) => reply.type('text/javascript').sendFile('markdown-it.min.js', markdownItDir));
  app.get('/web/vendor/uplot.css', (_req, reply) => reply.type('text/css').sendFile('uPlot.min.css', uplotDir));

  const run = opts.runDir !== undefined ? new WebRun(server, opts.runDir, opts) : null;
  const need = (): WebRun => {
    if (!run) throw new ApiError(404, 'this server was started without a run directory', 'invalid_request_error', null, 'no_run');
    return run;
  };
  if (run) {
    app.addHook('preClose', async () => {
      for (const res of run.streams) res.end();
      // a job's child process would outlive the server: stop it (it saves its checkpoint) first
      await run.stopAndWait();
    });
  }
  const examples = resolve(webRoot(), '..', 'examples', 'prompts');
  // the run's stages reread from disk (a stage trained from the command line): the API's route, as OpenAI's
  // routes are, under /v1 and the API key; 409 while a web job runs (it reloads when it ends)
  app.post('/v1/gptforge/reload', async () => {
    const r = need();
    if (r.jobRunning()) throw new ApiError(409, 'a job is running: the models are reloaded when it ends', 'invalid_request_error', null, 'job_running');
    try {
      return { object: 'list', data: r.reloadModels('POST /v1/gptforge/reload').map((id) => ({ id, object: 'model' })) };
    } catch (e) {
      if (e instanceof GptforgeError) throw new ApiError(422, e.message, 'invalid_request_error', null, 'reload_failed');
      throw e;
    }
  });
  app.get('/web/api/info', async () => need().info());
  app.get('/web/api/report', async () => need().report());
  app.get('/web/api/metrics', (req, reply) => need().streamMetrics(req, reply));
  app.post('/web/api/jobs', async (req) => need().startJob(asBody(req.body)));
  app.post('/web/api/jobs/stop', async () => need().stopJob());
  app.get('/web/api/rank', async () => need().rankState());
  app.post('/web/api/rank/sample', async (req) => need().rankSample(asBody(req.body)));
  app.post('/web/api/rank/submit', async (req) => need().rankSubmit(asBody(req.body)));
  app.post('/web/api/rank/skip', async (req) => need().rankSkip(asBody(req.body)));
  app.get('/web/api/prompts/fake-conversation', async (_req, reply) => reply.type('text/plain; charset=utf-8').send(readFileSync(join(examples, 'fake-conversation.txt'), 'utf8')));
  return run && { reloadModels: (cause: string) => run.reloadModels(cause) };
}
