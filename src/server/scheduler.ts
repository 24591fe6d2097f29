import { BatchDecoder, type DecodeEvent, type DecodingModel, type RowRequest, type RowResult } from '../infer/pipeline.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { ApiError } from './errors.js';

/**
 * Batches concurrent requests to one model. The decoding pipeline's BatchDecoder has fixed
 * rows and one shared cache length, so rows cannot join a batch mid-flight; this scheduler
 * decodes in *waves*: when the model is free it takes queued jobs (each one or more rows:
 * a request's `n` choices) in arrival order until `parallel` rows are filled, decodes them
 * together, and starts the next wave when that one ends. Each row keeps its own settings,
 * seed, stop strings and AbortSignal (a seeded row gives the same tokens alone or batched, as
 * far as the model's logits agree at the two batch sizes: see src/infer/pipeline.ts).
 *
 * Between steps it yields to the event loop (setImmediate), so a client that hangs up ends
 * its row within one step. A job with more rows than `parallel` runs alone. The queue holds
 * at most `maxQueue` rows; beyond that `submit` throws a 429 with Retry-After.
 */
export interface SchedulerOptions {
  /** Most rows decoded together. */
  parallel: number;
  /** Most rows waiting (not yet decoding). */
  maxQueue: number;
  /** Token fed at padding positions (never attended to). */
  padId: number;
  /**
   * When idle, wait this long before starting a wave, so that requests arriving together are
   * decoded together (default 5 ms; 0: the next turn of the event loop).
   */
  batchWindowMs?: number;
  /** Observers for metrics. */
  onWave?(rows: number): void;
  onStep?(rows: number, seconds: number): void;
}

interface Job {
  rows: RowRequest[];
  onEvent(e: DecodeEvent): void;
  resolve(r: RowResult[]): void;
  reject(e: unknown): void;
}

export class Scheduler {
  private readonly queue: Job[] = [];
  private running = 0;
  private busy = false;

  constructor(
    private readonly model: DecodingModel,
    private readonly tok: Pick<Tokenizer, 'createStreamDecoder'>,
    private readonly opts: SchedulerOptions,
  ) {}

  /** Rows waiting for a wave. */
  get queuedRows(): number {
    return this.queue.reduce((n, j) => n + j.rows.length, 0);
  }

  /** Rows in the wave being decoded. */
  get runningRows(): number {
    return this.running;
  }

  /**
   * Queue a job; events (row = index into `rows`) go to `onEvent` as they happen; resolves
   * with the results in row order. Throws a 429 ApiError at once when the queue is full.
   */
  submit(rows: RowRequest[], onEvent: (e: DecodeEvent) => void = () => {}): Promise<RowResult[]> {
    if (this.queuedRows + rows.length > this.opts.maxQueue && (this.queuedRows > 0 || this.busy)) {
      throw new ApiError(429, `the server is busy: ${this.queuedRows} rows are waiting (queue limit ${this.opts.maxQueue}); retry shortly`, 'rate_limit_error', null, 'queue_full', { 'retry-after': '1' });
    }
    return new Promise<RowResult[]>((resolve, reject) => {
      this.queue.push({ rows, onEvent, resolve, reject });
      // decoding starts on a later turn of the event loop: the caller sets up its response
      // (headers, hijack) before any event can arrive
      if (!this.busy) {
        this.busy = true;
        const w = this.opts.batchWindowMs ?? 5;
        if (w > 0) setTimeout(() => void this.loop(), w);
        else setImmediate(() => void this.loop());
      }
    });
  }

  private takeWave(): Job[] {
    const wave: Job[] = [this.queue.shift()!];
    let rows = wave[0].rows.length;
    while (this.queue.length > 0 && rows + this.queue[0].rows.length <= this.opts.parallel) {
      const j = this.queue.shift()!;
      rows += j.rows.length;
      wave.push(j);
    }
    return wave;
  }

  private async loop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const wave = this.takeWave();
        // rows already aborted before their wave starts never reach the model
        await this.decodeWave(wave);
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.busy = false;
    }
  }

  private async decodeWave(wave: Job[]): Promise<void> {
    const owner: Array<{ job: Job; row: number }> = [];
    for (const job of wave) job.rows.forEach((_, row) => owner.push({ job, row }));
    this.running = owner.length;
    this.opts.onWave?.(owner.length);
    try {
      const dec = new BatchDecoder(this.model, this.tok, owner.map((o) => o.job.rows[o.row]), { padId: this.opts.padId });
      while (!dec.done) {
        const t0 = performance.now();
        const events = dec.step();
        this.opts.onStep?.(owner.length, (performance.now() - t0) / 1000);
        for (const e of events) {
          const o = owner[e.row];
          try {
            o.job.onEvent({ ...e, row: o.row });
          } catch {
            // a consumer's failure (a closed socket) must not stop the other rows
          }
        }
        if (!dec.done) await new Promise<void>((r) => setImmediate(r));
      }
      const results = dec.results();
      let i = 0;
      for (const job of wave) {
        job.resolve(results.slice(i, i + job.rows.length));
        i += job.rows.length;
      }
    } catch (e) {
      for (const job of wave) job.reject(e);
    } finally {
      this.running = 0;
    }
  }
}
