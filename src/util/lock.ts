import { closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { GptforgeError } from './errors.js';

/**
 * One writer per run directory. A stage that writes a run (checkpoints, metrics.jsonl, plots,
 * data shards, the tokenizer) holds `<run>/run.lock` until its process exits; `gptforge eval`
 * holds `<run>/eval.lock` (it writes eval.md beside a training stage without touching what
 * the stage writes), `gptforge label` holds `<rankings file>.lock`. Readers (sample, chat,
 * eval's model loading) take no lock: checkpoints are written atomically (src/model/checkpoint.ts).
 *
 * The lock file is created atomically with O_CREAT|O_EXCL (`wx`) and holds JSON
 * {pid, command, host, started}. A second writer is refused naming the holder's PID and
 * command. A lock whose process no longer runs (process.kill(pid, 0) → ESRCH; same host
 * only) is taken over with a notice. The lock is held for the life of the process and is
 * re-entrant within it (the pipeline runs every stage in one process), and it is released
 * on exit: normal end, an error, an explicit exit. This module installs no signal handler: the
 * command line turns SIGINT/SIGTERM/SIGHUP into an exit (or, for Ctrl-C during a stage,
 * into the stage's AbortSignal: it saves a checkpoint and returns, and the lock goes at exit;
 * src/cli/interrupt.ts). SIGKILL or a power cut leaves the file: the next run takes it over,
 * since its PID is dead.
 *
 * Why not proper-lockfile: it decides staleness by the lock's mtime, refreshed by a timer;
 * the training loop is synchronous for a whole step (an eval or a big step runs far past its
 * default 10 s), so a live run would look stale, and its lock records no PID or command.
 * Limits: a dead holder's PID reused by a new process reads as alive (the message names the
 * PID and command, so a person can tell, and delete the file); a holder on another host
 * (a shared file system) cannot be probed and is always respected.
 */
export interface LockInfo {
  pid: number;
  /** The command line that holds it, e.g. "gptforge pretrain --preset small". */
  command: string;
  host: string;
  /** ISO 8601 time the lock was taken. */
  started: string;
}

const held = new Map<string, LockInfo>();
let hooked = false;

/**
 * A command line as a user typed it, from a process's argv: the CLI's script path, run
 * directly or through a bin link, reads as "gptforge".
 * @example displayCommand(['node', '/root/.npm/_npx/1a2b/node_modules/.bin/gptforge', 'rm', '--run', 'r']) // 'gptforge rm --run r'
 */
export function displayCommand(argv: readonly string[]): string {
  const [, script, ...args] = argv;
  // the CLI run directly (dist/src/cli/main.js) or through a bin link (npx's cache, node_modules/.bin)
  const head = script && /[\\/]cli[\\/]main\.js$|(^|[\\/])gptforge$/.test(script) ? 'gptforge' : (script ?? process.argv0);
  return [head, ...args].join(' ');
}

/** The lock file's holder, or null when there is none (or it is unreadable: a half-written lock is rewritten by its creator within microseconds). */
export function readLock(file: string): LockInfo | null {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockInfo>;
    if (typeof o.pid !== 'number') return null;
    return { pid: o.pid, command: String(o.command ?? '?'), host: String(o.host ?? '?'), started: String(o.started ?? '?') };
  } catch {
    return null;
  }
}

/** Whether `pid` is a running process on this machine (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(file: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new GptforgeError(`cannot create the lock file: ${(e as Error).message}`, { file });
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
  } finally {
    closeSync(fd);
  }
  return true;
}

function releaseAll(): void {
  for (const file of [...held.keys()]) releaseLock(file);
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Releases the locks at any exit: normal end, an error, an explicit exit. Not a signal handler:
  // the command line ends the process on SIGINT/SIGTERM/SIGHUP by exiting
  // (src/cli/interrupt.ts), which runs this; a library user's process does the same or not.
  process.on('exit', releaseAll);
}

/**
 * Hold the lock file `file` until this process exits (re-entrant: a second call is a no-op).
 * @param what what the lock protects, for messages ("run directory runs/small").
 * Taking over a dead holder's lock always prints a notice to stderr (even with --quiet):
 * a run ended abnormally there, and its last steps may need a look.
 * @throws GptforgeError naming the holder's PID, command, host and start time when a live
 *   process (or one on another host) holds it.
 */
export function holdLock(file: string, what: string): void {
  if (held.has(file)) return;
  mkdirSync(dirname(file), { recursive: true });
  const info: LockInfo = { pid: process.pid, command: displayCommand(process.argv), host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(file, info)) {
      held.set(file, info);
      hookExit();
      return;
    }
    const holder = readLock(file);
    if (holder === null) {
      // being written this instant, or garbage: look again shortly, then treat garbage as stale
      if (attempt < 2) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
    } else if (holder.pid === process.pid && holder.host === info.host) {
      held.set(file, holder);
      hookExit();
      return;
    } else if (holder.host !== info.host) {
      throw new GptforgeError(`${what} is in use by PID ${holder.pid} on host ${holder.host} (${holder.command}), since ${holder.started}. Its liveness cannot be checked from ${info.host}; if that process is gone, delete the lock file.`, { file });
    } else if (processAlive(holder.pid)) {
      throw new GptforgeError(`${what} is in use by PID ${holder.pid} (${holder.command}), since ${holder.started}. Wait for it to finish, or stop it (kill -INT ${holder.pid}: a training stage saves a checkpoint first). Reading the run (sample, chat) works meanwhile.`, { file });
    }
    if (takeOver(file, holder)) {
      console.error(`gptforge: notice: taking over the lock on ${what} left by PID ${holder?.pid ?? '?'} (${holder?.command ?? 'unreadable lock file'}, since ${holder?.started ?? '?'}), which is no longer running`);
    }
  }
  throw new GptforgeError(`${what}: could not take the lock (another process keeps taking it)`, { file });
}

/**
 * Remove a stale lock without removing a fresh one another process just created in its place:
 * move the file aside under a unique name (atomic), check it is still the dead holder's, and
 * if a live process's lock was caught instead, put it back (link fails if a third took the name).
 */
function takeOver(file: string, stale: LockInfo | null): boolean {
  const aside = `${file}.stale-${process.pid}-${Date.now()}`;
  try {
    renameSync(file, aside);
  } catch {
    return false; // someone else moved it first; retry from the top
  }
  const got = readLock(aside);
  const same = (got === null && stale === null) || (got !== null && stale !== null && got.pid === stale.pid && got.started === stale.started);
  if (!same) {
    try {
      linkSync(aside, file);
    } catch {
      // the name was taken again meanwhile; that process holds it now
    }
  }
  rmSync(aside, { force: true });
  return same;
}

/** Release a lock this process holds (no-op otherwise; never removes another process's lock). */
export function releaseLock(file: string): void {
  if (!held.has(file)) return;
  held.delete(file);
  const holder = readLock(file);
  if (holder !== null && holder.pid === process.pid) rmSync(file, { force: true });
}

/**
 * Hold a run directory's lock for this process (see the module comment).
 * @param lock 'run' for stages that write the run (run.lock), 'eval' for the evaluation report (eval.lock).
 * @param opts.create make the directory when missing (pretrain, data prepare, tokenizer train);
 *   otherwise a missing directory is left to the stage's own error and no lock is taken.
 */
export function holdRunLock(runDir: string, lock: 'run' | 'eval' = 'run', opts: { create?: boolean } = {}): void {
  if (!opts.create && !existsSync(runDir)) return;
  holdLock(join(runDir, `${lock}.lock`), `run directory ${runDir}`);
}
