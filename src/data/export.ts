import { closeSync, existsSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteChunks, atomicWriteFile } from '../util/atomic.js';
import { GptforgeError } from '../util/errors.js';
import type { Conversation, Message } from './conversation.js';
import { readSftSources, type SftMixtureConfig } from './sft.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { completionMessages, rankingToPairs, type Ranking } from './preferences.js';
import type { DataIndex } from './prepare.js';

/**
 * Training data in the formats GPU trainers read.
 *
 * llm.c token shards (karpathy/llm.c dev/data/data_common.py write_datafile): a header of
 * 256 little-endian int32 — [0] magic 20240520, [1] version (1: uint16 tokens, 2: uint32
 * tokens, as llm.c writes for LLaMA 3), [2] token count — then the tokens. Our shards are
 * already <|bos|> doc <|eos|> sequences (src/data/prepare.ts), so the tokens are copied as
 * they are, one llm.c file series per source and split (mixture weights are not carried:
 * llm.c reads its shards in order).
 *
 * TRL datasets (huggingface/trl, "conversational" dataset formats):
 *   SFT  {"messages": [{"role", "content"}, …]}                              (SFTTrainer)
 *   DPO  {"prompt": [messages], "chosen": [messages], "rejected": [messages]} (DPOTrainer)
 *   GRPO {"prompt": [messages]}                                            (GRPOTrainer)
 * A tool call is the standard "tool_calls" list (trlMessages), which the exported chat template
 * renders (chat-template.ts), so a tokenizer from `gptforge export --format hf` gives TRL
 * exactly our token ids.
 */

export const LLMC_MAGIC = 20240520;
export const LLMC_HEADER_INTS = 256;
/** llm.c's default shard size (dev/data/fineweb.py shard_size = 10**8). */
export const LLMC_SHARD_TOKENS = 100_000_000;

/** One llm.c .bin file's bytes for `tokens`. */
export function llmcShard(tokens: Uint16Array | Uint32Array): Uint8Array[] {
  const header = new Int32Array(LLMC_HEADER_INTS);
  header[0] = LLMC_MAGIC;
  header[1] = tokens instanceof Uint16Array ? 1 : 2;
  header[2] = tokens.length;
  return [new Uint8Array(header.buffer), new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength)];
}

/** Read an llm.c shard; a bad magic, version or length is an error naming the file and byte offset. */
export function readLlmcShard(path: string): Uint16Array | Uint32Array {
  const buf = readFileSync(path);
  if (buf.length < LLMC_HEADER_INTS * 4) throw new GptforgeError(`truncated llm.c shard: the header needs ${LLMC_HEADER_INTS * 4} bytes, the file has ${buf.length}`, { file: path });
  const magic = buf.readInt32LE(0);
  const version = buf.readInt32LE(4);
  const n = buf.readInt32LE(8);
  if (magic !== LLMC_MAGIC) throw new GptforgeError(`not an llm.c shard: magic ${magic} at byte offset 0 (expected ${LLMC_MAGIC})`, { file: path });
  if (version !== 1 && version !== 2) throw new GptforgeError(`unsupported llm.c shard version ${version} at byte offset 4`, { file: path });
  const width = version === 1 ? 2 : 4;
  const end = LLMC_HEADER_INTS * 4 + n * width;
  if (buf.length !== end) throw new GptforgeError(`llm.c shard says ${n} tokens (${end} bytes), the file has ${buf.length} bytes${buf.length < end ? ' (truncated)' : ''}`, { file: path });
  const body = buf.buffer.slice(buf.byteOffset + LLMC_HEADER_INTS * 4, buf.byteOffset + end);
  return version === 1 ? new Uint16Array(body) : new Uint32Array(body);
}

export interface LlmcExportResult {
  files: string[];
  tokens: number;
}

/**
 * A prepared data directory (index.json + <source>.<split>.bin) → llm.c shards in outDir:
 * <source>_<split>_NNNNNN.bin, at most `shardTokens` tokens each.
 */
