import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RagStore } from '../../src/rag/store.js';
import { dictionaryDocs } from '../../src/rag/evaluate.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ModelReranker } from '../../src/rag/rerank.js';
import { defaultReplyTokens, passageSource } from '../../src/rag/generate.js';
import { renderPrompt } from '../../src/data/chat.js';
import { NO_ANSWER, passagePrompt } from '../../src/rag/context.js';
import { CLI } from '../cli/fixture.js';
import { runCli, withDocs } from './helpers.js';

const run = runCli;

test('gptforge rag index/query/info: incremental, warnings named, bad input exits 1 naming the store', () =>
  withDocs('gf-rag-cli-', { 'a.md': '# Words\n\nEphemeral means lasting a very short time. A mayfly is ephemeral.\n', 'b.html': '<p>Perennial plants live for <b>many</b> years.</p>', 'c.txt': Buffer.from([1, 0, 2, 3]) }, ({ root, docs, db }) => {
    let r = run(['rag', 'index', '--input', docs, '--db', db, '--source', 'notes']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /3 file\(s\): 2 indexed, 0 unchanged, 1 skipped; 2 chunks written/);
    assert.match(r.stderr, /warning: .*c\.txt: binary file/);
    r = run(['rag', 'index', '--input', docs, '--db', db, '--source', 'notes']);
    assert.match(r.stdout, /0 indexed, 2 unchanged/);
    r = run(['rag', 'query', '--db', db, 'how long do perennial plants live?', '-k', '1']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\[1\] .*b\.html \[chars 0–37\].*\(source notes\)\n {4}Perennial plants live for many years\.\n$/);
    r = run(['rag', 'query', '--db', db, 'ephemeral', '--json', '--path-glob', '*.md']);
    const hits = JSON.parse(r.stdout) as { path: string; text: string; source: string }[];
    assert.equal(hits.length, 1);
    assert.match(hits[0].path, /a\.md$/);
    r = run(['rag', 'info', '--db', db]);
    assert.match(r.stdout, /2 file\(s\), 2 chunks\nembedding model: none\n/);
    // "mean" is a question-frame word: searched for by default (a.md's "means" matches), dropped with --drop-frame-words
    r = run(['rag', 'query', '--db', db, '--json', 'mean plants']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { path: string }[]).map((h) => h.path.replace(/.*[\\/]/, '')).sort(), ['a.md', 'b.html']);
    r = run(['rag', 'query', '--db', db, '--json', '--drop-frame-words', 'mean plants']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { path: string }[]).map((h) => h.path.replace(/.*[\\/]/, '')),
      ['b.html'],
    );
    r = run(['rag', 'index', '--input', docs, '--db', db, '--strict']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /c\.txt: binary file/);
    r = run(['rag', 'index', '--input', docs, '--db', db, '--chunk-size', '64']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /kb\.db: this RAG store was built with other settings: chunkSize is 192 in the store, 64 here/);
    assert.match(r.stderr, /\(index into another --db, or rebuild this one with these settings: gptforge rag index --rebuild/);
    r = run(['rag', 'query', '--db', db, '--mode', 'vector', 'x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /needs embeddings; this store was built without --model/);
    r = run(['rag', 'query', '--db', join(root, 'missing.db'), 'x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /missing\.db: no RAG store here \(build one with: gptforge rag index/);
    // one bad JSONL line: that line skipped with a warning naming file:line, the rest indexed; --strict refuses
    const jl = join(root, 'more');
    mkdirSync(jl);
    writeFileSync(join(jl, 'n.jsonl'), '{"text":"Evergreen trees keep their leaves."}\n{"text": broken\n{"text":"Deciduous trees drop them."}\n');
    r = run(['rag', 'index', '--input', jl, '--db', join(root, 'jl.db')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: .*n\.jsonl:2: not valid JSON .* — skipped/);
    assert.match(r.stdout, /1 file\(s\): 1 indexed, 0 unchanged, 0 skipped; 2 chunks written/);
    r = run(['rag', 'index', '--input', jl, '--db', join(root, 'jl2.db'), '--strict']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /n\.jsonl:2: not valid JSON/);
  }));

test("gptforge rag index killed (SIGKILL) mid-run: the rerun finishes with exactly a fresh index's chunks", { timeout: 120_000 }, () =>
  withDocs('gf-rag-kill-', Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`f${String(i).padStart(3, '0')}.txt`, `Document ${i}. `.repeat(200)])), async ({ root, docs, db }) => {
    const child = spawn(process.execPath, [CLI, 'rag', 'index', '--input', docs, '--db', db, '--chunk-size', '32', '--chunk-overlap', '4'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // wait until some files are committed, then kill without warning
    let seen = 0;
    for (let t = 0; t < 600 && child.exitCode === null; t++) {
      await new Promise((res) => setTimeout(res, 25));
      try {
        const s = RagStore.open(db, { readonly: true });
        seen = s.files().length;
        s.close();
      } catch {
        // not created yet
      }
      if (seen >= 20) break;
    }
    child.kill('SIGKILL');
    await exited;
    const mid = RagStore.open(db, { readonly: true });
    const midFiles = mid.files().length;
    mid.close();
    const r = run(['rag', 'index', '--input', docs, '--db', db, '--chunk-size', '32', '--chunk-overlap', '4']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${400 - midFiles} indexed, ${midFiles} unchanged`));
    const fresh = join(root, 'fresh.db');
    assert.equal(run(['rag', 'index', '--input', docs, '--db', fresh, '--chunk-size', '32', '--chunk-overlap', '4']).status, 0);
    const a = RagStore.open(db, { readonly: true });
    const b = RagStore.open(fresh, { readonly: true });
    const key = (s: RagStore) => s.allChunks().map((c) => `${c.path}#${c.seq}:${c.hash}`);
    assert.deepEqual(key(a), key(b));
    assert.equal(a.integrity(), 'ok');
    a.close();
    b.close();
    assert.ok(midFiles > 0 && midFiles < 400, `the kill should land mid-run (${midFiles} of 400 files committed)`);
  }),
);

test('gptforge rag train-embedder → index --model → query --mode hybrid (the model found from the store)', { timeout: 120_000 }, () =>
  withDocs('gf-rag-cli-emb-', { 'a.txt': 'Whales sing in the sea.', 'b.txt': 'Dogs bark at night.' }, ({ root, docs, db }) => {
    const tok = trainTokenizer(['the cat sat on the mat; dogs bark at night; whales sing in the sea. '.repeat(20), dictionaryDocs()[0].text], { vocabSize: 300 });
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 4 });
    saveCheckpoint(join(root, 'base'), model, { stage: 'pretrain', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    let r = run(['rag', 'train-embedder', '--model', join(root, 'base'), '--out', join(root, 'emb'), '--steps', '4', '--batch-size', '4', '--pairs', '40', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /index with --model .*emb\/embed/);
    r = run(['rag', 'index', '--input', docs, '--db', db, '--model', join(root, 'emb', 'embed')]);
    assert.equal(r.status, 0, r.stderr);
    r = run(['rag', 'info', '--db', db]);
    assert.match(r.stdout, /embedding model: gptforge-meanpool:[0-9a-f]{16} \(dim 16, .*emb\/embed\/step-0000004\)/);
    r = run(['rag', 'query', '--db', db, '--mode', 'hybrid', '--json', 'whales sing']);
    assert.equal(r.status, 0, r.stderr);
    const hits = JSON.parse(r.stdout) as { path: string; ranks: { bm25?: number; vector?: number } }[];
    assert.equal(hits.length, 2);
    assert.match(hits[0].path, /a\.txt$/);
    assert.ok(hits.every((h) => h.ranks.vector !== undefined));
    // re-indexing without --model embeds with the checkpoint the store recorded
    writeFileSync(join(docs, 'c.txt'), 'Cats sit on mats.');
    r = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 indexed, 2 unchanged/);
    r = run(['rag', 'query', '--db', db, '--mode', 'vector', '--json', 'cats mats']);
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 3, 'every chunk has a vector');
    // the base model is another embedding model: refused, naming both
    r = run(['rag', 'index', '--input', docs, '--db', db, '--model', join(root, 'base')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /embeddingModel is "gptforge-meanpool:[0-9a-f]+" in the store, "gptforge-meanpool:[0-9a-f]+" here/);
  }),
);

test("gptforge chat --rag: passages from the store in the prompt, the reply's [n] resolved to its source", { timeout: 120_000 }, () =>
  withDocs('gf-rag-cli-chat-', { 'a.txt': 'Whales sing in the sea.', 'b.txt': 'Perennial plants live for many years.' }, ({ root, docs, db }) => {
    let r = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    const tok = trainTokenizer(['Passages: Question: perennial plants live for many years [1] whales sing in the sea. '.repeat(20)], { vocabSize: 300 });
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 4 });
    saveCheckpoint(join(root, 'ck'), model, { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    // a random model forced by --regex to cite: what is tested is the wiring and the resolution
    r = run(['chat', '--run', join(root, 'ck'), '--rag', db, '--prompt', 'how long do perennial plants live?', '--temperature', '0', '--max-tokens', '16', '--no-tools', '--regex', 'Many years \\[1\\]\\.']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Many years [1].\n');
    assert.match(r.stderr, /sources:\n {2}\[1\] .*b\.txt \(chars 0–37\)/);
    // rag query --rerank: the candidates ordered by the model's log p(question | passage)
    const q = 'do whales or plants live for many years in the sea?';
    r = run(['rag', 'query', '--db', db, '--rerank', join(root, 'ck'), '--rerank-candidates', '2', '-k', '2', '--json', q]);
    assert.equal(r.status, 0, r.stderr);
    const hits = JSON.parse(r.stdout) as { text: string; path: string; line?: number; score: number }[];
    assert.equal(hits.length, 2);
    const want = new ModelReranker(model, tok).scores(
      q,
      hits.map((h) => ({ text: h.text, source: passageSource(h) })),
    );
    hits.forEach((h, i) => assert.ok(Math.abs(h.score - want[i]) < 1e-3, `${h.score} vs ${want[i]}`));
    assert.ok(hits[0].score >= hits[1].score);
    // --rag-drop-frame-words: the question's frame ("tell me what kind of") is not searched for, so the frame-heavy
    // c.txt no longer outranks the plants' passage (off by default: there it wins)
    writeFileSync(join(docs, 'c.txt'), 'Tell me a kind word; tell me what kind of word.');
    assert.equal(run(['rag', 'index', '--input', docs, '--db', db]).status, 0);
    const frame = ['chat', '--run', join(root, 'ck'), '--rag', db, '--rag-k', '1', '--prompt', 'tell me what kind of plants live long', '--temperature', '0', '--max-tokens', '16', '--no-tools', '--regex', 'Many years \\[1\\]\\.'];
    r = run(frame);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /sources:\n {2}\[1\] .*c\.txt /);
    r = run([...frame, '--rag-drop-frame-words']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /sources:\n {2}\[1\] .*b\.txt /);
    r = run(['chat', '--run', join(root, 'ck'), '--rag', join(root, 'missing.db'), '--prompt', 'x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /missing\.db: no RAG store here \(build one with: gptforge rag index/);
  }),
);

test('gptforge chat --rag: without --max-tokens the reply gets 3/16 of the context, so a passage the old 128 crowded out is shown; no passage to show → "The passages don\'t say." without the model', { timeout: 120_000 }, () =>
  withDocs('gf-rag-cli-room-', { 'a.txt': 'Whales sing in the sea.' }, ({ root, docs, db }) => {
    const tok = trainTokenizer(['Passages: Question: how do glaciers carve valleys [1] whales sing in the sea. '.repeat(20)], { vocabSize: 300 });
    const ctx = 128;
    const q = 'how do glaciers carve valleys?';
    // a passage sized to fit beside 24 tokens of reply (3/16 of 128) and not beside 64 (what --max-tokens' 128 left, half the context)
    let text = 'Glaciers carve valleys';
    const length = (t: string): number => renderPrompt(tok, { messages: [{ role: 'user', content: passagePrompt(q, [{ text: t, source: 'd.txt' }]) }] }).length;
    while (length(`${text}.`) + 64 <= ctx) text += ' slowly';
    text += '.';
    assert.ok(length(text) + 64 > ctx && length(text) + defaultReplyTokens(ctx) <= ctx, `${length(text)} tokens`);
    writeFileSync(join(docs, 'd.txt'), text);
    let r = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: ctx, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 4 });
    saveCheckpoint(join(root, 'ck'), model, { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    const chat = ['chat', '--run', join(root, 'ck'), '--rag', db, '--rag-k', '1', '--prompt', q, '--temperature', '0', '--no-tools'];
    r = run([...chat, '--regex', 'Slowly \\[1\\]\\.']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Slowly [1].\n');
    assert.match(r.stderr, /sources:\n {2}\[1\] .*d\.txt /);
    // --max-tokens given: taken as it is (half the context at most), and then nothing fits — no model call
    r = run([...chat, '--max-tokens', '128']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${NO_ANSWER}\n`);
    assert.match(r.stderr, /1 passage retrieved, none fit the 128-token context beside the question and 64 tokens for the reply: the smallest passage needs (\d+) tokens with the question — lower --max-tokens to (\d+) or less, or re-index with smaller chunks .*; nothing to answer from, so no model call\)/);
    const [, need, most] = /needs (\d+) tokens .* to (\d+) or less/.exec(r.stderr)!;
    assert.equal(Number(need), length(text));
    assert.equal(Number(most), ctx - length(text));
    // nothing retrieved
    r = run([...chat.slice(0, -4), 'zebra giraffe?', '--temperature', '0', '--no-tools']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${NO_ANSWER}\n`);
    assert.match(r.stderr, /\(no passages retrieved: nothing to answer from, so no model call\)/);
  }),
);

test('a chunk larger than the context: rag index warns (the context read from the checkpoint beside --tokenizer), chat --rag says to re-index with smaller chunks, not to lower --max-tokens', { timeout: 120_000 }, () =>
  withDocs('gf-rag-cli-big-', { 'a.txt': 'Glaciers carve valleys slowly over many years. '.repeat(40) }, ({ root, docs, db }) => {
    const tok = trainTokenizer(['Passages: Question: how do glaciers carve valleys [1] slowly over many years. '.repeat(20)], { vocabSize: 300 });
    const ctx = 128;
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: ctx, nLayer: 1, nHead: 2, nEmbd: 16 }), { seed: 4 });
    saveCheckpoint(join(root, 'ck'), model, { stage: 'sft', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
    // the tokenizer inside the checkpoint (its config.json beside it) …
    const ckpt = join(root, 'ck', readdirSync(join(root, 'ck')).find((n) => n.startsWith('step-'))!);
    let r = run(['rag', 'index', '--input', docs, '--db', db, '--tokenizer', join(ckpt, 'tokenizer.json'), '--chunk-size', '192']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: --chunk-size 192 is too large for the 128-token context of .*ck.step-0+1: .*index with --chunk-size 48 or less/);
    r = run(['chat', '--run', join(root, 'ck'), '--rag', db, '--rag-k', '1', '--prompt', 'how do glaciers carve valleys?', '--temperature', '0', '--no-tools']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${NO_ANSWER}\n`);
    assert.match(r.stderr, /too many for the context even with a short reply — re-index with smaller chunks \(rag index --rebuild --chunk-size (\d+) or less/);
    assert.doesNotMatch(r.stderr, /lower --max-tokens/);
    // … or a run's (its stages beside it): the same context found; chunks of the size suggested fit, and the index does not warn
    copyFileSync(join(ckpt, 'tokenizer.json'), join(root, 'tokenizer.json'));
    r = run(['rag', 'index', '--input', docs, '--db', join(root, 'big2.db'), '--tokenizer', join(root, 'tokenizer.json'), '--chunk-size', '100']);
    assert.match(r.stderr, /warning: --chunk-size 100 is too large for the 128-token context of .*ck.step-0+1: /);
    const small = join(root, 'small.db');
    r = run(['rag', 'index', '--input', docs, '--db', small, '--tokenizer', join(root, 'tokenizer.json'), '--chunk-size', '48']);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warning/);
    r = run(['chat', '--run', join(root, 'ck'), '--rag', small, '--rag-k', '1', '--prompt', 'how do glaciers carve valleys?', '--temperature', '0', '--no-tools', '--max-tokens', '4']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /\(no citation; passages shown: \[1\]|sources:/);
  }),
);

test("rag index: --chunk-size alone scales the overlap; re-indexing keeps the store's chunking; a bad overlap names the flag and creates no store", () =>
  withDocs('gf-rag-chunk-', { 'a.txt': 'Ephemeral means lasting a very short time. '.repeat(20) }, ({ root, docs, db }) => {
    let r = run(['rag', 'index', '--input', docs, '--db', db, '--chunk-size', '32']);
    assert.equal(r.status, 0, r.stderr);
    r = run(['rag', 'info', '--db', db]);
    assert.match(r.stdout, /chunks of ≤ 32 tokens, overlap 8/);
    r = run(['rag', 'query', '--db', db, 'ephemeral', '-k', '1']);
    assert.match(r.stdout, /^\[1\] .*a\.txt:1 \[chars 0–\d+\]  score [\d.e-]+, relative [\d.]+  \(source default\)\n/, 'a .txt chunk shows its line');
    writeFileSync(join(docs, 'b.txt'), 'Perennial plants live for many years.');
    r = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 indexed, 1 unchanged/);
    const fresh = join(root, 'other.db');
    r = run(['rag', 'index', '--input', docs, '--db', fresh, '--chunk-size', '32', '--chunk-overlap', '32']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--chunk-overlap: chunk overlap must be a whole number of tokens in \[0, chunk size 32\), got 32/);
    assert.equal(existsSync(fresh), false, 'no store left behind');
  }));

test('gptforge rag index --rebuild: the store rebuilt with other settings; a failed rebuild leaves it as it was', () =>
  withDocs('gf-rag-rebuild-', { 'a.md': '# Words\n\nEphemeral means lasting a very short time. A mayfly is ephemeral.\n', 'b.md': 'Perennial plants live for many years.\n' }, ({ root, docs, db }) => {
    let r = run(['rag', 'index', '--input', docs, '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    const meta = (): { chunkSize: number; chunkOverlap: number; chunks: number } => {
      const store = RagStore.open(db, { readonly: true });
      try {
        return { chunkSize: store.meta.chunkSize, chunkOverlap: store.meta.chunkOverlap, chunks: store.allChunks().length };
      } finally {
        store.close();
      }
    };
    assert.deepEqual(meta(), { chunkSize: 192, chunkOverlap: 32, chunks: 2 });
    // an input that does not exist: refused, the store untouched and no temporary file left
    r = run(['rag', 'index', '--input', join(root, 'missing.md'), '--db', db, '--chunk-size', '8', '--rebuild']);
    assert.equal(r.status, 1);
    assert.deepEqual(meta(), { chunkSize: 192, chunkOverlap: 32, chunks: 2 });
    assert.deepEqual(
      readdirSync(root).filter((n) => n.includes('.rebuild-')),
      [],
    );
    // only a.md, 8-token chunks: the store now holds a.md's chunks alone, at the new settings
    r = run(['rag', 'index', '--input', join(docs, 'a.md'), '--db', db, '--chunk-size', '8', '--rebuild']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 file\(s\): 1 indexed/);
    const after = meta();
    assert.equal(after.chunkSize, 8);
    assert.equal(after.chunkOverlap, 2);
    assert.ok(after.chunks > 2, `8-token chunks of a.md: ${after.chunks}`);
    r = run(['rag', 'query', '--db', db, '--json', 'perennial plants']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
    assert.deepEqual(
      readdirSync(root).filter((n) => n.includes('.rebuild-')),
      [],
    );
  }));
