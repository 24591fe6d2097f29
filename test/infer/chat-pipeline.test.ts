import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine, type ChatReply } from '../../src/infer/engine.js';
import { defaultTools } from '../../src/infer/tools/registry.js';
import type { Conversation } from '../../src/data/conversation.js';
import { PolicyModel, peak } from './scripted.js';

const tok = trainTokenizer(['Let me see. The answer is 36. calculator: 12*3 '.repeat(30)], { vocabSize: 330 });
const V = tok.vocabSize;
const sp = (name: string): number => tok.specialId(name);
const txt = (s: string): number[] => tok.encode(s, { disallowedSpecial: 'plain' });
const question: Conversation = { messages: [{ role: 'user', content: 'What is 12 times 3?' }] };

/** Follows `script` from the reply's first token on (forced tool outputs included), then ends the turn. */
const follow = (script: number[]): PolicyModel =>
  new PolicyModel(V, (h) => {
    const reply = h.slice(h.lastIndexOf(sp('<|assistant_start|>')) + 1);
    return peak(V, script[reply.length] ?? sp('<|assistant_end|>'));
  });
const toolScript = [...txt('Let me see.'), sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|tool_end|>'), sp('<|output_start|>'), ...txt('36'), sp('<|output_end|>'), ...txt('The answer is 36.'), sp('<|assistant_end|>')];

test('chat on the pipeline: a stop string ends the reply, split across tokens or not, and never shows', () => {
  for (const stop of ['is 3', 'e a', '.']) {
    let streamed = '';
    const r = new ChatEngine(follow(toolScript), tok).reply(question, { temperature: 0, tools: defaultTools(), stop: [stop], onText: (d) => (streamed += d) });
    const full = 'Let me see.The answer is 36.';
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.text, full.slice(0, full.indexOf(stop)).trim());
    assert.equal(streamed.trim(), r.text);
    assert.ok(!streamed.includes(stop));
  }
});

test('chat stream(): events carry every token and the visible text; the replies equal repliesTo()', async () => {
  const convs = [question, { messages: [{ role: 'user' as const, content: 'Hi' }] }];
  const engine = new ChatEngine(follow(toolScript), tok);
  const expected = engine.repliesTo(convs, [1, 2], { temperature: 0, tools: defaultTools() });
  const gen = engine.stream(convs, [1, 2], { temperature: 0, tools: defaultTools() });
  const texts = ['', ''];
  const ids: number[][] = [[], []];
  let res: IteratorResult<unknown, ChatReply[]>;
  while (!(res = await gen.next()).done) {
    const e = res.value as { type: string; row: number; text: string; token?: number };
    texts[e.row] += e.text;
    if (e.type === 'token') ids[e.row].push(e.token!);
  }
  assert.deepEqual(res.value, expected);
  for (let i = 0; i < 2; i++) {
    assert.equal(texts[i].trim(), expected[i].text);
    assert.deepEqual(ids[i], expected[i].ids);
  }
});

test('chat stream(): text deltas never carry half a character when 2-, 3- and 4-byte characters arrive one byte token at a time', async () => {
  const byteId = new Map<number, number>();
  const specials = new Set(tok.specialTokens.values());
  for (let id = 0; id < V; id++) if (!specials.has(id) && tok.tokenBytes(id).length === 1) byteId.set(tok.tokenBytes(id)[0], id);
  const text = 'café 中 😀 ü.';
  const gen = new ChatEngine(follow([...Buffer.from(text, 'utf8')].map((b) => byteId.get(b)!)), tok).stream([question], [1], { temperature: 0 });
  const deltas: string[] = [];
  let res: IteratorResult<unknown, ChatReply[]>;
  while (!(res = await gen.next()).done) {
    const e = res.value as { text: string };
    if (e.text) deltas.push(e.text);
  }
  assert.equal(res.value[0].text, text);
  assert.equal(deltas.join(''), text);
  for (const d of deltas) assert.ok(!d.includes('\uFFFD') && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(d), JSON.stringify(d));
  assert.ok(deltas.includes('😀') && deltas.includes('中'), JSON.stringify(deltas));
});

test('chat stream(): one reply aborted mid-decode stops at once with "abort", the other goes on', async () => {
  const engine = new ChatEngine(follow([...txt(' The answer is 36.'.repeat(20)), sp('<|assistant_end|>')]), tok);
  const ac = new AbortController();
  const gen = engine.stream([question, question], [1, 2], { temperature: 0, maxTokens: 40 }, [ac.signal, undefined]);
  let n0 = 0;
  let res: IteratorResult<{ type: string; row: number }, ChatReply[]>;
  while (!(res = await gen.next()).done) {
    if (res.value.type === 'token' && res.value.row === 0 && ++n0 === 4) setImmediate(() => ac.abort());
  }
  const [a, b] = res.value;
  // the deprecated ChatReply.stopReason's mapping, tested here while it exists: 'abort' and 'max_tokens' (finishReason 'length')
  assert.equal(a.stopReason, 'abort');
  assert.equal(a.finishReason, 'abort');
  assert.equal(a.ids.length, 4);
  assert.equal(b.stopReason, 'max_tokens');
  assert.equal(b.finishReason, 'length', 'the same vocabulary as generateText and the server');
  assert.equal(b.ids.length, 40);
});

test('chat: per-reply sampling settings reach the pipeline (logit bias bans the scripted token, the runner-up wins)', () => {
  const a = txt('36')[0];
  const model = new PolicyModel(V, (h) => {
    const l = peak(V, txt('Let')[0]);
    l[a] = 5;
    if (h[h.length - 1] === a) l[sp('<|assistant_end|>')] = 50;
    return l;
  });
  const r = new ChatEngine(model, tok).reply(question, { temperature: 0, logitBias: { [txt('Let')[0]]: -100 } });
  assert.deepEqual(r.ids, [a, sp('<|assistant_end|>')]);
});
