/**
 * npm run bench:llama-cpp — decode speed, batch 1, of gptforge against llama.cpp
 * (node-llama-cpp 3.21.1's prebuilt CPU build) on the same model: the small preset's shape
 * (4 layers, 256 wide, 4 heads, RoPE, context 256, vocabulary 4096), exported as F32 and
 * Q8_0 GGUF. gptforge decodes the F32 model, and the Q8_0 one with setInferencePrecision
 * (src/model/inference-precision.ts: the same Q8_0 blocks the GGUF holds, int8 activations,
 * integer block products — llama.cpp's scheme); each is compared with llama.cpp on the same
 * file type. Same thread count on both sides
 * (--threads, default 1); runs alternate and the best of --reps is kept, so a noisy
 * machine hurts both alike. Tokens/s counts generated tokens after a 1-token prompt.
 */
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { getLlama } from 'node-llama-cpp';
import { getKernels } from '../src/engine/backend.js';
import { Rng } from '../src/engine/rng.js';
import { GPT } from '../src/model/gpt.js';
import { setInferencePrecision } from '../src/model/inference-precision.js';
import { makeConfig } from '../src/model/config.js';
import { saveCheckpoint, loadCheckpoint, modelFromCheckpoint } from '../src/model/checkpoint.js';
import { checkpointToGguf, type GgufType } from '../src/model/export/gguf.js';
import { trainTokenizer } from '../src/tokenizer/index.js';
import { mobyDick } from '../test/tokenizer/corpus.js';

const argv = process.argv.slice(2);
const flag = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const threads = flag('threads', 1);
const reps = flag('reps', 3);
const N = flag('tokens', 200);

const k = getKernels();
k.setThreads?.(threads);
const tok = trainTokenizer([mobyDick().slice(0, 400_000)], { vocabSize: 4096, pattern: 'gpt4-digits' });
const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, position: 'rope' }), { seed: 1 });
const rng = new Rng(2);
for (const t of model.params.values()) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.02 * rng.normal();
const dir = mkdtempSync(join(tmpdir(), 'gf-bench-llama-'));
const ck = loadCheckpoint(saveCheckpoint(join(dir, 'base'), model, { stage: 'bench', step: 0, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() }));
const files: Record<string, string> = {};
for (const type of ['F32', 'Q8_0'] as GgufType[]) {
  files[type] = join(dir, `m-${type}.gguf`);
  checkpointToGguf(ck, files[type], { type });
}
const prompt = [tok.specialId('<|bos|>')];
// the same weights as m-Q8_0.gguf: our Q8_0 blocks are ggml's bytes (test/model/inference-precision.test.ts)
const q8 = modelFromCheckpoint(ck);
setInferencePrecision(q8, 'q8_0');

function ours(model: GPT): number {
  const cache = model.createCache(1);
  const t0 = performance.now();
  let logits = model.nextLogits(Int32Array.from(prompt), cache);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    logits = model.nextLogits(Int32Array.of(best), cache);
  }
  return N / ((performance.now() - t0) / 1000);
}

const llama = await getLlama({ gpu: false, build: 'never', progressLogs: false, maxThreads: threads });
const loaded = Object.fromEntries(await Promise.all(Object.entries(files).map(async ([t, p]) => [t, await llama.loadModel({ modelPath: p, gpuLayers: 0 })] as const)));
async function theirs(type: string): Promise<number> {
  const ctx = await loaded[type].createContext({ contextSize: 256, sequences: 1, threads, batchSize: 256 });
  try {
    const seq = ctx.getSequence();
    let n = 0;
    const t0 = performance.now();
    for await (const _ of seq.evaluate(prompt as never[], { temperature: 0 })) {
      if (++n > N) break;
    }
    return N / ((performance.now() - t0) / 1000);
  } finally {
    await ctx.dispose();
  }
}

// JavaScript's JIT warms up over the first hundreds of tokens; llama.cpp is compiled code
ours(model);
ours(q8);
const best: Record<string, number> = { 'gptforge F32': 0, 'llama.cpp F32': 0, 'gptforge Q8_0': 0, 'llama.cpp Q8_0': 0 };
const all: Record<string, number[]> = Object.fromEntries(Object.keys(best).map((key) => [key, []]));
for (let r = 0; r < reps; r++) {
  all['gptforge F32'].push(ours(model));
  all['llama.cpp F32'].push(await theirs('F32'));
  all['gptforge Q8_0'].push(ours(q8));
  all['llama.cpp Q8_0'].push(await theirs('Q8_0'));
}
for (const key of Object.keys(best)) best[key] = Math.max(...all[key]);
console.log(`decode, batch 1, ${threads} threads, ${N} tokens, best of ${reps} (${k.name} backend):`);
for (const [name, v] of Object.entries(best)) console.log(`  ${name.padEnd(16)} ${v.toFixed(1).padStart(8)} tokens/s  (runs: ${all[name].map((x) => x.toFixed(0)).join(', ')})`);
console.log(`  gptforge F32 / llama.cpp F32   = ${(best['gptforge F32'] / best['llama.cpp F32']).toFixed(2)}×`);
console.log(`  gptforge Q8_0 / llama.cpp Q8_0 = ${(best['gptforge Q8_0'] / best['llama.cpp Q8_0']).toFixed(2)}×`);
console.log(`  gptforge F32 / llama.cpp Q8_0  = ${(best['gptforge F32'] / best['llama.cpp Q8_0']).toFixed(2)}×`);
for (const m of Object.values(loaded)) await m.dispose();
