import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatTokenIds } from '../../src/data/chat.js';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { trainTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';
import type { ServedModel } from '../../src/server/index.js';
import { PolicyModel, peak } from '../infer/scripted.js';

/**
 * A tiny run for server tests, in seconds: a 330-token BPE tokenizer, randomly initialised
 * 1-layer models saved with the run layout (base, sft, and rm with a non-zero reward head),
 * so the server loads them exactly as it loads a trained run.
 */
export function tinyRun(): { dir: string; tok: Tokenizer } {
  const dir = mkdtempSync(join(tmpdir(), 'gf-serve-'));
  const text = 'Hello there. How are you? Bye. It says: the weather in Paris is sunny. calculator: 12*3 get_weather {"city": "Paris"} 36 ';
  const tok = trainTokenizer([text.repeat(40)], { vocabSize: 330 });
  const config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 1, nHead: 2, nEmbd: 32, position: 'rope' });
  for (const [stage, seed] of [
    ['base', 1],
    ['sft', 2],
  ] as const)
    saveCheckpoint(join(dir, stage), new GPT(config, { seed }), { stage, step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
  const rm = new GPT(config, { seed: 3, scalarHead: true });
  const w = rm.params.get('score.weight')!.data;
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(i + 1);
  saveCheckpoint(join(dir, 'rm'), rm, { stage: 'rm', step: 1, tokenizerJSON: tok.toJSON(), tokenizerHash: tok.hash() });
  return { dir, tok };
}

/** The scripted model's reply to "bytes": 2-, 3- and 4-byte characters, each split over byte tokens. */
export const BYTE_REPLY = 'café 中 😀 ü.';

/**
 * A scripted chat model (greedy tests): after a user message containing "weather" it calls
 * `get_weather: {"city": "Paris"}`, after "calc" `calculator: 12*3`; after a tool output it
 * says " It says: <output>." (after "calc forever": calls again); after "bytes" it writes `BYTE_REPLY` one UTF-8 byte token at a time (its
 * multi-byte characters split across tokens); otherwise "Hello there. How are you? Bye." — then ends the turn.
 * `slowMs` busy-waits per forward pass (disconnect tests need a reply that takes a while).
 */
export function scriptedModel(tok: Tokenizer, opts: { slowMs?: number; repeat?: number } = {}): ServedModel {
  const sp = chatTokenIds(tok);
  const V = tok.vocabSize;
  const txt = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });
  const byteId = new Map<number, number>();
  const specials = new Set(tok.specialTokens.values());
  for (let id = 0; id < V; id++) if (!specials.has(id) && tok.tokenBytes(id).length === 1) byteId.set(tok.tokenBytes(id)[0], id);
  const model = new PolicyModel(
    V,
    (h) => {
      if (opts.slowMs) {
        const until = Date.now() + opts.slowMs;
        while (Date.now() < until);
      }
      const a = h.lastIndexOf(sp['<|assistant_start|>']);
      const prompt = tok.decode(h.slice(0, a).filter((id) => id >= 0));
      const reply = h.slice(a + 1);
      const oe = reply.lastIndexOf(sp['<|output_end|>']);
      let script: number[];
      let at: number;
      if (oe >= 0 && prompt.includes('forever')) {
        // "calc forever": it calls again after each output
        script = [sp['<|tool_start|>'], ...txt('calculator: 12*3'), sp['<|tool_end|>']];
        at = reply.length - oe - 1;
      } else if (oe >= 0) {
        const os = reply.lastIndexOf(sp['<|output_start|>']);
        script = [...txt(' It says: '), ...reply.slice(os + 1, oe), ...txt('.'), sp['<|assistant_end|>']];
        at = reply.length - oe - 1;
      } else {
        const call = prompt.includes('bytes') ? null : prompt.includes('weather') ? 'get_weather: {"city": "Paris"}' : prompt.includes('calc') ? 'calculator: 12*3' : null;
        // "unclosed": the model would end its turn inside the call (closing it is its runner-up)
        script = call
          ? [sp['<|tool_start|>'], ...txt(call), prompt.includes('unclosed') ? sp['<|assistant_end|>'] : sp['<|tool_end|>']]
          : prompt.includes('bytes')
            ? [...[...Buffer.from(BYTE_REPLY, 'utf8')].map((b) => byteId.get(b)!), sp['<|assistant_end|>']]
            : [...txt('Hello there. How are you? Bye.'.repeat(opts.repeat ?? 1)), sp['<|assistant_end|>']];
        at = reply.length;
      }
      const l = peak(V, script[at] ?? sp['<|assistant_end|>']);
      if (prompt.includes('unclosed') && script[at] === sp['<|assistant_end|>'] && oe < 0) l[sp['<|tool_end|>']] = 10;
      return l;
    },
    256,
  );
  return { id: 'scripted', model: model as unknown as GPT, tok, dir: '(scripted)', created: 0 };
}
