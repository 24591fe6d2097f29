/**
 * The worker side of ForwardThread (forward-thread.ts): the model on shared weights; each step
 * asked for in the control words is one GPT.nextLogits on a shared cache, answered in shared
 * memory. Between steps it blocks in Atomics.wait on the request word; it never returns to its event loop, so caches and buffers arrive on a port it
 * drains synchronously (receiveMessageOnPort) before each step.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { GPT } from '../model/gpt.js';
import { KVCache } from '../model/kvcache.js';
import { CTL, type ForwardThreadInit, type ForwardThreadMessage } from './forward-thread.js';

const init = workerData as ForwardThreadInit;
const model = new GPT(init.config, { scalarHead: init.scalarHead });
// the main thread's weights, shared (not copied): each tensor views them
for (const [name, data] of init.params) {
  const t = model.params.get(name);
  if (!t || t.data.length !== data.length) throw new Error(`the decode thread's model has no tensor "${name}" of ${data.length} values`);
  (t as { data: Float32Array }).data = data;
}
if (model.params.size !== init.params.length) throw new Error(`the decode thread's model has ${model.params.size} tensors, the main thread's ${init.params.length}`);
const { ctl, port } = init;
const caches = new Map<number, KVCache>();
let input = new Int32Array(new SharedArrayBuffer(0));
let output = new Float32Array(new SharedArrayBuffer(0));

/** Take what the main thread sent since the last step (it sends before it asks for the step that needs it). */
function drain(): void {
  for (let r = receiveMessageOnPort(port); r; r = receiveMessageOnPort(port)) {
    const m = r.message as ForwardThreadMessage;
    if (m.type === 'cache') {
      const [nLayer, batch, capacity, width] = m.dims;
      caches.set(m.id, new KVCache(nLayer, batch, capacity, width, m.buffers));
    } else {
      input = m.input;
      output = m.output;
    }
  }
}

function step(): void {
  drain();
  try {
    const cache = caches.get(ctl[CTL.CACHE]);
    if (!cache) throw new Error(`no cache ${ctl[CTL.CACHE]}`);
    const nIds = ctl[CTL.NIDS];
    // copies: the main thread writes the next step's ids here while this step's logits are read
    const logits = model.nextLogits(input.slice(0, nIds), cache, input.slice(nIds, nIds + ctl[CTL.NROWS]));
    output.set(logits);
    ctl[CTL.NOUT] = logits.length;
    ctl[CTL.STATUS] = 0;
  } catch (e) {
    port.postMessage({ error: String((e as Error)?.message ?? e) });
    ctl[CTL.STATUS] = 1;
  }
}

let seen = 0;
for (;;) {
  const req = Atomics.load(ctl, CTL.REQ);
  if (req === seen) {
    Atomics.wait(ctl, CTL.REQ, seen);
    continue;
  }
  seen = req;
  if (Atomics.load(ctl, CTL.STOP) === 1) break;
  step();
  Atomics.store(ctl, CTL.DONE, req); // after the logits and status: the main thread reads them once it sees req
  Atomics.notify(ctl, CTL.DONE);
}
port.close();
