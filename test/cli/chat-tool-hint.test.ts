import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { defaultTools } from '../../src/infer/tools/registry.js';
import { regexConstraint, ReplyConstraint } from '../../src/infer/constrain/index.js';
import { constrainedFinishLine } from '../../src/cli/chat-run.js';
import { PolicyModel, peak } from '../infer/scripted.js';

const tok = trainTokenizer(['calculator: 12*3 the date is 2024-05-06 '.repeat(20)], { vocabSize: 300 });
const toolStart = tok.specialId('<|tool_start|>');
const one = tok.encodeOrdinary('1')[0];

// A model that opens a calculator call first thing, then writes "1"s (inside the call, or as the value)
const model = new PolicyModel(tok.vocabSize, (h) => (h[h.length - 1] === tok.specialId('<|assistant_start|>') ? peak(tok.vocabSize, toolStart) : peak(tok.vocabSize, one)));
const ask = { messages: [{ role: 'user' as const, content: 'Give a date' }] };
const constraint = (): ReplyConstraint => ReplyConstraint.forTokenizer(regexConstraint('[0-9]{40}', tok), tok);

test('chat under a constraint: a budget spent inside a tool call that never closed gets the --no-tools hint (newcomer22)', () => {
  const engine = new ChatEngine(model, tok);
  const r = engine.reply(ask, { maxTokens: 6, temperature: 0, tools: defaultTools(), constraint: constraint() });
  // cut by the budget inside the call: 'length', no tool message, no visible text
  assert.equal(r.finishReason, 'length');
  assert.equal(r.text, '');
  assert.ok(!r.messages.some((m) => m.role === 'tool'));
  const line = constrainedFinishLine(r, true, toolStart);
  assert.match(line ?? '', /^finish_reason: length \(the constrained reply is incomplete; the model spent tokens on tool calls first: --no-tools/);
});

test('chat under a constraint: no hint without tools, and none once the value is complete', () => {
  const engine = new ChatEngine(model, tok);
  const r = engine.reply(ask, { maxTokens: 6, temperature: 0, tools: null, constraint: constraint() });
  assert.equal(r.finishReason, 'length');
  assert.ok(!r.ids.includes(toolStart));
  assert.equal(constrainedFinishLine(r, false, toolStart), 'finish_reason: length (the constrained reply is incomplete)');
  assert.equal(constrainedFinishLine({ ...r, finishReason: 'stop' }, true, toolStart), undefined);
  assert.match(constrainedFinishLine({ ...r, constraintComplete: true }, true, toolStart) ?? '', /matches the constraint in full/);
});
