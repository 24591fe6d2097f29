import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getKernels, nativeAvailable } from '../../src/engine/backend.js';
import { ForwardThread } from '../../src/infer/forward-thread.js';
import { BatchDecoder, decode, type DecodeEvent, type DecodingModel, type RowRequest } from '../../src/infer/pipeline.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { Scheduler } from '../../src/server/index.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

/**
 * The decode thread (src/infer/forward-thread.ts): its logits and cache are those of the
 * model's own nextLogits on the main thread, bit for bit, and a scheduler decoding on it gives
 * every seeded row exactly the tokens it gives without it.
 */
const config = makeConfig({ vocabSize: 96, blockSize: 48, nLayer: 2, nHead: 2, nEmbd: 32, position: 'rope', norm: 'rmsnorm', mlp: 'swiglu' });

test("ForwardThread: prefill and batched decode steps give the main thread's logits and cache bit for bit, on the same weights (shared, not copied); only plain f32 GPTs qualify", async () => {
  const model = new GPT(config, { seed: 5 });
  const ft = new ForwardThread(model);
  try {
    const shared = ft.createCache(3);
    const local = model.createCache(3);
    const steps: Array<[number[], number[]]> = [
      [[1, 2, 3, 4, 5], [1]], // a prefill of row 1
      [[7, 8], [2]],
      [
        [9, 10],
        [1, 2],
      ], // a decode step of two rows
      [
        [11, 12, 13],
        [0, 1, 2],
      ],
    ];
    for (const [ids, rows] of steps) {
      // the main thread prefills on the shared cache too (the scheduler's joining rows)
      const main = model.nextLogits(Int32Array.from(ids), local, Int32Array.from(rows));
      const thread = await ft.nextLogits(Int32Array.from(ids), shared, Int32Array.from(rows));
      assert.deepEqual(thread, main, `logits for rows ${rows}`);
    }
    assert.deepEqual(shared.lengths, local.lengths);
    for (let l = 0; l < config.nLayer; l++) {
      assert.deepEqual(shared.keys[l], local.keys[l]);
      assert.deepEqual(shared.values[l], local.values[l]);
    }
    await assert.rejects(ft.nextLogits(Int32Array.of(1), model.createCache(1), Int32Array.of(0)), /did not create/);
    // one copy of the weights: the model's tensors view shared memory, and a change on the main thread is the worker's too
    for (const t of model.params.values()) assert.ok(t.data.buffer instanceof SharedArrayBuffer);
    model.params.get('transformer.wte.weight')!.data.fill(0.02, 0, 32 * 8); // tokens 0–7's embeddings (and tied head rows)
    const ids = Int32Array.of(3, 4);
    assert.deepEqual(await ft.nextLogits(ids, ft.createCache(1), Int32Array.of(0)), model.nextLogits(ids, model.createCache(1), Int32Array.of(0)));
  } finally {
    await ft.close();
  }
  assert.equal(ForwardThread.supports(model), true);
  assert.equal(ForwardThread.supports(new GPT(makeConfig({ ...config, randomPositions: 96 }), { seed: 1 })), false);
  const hooked = new GPT(config, { seed: 1 });
  hooked.linearHook = (x) => x;
  assert.equal(ForwardThread.supports(hooked), false);
  assert.equal(ForwardThread.supports({ config, createCache: () => null, nextLogits: () => null }), false);
});

test('scheduler on the decode thread: every seeded row gives the tokens, text and logprobs it gives on the main thread, joined at different steps', async () => {
  const tok = trainTokenizer(['the quick brown fox jumps over the lazy dog '.repeat(20)], { vocabSize: 300 });
  const model = new GPT(makeConfig({ ...config, vocabSize: tok.vocabSize }), { seed: 9 });
  const rows: RowRequest[] = [1, 2, 3, 4, 5].map((seed, i) => ({ prompt: tok.encode(`the quick ${'brown '.repeat(i)}fox`), maxTokens: 6 + 2 * i, seed, temperature: 1, topP: i % 2 ? 0.9 : undefined, logprobs: 2 }));
  const run = async (decodeThread: boolean) => {
    const s = new Scheduler(model, tok, { parallel: 3, maxQueue: 8, padId: 0, decodeThread });
    try {
      const first = s.submit(rows.slice(0, 2));
      assert.equal(s.threaded, decodeThread);
      await new Promise((r) => setTimeout(r, 5));
      const rest = rows.slice(2).map((r) => s.submit([r]));
      return [...(await first), ...(await Promise.all(rest)).map((r) => r[0])];
    } finally {
      await s.close();
    }
  };
  assert.deepEqual(await run(true), await run(false));
});

