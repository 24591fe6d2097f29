import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { readConversationsJSONL, renderConversation, renderPrompt, validateConversation, visibleAnswer } from '../../src/data/chat.js';
import type { Conversation } from '../../src/data/conversation.js';
import { PackedLoader, readSftSources } from '../../src/data/sft.js';
import { GptforgeError } from '../../src/util/errors.js';
import { tempDir } from '../util/tmp.js';

const tok = trainTokenizer(['Hello there. What is 12 times 3? The answer is 36. calculator: 12*3 '.repeat(30)], { vocabSize: 320 });
const sp = (name: string): number => tok.specialId(name);
const txt = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });

const toolConv: Conversation = {
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'What is 12 times 3?' },
    { role: 'assistant', content: 'Let me see.', tool_call: { name: 'calculator', input: '12*3' } },
    { role: 'tool', content: '36' },
    { role: 'assistant', content: 'The answer is 36.' },
  ],
};

test('render: exact token layout and loss mask (assistant text, tool call, <|assistant_end|> only)', () => {
  const { ids, mask } = renderConversation(tok, toolConv);
  const expected: [number[], number][] = [
    [[sp('<|bos|>')], 0],
    [[sp('<|system_start|>'), ...txt('Be brief.'), sp('<|system_end|>')], 0],
    [[sp('<|user_start|>'), ...txt('What is 12 times 3?'), sp('<|user_end|>')], 0],
    [[sp('<|assistant_start|>')], 0],
    [txt('Let me see.'), 1],
    [[sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|tool_end|>')], 1],
    [[sp('<|output_start|>'), ...txt('36'), sp('<|output_end|>')], 0],
    [[...txt('The answer is 36.'), sp('<|assistant_end|>')], 1],
  ];
  assert.deepEqual(
    ids,
    expected.flatMap(([t]) => t),
  );
  assert.deepEqual(
    mask,
    expected.flatMap(([t, m]) => t.map(() => m)),
  );
  assert.equal(ids.length, mask.length);
  // the prompt for a reply is the conversation so far + <|assistant_start|>
  const prompt = renderPrompt(tok, { messages: toolConv.messages.slice(0, 2) });
  assert.deepEqual(prompt, [...ids.slice(0, prompt.length - 1), sp('<|assistant_start|>')]);
  assert.equal(visibleAnswer(toolConv), 'Let me see.The answer is 36.');
});

test('render: special-token text typed by a user stays plain text', () => {
  const { ids } = renderConversation(tok, {
    messages: [
      { role: 'user', content: 'hi <|assistant_end|>' },
      { role: 'assistant', content: 'ok' },
    ],
  });
  assert.equal(ids.filter((i) => i === sp('<|assistant_end|>')).length, 1);
});

test('validate: unknown role, empty content, bad order and a training conversation not ending with the assistant name the field', () => {
  const bad: [unknown, RegExp][] = [
    [{ messages: [{ role: 'robot', content: 'x' }] }, /messages\[0\]\.role.*unknown role "robot"/],
    [
      {
        messages: [
          { role: 'user', content: '  ' },
          { role: 'assistant', content: 'a' },
        ],
      },
      /messages\[0\]\.content.*empty content/,
    ],
    [
      {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'tool', content: '1' },
        ],
      },
      /must follow an assistant message with a tool_call/,
    ],
    [
      {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: '', tool_call: { name: 'calculator', input: '1+1' } },
        ],
      },
      /no tool output/,
    ],
    [
      {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'user', content: 'q' },
        ],
      },
      /two user messages in a row/,
    ],
    [
      {
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: 'a' },
          { role: 'system', content: 's' },
        ],
      },
      /system message may only come first/,
    ],
    [{ text: 'x' }, /expected \{"messages"/],
  ];
  for (const [conv, re] of bad)
    assert.throws(
      () => validateConversation(conv, { where: { file: 'f.jsonl', line: 3 } }),
      (e: Error) => re.test(e.message) && e.message.startsWith('f.jsonl:3'),
    );
  assert.throws(() => validateConversation({ messages: [{ role: 'user', content: 'q' }] }, { forTraining: true }), /must end with the assistant/);
  assert.doesNotThrow(() => validateConversation(toolConv, { forTraining: true }));
});

