import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatTokenIds } from '../../src/data/chat.js';
import type { GPT } from '../../src/model/gpt.js';
import { storeMetaFor, type IndexOptions } from '../../src/rag/indexer.js';
import { MIN_CUTOFF_CHUNKS, smallStoreCutoffWarning } from '../../src/rag/relevance.js';
import { Retriever } from '../../src/rag/retrieve.js';
import { RagStore } from '../../src/rag/store.js';
import { ragIndex } from '../../src/run/rag.js';
import { GptforgeServer, type ServedModel } from '../../src/server/index.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { PolicyModel, peak } from '../infer/scripted.js';
import { indexLines } from './helpers.js';

// fixes46 #1: on a store of a few chunks the relative BM25 score is ≈ 0, so a cutoff refused every question without a word
const notes = ['The office opens at nine and closes at five on weekdays.', 'Parking is free for visitors in the north lot behind the building.'];

test('a 2-chunk store: FTS5 gives every word it holds no weight, so a question naming a word it lacks scores ≈ 0 on the right chunk; smallStoreCutoffWarning says so below MIN_CUTOFF_CHUNKS', () => {
  const root = mkdtempSync(join(tmpdir(), 'gf-rag-small-'));
  try {
    const opts: IndexOptions = { chunkSize: 40, chunkOverlap: 0 };
    const store = RagStore.open(join(root, 'kb.db'), { meta: storeMetaFor(opts) });
    try {
      indexLines(store, '/kb/notes.txt', notes, opts, 'notes');
      const [hit] = new Retriever(store).retrieve('Where can visitors park?', { k: 3 });
      assert.match(hit.text, /visitors/, 'BM25 still finds the right chunk');
      // "visitors" is in 1 of 2 chunks: idf = max(1e-6, ln(1.5 / 1.5)); "park" is in none: ln(5) is the whole ceiling
      assert.ok(hit.scores.bm25Relative! < 1e-5, `relative ${hit.scores.bm25Relative}`);
      const w = smallStoreCutoffWarning(store.count(), '--rag-min-score');
      assert.match(w ?? '', /^the RAG store holds 2 chunks, fewer than 16: .*--rag-min-score may refuse every question; leave --rag-min-score out/);
    } finally {
      store.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  assert.equal(MIN_CUTOFF_CHUNKS, 16);
  assert.match(smallStoreCutoffWarning(1, 'x') ?? '', /holds 1 chunk,/);
  assert.notEqual(smallStoreCutoffWarning(MIN_CUTOFF_CHUNKS - 1, 'x'), undefined);
  assert.equal(smallStoreCutoffWarning(MIN_CUTOFF_CHUNKS, 'x'), undefined);
  // the rule's arithmetic: below 16 chunks a word in two weighs less than half of one the store lacks
  const ratio = (n: number): number => Math.log((n - 1.5) / 2.5) / Math.log(2 * n + 1);
  assert.ok(ratio(MIN_CUTOFF_CHUNKS - 1) < 0.5 && ratio(MIN_CUTOFF_CHUNKS) >= 0.5);
});

test('server: a request with rag.min_score on a small store gets rag.warning in every response, and the log says it once; without min_score, none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-rag-small-server-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tok = trainTokenizer([`Passages: Question: ${notes.join(' ')} Where can visitors park? `.repeat(20)], { vocabSize: 300 });
  const sp = chatTokenIds(tok);
  const model = new PolicyModel(tok.vocabSize, () => peak(tok.vocabSize, sp['<|assistant_end|>']));
  const served: ServedModel = { id: 'sft', model: model as unknown as GPT, tok, dir: '(scripted)', created: 0 };
  mkdirSync(join(dir, 'kb'));
  writeFileSync(join(dir, 'kb', 'notes.md'), `${notes.join('\n\n')}\n`);
  const db = join(dir, 'kb.db');
  await ragIndex(db, { inputs: [join(dir, 'kb')] });
  const lines: string[] = [];
  const server = new GptforgeServer({ parallel: 1, ragStore: db, log: { write: (l: string) => void lines.push(l) } });
  t.after(() => server.close());
  server.setModels(new Map([[served.id, served]]));
  const base = await server.listen(0, '127.0.0.1');
  const ask = async (rag: unknown): Promise<{ warning?: string; abstained?: string }> => {
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sft', messages: [{ role: 'user', content: 'Where can visitors park?' }], max_tokens: 8, rag }) });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { rag: { warning?: string; abstained?: string } }).rag;
  };
  const first = await ask({ min_score: 0.3 });
  assert.match(first.warning ?? '', /^the RAG store holds \d+ chunks?, fewer than 16: .*'rag\.min_score' may refuse every question/);
  assert.equal(first.abstained, 'below_cutoff', 'the refusal the warning explains');
  assert.equal((await ask({ min_score: 0.3 })).warning, first.warning, 'in every response');
  assert.equal((await ask(true)).warning, undefined, 'no cutoff, no warning');
  const logged = lines.filter((l) => l.includes('fewer than 16'));
  assert.equal(logged.length, 1, `logged once: ${logged.join('')}`);
  assert.equal(JSON.parse(logged[0]).level, 40, 'at warn level');
});
