import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine, DEFAULT_MAX_TOOL_CALLS } from '../../src/infer/engine.js';
import { regexConstraint, type ReplyConstraint } from '../../src/infer/constrain/index.js';
import { chatOptions } from '../../src/cli/chat-run.js';
import type { GPT } from '../../src/model/gpt.js';
import { scriptedModel } from '../server/fixture.js';
import { CLI } from './fixture.js';

const tok = trainTokenizer(['calculator: 12*3 It says: 36. Hello there. How are you? Bye. '.repeat(40)], { vocabSize: 330 });
// after "calc forever" the scripted model calls the calculator again after every result
const engine = new ChatEngine(scriptedModel(tok).model as GPT, tok);
const flags = { temperature: 0, topK: 0, topP: 1, maxTokens: 200, seed: 1, tools: true };
const calls = (maxToolCalls?: number): number => {
  const r = engine.reply({ messages: [{ role: 'user', content: 'calc forever' }] }, chatOptions({ ...flags, maxToolCalls }, tok, undefined));
  return r.messages.filter((m) => m.role === 'tool').length;
};

test("chat --max-tool-calls caps the calculator calls of a reply (default the server's and library's, 4)", () => {
  assert.equal(calls(), DEFAULT_MAX_TOOL_CALLS);
  assert.equal(calls(2), 2);
  assert.equal(calls(0), 0);
  // under a constraint: one call before the text unless the flag says more, as the server's max_tool_calls
  const text = regexConstraint('[a-z ]{1,20}', tok);
  assert.equal((chatOptions(flags, tok, text).constraint as ReplyConstraint).maxCalls, 1);
  assert.equal((chatOptions({ ...flags, maxToolCalls: 3 }, tok, text).constraint as ReplyConstraint).maxCalls, 3);
});

test('chat --max-tool-calls: in its help; out of range, or with --no-tools, refused before a model loads', () => {
  const help = spawnSync(process.execPath, [CLI, 'chat', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout.replace(/\s+/g, ' '), /--max-tool-calls <n> most calculator calls in one reply, 0–64, then the model must answer \(default 4/);
  for (const [args, message] of [
    [['--max-tool-calls', '65'], /--max-tool-calls: expects a whole number from 0 to 64 \(the server's max_tool_calls\), got "65"/],
    [['--max-tool-calls', '1.5'], /expects a whole number from 0 to 64/],
    [['--max-tool-calls', '2', '--no-tools'], /--max-tool-calls caps calculator calls, which --no-tools turns off/],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, 'chat', '--run', '/nonexistent-run', '-p', 'hi', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});
