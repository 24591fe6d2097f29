import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chatTokenIds } from '../../src/data/chat.js';
import type { GPT } from '../../src/model/gpt.js';
import { ragIndex } from '../../src/run/rag.js';
import { GptforgeServer, loadRunModels, registerWeb, type ServedModel, type ServerOptions, type WebOptions } from '../../src/server/index.js';
import type { Tokenizer } from '../../src/tokenizer/index.js';
import { PolicyModel, peak } from '../infer/scripted.js';
import { tinyRun } from '../server/fixture.js';

/**
 * Shared setup of the web tests: a tiny run served with the web UI (plus extra scripted
 * models), and the scripted models and RAG store the technique and retrieval tests need.
 */

export interface WebServer {
  dir: string;
  tok: Tokenizer;
  server: GptforgeServer;
  base: string;
  /** The RAG store the server retrieves from (withRag). */
  ragDb?: string;
  close(): Promise<void>;
}

/**
 * A tiny run (test/server/fixture.ts) served with the web UI; `models(tok)` adds models beside
 * its stages; `withRag` indexes tinyStore into the run directory and serves it; `web` goes to
 * registerWeb (pollMs …), the rest to the server (apiKeys …).
 */
export async function webServer(opts: ServerOptions & { models?: (tok: Tokenizer) => ServedModel[]; withRag?: boolean; web?: Omit<WebOptions, 'runDir'> } = {}): Promise<WebServer> {
  const { models: extra, withRag, web, ...serverOpts } = opts;
  const { dir, tok } = tinyRun();
  const ragDb = withRag ? await tinyStore(dir) : undefined;
  const server = new GptforgeServer({ parallel: 2, ...serverOpts, ...(ragDb ? { ragStore: ragDb } : {}) });
  await registerWeb(server, { ...web, runDir: dir });
  const models = new Map<string, ServedModel>(loadRunModels(dir));
  for (const m of extra?.(tok) ?? []) models.set(m.id, m);
  server.setModels(models);
  const base = await server.listen(0, '127.0.0.1');
  return {
    dir,
    tok,
    server,
    base,
    ragDb,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A scripted model: `reply(prompt)` gives the reply's text for the decoded prompt; the turn then ends. */
function scripted(tok: Tokenizer, id: string, reply: (prompt: string) => string, blockSize = 256): ServedModel {
  const sp = chatTokenIds(tok);
  const V = tok.vocabSize;
  const model = new PolicyModel(
    V,
    (h) => {
      const a = h.lastIndexOf(sp['<|assistant_start|>']);
      const prompt = tok.decode(h.slice(0, a).filter((x) => x >= 0));
      const ids = tok.encode(reply(prompt), { disallowedSpecial: 'plain' });
      return peak(V, ids[h.length - a - 1] ?? sp['<|assistant_end|>']);
    },
    blockSize,
  );
  return { id, model: model as unknown as GPT, tok, dir: '(scripted)', created: 0 };
}

/** The answers the voter draws from, most likely first. */
export const VOTER_ANSWERS = ['3', '5', '7'];

/**
 * A sampling model for self-consistency: its reply is one of VOTER_ANSWERS (logits 2, 1.2, 0.6
 * over their tokens), then the turn ends; different seeds give different answers.
 */
export function voterModel(tok: Tokenizer, id = 'voter'): ServedModel {
  const sp = chatTokenIds(tok);
  const V = tok.vocabSize;
  const digits = VOTER_ANSWERS.map((d) => {
    const ids = tok.encode(d, { disallowedSpecial: 'plain' });
    if (ids.length !== 1) throw new Error(`the test tokenizer splits "${d}"`);
    return ids[0];
  });
  const model = new PolicyModel(V, (h) => {
    const a = h.lastIndexOf(sp['<|assistant_start|>']);
    if (h.length - a - 1 > 0) return peak(V, sp['<|assistant_end|>']);
    const l = new Float32Array(V).fill(-30);
    [2, 1.2, 0.6].forEach((x, i) => (l[digits[i]] = x));
    return l;
  });
  return { id, model: model as unknown as GPT, tok, dir: '(scripted)', created: 0 };
}

/**
 * A reviewing model for reflection on "What is 12 plus 39?": first "12 + 39 = 41." (a
 * forgotten carry); in a review, "Answer: 51" when given the calculator's result or reviewing
 * 51 already, else "Answer: 41".
 */
export function reviewerModel(tok: Tokenizer, id = 'reviewer'): ServedModel {
  return scripted(tok, id, (prompt) => {
    if (!prompt.includes('Check it.')) return '12 + 39 = 41.';
    return prompt.includes('calculator says') || prompt.includes('= 51.') ? 'Answer: 51' : 'Answer: 41';
  });
}

/** A model that answers from passages, citing the first: "It says: sunny [1]." (without passages: "I do not know."). */
export function citerModel(tok: Tokenizer, id = 'citer', blockSize = 256): ServedModel {
  return scripted(tok, id, (prompt) => (prompt.includes('Passages:') ? 'It says: sunny [1].' : 'I do not know.'), blockSize);
}

/** A tiny knowledge base: three .md files in `dir`/kb indexed (BM25) into `dir`/kb.db. Returns the store's path. */
export async function tinyStore(dir: string): Promise<string> {
  const kb = join(dir, 'kb');
  mkdirSync(kb, { recursive: true });
  writeFileSync(join(kb, 'weather.md'), '# Weather\n\nThe weather in Paris is sunny today.\nBring a hat.\n');
  writeFileSync(join(kb, 'pets.md'), '# Pets\n\nA dog is a loyal animal.\nCats sleep a lot.\n');
  writeFileSync(join(kb, 'food.md'), '# Food\n\nBread is baked from flour and water.\n');
  const db = join(dir, 'kb.db');
  await ragIndex(db, { inputs: [kb] });
  return db;
}
