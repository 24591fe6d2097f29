import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { GPT } from '../model/gpt.js';
import { KVCache, type KVCacheBuffers } from '../model/kvcache.js';

/**
 * A decode thread: the batched forward pass of continuous batching run on a worker thread,
 * so that the main thread writes the previous step's tokens to the sockets (SSE chunks,
 * writev), parses new requests and collects garbage while the model computes the next
 * logits — llama.cpp's server likewise decodes on its own thread while HTTP runs on others.
 * At decode sizes a step's linears run on one core (the kernels' small-M path), so this
 * puts the second core to work on what the main thread did between forwards.
 *
 * The worker reads the model's own weights: they are moved into SharedArrayBuffers at start
 * (the model's tensors then view that memory; same values, no second copy), and it works on
 * KV caches the main thread created here
 * (`createCache`: SharedArrayBuffer-backed, KVCache 'shared'), so the main thread still
 * prefills joining rows on its own copy, resets and copies cache rows (the prefix cache,
 * n choices). The cache rows a step feeds belong to the worker from `nextLogits` until its
 * promise settles; meanwhile the main thread may prefill other, free rows (BatchDecoder
 * admits joining rows beside the forward) and read the fed rows' positions before their
 * lengths, which the worker neither writes nor advances until it has written the new one. Logits are bit-for-bit those of `model.nextLogits` on the main thread
 * (the same weights, kernels and shapes; tested).
 *
 * Only a plain f32 GPT qualifies ({@link ForwardThread.supports}): no LoRA or quantized
 * hooks (their state lives in closures on the main thread), no randomized position ids or
 * abacus columns (their per-slot arrays in KVCache are not shared). Others decode on the
 * main thread as before.
 *
 * The hand-off is shared memory, not a message per step: the step's ids and rows are written
 * into a SharedArrayBuffer and a control word is bumped (Atomics.store + notify); the worker,
 * blocked in Atomics.wait on that word, computes, writes the logits into shared memory and
 * bumps the answer word, which the main thread awaits with Atomics.waitAsync (no spinning, so its event loop and the pool's worker
 * keep the cores). This is the wait/notify hand-off of piscina's `useAtomics` mode; a
 * postMessage round trip (structured clone, an event-loop wake-up on each side) cost
 * 0.25–0.35 ms a step here (docs/journal/server.md, serve11). Cache buffers still travel once each, as
 * messages, on a port the worker drains synchronously (receiveMessageOnPort) before each step.
 *
 * The worker does not spin before it blocks: a spin of 0.3 ms (the main thread's sampling
 * between steps) was A/B'd idle against none (serve13, docs/server.md "Measured"): one stream
 * 438 against 479 tokens/s and 10 % more server CPU per token, four streams within the spread,
 * so the knob it had (GPTFORGE_HANDOFF_SPIN_MS) was removed.
 */
/** Atomics.waitAsync (ES2024; in V8 and Node since 16): the main thread awaits the worker's answer without blocking its event loop. */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: false; value: string } | { async: true; value: Promise<string> } }).waitAsync;

/** Control words (Int32 indices into the control SharedArrayBuffer). */
const REQ = 0; // main → worker: the number of the step asked for (bumped last, then notified)
const DONE = 1; // worker → main: the number of the last step answered
const CACHE = 2; // the step's cache id
const NIDS = 3; // ids written
const NROWS = 4; // rows written
const STATUS = 5; // 0: logits written (their count in NOUT); 1: failed (the message on the port)
const NOUT = 6;
const STOP = 7; // 1: the worker leaves its loop
const CTL_WORDS = 16;

export class ForwardThread {
  private readonly worker: Worker;
  private readonly caches = new WeakMap<KVCache, number>();
  private readonly ctl = new Int32Array(new SharedArrayBuffer(CTL_WORDS * 4));
  /** The main thread's end of the port the worker drains before each step (caches, grown buffers, errors back). */
  private readonly port: MessagePort;
  /** Shared input (ids, then rows) and output (logits) buffers; grown (and sent again) when a step needs more. */
  private input = new Int32Array(new SharedArrayBuffer(0));
  private output = new Float32Array(new SharedArrayBuffer(0));
  private seq = 0;
  private nextCache = 0;
  private running = false;
  private failed: Error | null = null;

  /** Whether `model` can decode on a ForwardThread (see the class comment). */
  static supports(model: unknown): model is GPT {
    return model instanceof GPT && !model.linearHook && !model.tokenHook && !model.headHook && model.config.randomPositions === undefined && model.config.abacus === undefined;
  }

