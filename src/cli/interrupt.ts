import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The command line's signals (not a command). Library code installs no signal handler and never
 * exits the process (a server or a test drives stages with its own AbortController); this face
 * does both:
 *   - `interruptSignal()`: Ctrl-C as the AbortSignal passed to every stage a command runs. The
 *     first Ctrl-C aborts it (the stage saves a checkpoint after the step in progress and the
 *     command exits 130), a second quits at once with exit code 130, its last line naming the
 *     run's newest saved checkpoint (or none).
 *   - `exitOnSignals()`: SIGINT, SIGTERM and SIGHUP end the process with 128 + the signal's
 *     number through process.exit, so the run locks are released by their 'exit' hook
 *     (src/util/lock.ts) — unless another listener (the stage's Ctrl-C above, serve's graceful
 *     close) handles the signal.
 */
let controller: AbortController | null = null;
let runDirs: string[] = [];

/**
 * The process-wide Ctrl-C signal (installs the SIGINT handler on first use). `runDir`, the run the
 * command trains: a second Ctrl-C's last line names its newest saved checkpoint (or none), so a
 * quit that promised a save says what it left.
 */
export function interruptSignal(runDir?: string): AbortSignal {
  if (runDir !== undefined && !runDirs.includes(runDir)) runDirs = [...runDirs, runDir];
  if (controller) return controller.signal;
  const c = new AbortController();
  controller = c;
  process.on('SIGINT', () => {
    if (c.signal.aborted) {
      // eval's RLHF sweep keeps its runs deeper (<run>/rlhf-sweep/<e_w>/): it names no run here
      console.error(`\nquit at once: no checkpoint saved${runDirs.length > 0 ? `; last checkpoint: ${lastCheckpoint(runDirs) ?? 'none'}` : ''}`);
      process.exit(130);
    }
    process.exitCode = 130;
    console.error('\ninterrupted — finishing the step in progress and saving (Ctrl-C again to quit at once)');
    c.abort(new Error('interrupted (SIGINT)'));
  });
  return c.signal;
}

/**
 * The newest complete checkpoint of any stage of these runs: each `<run>/<stage>/latest.json`
 * (written atomically after a checkpoint's files, src/model/checkpoint.ts), newest by mtime.
 * Read here, not through model/checkpoint.ts: this runs in a signal handler and the CLI loads
 * model code lazily.
 */
function lastCheckpoint(dirs: readonly string[]): string | null {
  let best: { path: string; at: number } | null = null;
  for (const run of dirs) {
    let stages: string[];
    try {
      stages = readdirSync(run);
    } catch {
      continue; // no run directory yet: nothing saved
    }
    for (const stage of stages) {
      const pointer = join(run, stage, 'latest.json');
      try {
        const at = statSync(pointer).mtimeMs;
        const { checkpoint } = JSON.parse(readFileSync(pointer, 'utf8')) as { checkpoint?: unknown };
        if (typeof checkpoint === 'string' && (!best || at > best.at)) best = { path: join(run, stage, checkpoint), at };
      } catch {
        // not a stage directory, or no checkpoint yet
      }
    }
  }
  return best?.path ?? null;
}

/** Default ends for SIGINT/SIGTERM/SIGHUP that run the 'exit' hooks (see the module comment). */
export function exitOnSignals(): void {
  for (const [sig, n] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ] as const) {
    process.on(sig, () => {
      if (process.listenerCount(sig) > 1) return;
      process.exit(128 + n);
    });
  }
}
