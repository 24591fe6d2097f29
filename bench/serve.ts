/**
 * `npm run bench:serve`: the HTTP server's aggregate throughput and time to first token with
 * 1, 4 and 8 concurrent streamed chats, against in-process generation of the same workload
 * (the same rows decoded by the pipeline's BatchDecoder directly: the ceiling).
 *
 * Model: a randomly initialised GPT (4 layers, 256 wide, context 256) with a 512-token
 * tokenizer — the speed of a forward pass does not depend on the weights. End tokens are
 * banned (logit_bias -100) so every request samples exactly MAX_TOKENS tokens.
 * The server runs as `gptforge serve` in its own process (as deployed), so the client's own
 * work (SSE parsing) does not compete with decoding on one thread.
 * Run it alone, under the shared lock: `flock /tmp/gptforge-heavy.lock npm run bench:serve`; it
 * prints the load average before and after (other jobs on the cores skew every number).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { chatTokenIds, renderPrompt } from '../src/data/chat.js';
import { decode, type RowRequest } from '../src/infer/pipeline.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { makeConfig } from '../src/model/config.js';
import { GPT } from '../src/model/gpt.js';
import { loadRunModels } from '../src/server/index.js';
import { loadavg } from 'node:os';
import { engineSummary } from '../src/engine/backend.js';
import { trainTokenizer } from '../src/tokenizer/index.js';

const MAX_TOKENS = Number(process.env.BENCH_TOKENS ?? 48);
const CONCURRENCY = [1, 4, 8];
const WAVES = 2; // requests per stream

const dir = mkdtempSync(join(tmpdir(), 'gf-bench-serve-'));
const words = 'the whale ship sea captain sailed over a grey morning and night while every sailor sang of home'.split(' ');
const text = Array.from({ length: 3000 }, (_, i) => words[(i * 7 + (i >> 3)) % words.length]).join(' ');
const tok = trainTokenizer([text], { vocabSize: 512 });
const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, position: 'rope' });
saveCheckpoint(join(dir, 'sft'), new GPT(config, { seed: 1 }), { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
const sp = chatTokenIds(tok);
const ban: Record<string, number> = { [sp['<|assistant_end|>']]: -100, [sp['<|tool_start|>']]: -100 };
if (tok.hasSpecial('<|eos|>')) ban[tok.specialId('<|eos|>')] = -100;
const question = (i: number): string => `the captain sailed over the sea ${i}`;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function overHttp(client: OpenAI, c: number): Promise<{ tps: number; ttft: number[] }> {
  const ttft: number[] = [];
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async (_, s) => {
      for (let w = 0; w < WAVES; w++) {
        const start = performance.now();
        let first = true;
        const stream = await client.chat.completions.create({ model: 'sft', messages: [{ role: 'user', content: question(s * WAVES + w) }], max_tokens: MAX_TOKENS, seed: s, logit_bias: ban, stream: true, stream_options: { include_usage: true } });
        for await (const chunk of stream) {
          if (first && chunk.choices[0]?.delta?.content !== undefined && chunk.choices[0].delta.role === undefined) {
            ttft.push(performance.now() - start);
            first = false;
          }
          if (chunk.usage) tokens += chunk.usage.completion_tokens;
        }
      }
    }),
  );
  return { tps: tokens / ((performance.now() - t0) / 1000), ttft };
}

function inProcess(model: GPT, c: number): number {
  let tokens = 0;
  const t0 = performance.now();
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
  return tokens / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const models = loadRunModels(dir);
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  // BENCH_SERVER_NODE_ARGS: node options for the server process (e.g. --cpu-prof --cpu-prof-dir=DIR to profile it)
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '--run', dir, '--port', '0', '--parallel', '8'], { stdio: ['ignore', 'ignore', 'pipe'] });
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
  await overHttp(client, 1); // warm-up
  console.log(`model: ${config.nLayer} layers × ${config.nEmbd}, vocab ${config.vocabSize}; ${MAX_TOKENS} tokens per request, ${WAVES} requests per stream; GPTFORGE_BACKEND=${process.env.GPTFORGE_BACKEND ?? 'native'}`);
  console.log(
    `engine: ${engineSummary()}; load average before: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log('| streams | HTTP tok/s | in-process tok/s | HTTP / in-process | TTFT p50 ms | TTFT p99 ms |');
  console.log('|---|---|---|---|---|---|');
  const rows: Array<{ c: number; tps: number; ceiling: number }> = [];
  for (const c of CONCURRENCY) {
    const http = await overHttp(client, c);
    const ceiling = inProcess(models.get('sft')!.model, c);
    rows.push({ c, tps: http.tps, ceiling });
    console.log(`| ${c} | ${http.tps.toFixed(1)} | ${ceiling.toFixed(1)} | ${(http.tps / ceiling).toFixed(2)} | ${pct(http.ttft, 50).toFixed(1)} | ${pct(http.ttft, 99).toFixed(1)} |`);
  }
  const one = rows[0];
  for (const r of rows.slice(1)) console.log(`${r.c} streams / 1 stream: ${(r.tps / one.tps).toFixed(2)}× over HTTP, ${(r.ceiling / one.ceiling).toFixed(2)}× in-process`);
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  child.kill('SIGINT');
  rmSync(dir, { recursive: true, force: true });
}

void main();