test("a row joining a batch on the decode thread is prefilled while the running rows' forward is under way, not before it, and gets the tokens it gets alone", async () => {
  const tok = trainTokenizer(['the quick brown fox jumps over the lazy dog '.repeat(20)], { vocabSize: 300 });
  const model = new GPT(makeConfig({ ...config, vocabSize: tok.vocabSize }), { seed: 3 });
  const ft = new ForwardThread(model);
  let underWay = false; // a forward asked of the thread and not yet settled
  const thread: Pick<ForwardThread, 'createCache' | 'nextLogits'> = {
    createCache: (n) => ft.createCache(n),
    nextLogits: (ids, cache, rows) => {
      underWay = true;
      return ft.nextLogits(ids, cache, rows).finally(() => (underWay = false));
    },
  };
  const prefills: boolean[] = []; // each prefill on this thread: whether the thread's forward was under way
  const spy: DecodingModel = {
    config: model.config,
    createCache: (n) => model.createCache(n),
    nextLogits: (ids, cache, rows) => {
      prefills.push(underWay);
      return model.nextLogits(ids, cache, rows);
    },
  };
  const a: RowRequest = { prompt: tok.encode('the quick fox'), maxTokens: 8, seed: 1 };
  // b's prompt begins with a's: the prefix cache copies it from a's cache row while the thread feeds that row
  const b: RowRequest = { prompt: tok.encode('the quick fox jumps over the lazy dog'), maxTokens: 5, seed: 2, temperature: 0.8 };
  try {
    const dec = new BatchDecoder(spy, tok, [], { slots: 2, padId: 0, forwardThread: thread, prefixCache: true });
    const ids: number[][] = [[], []];
    const cached: number[] = [];
    const collect = (events: DecodeEvent[]) => {
      for (const e of events) {
        if (e.type === 'token') ids[e.row].push(e.token);
        else cached[e.row] = e.result.cachedTokens;
      }
    };
    dec.add(a);
    for (let step = 0; !dec.done; step++) {
      if (step === 3) dec.add(b);
      collect(dec.step());
      await dec.settle();
    }
    // a: at once (nothing was running); b: beside a's step on the thread
    assert.deepEqual(prefills, [false, true]);
    assert.ok(cached[1] >= tok.encode('the quick fox').length, `b reused a's prompt from a's cache row (${cached[1]} tokens)`);
    assert.deepEqual(ids, [decode(model, tok, [a])[0].ids, decode(model, tok, [b])[0].ids]);
  } finally {
    await ft.close();
  }
});

// The pool's one-caller lock (native/pool.c) guards against two callers publishing into one ring slot; that race is
// rare, and this test passed on the pool without the lock too — it checks that concurrent callers keep their results.
test('two decode threads and the main thread running kernels at once (two models served) each get their own logits; none waits forever on the pool', { timeout: 60_000 }, async () => {
  const big = makeConfig({ vocabSize: 256, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 128, position: 'rope' });
  const models = [new GPT(big, { seed: 1 }), new GPT(big, { seed: 2 })];
  const ids = Int32Array.from({ length: 4 * 48 }, (_, i) => (i * 7) % 256); // 4 rows × 48 tokens: matmuls large enough for the pool
  const rows = Int32Array.of(0, 1, 2, 3);
  const expected = models.map((m) => m.nextLogits(ids, m.createCache(4), rows));
  const threads = models.map((m) => new ForwardThread(m));
  try {
    for (let round = 0; round < 6; round++) {
      const onThreads = threads.map((t) => t.nextLogits(ids, t.createCache(4), rows));
      const onMain = models[round % 2].nextLogits(ids, models[round % 2].createCache(4), rows);
      assert.deepEqual(onMain, expected[round % 2]);
      const got = await Promise.all(onThreads);
      got.forEach((g, i) => assert.deepEqual(g, expected[i], `model ${i}, round ${round}`));
    }
  } finally {
    await Promise.all(threads.map((t) => t.close()));
  }
});