test('JSONL: errors name file and line; --on-bad skip counts and keeps going; over-long conversations are caught', () => {
  const dir = tempDir('gf-chat-');
  const file = join(dir, 'c.jsonl');
  const good = JSON.stringify({
    messages: [
      { role: 'user', content: 'Hello there.' },
      { role: 'assistant', content: 'Hello!' },
    ],
  });
  const long = JSON.stringify({
    messages: [
      { role: 'user', content: 'Hello there. '.repeat(40) },
      { role: 'assistant', content: 'Hello!' },
    ],
  });
  writeFileSync(file, [good, '{not json', '', JSON.stringify({ messages: [{ role: 'user', content: 'q' }] }), long, good].join('\n'));
  assert.throws(
    () => readConversationsJSONL(file, { forTraining: true }),
    // two bad lines (2 and 4): both listed
    (e: Error) => e.message.startsWith(`${file}: 2 bad lines of conversations`) && e.message.includes(`\n  ${file}:2`) && /not valid JSON/.test(e.message) && e.message.includes(`\n  ${file}:4: `),
  );
  const r = readConversationsJSONL(file, { forTraining: true, onBad: 'skip', tokenizer: tok, maxTokens: 64 });
  assert.equal(r.conversations.length, 2);
  assert.deepEqual(
    r.skipped.map((s) => s.line),
    [2, 4, 5],
  );
  assert.match(r.skipped[2].reason, /longer than a training row of 64/);
});

test('packing: best-fit rows start at <|bos|>, padding and non-assistant tokens carry no loss, epochs reshuffle, state resumes', () => {
  const convs: Conversation[] = [];
  for (let i = 0; i < 40; i++)
    convs.push({
      messages: [
        { role: 'user', content: `What is ${i} times 3?` },
        { role: 'assistant', content: `The answer is ${3 * i}.`.repeat(1 + (i % 3)) },
      ],
    });
  const items = convs.map((c) => renderConversation(tok, c));
  const T = 63;
  const pad = sp('<|pad|>');
  const loader = new PackedLoader(items, 4, T, pad, 7);
  let lossTokens = 0;
  const rows = loader.rowsPerEpoch;
  for (let i = 0; i < Math.ceil(rows / 4); i++) {
    const b = loader.next();
    for (let r = 0; r < 4; r++) {
      const row = b.inputs.subarray(r * T, (r + 1) * T);
      if (row[0] !== pad) assert.equal(row[0], sp('<|bos|>'));
      for (let t = 0; t < T; t++) {
        const target = b.targets[r * T + t];
        if (target >= 0) assert.notEqual(target, pad);
      }
    }
    lossTokens += b.lossTokens;
  }
  const expectedLoss = items.reduce((s, it) => s + it.mask.reduce((a, m) => a + m, 0), 0);
  // one epoch covers every conversation once (the last batch may wrap into the next epoch)
  assert.ok(lossTokens >= expectedLoss, `${lossTokens} ≥ ${expectedLoss}`);
  const saved = loader.state();
  const a = [loader.next(), loader.next()];
  const again = new PackedLoader(items, 4, T, pad, 7);
  again.restore(saved);
  const b = [again.next(), again.next()];
  assert.deepEqual(
    a.map((x) => [...x.inputs]),
    b.map((x) => [...x.inputs]),
  );
  assert.deepEqual(
    a.map((x) => [...x.targets]),
    b.map((x) => [...x.targets]),
  );
  // a validation pass (no shuffle) counts every assistant token exactly once
  const val = new PackedLoader(items, 4, T, pad, 0, false);
  let vt = 0;
  for (let i = 0; i < Math.ceil(val.rowsPerEpoch / 4) + 1; i++) vt += val.next().lossTokens;
  assert.equal(vt, expectedLoss);
});

test('renderPrompt/renderConversation: an unknown role from a library caller is named with its index, not reported as a misplaced message', () => {
  const tok = trainTokenizer(['hello there'], { vocabSize: 300 });
  const bad = { messages: [{ role: 'robot', content: 'hi' }] } as unknown as Conversation;
  assert.throws(
    () => renderPrompt(tok, bad),
    (e: unknown) => e instanceof GptforgeError && e.field === 'messages[0].role' && /unknown role "robot" \(roles: system, user, assistant, tool\)/.test(e.message),
  );
  assert.throws(
    () => renderConversation(tok, bad),
    (e: unknown) => e instanceof GptforgeError && e.field === 'messages[0].role',
  );
  assert.throws(
    () =>
      renderPrompt(tok, {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      }),
    /must end with a user message, not "assistant"/,
  );
});

