// Worker for encodeBatch: rebuild the tokenizer, encode the slice, transfer the results.
import { parentPort, workerData } from 'node:worker_threads';
import { Tokenizer } from './tokenizer.js';

const { json, texts } = workerData as { json: string; texts: string[] };
const tok = Tokenizer.fromJSON(json, 'worker');
const out = texts.map((t) => Uint32Array.from(tok.encodeOrdinary(t)));
parentPort!.postMessage(
  out,
  out.map((a) => a.buffer as ArrayBuffer),
);
