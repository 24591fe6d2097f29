import { BatchDecoder, type DecodeEvent, type DecodingModel, type RowRequest, type RowResult } from '../infer/pipeline.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { ApiError } from './errors.js';
import { ForwardThread } from '../infer/forward-thread.js';

/**
 * Continuous batching of concurrent requests to one model (as vLLM and llama.cpp's server
 * do): one open BatchDecoder (src/infer/pipeline.ts) with `parallel` cache rows (slots) runs
 * while there is work. A request's rows (its `n` choices) are added to it at once and join the
 * running batch at the next step: each is prefilled alone into a free slot and then decodes
 * with the others, each at its own position, with its own settings, seed, stop strings,
 * constraint, tool state and AbortSignal. A finished row's slot goes to the next waiting row
 * at the next step. Rows beyond the slots wait in arrival order.
 *
 * A seeded row gives the same tokens alone or batched, bit for bit: it is prefilled alone,
 * and batch rows never mix (row-independent matmuls, per-row attention; tested).
 * Between steps the loop yields to the event loop (setImmediate), so a client that hangs up
 * ends its row within one step and new requests join without waiting for others to finish.
 * With a decode thread (decodeThread, the default for a plain f32 GPT) each step's forward runs
 * on a worker (src/infer/forward-thread.ts) and the step's events are dispatched (written to
 * the sockets) while it runs; after its reply the loop still yields (setImmediate), as a
 * port's messages are drained in one go and a fast forward would otherwise hold the loop.
 * At most `maxQueue` rows wait for a slot; a request that would make more wait gets a 429
 * with Retry-After.
 */
export interface SchedulerOptions {
  /** Most rows decoded together (cache rows). */
  parallel: number;
  /** Most rows waiting for a slot. */
  maxQueue: number;
  /** Token the decoder feeds at padding positions (never attended to). */
  padId: number;
  /**
   * When idle, wait this long before the first step, so that requests arriving together are
   * prefilled in one step (default 0: the next turn of the event loop; rows arriving later
   * join at the next step anyway).
   */
  batchWindowMs?: number;
  /**
   * Reuse cached prompt prefixes (BatchOptions.prefixCache, default true): a joining request
   * whose prompt begins with tokens a cache row holds (a shared system prompt, the earlier
   * turns of a conversation, its own previous request) is prefilled from there on, with the
   * same logits bit for bit.
   */
  prefixCache?: boolean;
  /**
   * Run each step's forward on a decode thread (ForwardThread, src/infer/forward-thread.ts;
   * default true where the model qualifies: a plain f32 GPT): the step's events (SSE chunks
   * to write) are handled while the model computes the next logits, as llama.cpp's server
   * decodes on its own thread. The thread starts with the first request. False: every step
   * on the main thread.
   */
  decodeThread?: boolean;
  /** Observer for metrics: each step's rows (those that sampled a token in it) and its duration (prefills included). */
  onStep?(rows: number, seconds: number): void;
}

interface Job {
  rows: RowRequest[];
  results: RowResult[];
  remaining: number;
  /** Ends the job's rows (a job whose rows could not all be added). */
  abort: AbortController;
  failed: boolean;
  onEvent(e: DecodeEvent): void;
  resolve(r: RowResult[]): void;
  reject(e: unknown): void;
}

export class Scheduler {
  private dec: BatchDecoder;
  /** Decoder row index → its job and the row's index within the job. */
  private readonly owners = new Map<number, { job: Job; row: number }>();
  private busy = false;
  /** The decode thread (SchedulerOptions.decodeThread), started with the first decoder that needs it; null: steps run here. */
  private thread: ForwardThread | null = null;
  private threadFailed = false;

  constructor(
    private readonly model: DecodingModel,
    private readonly tok: Pick<Tokenizer, 'createStreamDecoder'>,
    private readonly opts: SchedulerOptions,
  ) {
    this.dec = this.newDecoder();
  }

  private newDecoder(): BatchDecoder {
    return new BatchDecoder(this.model, this.tok, [], { slots: this.opts.parallel, padId: this.opts.padId, prefixCache: this.opts.prefixCache ?? true, forwardThread: this.thread ?? undefined, onRowError: (row, e) => this.rowFailed(row, e) });
  }

  /** Whether steps run their forward on a decode thread (SchedulerOptions.decodeThread). */
  get threaded(): boolean {
    return this.thread !== null;
  }

  /** End the decode thread, if any (the server's close). */
  async close(): Promise<void> {
    await this.thread?.close();
  }

  /**
   * End the decode thread once every admitted and queued row has finished (`pollMs` apart):
   * a model reload's old scheduler, whose requests in flight complete on the old model. Without
   * it each reload would leave a worker thread, and the old weights it holds, behind.
   */
  async closeWhenIdle(pollMs = 50): Promise<void> {
    while (this.active) await new Promise((r) => setTimeout(r, pollMs));
    await this.close();
  }

  /** Whether any row is admitted or queued, or a step is under way. */
  get active(): boolean {
    return this.busy || this.owners.size > 0 || this.queuedRows > 0;
  }

