import { ChatEngine } from '../src/infer/engine.js';
import { GPT } from '../src/model/gpt.js';
import { loadModel } from '../src/run/models.js';
import type { Tokenizer } from '../src/tokenizer/index.js';
import { defaultTools } from '../src/infer/tools/registry.js';
import { promptRepliesBatched, taskPrompts } from '../src/train/comparisons.js';
import { benchUsage, checkBenchArgs } from './args.js';

/**
 * Comparisons' decode throughput, one prompt at a time (ChatEngine.replies, the old path) against
 * G prompts a decode (promptRepliesBatched), in one process so that machine load hits both:
 *
 *   node dist/bench/comparisons-batch.js [random:]<checkpoint dir> [prompts] [G list] [rounds]
 *
 * random:<checkpoint dir> gives a randomly initialised GPT at its shape (the small preset's (4 layers, 256
 * wide, 4 heads, RoPE, blockSize 256): its replies never end, every row runs to maxTokens.
 * Times are the process's CPU seconds (process.cpuUsage; every engine thread counted), which other
 * load on a shared machine does not inflate the way it does wall time; wall time is printed too.
 * A checkpoint: the trained model, whose replies end. k = 8, temperature 1, maxTokens 80, tools
 * on (the small preset's rm.comparisons). Prints replies/s per setting and the share of replies
 * whose tokens equal the old path's.
 */
// --help: this usage; an unknown flag or a fifth argument refused; the checkpoint is required
if (checkBenchArgs(import.meta.url, {}, { positional: 4 }) < 1) {
  process.stderr.write(benchUsage(import.meta.url));
  process.exit(2);
}
const [src, nArg, gArg, rArg] = process.argv.slice(2);
const n = Number(nArg ?? 32);
const groups = (gArg ?? '1,4,8,16').split(',').map(Number);
const rounds = Number(rArg ?? 2);
let model: GPT;
let tok: Tokenizer;
({ model, tok } = loadModel(src.replace(/^random:/, '')));
if (src.startsWith('random:')) model = new GPT(model.config, { seed: 1 }); // the checkpoint's shape and tokenizer, fresh weights
const engine = new ChatEngine(model, tok);
const prompts = taskPrompts('train', n, 4242).map((p) => p.prompt);
const k = 8;
const opts = { temperature: 1, maxTokens: 80, tools: defaultTools() };
const seeds = prompts.map((_, i) => (4242 + i) * 1000);
const timing = new Map<string, number[]>();
let ref: number[][][] | null = null;
for (let r = 0; r < rounds; r++) {
  for (const g of [0, ...groups]) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = g === 0 ? prompts.map((p, i) => engine.replies({ messages: [{ role: 'user', content: p }] }, k, { ...opts, seed: seeds[i] })) : promptRepliesBatched(engine, prompts, k, seeds, opts, { group: g });
    const s = (performance.now() - t0) / 1000;
    const c1 = process.cpuUsage(c0);
    const cpu = (c1.user + c1.system) / 1e6;
    const key = g === 0 ? 'per-prompt (old)' : `G=${g}`;
    timing.set(key, [...(timing.get(key) ?? []), cpu]);
    const ids = out.map((rs) => rs.map((x) => x.ids));
    const tokens = ids.flat().reduce((a, x) => a + x.length, 0);
    if (g === 0) ref ??= ids;
    const same = ref
      ? ids.flat().filter((x, i) => {
          const y = ref!.flat()[i];
          return x.length === y.length && x.every((t, j) => t === y[j]);
        }).length
      : NaN;
    console.log(`round ${r} ${key}: ${s.toFixed(2)} s wall, ${cpu.toFixed(2)} s CPU, ${((n * k) / cpu).toFixed(1)} replies per CPU s, ${(tokens / cpu).toFixed(0)} tokens per CPU s, ${tokens} tokens, identical to old ${same}/${n * k}`);
  }
}
const base = Math.min(...timing.get('per-prompt (old)')!);
for (const [key, ts] of timing) console.log(`${key}: best ${Math.min(...ts).toFixed(2)} CPU s, speedup ${(base / Math.min(...ts)).toFixed(2)}x`);
