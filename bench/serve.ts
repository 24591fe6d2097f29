/**
 * `npm run bench:serve`: the HTTP server's aggregate throughput and time to first token with
 * 1, 4 and 8 concurrent streamed chats (each stream sends BENCH_REQUESTS requests one after
 * another, default 4), against the same workload in-process twice: through the server's own
 * Scheduler (continuous batching without HTTP) and through `decode()` (each wave of rows as
 * one fixed batch, prefilled together: the ceiling). HTTP against the Scheduler is the cost of
 * the HTTP side; the Scheduler against decode() the cost of continuous batching itself.
 *
 * Model: a randomly initialised GPT (4 layers, 256 wide, context 256) with a 330-token
 * tokenizer — the speed of a forward pass does not depend on the weights. End tokens are
 * banned (logit_bias -100) so every request samples exactly BENCH_TOKENS tokens (default 48).
 * The server runs as `gptforge serve` in its own process (as deployed); the client runs in
 * this process — on the same cores, where a real client runs elsewhere — so by default it is a
 * lean SSE reader (BENCH_CLIENT=openai: the official client, which parses every chunk).
 * BENCH_ROUNDS rounds (default 3) each measure every stream count (BENCH_STREAMS, default
 * 1,4,8), in ascending order in odd rounds and descending in even ones (a load that drifts
 * during a round does not always favour one end), so a burst of other jobs hits one round and
 * both sides of its ratio; the headline is the median over the rounds of each round's ratio,
 * with the spread (min–max) beside it. Each round also says how much of the wall clock the
 * server's main thread got (its CPU ÷ wall: near 100 % at one stream on an idle machine — it
 * decodes or serves all the time — far less when other jobs hold the cores) and the load
 * average, so a reader can tell a quiet round from a contended one. A second table says where
 * the time goes: rows per step and time in steps (the server's /metrics), CPU per token of the
 * server's threads, of the in-process runs and of the client. Run it alone, under the shared
 * lock: `flock /tmp/gptforge-heavy.lock npm run bench:serve`; it prints the CPU, the kernels'
 * instruction set and the load average before and after.
 */
import { spawn } from 'node:child_process';
import { Agent } from 'node:http';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { renderPrompt } from '../src/data/chat.js';
import { decode, type RowRequest } from '../src/infer/pipeline.js';
import { GPT } from '../src/model/gpt.js';
import { loadRunModels, Scheduler } from '../src/server/index.js';
import { cpus, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { engineSummary } from '../src/engine/backend.js';
import { leanStream, makeBenchRun, type Usage } from './serve-model.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}); // --help: the usage above; an unknown flag refused, before any work

const MAX_TOKENS = Number(process.env.BENCH_TOKENS ?? 48);
const CONCURRENCY = (process.env.BENCH_STREAMS ?? '1,4,8').split(',').map(Number);
const WAVES = Number(process.env.BENCH_REQUESTS ?? 4); // requests per stream
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3); // each stream count measured once per round
/** The server's prefix cache (on unless BENCH_SERVER_ARGS has --no-prefix-cache); the in-process scheduler follows it. */
const PREFIX_CACHE = !(process.env.BENCH_SERVER_ARGS ?? '').split(' ').includes('--no-prefix-cache');

const { dir, tok, config, sp, ban } = makeBenchRun('serve');
const question = (i: number): string => `the captain sailed over the sea ${i}`;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

/** The bench's client: `lean` (default) or `openai` (BENCH_CLIENT). */
const CLIENT = process.env.BENCH_CLIENT ?? 'lean';
if (CLIENT !== 'lean' && CLIENT !== 'openai') throw new Error(`BENCH_CLIENT must be lean or openai, got ${CLIENT}`);
const agent = new Agent({ keepAlive: true });

