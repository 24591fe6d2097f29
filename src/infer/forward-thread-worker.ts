/** The worker side of ForwardThread (forward-thread.ts): the model on shared weights; each 'step' message is one GPT.nextLogits on a shared cache. */
import { parentPort, workerData } from 'node:worker_threads';
import { GPT } from '../model/gpt.js';
import { KVCache } from '../model/kvcache.js';
import type { ForwardThreadInit, ForwardThreadMessage } from './forward-thread.js';

const init = workerData as ForwardThreadInit;
const model = new GPT(init.config, { scalarHead: init.scalarHead });
// the main thread's weights, shared (not copied): each tensor views them
for (const [name, data] of init.params) {
  const t = model.params.get(name);
  if (!t || t.data.length !== data.length) throw new Error(`the decode thread's model has no tensor "${name}" of ${data.length} values`);
  (t as { data: Float32Array }).data = data;
}
if (model.params.size !== init.params.length) throw new Error(`the decode thread's model has ${model.params.size} tensors, the main thread's ${init.params.length}`);
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
