/**
 * `node dist/bench/serve-ab.js`: an A/B of `gptforge serve` builds or settings on a shared
 * machine. Every server named in BENCH_AB runs at once (each its own process, idle while the
 * others are measured), and each round measures 1 and 4 concurrent streamed chats on each
 * server in turn (the server order rotates every round), so a burst of other jobs on the cores
 * hits one round of every server rather than one server. Printed: each round's tokens/s, and
 * per server the median over the rounds of its 4-stream ÷ 1-stream ratio and of its tokens/s
 * against the first server's in the same round, with the spread; and CPU per token of the
 * server's threads (from /proc, so other processes' load does not count), also split into the
 * main thread, the decode thread and the rest, and the kernel's share.
 *
 * BENCH_AB: a JSON array of servers, each {"label", "cli"?: a gptforge CLI's main.js (default:
 * this build's), "env"?: extra environment, "args"?: extra `serve` options, "nodeArgs"?: options for node itself, e.g.
 * ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"], which NODE_OPTIONS refuses; the profile is written
 * when the server exits at the end}; default: this
 * build alone. BENCH_ROUNDS (default 9), BENCH_REQUESTS requests per stream (default 8),
 * BENCH_TOKENS per request (default 48). The model and requests are bench:serve's (a random
 * 4 × 256 GPT, vocab 330; end tokens banned so every request samples BENCH_TOKENS tokens).
 *
 *   BENCH_AB='[{"label":"base","cli":"/tmp/base/dist/src/cli/main.js"},{"label":"branch"}]' \
 *     flock /tmp/gptforge-heavy.lock node dist/bench/serve-ab.js
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { engineSummary } from '../src/engine/backend.js';
import { leanStream, makeBenchRun } from './serve-model.js';
import { checkBenchArgs } from './args.js';

checkBenchArgs(import.meta.url, {}); // --help: the usage above; an unknown flag refused, before any work

const MAX_TOKENS = Number(process.env.BENCH_TOKENS ?? 48);
const WAVES = Number(process.env.BENCH_REQUESTS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const STREAMS = [1, 4];
interface Spec {
  label: string;
  cli?: string;
  env?: Record<string, string>;
  args?: string[];
  nodeArgs?: string[];
}
const SPECS = JSON.parse(process.env.BENCH_AB ?? '[{"label":"this build"}]') as Spec[];

// bench:serve's model and requests
const { dir, ban } = makeBenchRun('serve-ab');
const agent = new Agent({ keepAlive: true });

/** c streams of WAVES requests each: tokens per second. */
async function run(base: string, c: number): Promise<{ tps: number; tokens: number }> {
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async (_, s) => {
      for (let w = 0; w < WAVES; w++) {
        const body = { model: 'sft', messages: [{ role: 'user', content: `the captain sailed over the sea ${s * WAVES + w}` }], max_tokens: MAX_TOKENS, seed: s, logit_bias: ban, stream: true, stream_options: { include_usage: true } };
        // not `tokens += await …`: that reads `tokens` before the await, so concurrent streams
        // overwrote each other's counts (4 streams counted as little more than one)
        const n = (await leanStream(agent, base, JSON.stringify(body), () => {})).completion_tokens;
        tokens += n;
      }
    }),
  );
  // end tokens are banned, so every request samples exactly MAX_TOKENS: a miscount fails loudly
  if (tokens !== c * WAVES * MAX_TOKENS) throw new Error(`${c} streams: counted ${tokens} completion tokens, expected ${c * WAVES * MAX_TOKENS} (${c} × ${WAVES} requests × ${MAX_TOKENS})`);
  return { tps: tokens / ((performance.now() - t0) / 1000), tokens };
}

/** CPU seconds of each thread of process `pid` (user + system, and system alone), by thread id. */
function cpuOf(pid: number): Map<string, { sec: number; sys: number }> {
  const out = new Map<string, { sec: number; sys: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(tid, { sec: (Number(f[11]) + Number(f[12])) / 100, sys: Number(f[12]) / 100 });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Where a run's server CPU went: the main thread (HTTP, sampling, prefills), the decode thread, the other threads; and the kernel's share of all. */
interface CpuSplit {
  main: number;
  decode: number;
  others: number;
  sys: number;
  tokens: number;
}

/**
 * The CPU between two cpuOf readings, split by thread: the decode thread is the busiest thread
 * other than the main one (it runs every forward; the others are the kernels' pool, libuv and
 * V8's helpers). With no decode thread (--no-decode-thread) that is the busiest helper instead.
 */
function split(pid: number, a: Map<string, { sec: number; sys: number }>, b: Map<string, { sec: number; sys: number }>, into: CpuSplit): void {
  let busiest = 0;
  let rest = 0;
  for (const [tid, t] of b) {
    const d = t.sec - (a.get(tid)?.sec ?? 0);
    into.sys += t.sys - (a.get(tid)?.sys ?? 0);
    if (tid === String(pid)) into.main += d;
    else {
      rest += d;
      busiest = Math.max(busiest, d);
    }
  }
  into.decode += busiest;
  into.others += rest - busiest;
}

async function start(spec: Spec): Promise<{ child: ChildProcess; addr: string }> {
  const cli = spec.cli ?? fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), cli, 'serve', '--run', dir, '--port', '0', '--parallel', '8', ...(spec.args ?? [])], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...spec.env } });
  let err = '';
  const addr = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (\S+)/.exec(err);
      if (m && /ready/.test(err)) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`${spec.label}: gptforge serve exited: ${err}`)));
  });
  return { child, addr };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spread = (xs: number[]): string => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

