import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sseLine, sseTemplate } from '../../src/server/sse.js';

// texts a token can carry: quotes, backslashes, control characters, U+2028, emoji, a lone surrogate
// (a byte-level token split mid-character), the placeholders' own U+0000, and the hole names as text
const TEXTS = ['', ' the', '"', '\\', 'a\nb\tc\r', '\u0000', '\u0001\u001f', '\u2028\u2029', '🙂', '\ud83d', 'é', '</script>', '"\u0000gptforge:text"', 'data: x\n\n'];

test('sseTemplate: each token chunk is byte for byte the chunk object stringified whole (chat and completions shapes, with and without usage)', () => {
  for (const includeUsage of [false, true]) {
    const chat = (choices: unknown[]) => ({ id: 'chatcmpl-1"2', object: 'chat.completion.chunk', created: 1764538000, model: 'sft', system_fingerprint: null, choices, ...(includeUsage ? { usage: null } : {}) });
    const legacy = (choices: unknown[]) => ({ id: 'cmpl-3', object: 'text_completion', created: 1764538000, model: 'base', system_fingerprint: null, choices, ...(includeUsage ? { usage: null } : {}) });
    const chatLine = sseTemplate((index, content) => chat([{ index, delta: { content }, logprobs: null, finish_reason: null }]));
    const legacyLine = sseTemplate((index, text) => legacy([{ index, text, logprobs: null, finish_reason: null }]));
    for (const index of [0, 3, 17]) {
      for (const t of TEXTS) {
        assert.equal(chatLine(index, t), sseLine(chat([{ index, delta: { content: t }, logprobs: null, finish_reason: null }])));
        assert.equal(legacyLine(index, t), sseLine(legacy([{ index, text: t, logprobs: null, finish_reason: null }])));
        // and it parses back to the text (the client's view)
        assert.equal(JSON.parse(chatLine(index, t).slice(6)).choices[0].delta.content, t);
      }
    }
  }
});

test('sseTemplate: a chunk without both holes, or with one twice, is refused', () => {
  assert.throws(() => sseTemplate((index) => ({ index })), /exactly once/);
  assert.throws(() => sseTemplate((index, text) => ({ index, text, again: text })), /exactly once/);
});