async function overHttp(client: OpenAI, base: string, c: number): Promise<{ tps: number; ttft: number[]; prompt: number; cached: number }> {
  const ttft: number[] = [];
  let tokens = 0;
  let prompt = 0;
  let cached = 0;
  const count = (u: Usage): void => {
    tokens += u.completion_tokens;
    prompt += u.prompt_tokens;
    cached += u.prompt_tokens_details?.cached_tokens ?? 0;
  };
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async (_, s) => {
      for (let w = 0; w < WAVES; w++) {
        const start = performance.now();
        let first = true;
        const params = { model: 'sft', messages: [{ role: 'user' as const, content: question(s * WAVES + w) }], max_tokens: MAX_TOKENS, seed: s, logit_bias: ban, stream: true as const, stream_options: { include_usage: true } };
        if (CLIENT === 'lean') {
          count(await leanStream(agent, base, JSON.stringify(params), () => ttft.push(performance.now() - start)));
          continue;
        }
        const stream = await client.chat.completions.create(params);
        for await (const chunk of stream) {
          if (first && chunk.choices[0]?.delta?.content !== undefined && chunk.choices[0].delta.role === undefined) {
            ttft.push(performance.now() - start);
            first = false;
          }
          if (chunk.usage) count(chunk.usage);
        }
      }
    }),
  );
  return { tps: tokens / ((performance.now() - t0) / 1000), ttft, prompt, cached };
}

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** CPU seconds (user + system) of each thread of process `pid`: its main thread (JS) and the rest (the native pool's workers, libuv, V8's helpers). */
function threadCpu(pid: number): { main: number; others: number; system: number } {
  const tick = 100; // USER_HZ
  let main = 0;
  let others = 0;
  let system = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const sec = (Number(f[11]) + Number(f[12])) / tick; // utime, stime (fields 14, 15)
    system += Number(f[12]) / tick;
    if (Number(tid) === pid) main += sec;
    else others += sec;
  }
  return { main, others, system };
}

/** The server's step counters from /metrics: steps, rows sampled over all steps, seconds in steps. */
async function stepCounters(base: string): Promise<{ steps: number; rows: number; seconds: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const num = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { steps: num('gptforge_batch_rows_count'), rows: num('gptforge_batch_rows_sum'), seconds: num('gptforge_step_seconds_sum') };
}

/** In-process decoding of the same rows: tokens per second, and CPU ms per token (this process, all threads). */
function inProcess(model: GPT, c: number): { tps: number; cpuMs: number } {
  let tokens = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let w = 0; w < WAVES; w++) {
    const rows: RowRequest[] = Array.from({ length: c }, (_, s) => ({
      prompt: renderPrompt(tok, { messages: [{ role: 'user', content: question(s * WAVES + w) }] }),
      maxTokens: MAX_TOKENS,
      seed: s,
      temperature: 1,
      logitBias: Object.fromEntries(Object.entries(ban).map(([k, v]) => [Number(k), v])),
    }));
    for (const r of decode(model, tok, rows, { padId: sp['<|assistant_end|>'] })) tokens += r.completionTokens;
  }
  const cpu = process.cpuUsage(cpu0);
  return { tps: tokens / ((performance.now() - t0) / 1000), cpuMs: (cpu.user + cpu.system) / 1000 / tokens };
}

/**
 * The server's own scheduler in-process, without HTTP: c streams each submitting WAVES requests
 * one after another, as the HTTP clients do (continuous batching: each request prefilled alone
 * as it joins). Against HTTP this isolates the HTTP side (request handling, SSE, the client on
 * the same cores); against `inProcess` the cost of continuous batching itself.
 */
