import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { KVCache } from '../../src/model/kvcache.js';
import { ChatEngine, type DecodingModel } from '../../src/infer/engine.js';
import { defaultTools } from '../../src/infer/tools/registry.js';
import { regexConstraint, ReplyConstraint } from '../../src/infer/constrain/index.js';
import type { Conversation } from '../../src/data/conversation.js';

const tok = trainTokenizer(['Let me see. The answer is 36. calculator: 12*3 error division by zero '.repeat(30)], { vocabSize: 330 });
const sp = (name: string): number => tok.specialId(name);
const txt = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });
const question: Conversation = { messages: [{ role: 'user', content: 'What is 12 times 3?' }] };

/** A model that wants to emit `script` (logit 10 on its next token, 5 on a runner-up); counts its passes. */
class ScriptedModel implements DecodingModel {
  readonly config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 256, nLayer: 1, nHead: 1, nEmbd: 8 });
  private k = 0;
  constructor(
    private readonly script: number[],
    private readonly runnerUp: (number | undefined)[] = [],
  ) {}
  createCache(batch: number): KVCache {
    return new KVCache(1, batch, this.config.blockSize, 8);
  }
  nextLogits(ids: Int32Array, cache: KVCache): Float32Array {
    cache.length += ids.length;
    const logits = new Float32Array(tok.vocabSize);
    const i = this.k++;
    if (i < this.script.length) logits[this.script[i]] = 10;
    const r = this.runnerUp[i];
    if (r !== undefined) logits[r] = 5;
    return logits;
  }
}

const bit = (m: Uint32Array, id: number): boolean => (m[id >>> 5] & (1 << (id & 31))) !== 0;

test('ReplyConstraint: <|tool_start|> allowed before the text only; inside a call everything passes until <|output_end|>', () => {
  const c = ReplyConstraint.forTokenizer(regexConstraint('[0-9]+', tok), tok);
  const m = new Uint32Array(Math.ceil(tok.vocabSize / 32));
  c.fillMask(m);
  assert.ok(bit(m, sp('<|tool_start|>')));
  assert.ok(!bit(m, txt('Let')[0]));
  assert.ok(c.advance(sp('<|tool_start|>')));
  c.fillMask(m);
  assert.ok(m.every((w) => w === 0xffffffff));
  assert.equal(c.isComplete(), false);
  for (const id of [...txt('calculator: 12*3'), sp('<|tool_end|>'), sp('<|output_start|>'), ...txt('36'), sp('<|output_end|>')]) assert.ok(c.advance(id));
  const d = c.clone();
  assert.ok(c.advance(txt('3')[0]));
  assert.ok(c.isComplete());
  c.fillMask(m);
  assert.ok(!bit(m, sp('<|tool_start|>')), 'no call once the text has begun');
  assert.equal(c.advance(sp('<|tool_start|>')), false);
  assert.equal(d.isComplete(), false, 'the clone is independent');
  assert.equal(d.advance(txt('Let')[0]), false);
});

test('engine + ReplyConstraint: a tool call before the constrained text runs; the text obeys the regex; a later call is refused', () => {
  const rx = (): ReplyConstraint => ReplyConstraint.forTokenizer(regexConstraint('[0-9]+', tok), tok);
  const script = [sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|tool_end|>'), ...txt('36'), sp('<|assistant_end|>')];
  const r = new ChatEngine(new ScriptedModel(script), tok).reply(question, { temperature: 0, tools: defaultTools(), constraint: rx() });
  assert.equal(r.stopReason, 'end');
  assert.equal(r.toolCalls, 1);
  assert.equal(r.text, '36');
  // the bare constraint (no ReplyConstraint) allows no call at all: the text starts at once
  const bare = new ChatEngine(new ScriptedModel(script, [txt('7')[0]]), tok).reply(question, { temperature: 0, tools: defaultTools(), constraint: regexConstraint('[0-9]+', tok), maxTokens: 6 });
  assert.equal(bare.toolCalls, 0);
  assert.match(bare.text, /^[0-9]+$/);
  // once the text has begun, <|tool_start|> is masked and the runner-up digit is taken instead
  const three = txt('3')[0];
  const late = [three, sp('<|tool_start|>'), sp('<|assistant_end|>')];
  const r2 = new ChatEngine(new ScriptedModel(late, [undefined, three]), tok).reply(question, { temperature: 0, tools: defaultTools(), constraint: rx() });
  assert.equal(r2.toolCalls, 0);
  assert.equal(r2.text, '33');
  assert.equal(r2.stopReason, 'end');
});

test("engine + ReplyConstraint: after a call's result the text begins (maxCalls 1): a model that wants another call gets its best allowed text token instead", () => {
  const call = [sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|tool_end|>')];
  const three = txt('3')[0];
  // after the result, the model's favourite is another call; its runner-up is a digit the regex allows
  const script = [...call, sp('<|tool_start|>'), sp('<|assistant_end|>')];
  const runnerUp: (number | undefined)[] = [];
  runnerUp[call.length] = three;
  const r = new ChatEngine(new ScriptedModel(script, runnerUp), tok).reply(question, { temperature: 0, tools: defaultTools(), constraint: ReplyConstraint.forTokenizer(regexConstraint('[0-9]+', tok), tok) });
  assert.equal(r.toolCalls, 1);
  assert.equal(r.text, '3');
  assert.equal(r.stopReason, 'end');
  // maxCalls 2: the second call is allowed (and the mask allows the opener until then)
  const c = ReplyConstraint.forTokenizer(regexConstraint('[0-9]+', tok), tok, 2);
  const m = new Uint32Array(Math.ceil(tok.vocabSize / 32));
  const result = [...txt('calculator: 12*3'), sp('<|tool_end|>'), sp('<|output_start|>'), ...txt('36'), sp('<|output_end|>')];
  for (const round of [0, 1]) {
    c.fillMask(m);
    assert.ok(bit(m, sp('<|tool_start|>')), `call ${round + 1} may open`);
    for (const id of [sp('<|tool_start|>'), ...result]) assert.ok(c.advance(id));
  }
  c.fillMask(m);
  assert.ok(!bit(m, sp('<|tool_start|>')), 'no third call');
  assert.equal(c.clone().advance(sp('<|tool_start|>')), false);
  assert.ok(c.advance(three));
});