export function exportLlmcShards(dataDir: string, outDir: string, shardTokens = LLMC_SHARD_TOKENS): LlmcExportResult {
  const indexPath = join(dataDir, 'index.json');
  if (!existsSync(indexPath)) throw new GptforgeError('no prepared data (index.json missing): run "gptforge data" first', { file: dataDir });
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as DataIndex;
  const width = index.dtype === 'uint16' ? 2 : 4;
  const files: string[] = [];
  let total = 0;
  for (const src of index.sources) {
    for (const split of ['train', 'val'] as const) {
      const path = join(dataDir, `${src.name}.${split}.bin`);
      if (!existsSync(path)) throw new GptforgeError('shard missing (prepare the data again)', { file: path });
      const fd = openSync(path, 'r');
      try {
        const size = fstatSync(fd).size;
        if (size % width !== 0) throw new GptforgeError(`size ${size} is not a whole number of ${index.dtype} tokens (truncated?)`, { file: path });
        const n = size / width;
        for (let start = 0, k = 0; start < n || (n === 0 && k === 0); start += shardTokens, k++) {
          const count = Math.min(shardTokens, n - start);
          const bytes = Buffer.alloc(count * width);
          if (count > 0) readSync(fd, bytes, 0, bytes.length, start * width);
          const toks = width === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset, count) : new Uint32Array(bytes.buffer, bytes.byteOffset, count);
          const out = join(outDir, `${src.name}_${split}_${String(k).padStart(6, '0')}.bin`);
          atomicWriteChunks(out, llmcShard(toks));
          files.push(out);
          total += count;
          if (n === 0) break;
        }
      } finally {
        closeSync(fd);
      }
    }
  }
  return { files, tokens: total };
}

/**
 * Messages as TRL reads them: role and content; an assistant's tool call as the standard
 * `tool_calls` list (`[{"id", "type": "function", "function": {"name", "arguments": {"input"}}}]`,
 * arguments a dict as transformers' chat templates take it, OpenAI's id kept) and the `tool`
 * message after it answering that id (`tool_call_id`). Our readers take this shape back
 * (src/data/chat.ts fromOpenAIShape), and our exported chat template renders it.
 */
function trlMessages(msgs: readonly Message[]): Record<string, unknown>[] {
  let calls = 0;
  return msgs.map((m) => {
    if (m.tool_call) {
      const id = `call_${calls++}`;
      return { role: m.role, content: m.content, tool_calls: [{ id, type: 'function', function: { name: m.tool_call.name, arguments: { input: m.tool_call.input } } }] };
    }
    if (m.role === 'tool') return { role: m.role, tool_call_id: `call_${calls - 1}`, content: m.content };
    return { role: m.role, content: m.content };
  });
}

export function trlSftLine(c: Conversation): string {
  return JSON.stringify({ messages: trlMessages(c.messages) });
}

/** One DPO line per preferred pair of a ranking (ties make none), conversational format. */
export function trlDpoLines(r: Ranking): string[] {
  return rankingToPairs(r).map((p) =>
    JSON.stringify({
      prompt: [{ role: 'user', content: p.prompt }],
      chosen: trlMessages(completionMessages(p.chosen)),
      rejected: trlMessages(completionMessages(p.rejected)),
      // the labelers' preference strength, under TRL RewardTrainer's column name (absent: none recorded)
      ...(p.margin !== undefined ? { margin: p.margin } : {}),
    }),
  );
}

/** A prompt-only line (GRPOTrainer, RLOOTrainer): the user turn the policy answers. */
export function trlPromptLine(prompt: string): string {
  return JSON.stringify({ prompt: [{ role: 'user', content: prompt }] });
}

/**
 * The conversations an SFT mixture trains on and holds out, read by the SFT stage's own loader
 * (`readSftSources`, src/data/sft.ts: the same tokenizer and row length, onBad, simulated
 * writers, in-memory `conversations` and held-out split), so `test` is exactly what the stage
 * validates on: each task's test split, and each user source's held-out share (`valFraction`),
 * which `train` leaves out. A task gives its generated share; a user source's conversations are
 * written once each (its weight is a sampling rate gptforge applies, TRL would not).
 * @param maxTokens a training row, the SFT `seqLen` + 1 (longer conversations are errors or skips, as in training).
 * @throws GptforgeError as the stage does: naming the mixture field, or a file's line and field.
 */
export function sftConversations(tok: Tokenizer, cfg: SftMixtureConfig, maxTokens: number, file: string, fieldPrefix = '', opts: { knownTools?: readonly string[] } = {}): { train: Conversation[]; test: Conversation[]; skips: string[]; warnings: string[] } {
  const r = readSftSources(tok, cfg, maxTokens, file, fieldPrefix, opts);
  return { train: r.sources.flatMap((s) => s.train.map((x) => x.conversation)), test: r.sources.flatMap((s) => s.held.map((x) => x.conversation)), skips: r.skips, warnings: r.warnings };
}

export function writeJsonl(path: string, lines: readonly string[]): void {
  atomicWriteFile(path, lines.length > 0 ? lines.join('\n') + '\n' : '');
}