test("ForwardThread over shared memory: a step larger than its buffers grows them (a long prefill after small steps), a failing step rejects with the worker's error and the next step works", async () => {
  const model = new GPT(config, { seed: 7 });
  const ft = new ForwardThread(model);
  try {
    const shared = ft.createCache(2);
    const local = model.createCache(2);
    const small = Int32Array.of(4, 5);
    assert.deepEqual(await ft.nextLogits(small, shared, Int32Array.of(0, 1)), model.nextLogits(small, local, Int32Array.of(0, 1)));
    const long = Int32Array.from({ length: 40 }, (_, i) => (i * 11) % 96); // past the 2 + 2 words the first step needed (the buffers start at 64)
    const rows = Int32Array.of(1);
    const want = model.nextLogits(long.subarray(0, 40), local, rows);
    assert.deepEqual(await ft.nextLogits(long, shared, rows), want);
    const wide = Int32Array.from({ length: 70 }, (_, i) => i % 96); // 70 ids: past the input buffer's first 64
    const cache2 = ft.createCache(2, 48);
    await assert.rejects(ft.nextLogits(wide, cache2, Int32Array.of(0)), /decode thread: .*(context|capacity|exceed)/i);
    await assert.rejects(ft.nextLogits(Int32Array.of(1), shared, Int32Array.of(5)), /decode thread: .*cache row 5/);
    // the logits handed back are the caller's own: the next step does not overwrite them
    const a = await ft.nextLogits(Int32Array.of(7, 8), shared, Int32Array.of(0, 1));
    const keep = a.slice();
    await ft.nextLogits(Int32Array.of(9, 10), shared, Int32Array.of(0, 1));
    assert.deepEqual(a, keep);
    assert.deepEqual(keep, model.nextLogits(Int32Array.of(7, 8), local, Int32Array.of(0, 1)));
  } finally {
    await ft.close();
  }
  await assert.rejects(ft.nextLogits(Int32Array.of(1), ft.createCache(1), Int32Array.of(0)), /closed/);
});

test('a decode thread loading the native addon keeps the kernel thread count the process set at run time (setThreads)', { skip: !nativeAvailable() && 'no native addon' }, async () => {
  const k = getKernels();
  assert.ok(k.setThreads, 'the native kernels set their thread count');
  const before = k.threads;
  // not what a fresh pool_init would choose (GPTFORGE_THREADS or the core count, which `before` still is)
  const target = before === 1 ? 2 : 1;
  k.setThreads(target);
  const ft = new ForwardThread(new GPT(config, { seed: 2 }));
  try {
    // the worker has loaded the addon (its init ran) once it has answered a forward
    await ft.nextLogits(Int32Array.of(1, 2), ft.createCache(1), Int32Array.of(0));
    assert.equal(k.threads, target);
  } finally {
    await ft.close();
    k.setThreads(before);
  }
});

test("scheduler.closeWhenIdle (a model reload's old scheduler): rows in flight finish with the tokens they get alone, and only then the decode thread ends", async () => {
  const tok = trainTokenizer(['the quick brown fox jumps over the lazy dog '.repeat(20)], { vocabSize: 300 });
  const model = new GPT(makeConfig({ ...config, vocabSize: tok.vocabSize }), { seed: 9 });
  const rows: RowRequest[] = [1, 2].map((seed) => ({ prompt: tok.encode('the quick fox'), maxTokens: 12, seed, temperature: 1 }));
  const alone = new Scheduler(model, tok, { parallel: 2, maxQueue: 4, padId: 0, decodeThread: false });
  const want = await alone.submit(rows);
  const s = new Scheduler(model, tok, { parallel: 2, maxQueue: 4, padId: 0, decodeThread: true });
  const order: string[] = [];
  const close = s.close.bind(s);
  s.close = async () => {
    order.push('close');
    await close();
  };
  const job = s.submit(rows).then((r) => {
    order.push('rows done');
    return r;
  });
  assert.equal(s.threaded, true);
  assert.equal(s.active, true);
  await s.closeWhenIdle(1);
  assert.deepEqual(order, ['rows done', 'close']);
  assert.deepEqual(await job, want);
  assert.equal(s.active, false);
});
