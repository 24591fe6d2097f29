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
import { mkdtempSync, rmSync } from 'node:fs';
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
import { checkBenchArgs } from './args.js';

// --help prints the usage (the comment above); an unknown flag is refused before any work
checkBenchArgs(import.meta.url, { threads: 'value', reps: 'value', tokens: 'value' });

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

/** One timed run: tokens per wall-clock second, and per CPU-second of this process (all its threads). */
interface Run {
  wall: number;
  cpu: number;
}
const clock = (): { t: number; c: number } => {
  const u = process.cpuUsage();
  return { t: performance.now(), c: (u.user + u.system) / 1000 };
};
const rate = (s: { t: number; c: number }): Run => {
  const e = clock();
  return { wall: N / ((e.t - s.t) / 1000), cpu: N / ((e.c - s.c) / 1000) };
};

function ours(model: GPT): Run {
  const cache = model.createCache(1);
  const t0 = clock();
  let logits = model.nextLogits(Int32Array.from(prompt), cache);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    logits = model.nextLogits(Int32Array.of(best), cache);
  }
  return rate(t0);
}

const llama = await getLlama({ gpu: false, build: 'never', progressLogs: false, maxThreads: threads });
const loaded = Object.fromEntries(await Promise.all(Object.entries(files).map(async ([t, p]) => [t, await llama.loadModel({ modelPath: p, gpuLayers: 0 })] as const)));
async function theirs(type: string): Promise<Run> {
  const ctx = await loaded[type].createContext({ contextSize: 256, sequences: 1, threads, batchSize: 256 });
  try {
    const seq = ctx.getSequence();
    let n = 0;
    const t0 = clock();
    for await (const _ of seq.evaluate(prompt as never[], { temperature: 0 })) {
      if (++n > N) break;
    }
    return rate(t0);
  } finally {
    await ctx.dispose();
  }
}

// JavaScript's JIT warms up over the first hundreds of tokens; llama.cpp is compiled code
ours(model);
ours(q8);
const names = ['gptforge F32', 'llama.cpp F32', 'gptforge Q8_0', 'llama.cpp Q8_0'] as const;
const all: Record<string, Run[]> = Object.fromEntries(names.map((key) => [key, []]));
for (let r = 0; r < reps; r++) {
  all['gptforge F32'].push(ours(model));
  all['llama.cpp F32'].push(await theirs('F32'));
  all['gptforge Q8_0'].push(ours(q8));
  all['llama.cpp Q8_0'].push(await theirs('Q8_0'));
}
// best of the runs, by wall clock and by CPU time: on a shared machine the wall clock also
// counts the time waiting for a core, the CPU time does not (both sides run on 1 thread here;
// with more, llama.cpp's spinning workers add CPU time that is not work)
const best = (key: string, m: keyof Run): number => Math.max(...all[key].map((x) => x[m]));
console.log(`decode, batch 1, ${threads} threads, ${N} tokens, best of ${reps} (${k.name} backend); tokens per second of wall clock | of CPU time:`);
for (const name of names) console.log(`  ${name.padEnd(16)} ${best(name, 'wall').toFixed(1).padStart(8)} | ${best(name, 'cpu').toFixed(1).padStart(8)}  (runs: ${all[name].map((x) => x.wall.toFixed(0)).join(', ')} | ${all[name].map((x) => x.cpu.toFixed(0)).join(', ')})`);
for (const [a, b] of [
  ['gptforge F32', 'llama.cpp F32'],
  ['gptforge Q8_0', 'llama.cpp Q8_0'],
  ['gptforge F32', 'llama.cpp Q8_0'],
])
  console.log(`  ${a} / ${b} = ${(best(a, 'wall') / best(b, 'wall')).toFixed(2)}× | ${(best(a, 'cpu') / best(b, 'cpu')).toFixed(2)}×`);
for (const m of Object.values(loaded)) await m.dispose();
rmSync(dir, { recursive: true, force: true });
