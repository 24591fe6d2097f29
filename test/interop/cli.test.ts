import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { fromOpenAIShape, renderConversation } from '../../src/data/chat.js';
import { rankingToPairs, type Ranking } from '../../src/data/preferences.js';
import { readLlmcShard, LLMC_MAGIC, exportLlmcShards } from '../../src/data/export.js';
import { readGguf } from '../../src/model/export/gguf.js';
import { GptforgeError } from '../../src/util/errors.js';
import { randomModel, smallTokenizer, tempDir } from './fixtures.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
function gptforge(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** A run directory as the pipeline leaves it: base checkpoint, prepared data, preset, comparisons. */
function fakeRun(): { run: string; shards: Map<string, Uint16Array>; rankings: Ranking[]; userConvFile: string } {
  const tok = smallTokenizer('gpt4-digits');
  const run = tempDir('gf-interop-run-');
  const model = randomModel({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' });
  saveCheckpoint(join(run, 'base'), model, { stage: 'pretrain', step: 10, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
  const data = join(run, 'data');
  mkdirSync(data, { recursive: true });
  const shards = new Map<string, Uint16Array>();
  const bos = tok.specialId('<|bos|>');
  const eos = tok.specialId('<|eos|>');
  for (const [name, text] of [
    ['books', 'Call me Ishmael. Some years ago.'],
    ['code', 'def f(x):\n    return x + 12'],
  ]) {
    for (const split of ['train', 'val']) {
      const ids = Uint16Array.from([bos, ...tok.encode(`${text} ${split}`), eos]);
      shards.set(`${name}_${split}`, ids);
      writeFileSync(join(data, `${name}.${split}.bin`), ids);
    }
  }
  writeFileSync(join(data, 'index.json'), JSON.stringify({ version: 1, dtype: 'uint16', vocabSize: tok.vocabSize, bosId: bos, eosId: eos, sources: [{ name: 'books' }, { name: 'code' }] }));
  const userConvFile = join(run, 'mine.jsonl');
  writeFileSync(
    userConvFile,
    JSON.stringify({
      messages: [
        { role: 'user', content: 'What is 6 times 7?' },
        { role: 'assistant', content: 'Let me compute.', tool_call: { name: 'calculator', input: '6 * 7' } },
        { role: 'tool', content: '42' },
        { role: 'assistant', content: ' It is 42.' },
      ],
    }) + '\n',
  );
  writeFileSync(
    join(run, 'preset.json'),
    JSON.stringify({
      name: 'test',
      sft: {
        seqLen: 128,
        mixture: {
          sources: [
            { task: 'arithmetic', weight: 1 },
            { path: userConvFile, weight: 1 },
          ],
          examples: 6,
          testPerTask: 2,
          seed: 5,
        },
      },
    }),
  );
  const rankings: Ranking[] = [
    { prompt: 'Say hi', completions: ['Hi!', 'Hello.', 'Go away.'] },
    { prompt: 'What is 2+2?', completions: ['4', 'four', '5'], tiers: [0, 0, 1] },
  ];
  mkdirSync(join(run, 'comparisons'));
  writeFileSync(join(run, 'comparisons', 'train.jsonl'), rankings.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { run, shards, rankings, userConvFile };
}

test('gptforge export --format llmc: llm.c shards (256 int32 header, magic 20240520, version 1, count, uint16 tokens)', () => {
  const { run, shards } = fakeRun();
  const out = join(tempDir(), 'llmc');
  const r = gptforge('export', '--format', 'llmc', '--run', run, '--out', out);
  assert.equal(r.code, 0, r.err);
  for (const [key, ids] of shards) {
    const file = join(out, `${key}_000000.bin`);
    const raw = readFileSync(file);
    assert.equal(raw.readInt32LE(0), LLMC_MAGIC);
    assert.equal(raw.readInt32LE(4), 1);
    assert.equal(raw.readInt32LE(8), ids.length);
    assert.equal(raw.length, 1024 + 2 * ids.length);
    assert.deepEqual(readLlmcShard(file), ids);
  }
  // shard splitting: 5-token shards
  const small = join(tempDir(), 'llmc-small');
  const res = exportLlmcShards(join(run, 'data'), small, 5);
  const books = shards.get('books_train')!;
  const parts = readdirSync(small)
    .filter((f) => f.startsWith('books_train_'))
    .sort();
  assert.equal(parts.length, Math.ceil(books.length / 5));
  assert.deepEqual(
    parts.flatMap((f) => [...readLlmcShard(join(small, f))]),
    [...books],
  );
  assert.equal(
    res.tokens,
    [...shards.values()].reduce((s, x) => s + x.length, 0),
  );
  // a truncated shard is an error naming the file
  const bad = join(small, parts[0]);
  writeFileSync(bad, readFileSync(bad).subarray(0, 1030));
  assert.throws(
    () => readLlmcShard(bad),
    (e: unknown) => e instanceof GptforgeError && e.message.includes(bad) && /truncated/.test(e.message),
  );
});

test('gptforge export --format trl: SFT messages and DPO pairs; the exported chat template renders them to our ids', () => {
  const { run, rankings } = fakeRun();
  const out = join(tempDir(), 'trl');
  const r = gptforge('export', '--format', 'trl', '--run', run, '--out', out);
  assert.equal(r.code, 0, r.err);
  const sft = readFileSync(join(out, 'sft', 'train.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] });
  assert.equal(sft.length, 3 + 1, 'three arithmetic conversations (share of 6) + the user file once');
  // tool turns in the standard shape TRL's chat templates render (newcomer29: was our own tool_call object)
  const called = sft.flatMap((c) => c.messages.map((m, i) => [m, c.messages[i + 1]] as const)).filter(([m]) => (m as { tool_calls?: unknown }).tool_calls);
  assert.ok(called.length > 0, 'tool calls kept');
  for (const [m, next] of called) {
    const calls = (m as unknown as { tool_calls: { id: string; type: string; function: { name: string; arguments: { input: string } } }[] }).tool_calls;
    assert.equal(calls.length, 1);
    assert.equal(calls[0].type, 'function');
    assert.equal(typeof calls[0].function.name, 'string');
    assert.equal(typeof calls[0].function.arguments.input, 'string');
    assert.equal((m as { tool_call?: unknown }).tool_call, undefined, 'no non-standard tool_call object');
    assert.deepEqual([next.role, (next as unknown as { tool_call_id: string }).tool_call_id], ['tool', calls[0].id]);
  }
  const dpo = readFileSync(join(out, 'dpo', 'train.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { prompt: unknown[]; chosen: { content: string }[]; rejected: { content: string }[] });
  const pairs = rankings.flatMap(rankingToPairs);
  assert.equal(dpo.length, pairs.length);
  assert.equal(dpo.length, 3 + 2, '3 pairs from a strict 3-ranking, 2 from tiers [0, 0, 1]');
  assert.deepEqual(dpo[0].prompt, [{ role: 'user', content: 'Say hi' }]);
  assert.equal(
    readFileSync(join(out, 'grpo', 'train.jsonl'), 'utf8')
      .trim()
      .split('\n').length,
    2,
    'one GRPO prompt per distinct ranking prompt',
  );
  assert.ok(existsSync(join(out, 'sft', 'test.jsonl')));
  assert.equal(dpo[0].chosen[0].content, pairs[0].chosen);

  // the same lines through the HF export's chat template = our renderer
  const hf = join(tempDir(), 'hf');
  assert.equal(gptforge('export', '--format', 'hf', '--run', run, '--stage', 'base', '--out', hf).code, 0);
  const tc = JSON.parse(readFileSync(join(hf, 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
  const tok = smallTokenizer('gpt4-digits');
  const tmpl = new Template(tc.chat_template);
  for (const c of sft) {
    const text = tmpl.render({ messages: c.messages, add_generation_prompt: false });
    // our reader takes the standard shape back (fromOpenAIShape) to the same ids
    assert.deepEqual(tok.encode(text, { allowedSpecial: 'all' }), renderConversation(tok, fromOpenAIShape(c) as never).ids);
  }
});

test('gptforge export --format hf|gguf and gptforge import: files written, import round-trips, bad input named', () => {
  const { run } = fakeRun();
  const dir = tempDir();
  const hf = join(dir, 'hf');
  let r = gptforge('export', '--format', 'hf', '--run', run, '--out', hf);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /gpt_neox/);
  r = gptforge('import', hf, '--out', join(dir, 'again', 'base'));
  assert.equal(r.code, 0, r.err);
  assert.ok(existsSync(join(dir, 'again', 'base', 'latest.json')));
  // --force deletes checkpoints: one line each, saying why (here a later step that would shadow the import)
  const imported = readdirSync(join(dir, 'again', 'base')).find((n) => n.startsWith('step-'))!;
  cpSync(join(dir, 'again', 'base', imported), join(dir, 'again', 'base', 'step-9999999'), { recursive: true });
  r = gptforge('import', hf, '--out', join(dir, 'again', 'base'), '--force');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`import: removed .*${imported}: replaced by the import at the same step\n`));
  assert.match(r.out, /import: removed .*step-9999999: a later step, which every reader would take over the import\n/);
  const gg = join(dir, 'm.gguf');
  r = gptforge('export', '--format', 'gguf', '--type', 'q8_0', '--run', run, '--out', gg);
  assert.equal(r.code, 0, r.err);
  assert.equal(readGguf(gg).tensors.find((t) => t.name === 'blk.0.attn_qkv.weight')!.type, 8);
  r = gptforge('export', '--format', 'onnx', '--run', run, '--out', join(dir, 'x'));
  assert.equal(r.code, 1);
  assert.match(r.err, /--format: expects hf, gguf, peft, trl or llmc, got "onnx"/);
  // an existing directory that is not an export is never replaced
  mkdirSync(join(dir, 'precious'));
  writeFileSync(join(dir, 'precious', 'notes.txt'), 'keep me');
  r = gptforge('export', '--format', 'hf', '--run', run, '--out', join(dir, 'precious'));
  assert.equal(r.code, 1);
  assert.match(r.err, /refusing to replace it/);
  assert.equal(readFileSync(join(dir, 'precious', 'notes.txt'), 'utf8'), 'keep me');
  r = gptforge('import', join(dir, 'nowhere'), '--out', join(dir, 'y'));
  assert.equal(r.code, 1);
  assert.match(r.err, /no config\.json/);
});

test('an imported Hugging Face model fine-tunes with gptforge sft and exports again', () => {
  const { run } = fakeRun();
  const dir = tempDir();
  assert.equal(gptforge('export', '--format', 'hf', '--run', run, '--stage', 'base', '--out', join(dir, 'hf')).code, 0);
  const r2 = join(dir, 'run');
  assert.equal(gptforge('import', join(dir, 'hf'), '--out', join(r2, 'base')).code, 0);
  const r = gptforge('sft', '--run', r2, '--preset', 'tiny', '--max-steps', '2', '--quiet');
  assert.equal(r.code, 0, r.err);
  assert.ok(existsSync(join(r2, 'sft', 'latest.json')));
  const e = gptforge('export', '--format', 'hf', '--run', r2, '--stage', 'sft', '--out', join(dir, 'sft-hf'));
  assert.equal(e.code, 0, e.err);
  assert.match(readFileSync(join(dir, 'sft-hf', 'config.json'), 'utf8'), /"stage": "sft"/);
});
