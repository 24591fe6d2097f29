/**
 * `node dist/bench/decode-pattern.js` (after `npx tsc -p .`): bench:serve's decoding in-process,
 * on this thread, without HTTP or the decode thread: the server's BatchDecoder (8 slots, prefix
 * cache on) fed bench:serve's requests (48 tokens each, end tokens banned, BENCH_REQUESTS per
 * stream, default 6), each stream adding its next request when the last one finishes, as the
 * HTTP clients do. Printed per stream count (1 and 4, alternated over BENCH_ROUNDS rounds,
 * default 4): CPU ms per step (this process; run with GPTFORGE_THREADS=1 so that it is this
 * thread's), split into the decode forwards (GPT.nextLogits of the running rows), the joining
 * requests' prefills (BatchDecoder's admit) and the rest (sampling, stop checks, events).
 *
 * Why: a step costs about F + R·rows and bench:serve's 4 ÷ 1 streams ratio is 4(F + R)/(F + 4R).
 * `bench/decode-step.ts` (uniform rows at one position, forwards only) finds a 4-row step no
 * dearer than a 1-row one; this bench runs the server's own pattern (rows at their own positions
 * in an 8-row cache, sampling, a prefill per request) to find what each extra row costs without
 * the HTTP side. CPU time, not wall time: other processes' load moves it far less.
 */
import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { renderPrompt } from '../src/data/chat.js';
import { engineSummary } from '../src/engine/backend.js';
import { BatchDecoder } from '../src/infer/pipeline.js';
import { GPT } from '../src/model/gpt.js';
import { makeBenchRun } from './serve-model.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}); // --help: the usage above; an unknown flag refused, before any work

const WAVES = Number(process.env.BENCH_REQUESTS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const STREAMS = [1, 4];

const { dir, tok, config, sp, ban } = makeBenchRun('decode-pattern');
rmSync(dir, { recursive: true, force: true });
const model = new GPT(config, { seed: 1 });
const logitBias = Object.fromEntries(Object.entries(ban).map(([k, v]) => [Number(k), v]));
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Phases {
  steps: number;
  rows: number;
  total: number;
  forward: number;
  prefill: number;
}

/** c streams of `waves` requests each, decoded to the end: CPU ms by phase. */
function run(c: number, waves: number): Phases {
  const out: Phases = { steps: 0, rows: 0, total: 0, forward: 0, prefill: 0 };
  let inAdmit = false;
  const counted = {
    config: model.config,
    createCache: (n: number) => model.createCache(n),
    nextLogits: (ids: Int32Array, cache: Parameters<GPT['nextLogits']>[1], rows?: Int32Array) => {
      const t = cpuMs();
      const logits = model.nextLogits(ids, cache, rows);
      if (!inAdmit) {
        out.forward += cpuMs() - t;
        out.rows += rows?.length ?? 0;
      }
      return logits;
    },
  };
  const dec = new BatchDecoder(counted, tok, [], { slots: 8, padId: sp['<|assistant_end|>'], prefixCache: true });
  // the prefills: BatchDecoder's (private) admit, timed around
  const d = dec as unknown as { admit(): void };
  const admit = d.admit.bind(dec);
  d.admit = () => {
    inAdmit = true;
    const t = cpuMs();
    try {
      admit();
    } finally {
      out.prefill += cpuMs() - t;
      inAdmit = false;
    }
  };
  const left = Array.from({ length: c }, () => waves);
  const streamOf = new Map<number, number>();
  const submit = (s: number): void => {
    const i = s * waves + (waves - left[s]--);
    const prompt = renderPrompt(tok, { messages: [{ role: 'user', content: `the captain sailed over the sea ${i}` }] });
    streamOf.set(dec.add({ prompt, maxTokens: 48, seed: s, temperature: 1, logitBias }), s);
  };
  for (let s = 0; s < c; s++) submit(s);
  const t0 = cpuMs();
  while (!dec.done) {
    const events = dec.step();
    out.steps++;
    for (const e of events) {
      if (e.type !== 'finish') continue;
      const s = streamOf.get(e.row)!;
      if (left[s] > 0) submit(s);
    }
  }
  out.total = cpuMs() - t0;
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`engine: ${engineSummary()}, ${cpus().length} cores; ${ROUNDS} rounds × streams ${STREAMS.join(', ')}; ${WAVES} requests per stream of 48 tokens; load before: ${loadavg()[0].toFixed(2)}`);
for (const c of STREAMS) run(c, 1); // warm-up: compiled, and the model's start-up garbage gone
const got = new Map<number, Phases[]>(STREAMS.map((c) => [c, []]));
for (let r = 0; r < ROUNDS; r++) for (const c of r % 2 ? [...STREAMS].reverse() : STREAMS) got.get(c)!.push(run(c, WAVES));
console.log('| streams | rows per forward | CPU ms per step (median of rounds; range) | forwards | prefills | the rest (sampling, events) |');
console.log('|---|---|---|---|---|---|');
for (const [c, ps] of got) {
  const per = (f: (p: Phases) => number): number => median(ps.map((p) => f(p) / p.steps));
  const all = ps.map((p) => p.total / p.steps);
  console.log(`| ${c} | ${(ps[0].rows / ps[0].steps).toFixed(2)} | ${median(all).toFixed(3)} (${Math.min(...all).toFixed(3)}–${Math.max(...all).toFixed(3)}) | ${per((p) => p.forward).toFixed(3)} | ${per((p) => p.prefill).toFixed(3)} | ${per((p) => p.total - p.forward - p.prefill).toFixed(3)} |`);
}
console.log(`load after: ${loadavg()[0].toFixed(2)}`);