async function viaScheduler(model: GPT, c: number): Promise<{ tps: number; cpuMs: number }> {
  const sched = new Scheduler(model, tok, { parallel: 8, maxQueue: 64, padId: sp['<|assistant_end|>'], prefixCache: PREFIX_CACHE });
  const logitBias = Object.fromEntries(Object.entries(ban).map(([k, v]) => [Number(k), v]));
  let tokens = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: c }, async (_, s) => {
      for (let w = 0; w < WAVES; w++) {
        const prompt = renderPrompt(tok, { messages: [{ role: 'user', content: question(s * WAVES + w) }] });
        const [r] = await sched.submit([{ prompt, maxTokens: MAX_TOKENS, seed: s, temperature: 1, logitBias }]);
        tokens += r.completionTokens;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { tps: tokens / ((performance.now() - t0) / 1000), cpuMs: (cpu.user + cpu.system) / 1000 / tokens };
}

async function main(): Promise<void> {
  const models = loadRunModels(dir);
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  // BENCH_SERVER_NODE_ARGS: node options for the server process (e.g. --cpu-prof --cpu-prof-dir=DIR to profile it)
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  // BENCH_SERVER_ARGS: more `gptforge serve` options (e.g. --max-queue 16)
  const serveArgs = (process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter((a) => a !== '');
  // BENCH_SERVER_THREADS: the server's kernel threads (GPTFORGE_THREADS for its process only; default: as this process)
  const env = process.env.BENCH_SERVER_THREADS ? { ...process.env, GPTFORGE_THREADS: process.env.BENCH_SERVER_THREADS } : process.env;
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '--run', dir, '--port', '0', '--parallel', '8', ...serveArgs], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let err = '';
  const addr = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (\S+)/.exec(err);
      if (m && /ready/.test(err)) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`gptforge serve exited: ${err}`)));
  });
  const client = new OpenAI({ baseURL: `${addr}/v1`, apiKey: 'bench', maxRetries: 0 });
  // warm-up: both paths compiled and the model's start-up garbage collected before anything is timed
  for (const c of [1, 4]) {
    await overHttp(client, addr, c);
    inProcess(models.get('sft')!.model, c);
    await viaScheduler(models.get('sft')!.model, c);
  }
  console.log(
    `model: ${config.nLayer} layers × ${config.nEmbd}, vocab ${config.vocabSize}; ${MAX_TOKENS} tokens per request, ${WAVES} requests per stream; client ${CLIENT}; server options: ${process.env.BENCH_SERVER_ARGS ?? 'none'} (prefix cache ${PREFIX_CACHE ? 'on' : 'off'}), threads ${process.env.BENCH_SERVER_THREADS ?? 'as the bench'}; GPTFORGE_BACKEND=${process.env.GPTFORGE_BACKEND ?? 'native'}, GPTFORGE_SMALL_M_PAR_FLOPS=${process.env.GPTFORGE_SMALL_M_PAR_FLOPS ?? 'default (1e6)'}`,
  );
  console.log(
    `engine: ${engineSummary()}, ${cpus().length} cores; load average before: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const base = addr;
  await stepCounters(base); // the first fetch loads undici: not charged to the first row
  /** Totals per stream count over the rounds (the where-table), and each round's tokens/s. */
  interface Acc {
    tps: number[];
    sched: number[];
    dec: number[];
    ttft: number[];
    tokens: number;
    wall: number;
    steps: number;
    rows: number;
    stepSec: number;
    main: number;
    others: number;
    kernel: number;
    client: number;
    prompt: number;
    cached: number;
    schedCpu: number;
    decCpu: number;
  }
  const acc = new Map<number, Acc>(CONCURRENCY.map((c) => [c, { tps: [], sched: [], dec: [], ttft: [], tokens: 0, wall: 0, steps: 0, rows: 0, stepSec: 0, main: 0, others: 0, kernel: 0, client: 0, prompt: 0, cached: 0, schedCpu: 0, decCpu: 0 }]));
  console.log('| round | streams | HTTP tok/s | scheduler in-process tok/s | decode() in-process tok/s | HTTP / decode() | server main thread busy (CPU ÷ wall) | load average |');
  console.log('|---|---|---|---|---|---|---|---|');
  // every round measures every stream count, so a burst of other jobs on the shared cores hits one round, not one stream count;
  // the order flips each round, so a load that rises (or falls) through a round does not always favour the same end
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of round % 2 === 1 ? CONCURRENCY : [...CONCURRENCY].reverse()) {
      collectGarbage(); // the last in-process run's garbage is not collected on the next HTTP run's cores
      const st0 = await stepCounters(base);
      const cpu0 = threadCpu(child.pid!);
      const me0 = threadCpu(process.pid).main;
      const w0 = performance.now();
      const http = await overHttp(client, base, c);
      const wall = (performance.now() - w0) / 1000;
      const me1 = threadCpu(process.pid).main;
      const cpu1 = threadCpu(child.pid!);
      const st1 = await stepCounters(base);
      const dec = inProcess(models.get('sft')!.model, c);
      const sched = await viaScheduler(models.get('sft')!.model, c);
      const a = acc.get(c)!;
      a.tps.push(http.tps);
      a.sched.push(sched.tps);
      a.dec.push(dec.tps);
      a.ttft.push(...http.ttft);
      const tokens = http.tps * wall;
      Object.assign(a, {
        tokens: a.tokens + tokens,
        wall: a.wall + wall,
        steps: a.steps + st1.steps - st0.steps,
        rows: a.rows + st1.rows - st0.rows,
        stepSec: a.stepSec + st1.seconds - st0.seconds,
        main: a.main + cpu1.main - cpu0.main,
        others: a.others + cpu1.others - cpu0.others,
        kernel: a.kernel + cpu1.system - cpu0.system,
        client: a.client + me1 - me0,
        prompt: a.prompt + http.prompt,
        cached: a.cached + http.cached,
        schedCpu: a.schedCpu + sched.cpuMs * tokens,
        decCpu: a.decCpu + dec.cpuMs * tokens,
      });
      console.log(`| ${round} | ${c} | ${http.tps.toFixed(1)} | ${sched.tps.toFixed(1)} | ${dec.tps.toFixed(1)} | ${(http.tps / dec.tps).toFixed(2)} | ${((100 * (cpu1.main - cpu0.main)) / wall).toFixed(0)} % | ${loadavg()[0].toFixed(2)} |`);
    }
  }
  const median = (xs: number[]): number => pct(xs, 50);
  console.log(`\nMedians over ${ROUNDS} rounds; TTFT over every request of every round:`);
  console.log('| streams | HTTP tok/s | scheduler in-process tok/s | decode() in-process tok/s | HTTP / decode() | TTFT p50 ms | TTFT p99 ms |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [c, a] of acc) console.log(`| ${c} | ${median(a.tps).toFixed(1)} | ${median(a.sched).toFixed(1)} | ${median(a.dec).toFixed(1)} | ${(median(a.tps) / median(a.dec)).toFixed(2)} | ${pct(a.ttft, 50).toFixed(1)} | ${pct(a.ttft, 99).toFixed(1)} |`);
  console.log("\nWhere the time goes (steps from the server's /metrics; CPU from /proc/<pid>/task/*/stat, in 10 ms ticks, and process.cpuUsage; per token = per sampled token; totals over the rounds):");
  console.log('| streams | rows per step | wall ms per step | ms in the step | server CPU ms/token (main thread / others; in the kernel) | scheduler in-process CPU ms/token | decode() in-process CPU ms/token | client CPU ms/token (its main thread) | prompt tokens reused (prefix cache) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [c, a] of acc) {
    const perTok = (sec: number): string => ((sec * 1000) / a.tokens).toFixed(3);
    console.log(
      `| ${c} | ${(a.rows / a.steps).toFixed(2)} | ${((a.wall * 1000) / a.steps).toFixed(2)} | ${((a.stepSec * 1000) / a.steps).toFixed(2)} | ${perTok(a.main + a.others)} (${perTok(a.main)} / ${perTok(a.others)}; kernel ${perTok(a.kernel)}) | ${(a.schedCpu / a.tokens).toFixed(3)} | ${(a.decCpu / a.tokens).toFixed(3)} | ${perTok(a.client)} | ${a.cached} of ${a.prompt} (${((100 * a.cached) / Math.max(1, a.prompt)).toFixed(0)} %) |`,
    );
  }
  const one = acc.get(CONCURRENCY[0])!;
  /** Each round's ratio (measured minutes apart at most), their median and spread. */
  const ratios = (xs: number[], ys: number[]): string => {
    const r = xs.map((x, i) => x / ys[i]);
    return `${median(r).toFixed(2)}× (rounds ${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)}: ${r.map((x) => x.toFixed(2)).join(', ')})`;
  };
  for (const [c, a] of [...acc].slice(1)) {
    console.log(`${c} streams / ${CONCURRENCY[0]}, the median of the rounds' ratios: ${ratios(a.tps, one.tps)} over HTTP; ${ratios(a.sched, one.sched)} through the scheduler in-process; ${ratios(a.dec, one.dec)} by decode() in-process. Ratio of the medians over HTTP: ${(median(a.tps) / median(one.tps)).toFixed(2)}×`);
  }
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  child.kill('SIGINT');
  rmSync(dir, { recursive: true, force: true });
}

void main();
