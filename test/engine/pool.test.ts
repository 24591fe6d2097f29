import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { loadNativeKernels } from '../../src/engine/backend-native.js';
import { Rng } from '../../src/engine/rng.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { otherThreadsCpu } from './threads.js';

/**
 * The native thread pool (native/pool.c) with light jobs: a decode step's attention
 * (attentionDecodeQkv below ~2M multiply-adds) runs on the pool only while its worker is still
 * awake after a bigger job, else on the calling thread, and never renews the worker's spin.
 * The tasks are the same either way, so the bits are; and a stream of light jobs must not keep
 * the worker spinning (on a 2-core server it took the core the HTTP side and the client need).
 */
const loaded = loadNativeKernels();
const native: Kernels | null = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;
const rng = new Rng(11);
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// 4 rows × 4 heads × D 64 at positions 20–60 of a 64-position cache: a decode step's attention at the bench model's shape
const H = 4;
const D = 64;
const C = H * D;
const Tmax = 64;
const rows = Int32Array.of(0, 1, 2, 3);
const lengths = Int32Array.of(20, 35, 50, 60);
const starts = new Int32Array(4);
const kc0 = rand(4 * Tmax * C);
const vc0 = rand(4 * Tmax * C);
const qkv = rand(4 * 3 * C);
/** A product big enough to run on the pool (2·256³ flops): it wakes the worker and renews its spin. */
const big = { a: rand(256 * 256), b: rand(256 * 256), c: new Float32Array(256 * 256) };
const bigJob = (): void => native!.matmul(big.a, big.b, big.c, 256, 256, 256, false, false, false);

function attend(kc = kc0.slice(), vc = vc0.slice(), out = new Float32Array(4 * C)): { out: Float32Array; kc: Float32Array } {
  native!.attentionDecodeQkv(qkv, kc, vc, out, 4, 1, Tmax, H, D, starts, lengths, rows);
  return { out, kc };
}

test('a light job gives the same bits on the calling thread alone (worker asleep), on the pool (worker awake) and at 1 thread', { skip }, async () => {
  native!.setThreads!(1);
  const one = attend();
  native!.setThreads!(2);
  await sleep(30); // the worker is asleep: the job runs on this thread
  const asleep = attend();
  bigJob(); // the worker is spinning: the job is shared
  const awake = attend();
  assert.deepEqual(asleep.out, one.out);
  assert.deepEqual(awake.out, one.out);
  assert.deepEqual(asleep.kc, one.kc);
  assert.deepEqual(awake.kc, one.kc);
});

test('a stream of light jobs lets the worker fall asleep (the other threads stay idle)', { skip: skip || (existsSync('/proc/self/task') ? false : 'needs Linux /proc') }, () => {
  native!.setThreads!(2);
  const kc = kc0.slice();
  const vc = vc0.slice();
  const out = new Float32Array(4 * C);
  bigJob(); // the worker wakes and spins (~1 ms, SPIN_NS)
  // ~400 ms of back-to-back light jobs: with a spin renewed by every job the worker would run
  // all along, taking as much CPU as this thread (as much of a core as the scheduler gives it)
  const others0 = otherThreadsCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < 400) for (let i = 0; i < 20; i++) attend(kc, vc, out);
  const c = process.cpuUsage(c0);
  const othersMs = (otherThreadsCpu() - others0) * 1000;
  const mainMs = (c.user + c.system) / 1000 - othersMs;
  // the worker's first spin (~1 ms) and V8's helpers: a tick or two
  assert.ok(othersMs <= 0.2 * mainMs + 20, `the other threads used ${othersMs.toFixed(0)} ms of CPU while the main thread used ${mainMs.toFixed(0)} ms: the worker kept spinning`);
});