test("OpenAI's tool-call shape (content null, tool_calls, tool_call_id) reads as ours; content null elsewhere says what a call looks like", () => {
  const dir = tempDir('gf-chat-openai-');
  const file = join(dir, 'openai.jsonl');
  const line = {
    messages: [
      { role: 'user', content: 'What is 12*3?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'calculator', arguments: '{"expression": "12*3"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '36' },
      { role: 'assistant', content: 'It is 36.' },
    ],
  };
  writeFileSync(file, JSON.stringify(line) + '\n');
  const r = readConversationsJSONL(file, { forTraining: true, knownTools: ['calculator'] });
  assert.deepEqual(r.conversations[0].messages, [
    { role: 'user', content: 'What is 12*3?' },
    { role: 'assistant', content: '', tool_call: { name: 'calculator', input: '12*3' } },
    { role: 'tool', content: '36' },
    { role: 'assistant', content: 'It is 36.' },
  ]);
  assert.deepEqual(r.warnings, []);
  writeFileSync(file, JSON.stringify({ messages: [line.messages[0], { role: 'assistant', content: null }] }) + '\n');
  assert.throws(() => readConversationsJSONL(file, { forTraining: true }), /openai\.jsonl:1, field "messages\[1\]\.content": content must be a string, got null \(a tool call is "tool_call": \{"name", "input"\}/);
});

test('a kept training line with a tool gptforge does not run or keys it ignores is warned about, naming file, line and field', () => {
  const dir = tempDir('gf-chat-warn-');
  const file = join(dir, 'mine.jsonl');
  const ok = {
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
    ],
  };
  const calc = {
    messages: [
      { role: 'user', content: '2+2?' },
      { role: 'assistant', content: '', tool_call: { name: 'calc', input: '2+2' } },
      { role: 'tool', content: '4' },
      { role: 'assistant', content: '4.', weight: 0 },
    ],
  };
  writeFileSync(file, [ok, { ...ok, weight: 0 }, calc].map((l) => JSON.stringify(l)).join('\n') + '\n');
  const r = readConversationsJSONL(file, { forTraining: true, knownTools: ['calculator'] });
  assert.equal(r.conversations.length, 3);
  assert.equal(r.warnings.length, 3, r.warnings.join('\n'));
  assert.match(r.warnings[0], /mine\.jsonl:2, field "weight": unknown key "weight" is ignored/);
  assert.match(r.warnings[1], /mine\.jsonl:3, field "messages\[1\]\.tool_call\.name": tool "calc" is not one gptforge runs \(calculator\)/);
  assert.match(r.warnings[2], /mine\.jsonl:3, field "messages\[3\]\.weight": unknown key "weight"/);
});

test('content as OpenAI text parts is read as its joined text; other parts are refused naming file, line and field', () => {
  const dir = tempDir('gf-chat-parts-');
  const file = join(dir, 'parts.jsonl');
  const line = {
    messages: [
      { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hi ' },
          { type: 'text', text: 'there' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'Hello.' }] },
    ],
  };
  writeFileSync(file, JSON.stringify(line) + '\n');
  const r = readConversationsJSONL(file, { forTraining: true });
  assert.deepEqual(r.conversations[0].messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi there' },
    { role: 'assistant', content: 'Hello.' },
  ]);
  assert.deepEqual(r.warnings, []);
  const image = { type: 'image_url', image_url: { url: 'https://example.com/a.png' } };
  writeFileSync(file, JSON.stringify({ messages: [line.messages[1], { role: 'assistant', content: [{ type: 'text', text: 'A.' }, image] }] }) + '\n');
  assert.throws(() => readConversationsJSONL(file, { forTraining: true }), /parts\.jsonl:1, field "messages\[1\]\.content\[1\]": content parts must be text .* got a "image_url" part/);
});

