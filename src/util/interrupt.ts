/**
 * Ctrl-C for the command line, as an AbortSignal the library's stages understand.
 *
 * Library code installs no signal handler (a server or a test drives stages with its own
 * AbortController); the CLI asks for this signal once and passes it to every stage it runs:
 * the first Ctrl-C aborts it (the stage saves a checkpoint after the step in progress and the
 * command exits 130), a second Ctrl-C quits at once with exit code 130.
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
