import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { KVCache } from '../../src/model/kvcache.js';
import { ChatEngine, type DecodingModel } from '../../src/infer/engine.js';
import { defaultTools } from '../../src/infer/tools/registry.js';
import { renderConversation } from '../../src/data/chat.js';
import type { Conversation } from '../../src/data/conversation.js';

const tok = trainTokenizer(['Let me see. The answer is 36. calculator: 12*3 error division by zero '.repeat(30)], { vocabSize: 330 });
const sp = (name: string): number => tok.specialId(name);
const txt = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });

/**
 * A stand-in model that "wants" to emit a fixed script: each forward pass puts the most
 * mass on the next script token (and, optionally, a runner-up). It records everything fed
 * to it, so the test sees exactly what the engine forced into the context.
 */
class ScriptedModel implements DecodingModel {
  readonly config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 1, nEmbd: 8 });
  readonly fed: number[] = [];
  private k = 0;
  constructor(
    private readonly script: number[],
    private readonly runnerUp: number[] = [],
  ) {}
  createCache(batch: number): KVCache {
    return new KVCache(1, batch, this.config.blockSize, 8);
  }
  nextLogits(ids: Int32Array, cache: KVCache): Float32Array {
    this.fed.push(...ids);
    cache.length += ids.length;
    const logits = new Float32Array(tok.vocabSize);
    const i = this.k++;
    if (i < this.script.length) logits[this.script[i]] = 10;
    if (i < this.runnerUp.length) logits[this.runnerUp[i]] = 5;
    return logits;
  }
}

const question: Conversation = { messages: [{ role: 'user', content: 'What is 12 times 3?' }] };

test('engine: a tool call is run and its output forced as <|output_start|>…<|output_end|>; the reply renders back to the same tokens', () => {
  const script = [...txt('Let me see.'), sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|tool_end|>'), ...txt('The answer is 36.'), sp('<|assistant_end|>')];
  const model = new ScriptedModel(script);
  const engine = new ChatEngine(model, tok);
  const calls: string[] = [];
  let streamed = '';
  const r = engine.reply(question, { temperature: 0, tools: defaultTools(), onToolCall: (c, res) => calls.push(`${c} -> ${res.output}`), onText: (d) => (streamed += d) });
  assert.equal(r.stopReason, 'end');
  assert.deepEqual(calls, ['calculator: 12*3 -> 36']);
  assert.equal(r.text, 'Let me see.The answer is 36.');
  assert.equal(streamed, 'Let me see.The answer is 36.');
  assert.deepEqual(r.messages, [
    { role: 'assistant', content: 'Let me see.', tool_call: { name: 'calculator', input: '12*3' } },
    { role: 'tool', content: '36' },
    { role: 'assistant', content: 'The answer is 36.' },
  ]);
  const forced = [sp('<|output_start|>'), ...txt('36'), sp('<|output_end|>')];
  const at = r.ids.indexOf(sp('<|tool_end|>')) + 1;
  assert.deepEqual(r.ids.slice(at, at + forced.length), forced);
  assert.deepEqual(r.sampled.slice(at, at + forced.length), forced.map(() => 0));
  assert.equal(r.sampled.filter((x) => x === 1).length, script.length);
  // what the model was fed is exactly the training layout of the finished conversation
  const full = renderConversation(tok, { messages: [...question.messages, ...r.messages] }).ids;
  assert.deepEqual([...model.fed, sp('<|assistant_end|>')], full);
});

test('engine: a tool error goes back to the model as output and it continues', () => {
  const script = [sp('<|tool_start|>'), ...txt('calculator: 12/0'), sp('<|tool_end|>'), ...txt('The answer is'), sp('<|assistant_end|>')];
  const r = new ChatEngine(new ScriptedModel(script), tok).reply(question, { temperature: 0, tools: defaultTools() });
  assert.equal(r.stopReason, 'end');
  assert.equal(r.messages[1].role, 'tool');
  assert.match(r.messages[1].content, /^error: .*division by zero/);
  assert.equal(r.text, 'The answer is');
});

test('engine: a tool call that never closes ends the reply as unclosed, or is closed by the engine at maxCallTokens', () => {
  const open = [sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|assistant_end|>')];
  const r1 = new ChatEngine(new ScriptedModel(open), tok).reply(question, { temperature: 0, tools: defaultTools() });
  assert.equal(r1.stopReason, 'unclosed_tool_call');
  assert.equal(r1.toolCalls, 0);
  const runaway = [sp('<|tool_start|>'), ...Array(20).fill(txt('3')[0]), ...txt('The answer is 36.'), sp('<|assistant_end|>')];
  const model = new ScriptedModel(runaway);
  const r2 = new ChatEngine(model, tok).reply(question, { temperature: 0, tools: defaultTools(), maxCallTokens: 8 });
  assert.equal(r2.toolCalls, 1);
  assert.match(r2.messages[1].content, /^error:/); // "33333333" has no "name:"
  // the engine closed the call itself: <|tool_end|> forced (sampled = 0) right after the 8th call token
  const end = r2.ids.indexOf(sp('<|tool_end|>'));
  assert.equal(end, 9);
  assert.equal(r2.sampled[end], 0);
  const r3 = new ChatEngine(new ScriptedModel(open.slice(0, 4)), tok).reply(question, { temperature: 0, tools: defaultTools(), maxTokens: 4 });
  assert.equal(r3.stopReason, 'unclosed_tool_call');
});

test('engine: without tools <|tool_start|> is masked, and turn markers are never sampled', () => {
  const a = txt('The answer is 36.')[0];
  const r = new ChatEngine(new ScriptedModel([sp('<|tool_start|>'), sp('<|user_start|>'), sp('<|assistant_end|>')], [a, a]), tok).reply(question, { temperature: 0, tools: null });
  assert.deepEqual(r.ids, [a, a, sp('<|assistant_end|>')]);
  assert.equal(r.toolCalls, 0);
});

test('engine: a conversation longer than the context drops its oldest turns with a notice; --strict refuses', () => {
  const long: Conversation = { messages: [] };
  for (let i = 0; i < 30; i++) long.messages.push({ role: 'user', content: 'What is 12 times 3? '.repeat(2) }, { role: 'assistant', content: 'The answer is 36.' });
  long.messages.push({ role: 'user', content: 'What is 12 times 3?' });
  const engine = new ChatEngine(new ScriptedModel([sp('<|assistant_end|>')]), tok as Tokenizer);
  const r = engine.reply(long, { temperature: 0, maxTokens: 32 });
  assert.match(r.notice ?? '', /dropped the \d+ oldest messages/);
  assert.throws(() => new ChatEngine(new ScriptedModel([]), tok).reply(long, { strict: true, maxTokens: 32 }), /exceeds the context/);
});