async function main(): Promise<void> {
  const servers = await Promise.all(SPECS.map(start));
  console.log(`engine: ${engineSummary()}, ${cpus().length} cores; ${ROUNDS} rounds × streams ${STREAMS.join(', ')}; ${WAVES} requests per stream of ${MAX_TOKENS} tokens; load before: ${loadavg()[0].toFixed(2)}`);
  for (const s of SPECS) console.log(`  ${s.label}: ${s.cli ?? 'this build'} ${JSON.stringify(s.env ?? {})} ${(s.args ?? []).join(' ')}`);
  for (const { addr } of servers) for (const c of STREAMS) await run(addr, c); // warm-up
  const tps = SPECS.map(() => STREAMS.map(() => [] as number[]));
  const cpu = SPECS.map(() => STREAMS.map((): CpuSplit => ({ main: 0, decode: 0, others: 0, sys: 0, tokens: 0 })));
  console.log(`| round | ${SPECS.map((s) => STREAMS.map((c) => `${s.label} ${c}`).join(' | ')).join(' | ')} | load |`);
  console.log(`|---|${SPECS.map(() => STREAMS.map(() => '---|').join('')).join('')}---|`);
  for (let r = 0; r < ROUNDS; r++) {
    const order = SPECS.map((_, i) => (i + r) % SPECS.length);
    for (const i of order) {
      for (const [k, c] of (r % 2 ? [...STREAMS].reverse() : STREAMS).map((c) => [STREAMS.indexOf(c), c] as const)) {
        const pid = servers[i].child.pid!;
        const c0 = cpuOf(pid);
        const m = await run(servers[i].addr, c);
        split(pid, c0, cpuOf(pid), cpu[i][k]);
        cpu[i][k].tokens += m.tokens;
        tps[i][k].push(m.tps);
      }
    }
    console.log(`| ${r + 1} | ${SPECS.map((_, i) => STREAMS.map((_, k) => tps[i][k][r].toFixed(0)).join(' | ')).join(' | ')} | ${loadavg()[0].toFixed(2)} |`);
  }
  console.log('\n| server | tok/s 1 stream (median) | tok/s 4 streams | 4/1 ratio, median of rounds (range) | 1 stream ÷ first server, median (range) | 4 streams ÷ first server | server CPU ms/token at 1 / 4 |');
  console.log('|---|---|---|---|---|---|---|');
  SPECS.forEach((s, i) => {
    const ratio = tps[i][1].map((x, r) => x / tps[i][0][r]);
    const vs = (k: number): string => spread(tps[i][k].map((x, r) => x / tps[0][k][r]));
    const perTok = (k: number): string => ((1000 * (cpu[i][k].main + cpu[i][k].decode + cpu[i][k].others)) / cpu[i][k].tokens).toFixed(3);
    console.log(`| ${s.label} | ${median(tps[i][0]).toFixed(0)} | ${median(tps[i][1]).toFixed(0)} | ${spread(ratio)} | ${vs(0)} | ${vs(1)} | ${perTok(0)} / ${perTok(1)} |`);
  });
  // per step = per token × rows per step (about 1 and 4): what a 4-row step costs beyond a 1-row one, and on which thread
  console.log('\nServer CPU by thread, ms per token at 1 / 4 streams (from /proc, in 10 ms ticks; the decode thread is the busiest thread besides the main one):');
  console.log('| server | main thread | decode thread | other threads | of which in the kernel (all threads) |');
  console.log('|---|---|---|---|---|');
  SPECS.forEach((s, i) => {
    const per = (f: (x: CpuSplit) => number): string => STREAMS.map((_, k) => ((1000 * f(cpu[i][k])) / cpu[i][k].tokens).toFixed(3)).join(' / ');
    console.log(`| ${s.label} | ${per((x) => x.main)} | ${per((x) => x.decode)} | ${per((x) => x.others)} | ${per((x) => x.sys)} |`);
  });
  console.log(`load after: ${loadavg()[0].toFixed(2)}`);
  for (const { child } of servers) child.kill('SIGINT');
  rmSync(dir, { recursive: true, force: true });
}

void main();
