/**
 * A small terminal progress bar: `label [#####.....] 42% 1.2k/3k  rate  ETA 0:31  extra`.
 * Redraws in place on a TTY (at most ~10 times a second); on a pipe or in CI it prints a
 * plain line every `logEvery` percent so logs stay readable.
 *
 * Kept rather than cli-progress 3.12.0 (the well-known one): on a pipe it prints nothing, or,
 * with `noTTYOutput`, a line every `notTTYSchedule` ms
 * (2 s by default: 30 lines for a one-minute stage, 1,800 for an hour) instead of one per 10%;
 * its last release is from June 2024 and it needs @types/cli-progress. This is 90 lines with no
 * dependency, and the runners (src/run) use it with `quiet` from library code.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  /** Unit for the rate, e.g. "tok" gives "12.3k tok/s". */
  unit?: string;
  stream?: NodeJS.WriteStream;
  /** Silence entirely (tests). */
  quiet?: boolean;
  /** Position already reached when the bar starts (a resumed stage): the rate and the ETA count only this run's progress. Default 0. */
  initial?: number;
}

export function formatCount(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return `${Math.round(n * 100) / 100}`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

export class Progress {
  private readonly start = performance.now();
  private lastDraw = 0;
  private lastLoggedPct = -1;
  private current = 0;
  private extra = '';
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private done = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY) && process.env.CI !== 'true' && !opts.quiet;
  }

  /** Set the absolute position and an optional trailing status text (e.g. "loss 2.31"). */
  update(current: number, extra?: string): void {
    this.current = current;
    if (extra !== undefined) this.extra = extra;
    const now = performance.now();
    if (this.tty) {
      if (now - this.lastDraw < 100 && current < this.opts.total) return;
      this.lastDraw = now;
      this.stream.write(`\r\x1b[2K${this.line()}`);
    } else if (!this.opts.quiet) {
      const pct = this.opts.total > 0 ? Math.floor((100 * current) / this.opts.total / 10) * 10 : 0;
      if (pct > this.lastLoggedPct) {
        this.lastLoggedPct = pct;
        this.stream.write(`${this.line()}\n`);
      }
    }
  }

  tick(delta = 1, extra?: string): void {
    this.update(this.current + delta, extra);
  }

  /** Final draw and newline. */
  finish(extra?: string): void {
    if (this.done) return;
    this.done = true;
    if (extra !== undefined) this.extra = extra;
    if (this.opts.quiet) return;
    if (this.tty) this.stream.write(`\r\x1b[2K${this.line()}\n`);
    else if (this.lastLoggedPct < 100) this.stream.write(`${this.line()}\n`);
  }

  private line(): string {
    const { label, unit } = this.opts;
    // the total is never below the position shown: "160/2" reads as a broken bar (a caller that
    // went past its estimate, e.g. a resumed stage beyond a smaller step budget)
    const total = Math.max(this.opts.total, this.current);
    const elapsed = (performance.now() - this.start) / 1000;
    const frac = total > 0 ? Math.min(1, this.current / total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    // this run's own progress: a resumed stage's earlier steps took no time here
    const rate = elapsed > 0 ? Math.max(0, this.current - (this.opts.initial ?? 0)) / elapsed : 0;
    const eta = rate > 0 ? (total - this.current) / rate : Infinity;
    const rateText = unit ? `${formatCount(rate)} ${unit}/s` : `${formatCount(rate)}/s`;
    return `${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${formatCount(this.current)}/${formatCount(total)} ${rateText} ETA ${formatDuration(eta)} ${this.extra}`.trimEnd();
  }
}
