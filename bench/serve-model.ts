/**
 * bench:serve's model, request shape and lean SSE client, shared by `bench/serve.ts` and `bench/serve-ab.ts` so
 * that both measure the same thing: a random 4 × 256 GPT (RoPE, context 256) with a 512-merge
 * BPE tokenizer trained on a fixed word list, saved as the `sft` stage of a temporary run, and
 * a `logit_bias` that bans the end-of-turn and tool tokens so every request samples exactly
 * `max_tokens` tokens.
 */
import { mkdtempSync } from 'node:fs';
import { type Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatTokenIds } from '../src/data/chat.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { type GPTConfig, makeConfig } from '../src/model/config.js';
import { GPT } from '../src/model/gpt.js';
import { type Tokenizer, trainTokenizer } from '../src/tokenizer/index.js';

export interface BenchRun {
  /** The temporary run directory (remove it when done). */
  dir: string;
  tok: Tokenizer;
  /** The model's configuration. */
  config: GPTConfig;
  /** The chat layout's special-token ids. */
  sp: ReturnType<typeof chatTokenIds>;
  /** OpenAI `logit_bias`: −100 on `<|assistant_end|>`, `<|tool_start|>` and `<|eos|>`. */
  ban: Record<string, number>;
}

/** Writes the bench model into a fresh temporary run named `gf-bench-<prefix>-…`. */
export function makeBenchRun(prefix: string): BenchRun {
  const dir = mkdtempSync(join(tmpdir(), `gf-bench-${prefix}-`));
  const words = 'the whale ship sea captain sailed over a grey morning and night while every sailor sang of home'.split(' ');
  const text = Array.from({ length: 3000 }, (_, i) => words[(i * 7 + (i >> 3)) % words.length]).join(' ');
  const tok = trainTokenizer([text], { vocabSize: 512 });
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, position: 'rope' });
  saveCheckpoint(join(dir, 'sft'), new GPT(config, { seed: 1 }), { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
  const sp = chatTokenIds(tok);
  const ban: Record<string, number> = { [sp['<|assistant_end|>']]: -100, [sp['<|tool_start|>']]: -100 };
  if (tok.hasSpecial('<|eos|>')) ban[tok.specialId('<|eos|>')] = -100;
  return { dir, tok, config, sp, ban };
}

/** A response's usage (OpenAI's fields; cached_tokens: prompt tokens the server's prefix cache reused). */
export interface Usage {
  completion_tokens: number;
  prompt_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

/**
 * One streamed chat request read the way load generators read it (vLLM's benchmark_serving
 * reads the raw SSE bytes too): events are split on blank lines, the first content chunk
 * marks the first token, and only the final usage chunk is parsed. The official client
 * instead parses every chunk (JSON.parse, its SSE decoder, async iterators): ~0.4 ms of CPU
 * per token, on the same two cores as the server here, where a real client runs elsewhere.
 */
export function leanStream(agent: Agent, base: string, body: string, onFirst: () => void): Promise<Usage> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/chat/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: 'Bearer bench' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      let first = true;
      let usage: Usage | null = null;
      res.on('data', (d: string) => {
        buf += d;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (first && !ev.includes('"role"') && ev.includes('"content"')) {
            first = false;
            onFirst();
          }
          if (ev.includes('"usage":{')) usage = (JSON.parse(ev.slice(6)) as { usage: Usage }).usage;
        }
      });
      res.on('end', () => (usage ? resolve(usage) : reject(new Error('no usage chunk'))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