test('in-memory conversations (runSft({ conversations }), a mixture source) read text parts by the file rule; other parts are refused naming the field', () => {
  const parts = {
    messages: [
      { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hi ' },
          { type: 'text', text: 'there' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'Hello.' }] },
    ],
  };
  // the library's type is our shape; a JavaScript caller (or JSON.parse) hands OpenAI's
  const inline = (convs: unknown[]) => readSftSources(tok, { sources: [{ conversations: convs as Conversation[], weight: 1 }], valFraction: 0 }, 256);
  const { sources } = inline([parts]);
  const dir = tempDir('gf-chat-inline-');
  const file = join(dir, 'parts.jsonl');
  writeFileSync(file, JSON.stringify(parts) + '\n');
  const fromFile = readConversationsJSONL(file, { forTraining: true }).conversations[0];
  assert.deepEqual(sources[0].train[0].conversation, fromFile, 'the same conversation as the file gives');
  assert.deepEqual(fromFile.messages[1], { role: 'user', content: 'Hi there' });
  const image = { type: 'image_url', image_url: { url: 'https://example.com/a.png' } };
  const bad = { messages: [parts.messages[1], { role: 'assistant', content: [{ type: 'text', text: 'A.' }, image] }] };
  assert.throws(() => inline([parts, bad]), /sources\[0\]\.conversations\[1\], field "messages\[1\]\.content\[1\]": content parts must be text .* got a "image_url" part/);
});

test('warnings and errors after OpenAI tool calls name the fields as the line wrote them', () => {
  const dir = tempDir('gf-chat-written-');
  const file = join(dir, 'calls.jsonl');
  const line = {
    messages: [
      { role: 'user', content: 'Weather and time?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'a', type: 'function', function: { name: 'calculator', arguments: '{"expression": "1+1"}' } },
          { id: 'b', type: 'function', function: { name: 'weather', arguments: '{"city": "Oslo"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'a', content: '2' },
      { role: 'tool', tool_call_id: 'b', content: 'rain' },
      { role: 'assistant', content: 'Rain.', weight: 1 },
    ],
  };
  writeFileSync(file, JSON.stringify(line) + '\n');
  const r = readConversationsJSONL(file, { forTraining: true, knownTools: ['calculator'] });
  assert.equal(r.warnings.length, 2, r.warnings.join('\n'));
  assert.match(r.warnings[0], /calls\.jsonl:1, field "messages\[1\]\.tool_calls\[1\]\.function\.name": tool "weather" is not one gptforge runs/);
  assert.match(r.warnings[1], /calls\.jsonl:1, field "messages\[4\]\.weight": unknown key "weight"/);
  // an error in a message after the calls names its index in the file, not in the converted conversation
  const bad = { messages: [...line.messages.slice(0, 4), { role: 'assistant', content: 'Rain.' }, { role: 'user', content: '' }, { role: 'assistant', content: 'x' }] };
  writeFileSync(file, JSON.stringify(bad) + '\n');
  assert.throws(() => readConversationsJSONL(file, { forTraining: true }), /calls\.jsonl:1, field "messages\[5\]\.content": empty content/);
});

// newcomer (fixes44): a conversations file with many bad lines said only the first; now the first five, then a count
test('a conversations file with many bad lines: one error lists the first five as file:line[:column]: field — problem, and counts the rest', () => {
  const dir = tempDir('gf-chat-bad-');
  const file = join(dir, 'c.jsonl');
  const good = JSON.stringify({
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
    ],
  });
  const badRole = JSON.stringify({
    messages: [
      { role: 'robot', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
    ],
  });
  const lines = [good, '{"messages": [}', badRole, good, ...Array.from({ length: 6 }, () => badRole), good];
  writeFileSync(file, lines.join('\n') + '\n');
  let err: GptforgeError | undefined;
  try {
    readConversationsJSONL(file, { forTraining: true });
  } catch (e) {
    err = e as GptforgeError;
  }
  assert.ok(err instanceof GptforgeError, String(err));
  assert.equal(err.file, file);
  const listed = err.message.split('\n');
  assert.equal(listed[0], `${file}: 8 bad lines of conversations (the first 5); fix them, or --on-bad skip leaves them out with a count:`);
  assert.match(listed[1], new RegExp(`^  ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2(:\\d+)?: not valid JSON`));
  assert.ok(listed[2].startsWith(`  ${file}:3: messages[0].role — `), listed[2]);
  assert.ok(listed[3].startsWith(`  ${file}:5: messages[0].role — `), listed[3]);
  assert.equal(listed.length, 7, err.message);
  assert.equal(listed[6], '  and 3 more');
  // skip still counts every one, and one bad line is still the plain error
  assert.equal(readConversationsJSONL(file, { forTraining: true, onBad: 'skip' }).skipped.length, 8);
  writeFileSync(file, [good, badRole, good].join('\n'));
  assert.throws(
    () => readConversationsJSONL(file, { forTraining: true }),
    (e: Error) => e.message.startsWith(`${file}:2, field "messages[0].role": `),
  );
});
