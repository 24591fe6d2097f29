import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Tokenizer } from './tokenizer.js';

/**
 * Encode many texts on worker threads (encodeOrdinary semantics). Each worker rebuilds the
 * tokenizer from its JSON once and encodes a contiguous slice; results come back as
 * transferred Uint32Arrays in input order. Small inputs are encoded on this thread.
 */
export async function encodeBatch(tokenizer: Tokenizer, texts: readonly string[], opts: { threads?: number } = {}): Promise<Uint32Array[]> {
  const threads = Math.max(1, Math.min(opts.threads ?? availableParallelism(), texts.length));
  let total = 0;
  for (const t of texts) total += t.length;
  if (threads === 1 || total < 1 << 20) return texts.map((t) => Uint32Array.from(tokenizer.encodeOrdinary(t)));
  const json = tokenizer.toJSON();
  const slices: Promise<Uint32Array[]>[] = [];
  for (let w = 0; w < threads; w++) {
    const lo = Math.floor((texts.length * w) / threads);
    const hi = Math.floor((texts.length * (w + 1)) / threads);
    const part = texts.slice(lo, hi);
    slices.push(
      new Promise((resolve, reject) => {
        const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { json, texts: part } });
        worker.once('message', (m: Uint32Array[]) => {
          resolve(m);
          void worker.terminate();
        });
        worker.once('error', reject);
        worker.once('exit', (code) => {
          if (code !== 0) reject(new Error(`tokenizer worker exited with code ${code}`));
        });
      }),
    );
  }
  return (await Promise.all(slices)).flat();
}
