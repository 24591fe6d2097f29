import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callInput as inputOf } from '../../src/data/chat.js';
import { argumentsOf, toConversation } from '../../src/server/chat.js';
import { ApiError } from '../../src/server/errors.js';

test('tool arguments: free text is wrapped as {"input"}, JSON objects pass through, and both map back', () => {
  assert.equal(argumentsOf('12*3'), '{"input":"12*3"}');
  assert.equal(argumentsOf('{"city": "Paris"}'), '{"city": "Paris"}');
  assert.equal(argumentsOf('[1,2]'), '{"input":"[1,2]"}');
  assert.equal(inputOf('{"input":"12*3"}'), '12*3');
  assert.equal(inputOf('{"expression": "2+2"}'), '2+2');
  assert.equal(inputOf('{"a": 1, "b": 2}'), '{"a": 1, "b": 2}');
  assert.equal(inputOf('not json'), 'not json');
  for (const s of ['12*3', 'sqrt(2) + 1']) assert.equal(inputOf(argumentsOf(s)), s);
});

test('messages: several tool calls in one assistant message become one call per message, each followed by its result (matched by id)', () => {
  const conv = toConversation([
    { role: 'developer', content: 'be brief' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'two ' },
        { type: 'text', text: 'sums' },
      ],
    },
    {
      role: 'assistant',
      content: 'Let me see.',
      tool_calls: [
        { id: 'a', type: 'function', function: { name: 'calculator', arguments: '{"input":"1+1"}' } },
        { id: 'b', type: 'function', function: { name: 'calculator', arguments: '{"input":"2+2"}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'b', content: '4' },
    { role: 'tool', tool_call_id: 'a', content: '2' },
  ]);
  assert.deepEqual(conv.messages, [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'two sums' },
    { role: 'assistant', content: 'Let me see.', tool_call: { name: 'calculator', input: '1+1' } },
    { role: 'tool', content: '2' },
    { role: 'assistant', content: '', tool_call: { name: 'calculator', input: '2+2' } },
    { role: 'tool', content: '4' },
  ]);
});

test('messages: a missing result, an image part or an unknown role is a 400 naming messages', () => {
  const bad = [
    [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'zzz', content: '1' },
    ],
    [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
    [{ role: 'robot', content: 'x' }],
  ];
  for (const msgs of bad)
    assert.throws(
      () => toConversation(msgs),
      (e: unknown) => e instanceof ApiError && e.status === 400 && e.param !== null && e.param.startsWith('messages'),
    );
});
