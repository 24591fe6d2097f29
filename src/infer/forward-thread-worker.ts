/** The worker side of ForwardThread (forward-thread.ts): a copy of the model; each 'step' message is one GPT.nextLogits on a shared cache. */
import { parentPort, workerData } from 'node:worker_threads';
import { GPT } from '../model/gpt.js';
import { KVCache } from '../model/kvcache.js';
import type { ForwardThreadInit, ForwardThreadMessage } from './forward-thread.js';

const init = workerData as ForwardThreadInit;
const model = new GPT(init.config, { scalarHead: init.scalarHead });
model.loadState(new Map(init.params), 'the decode thread');
const caches = new Map<number, KVCache>();

parentPort!.on('message', (m: ForwardThreadMessage) => {
  if (m.type === 'cache') {
    const [nLayer, batch, capacity, width] = m.dims;
    caches.set(m.id, new KVCache(nLayer, batch, capacity, width, m.buffers));
    return;
  }
  try {
    const cache = caches.get(m.cache);
    if (!cache) throw new Error(`no cache ${m.cache}`);
    const logits = model.nextLogits(m.ids, cache, m.rows);
    parentPort!.postMessage({ seq: m.seq, logits }, [logits.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ seq: m.seq, error: String((e as Error)?.message ?? e) });
  }
});
