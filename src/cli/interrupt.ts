/**
 * The command line's signals (not a command). Library code installs no signal handler and never
 * exits the process (a server or a test drives stages with its own AbortController); this face
 * does both:
 *   - `interruptSignal()`: Ctrl-C as the AbortSignal passed to every stage a command runs. The
 *     first Ctrl-C aborts it (the stage saves a checkpoint after the step in progress and the
 *     command exits 130), a second quits at once with exit code 130.
 *   - `exitOnSignals()`: SIGINT, SIGTERM and SIGHUP end the process with 128 + the signal's
 *     number through process.exit, so the run locks are released by their 'exit' hook
 *     (src/util/lock.ts) — unless another listener (the stage's Ctrl-C above, serve's graceful
 *     close) handles the signal.
 */
let controller: AbortController | null = null;

/** The process-wide Ctrl-C signal (installs the SIGINT handler on first use). */
export function interruptSignal(): AbortSignal {
  if (controller) return controller.signal;
  const c = new AbortController();
  controller = c;
  process.on('SIGINT', () => {
    if (c.signal.aborted) process.exit(130);
    process.exitCode = 130;
    console.error('\ninterrupted — finishing the step in progress and saving (Ctrl-C again to quit at once)');
    c.abort(new Error('interrupted (SIGINT)'));
  });
  return c.signal;
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