  /** One row's sampling failed: its job fails (its other rows end at the next step); the batch goes on. */
  private rowFailed(row: number, e: unknown): void {
    const o = this.owners.get(row);
    if (!o || o.job.failed) return;
    o.job.failed = true;
    o.job.abort.abort();
    o.job.reject(e);
  }

  /** Rows waiting for a slot. */
  get queuedRows(): number {
    return this.dec.waitingRows;
  }

  /** Rows being decoded. */
  get runningRows(): number {
    return this.dec.activeRows;
  }

  /**
   * Queue a job; events (row = index into `rows`) go to `onEvent` as they happen; resolves
   * with the results in row order. Throws a 429 ApiError at once when the rows would make
   * more than `maxQueue` wait; a GptforgeError for a bad row (none of the job's rows decode).
   */
  submit(rows: RowRequest[], onEvent: (e: DecodeEvent) => void = () => {}): Promise<RowResult[]> {
    // a request with more rows than the server ever holds would get 429 forever: a 400 naming `n` instead
    if (rows.length > this.opts.parallel + this.opts.maxQueue)
      throw new ApiError(400, `this request needs ${rows.length} rows (n × prompts), more than this server ever holds: ${this.opts.parallel} decoding + ${this.opts.maxQueue} waiting (serve --parallel, --max-queue); ask for fewer`, 'invalid_request_error', 'n', 'too_many_rows');
    const wouldWait = this.dec.waitingRows + rows.length - this.dec.freeSlotCount;
    if (wouldWait > this.opts.maxQueue) {
      throw new ApiError(429, `the server is busy: ${this.dec.activeRows} rows are decoding and ${this.dec.waitingRows} waiting (queue limit ${this.opts.maxQueue}); retry shortly`, 'rate_limit_error', null, 'queue_full', { 'retry-after': '1' });
    }
    if (!this.busy && !this.thread && !this.threadFailed && (this.opts.decodeThread ?? true) && ForwardThread.supports(this.model)) {
      // the first request starts the decode thread; the idle decoder (no rows) makes way for one on the thread's cache
      this.thread = new ForwardThread(this.model);
      this.dec = this.newDecoder();
    }
    let job!: Job;
    const p = new Promise<RowResult[]>((resolve, reject) => {
      job = { rows, results: [], remaining: rows.length, abort: new AbortController(), failed: false, onEvent, resolve, reject };
    });
    if (rows.length === 0) {
      job.resolve([]);
      return p;
    }
    try {
      rows.forEach((r, i) => {
        const signal = r.signal ? AbortSignal.any([r.signal, job.abort.signal]) : job.abort.signal;
        this.owners.set(this.dec.add({ ...r, signal }), { job, row: i });
      });
    } catch (e) {
      // the rows added so far end with 'abort' at the next step; their events are dropped
      job.failed = true;
      job.abort.abort();
      this.kick();
      throw e;
    }
    this.kick();
    return p;
  }

  /** Start the loop if idle: on a later turn of the event loop, so the caller sets up its response (headers, hijack) before any event arrives. */
  private kick(): void {
    if (this.busy) return;
    this.busy = true;
    const w = this.opts.batchWindowMs ?? 0;
    if (w > 0) setTimeout(() => void this.loop(), w);
    else setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (!this.dec.done) {
        const t0 = performance.now();
        let events: DecodeEvent[];
        try {
          events = this.dec.step();
          if (this.thread) {
            // the forward runs on the decode thread: write this step's tokens meanwhile
            for (const e of events) this.dispatch(e);
            await this.dec.settle();
          }
        } catch (e) {
          // a failed step leaves the decoder in no known state: fail every job in it, start afresh
          const jobs = new Set([...this.owners.values()].map((o) => o.job));
          this.owners.clear();
          if (this.thread) {
            // whatever failed (the thread itself, or the model on it), the next decoder steps here
            void this.thread.close();
            this.thread = null;
            this.threadFailed = true;
          }
          this.dec = this.newDecoder();
          for (const j of jobs) if (!j.failed) j.reject(e);
          continue;
        }
        let sampled = 0;
        for (const e of events) if (e.type === 'token' && e.sampled) sampled++;
        this.opts.onStep?.(sampled, (performance.now() - t0) / 1000);
        if (!this.thread) for (const e of events) this.dispatch(e);
        // Yield between steps, on the decode thread too: the forward's reply is a port message,
        // and Node drains a port's messages (with their microtasks) in one go, so a fast forward
        // could run a whole reply before a new request or a hang-up is seen.
        if (!this.dec.done) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.busy = false;
    }
  }

  private dispatch(e: DecodeEvent): void {
    const o = this.owners.get(e.row);
    if (!o) return;
    const { job, row } = o;
    if (e.type === 'finish') this.owners.delete(e.row);
    if (job.failed) return;
    try {
      job.onEvent({ ...e, row });
    } catch {
      // a consumer's failure (a closed socket) must not stop the other rows
    }
    if (e.type === 'finish') {
      job.results[row] = e.result;
      if (--job.remaining === 0) job.resolve(job.results);
    }
  }
}