  /** Start a worker on `model`'s weights, moved into shared memory (its tensors' `data` are replaced by views of the same values). */
  constructor(private readonly model: GPT) {
    if (!ForwardThread.supports(model)) throw new Error('ForwardThread: only a plain f32 GPT (no LoRA or quantized hooks, randomized positions or abacus) decodes on a thread');
    const params = [...model.params].map(([name, t]) => {
      if (!(t.data.buffer instanceof SharedArrayBuffer)) {
        const shared = new Float32Array(new SharedArrayBuffer(t.data.byteLength));
        shared.set(t.data);
        (t as { data: Float32Array }).data = shared;
      }
      return [name, t.data] as const;
    });
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const init: ForwardThreadInit = { config: model.config, scalarHead: model.params.has('score.weight'), params, ctl: this.ctl, port: port2 };
    this.worker = new Worker(new URL('./forward-thread-worker.js', import.meta.url), { workerData: init, transferList: [port2] });
    const fail = (e: Error): void => {
      this.failed ??= e;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      fail(new Error(`decode thread exited (code ${code})`));
      // a step under way never gets its answer: end the wait with a failure
      Atomics.store(this.ctl, STATUS, 2);
      Atomics.store(this.ctl, DONE, this.seq);
      Atomics.notify(this.ctl, DONE);
    });
    // idle, the thread never keeps the process alive (close() ends it); a forward under way does (nextLogits refs it). After the listeners: adding one refs it again
    this.worker.unref();
  }

  /** A KV cache sized for the model (as GPT.createCache), shared with the worker. */
  createCache(batch: number, capacity = this.model.config.blockSize): KVCache {
    const { nLayer, nEmbd, blockSize } = this.model.config;
    if (capacity > blockSize) throw new Error(`cache capacity ${capacity} exceeds the context length ${blockSize}`);
    const cache = new KVCache(nLayer, batch, capacity, nEmbd, 'shared');
    const id = this.nextCache++;
    this.caches.set(cache, id);
    this.port.postMessage({ type: 'cache', id, dims: [cache.nLayer, batch, capacity, cache.width], buffers: cache.sharedBuffers() } satisfies ForwardThreadMessage);
    return cache;
  }

  /**
   * GPT.nextLogits on the worker: feed `ids` [B·T] to the cache rows `rows` (B of them) and
   * resolve with each row's last logits [B·V] (a copy of its own). The cache (one of
   * `createCache`'s) must not be touched until the promise settles; one step at a time (a
   * second call before the first settles is refused).
   */
  nextLogits(ids: Int32Array, cache: KVCache, rows: Int32Array): Promise<Float32Array> {
    const id = this.caches.get(cache);
    if (id === undefined) return Promise.reject(new Error('ForwardThread.nextLogits: a cache this thread did not create'));
    if (this.failed) return Promise.reject(this.failed);
    if (this.running) return Promise.reject(new Error('ForwardThread.nextLogits: the last step is still running; await it first'));
    const V = this.model.config.vocabSize;
    const grow = { input: ids.length + rows.length > this.input.length, output: rows.length * V > this.output.length };
    if (grow.input) this.input = new Int32Array(new SharedArrayBuffer(4 * Math.max(ids.length + rows.length, 2 * this.input.length, 64)));
    if (grow.output) this.output = new Float32Array(new SharedArrayBuffer(4 * Math.max(rows.length * V, 2 * this.output.length)));
    if (grow.input || grow.output) this.port.postMessage({ type: 'buffers', input: this.input, output: this.output } satisfies ForwardThreadMessage);
    this.input.set(ids);
    this.input.set(rows, ids.length);
    const ctl = this.ctl;
    ctl[CACHE] = id;
    ctl[NIDS] = ids.length;
    ctl[NROWS] = rows.length;
    const seq = ++this.seq;
    this.running = true;
    this.worker.ref();
    Atomics.store(ctl, REQ, seq); // after the plain writes above: the worker reads them once it sees seq
    Atomics.notify(ctl, REQ);
    const settle = (): Float32Array => {
      this.running = false;
      this.worker.unref();
      const status = Atomics.load(ctl, STATUS);
      if (status === 0) return this.output.slice(0, ctl[NOUT]);
      if (status === 2 || this.failed) throw this.failed ?? new Error('decode thread exited');
      const m = receiveMessageOnPort(this.port)?.message as { error?: string } | undefined;
      throw new Error(`decode thread: ${m?.error ?? 'the step failed'}`);
    };
    const w = waitAsync(ctl, DONE, seq - 1);
    if (!w.async) return new Promise((resolve) => resolve(settle()));
    return w.value.then(settle);
  }

  /** End the worker (a pending forward rejects). */
  async close(): Promise<void> {
    this.failed ??= new Error('decode thread closed');
    Atomics.store(this.ctl, STOP, 1);
    Atomics.add(this.ctl, REQ, 0x40000000); // any new value wakes the worker, which sees STOP
    Atomics.notify(this.ctl, REQ);
    await this.worker.terminate();
    this.port.close();
  }
}

/** What the worker is sent (forward-thread-worker.ts). */
export interface ForwardThreadInit {
  config: GPT['config'];
  scalarHead: boolean;
  params: Array<readonly [string, Float32Array]>;
  /** The control words (REQ, DONE, … above). */
  ctl: Int32Array;
  /** Where caches and grown buffers arrive (drained before each step) and a failed step's message goes. */
  port: MessagePort;
}

/** The control-word layout, shared with the worker. */
export const CTL = { REQ, DONE, CACHE, NIDS, NROWS, STATUS, NOUT, STOP } as const;

export type ForwardThreadMessage = { type: 'cache'; id: number; dims: [number, number, number, number]; buffers: KVCacheBuffers } | { type: 'buffers'; input: Int32Array<SharedArrayBuffer>; output: Float32Array<SharedArrayBuffer> };
