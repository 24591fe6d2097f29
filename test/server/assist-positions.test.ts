import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { GptforgeServer } from '../../src/server/index.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

/**
 * POST /v1/gptforge/assist on a model with randomized position ids (config.randomPositions):
 * the technique draws its positions from its own seed and leaves the shared model's draws
 * where they were, so a chat request decoded after it gets exactly what it gets without it.
 */
test('assist: its position draws are its own — a chat after it decodes as without it, and its trace does not depend on what ran before', async () => {
  const tok = trainTokenizer(['Hello there. How are you? What is 2 plus 3? 5 '.repeat(40)], { vocabSize: 300 });
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope', randomPositions: 160 });
  const chat = { model: 'sft', messages: [{ role: 'user' as const, content: 'Hello there.' }], max_tokens: 10, temperature: 1, logprobs: true, top_logprobs: 2 };
  const assist = { model: 'sft', messages: [{ role: 'user', content: 'What is 2 plus 3?' }], technique: 'self-consistency', k: 3, max_tokens: 6, seed: 4 };
  const run = async (withAssist: boolean, before: number): Promise<{ chats: unknown[]; trace: unknown }> => {
    const server = new GptforgeServer({ parallel: 2 });
    server.setModels(new Map([['sft', { id: 'sft', model: new GPT(config, { seed: 2 }), tok, dir: '', created: 0 }]]));
    const base = await server.listen(0, '127.0.0.1');
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
    try {
      const chats: unknown[] = [];
      for (let i = 0; i < before; i++) await client.chat.completions.create({ ...chat, seed: 100 + i });
      let trace: unknown = null;
      if (withAssist) {
        const r = await fetch(`${base}/v1/gptforge/assist`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(assist) });
        assert.equal(r.status, 200);
        const j = (await r.json()) as { consistency: { samples: Array<{ text: string }> } };
        trace = j.consistency.samples.map((s) => s.text);
      }
      for (const seed of [7, 8]) {
        const r = await client.chat.completions.create({ ...chat, seed });
        chats.push([r.choices[0].message.content, r.choices[0].logprobs]);
      }
      return { chats, trace };
    } finally {
      await server.close();
    }
  };
  const plain = await run(false, 0);
  const withAssist = await run(true, 0);
  assert.deepEqual(withAssist.chats, plain.chats, 'the chats after the assist request: the same text and log-probabilities as without it');
  const later = await run(true, 2);
  assert.deepEqual(later.trace, withAssist.trace, 'the assist trace: the same after two other requests');
});
