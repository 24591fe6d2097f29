import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';
import { makeConfig } from '../../src/model/config.js';
import { GPT } from '../../src/model/gpt.js';
import { KVCache } from '../../src/model/kvcache.js';
import { ChatEngine, type ChatOptions, type DecodingModel } from '../../src/infer/engine.js';
import { defaultTools } from '../../src/infer/tools/registry.js';
import { renderConversation } from '../../src/data/chat.js';
import type { Conversation } from '../../src/data/conversation.js';
import { GptforgeError } from '../../src/util/errors.js';
import { ask, formatTrace } from '../../src/assist/ask.js';

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
  assert.equal(r.finishReason, 'stop');
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
  assert.deepEqual(
    r.sampled.slice(at, at + forced.length),
    forced.map(() => 0),
  );
  assert.equal(r.sampled.filter((x) => x === 1).length, script.length);
  // what the model was fed is exactly the training layout of the finished conversation
  const full = renderConversation(tok, { messages: [...question.messages, ...r.messages] }).ids;
  assert.deepEqual([...model.fed, sp('<|assistant_end|>')], full);
});

test('engine: a tool error goes back to the model as output and it continues', () => {
  const script = [sp('<|tool_start|>'), ...txt('calculator: 12/0'), sp('<|tool_end|>'), ...txt('The answer is'), sp('<|assistant_end|>')];
  const r = new ChatEngine(new ScriptedModel(script), tok).reply(question, { temperature: 0, tools: defaultTools() });
  assert.equal(r.finishReason, 'stop');
  assert.equal(r.messages[1].role, 'tool');
  assert.match(r.messages[1].content, /^error: .*division by zero/);
  assert.equal(r.text, 'The answer is');
});

test('ask direct with tools: the trace lists each call and its output before the reply', () => {
  const script = [sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|tool_end|>'), ...txt('The answer is 36.'), sp('<|assistant_end|>')];
  const t = ask(new ChatEngine(new ScriptedModel(script), tok), 'What is 12 times 3?', { technique: 'direct', tools: defaultTools() });
  assert.deepEqual(t.toolCalls, [{ name: 'calculator', input: '12*3', output: '36', ok: true }]);
  assert.match(formatTrace(t), /\[calculator: 12\*3 → 36\]\nThe answer is 36\./);
  const none = ask(new ChatEngine(new ScriptedModel([...txt('The answer is 36.'), sp('<|assistant_end|>')]), tok), 'What is 12 times 3?', { technique: 'direct' });
  assert.equal(none.toolCalls, undefined); // without tools the trace has no calls field
});

test('engine: inside an open call the end of turn is masked (the call goes on to <|tool_end|> and runs; the budget running out inside it is max_tokens), and the engine closes it at maxCallTokens', () => {
  const open = [sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|assistant_end|>')];
  // the model's first choice ends the turn inside the call, its runner-up closes the call
  const runnerUp = [...open.slice(0, -1).map(() => sp('<|assistant_end|>')), sp('<|tool_end|>')];
  const r1 = new ChatEngine(new ScriptedModel(open, runnerUp), tok).reply(question, { temperature: 0, tools: defaultTools() });
  assert.notEqual(r1.finishReason, 'unclosed_tool_call');
  assert.equal(r1.toolCalls, 1);
  assert.deepEqual(r1.messages[0].tool_call, { name: 'calculator', input: '12*3' });
  assert.equal(r1.messages[1].content, '36');
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
  assert.equal(r3.finishReason, 'length'); // the budget, not the model, cut the call
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

/** A script a branch of BranchingModel follows: `head`, then `cycle` over and over (or <|assistant_end|>). */
interface Branch {
  head: number[];
  cycle?: number[];
}

/**
 * A batch-aware stand-in: it keeps each row's tokens in the KV cache itself (key slot = token
 * id), so a copied cache row carries its history along, and each row's logits depend on that
 * row's history only. At the first reply position it is torn between the branches' first tokens
 * (equal logits, so the seed picks one); after that it follows the branch it started, whose
 * script includes the tokens the engine forces.
 */
class BranchingModel implements DecodingModel {
  readonly config;
  /** The batch size of every forward pass. */
  readonly batches: number[] = [];
  constructor(
    private readonly branches: Branch[],
    blockSize = 256,
  ) {
    this.config = makeConfig({ vocabSize: tok.vocabSize, blockSize, nLayer: 1, nHead: 1, nEmbd: 8 });
  }
  createCache(batch: number): KVCache {
    return new KVCache(1, batch, this.config.blockSize, 1);
  }
  nextLogits(ids: Int32Array, cache: KVCache): Float32Array {
    const B = cache.batch,
      T = ids.length / B,
      V = tok.vocabSize,
      cap = cache.capacity;
    this.batches.push(B);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) cache.keys[0][b * cap + cache.length + t] = ids[b * T + t];
    cache.length += T;
    const out = new Float32Array(B * V);
    for (let b = 0; b < B; b++) {
      const history = Array.from(cache.keys[0].subarray(b * cap, b * cap + cache.length));
      const reply = history.slice(history.lastIndexOf(sp('<|assistant_start|>')) + 1);
      const logits = out.subarray(b * V, (b + 1) * V);
      if (reply.length === 0) {
        for (const br of this.branches) logits[br.head[0]] = 30;
        continue;
      }
      const br = this.branches.find((x) => x.head[0] === reply[0]);
      const script = (k: number): number => (k < br!.head.length ? br!.head[k] : br!.cycle ? br!.cycle[(k - br!.head.length) % br!.cycle.length] : sp('<|assistant_end|>'));
      // a history off its script (a forced token missing or out of order): flat logits, so the sample goes astray
      if (!br || reply.some((id, k) => id !== script(k))) continue;
      logits[script(reply.length)] = 30;
    }
    return out;
  }
}

const forcedOutput = (out: string): number[] => [sp('<|output_start|>'), ...txt(out), sp('<|output_end|>')];
const branches: Branch[] = [
  // a calculator call, its output forced, then the answer
  { head: [...txt('Let me see.'), sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|tool_end|>'), ...forcedOutput('36'), ...txt('The answer is 36.'), sp('<|assistant_end|>')] },
  // done almost at once while the others go on
  { head: [...txt('36'), sp('<|assistant_end|>')] },
  // a call, then talk that never ends: max_tokens or the context stops it
  { head: [sp('<|tool_start|>'), ...txt('calculator: 12*3'), sp('<|tool_end|>'), ...forcedOutput('36')], cycle: txt(' The answer is 36.') },
];

for (const { blockSize, maxTokens, longStop } of [
  { blockSize: 256, maxTokens: 40, longStop: 'length' },
  { blockSize: 128, maxTokens: 200, longStop: 'context' },
]) {
  test(`engine: replies(conv, 3) row i is reply(conv, seed + i): tool calls, an early end, ${longStop}`, () => {
    const opts: ChatOptions = { tools: defaultTools(), maxTokens };
    const single = new ChatEngine(new BranchingModel(branches, blockSize), tok);
    // the first seed whose three rows take three different branches (so every case is covered)
    let seed = 1;
    const singles = (s: number) => [0, 1, 2].map((i) => single.reply(question, { ...opts, seed: s + i }));
    while (new Set(singles(seed).map((r) => r.ids[0])).size < 3) seed++;
    const expected = singles(seed);

    const model = new BranchingModel(branches, blockSize);
    const steps: Array<Array<[number, number]>> = [[], [], []];
    const calls: string[][] = [[], [], []];
    const streamed = ['', '', ''];
    const got = new ChatEngine(model, tok).replies(question, 3, {
      ...opts,
      seed,
      onStep: (logits, token, row) => steps[row!].push([token, logits[token]]),
      onToolCall: (call, res, row) => calls[row!].push(`${call} -> ${res.output}`),
      onText: (d, row) => (streamed[row!] += d),
    });
    assert.deepEqual(got, expected);
    // every case happened: tool calls with forced outputs, an early end, a cut
    const byBranch = branches.map((br) => got.find((r) => r.ids[0] === br.head[0])!);
    assert.deepEqual(
      byBranch.map((r) => r.finishReason),
      ['stop', 'stop', longStop],
    );
    assert.deepEqual(
      byBranch.map((r) => r.toolCalls),
      [1, 0, 1],
    );
    assert.ok(byBranch[1].ids.length < 5 && byBranch[2].ids.length > 30);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(
        steps[i].map(([t]) => t),
        got[i].ids.filter((_, j) => got[i].sampled[j] === 1),
      );
      assert.deepEqual(calls[i], got[i].toolCalls ? ['calculator: 12*3 -> 36'] : []);
      assert.equal(streamed[i].trim(), got[i].text);
    }
    // one batch-1 prefill, then lockstep steps at batch 3 until the longest row is done
    assert.equal(model.batches[0], 1);
    assert.ok(model.batches.slice(1).every((b) => b === 3));
    assert.equal(model.batches.length - 1, Math.max(...got.map((r) => r.ids.length)) - 1); // a row's last token is never fed
  });
}

test('engine: replies() on a real tiny GPT, greedy: every row is the greedy reply(); n === 1 is reply()', () => {
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 16 }), { seed: 5 });
  const engine = new ChatEngine(model, tok);
  const opts: ChatOptions = { temperature: 0, maxTokens: 12, tools: defaultTools() };
  const one = engine.reply(question, opts);
  const rows = engine.replies(question, 4, opts);
  assert.equal(rows.length, 4);
  for (const r of rows) assert.deepEqual(r, one);
  assert.deepEqual(engine.replies(question, 1, opts), [one]);
});

test('engine: replies() on a real tiny GPT, sampled: row i is reply(seed + i)', () => {
  const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 16, position: 'rope' }), { seed: 6 });
  const engine = new ChatEngine(model, tok);
  const opts: ChatOptions = { temperature: 1, maxTokens: 12, tools: defaultTools(), seed: 7 };
  const rows = engine.replies(question, 3, opts);
  assert.deepEqual(
    rows,
    [0, 1, 2].map((i) => engine.reply(question, { ...opts, seed: 7 + i })),
  );
  assert.ok(new Set(rows.map((r) => r.ids.join(','))).size > 1, 'different seeds, different replies');
});

for (const position of ['learned', 'rope'] as const) {
  test(`engine: repliesTo(convs, seeds) row i is reply(convs[i], seeds[i]) for prompts of different lengths (${position} positions)`, () => {
    const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 96, nLayer: 2, nHead: 2, nEmbd: 16, position }), { seed: 8 });
    const engine = new ChatEngine(model, tok);
    // the same model, recording the batch of every forward pass
    const batches: number[] = [];
    const recording: DecodingModel = { config: model.config, createCache: (b) => model.createCache(b), nextLogits: (ids, cache) => (batches.push(cache.batch), model.nextLogits(ids, cache)) };
    const convs: Conversation[] = ['What is 12*3?', 'Hi', 'Let me see. The answer is 36. What is the answer?', 'calculator'].map((content) => ({ messages: [{ role: 'user', content }] }));
    const seeds = [11, 12, 13, 14];
    for (const opts of [
      { temperature: 0, maxTokens: 10 },
      { temperature: 1, maxTokens: 14, tools: defaultTools() },
    ] as ChatOptions[]) {
      batches.length = 0;
      const rows = new ChatEngine(recording, tok).repliesTo(convs, seeds, opts);
      assert.ok(batches.length > 0 && batches.every((b) => b === 4), `one batch of all four rows, got ${batches.join(',')}`);
      assert.deepEqual(
        rows,
        convs.map((c, i) => engine.reply(c, { ...opts, seed: seeds[i] })),
      );
      if (opts.temperature === 1) assert.ok(new Set(rows.map((r) => r.text)).size > 1);
    }
    assert.deepEqual(engine.repliesTo([], []), []);
    assert.throws(
      () => engine.repliesTo(convs, [1]),
      (e: unknown) => e instanceof GptforgeError && /4 conversations but 1 seeds/.test(e.message),
    );
  });
}

test('engine: replies() wants a positive whole number of replies', () => {
  const engine = new ChatEngine(new ScriptedModel([sp('<|assistant_end|>')]), tok);
  for (const n of [0, -1, 1.5, Number.NaN])
    assert.throws(
      () => engine.replies(question, n),
      (e: unknown) => e instanceof GptforgeError && /positive integer/.test(e.message),
    );
});

test('engine: a call is read by the one rule of both tool layers (splitToolCall): no colon, no name (`invalid`, the whole text the input); an empty input stays empty', () => {
  const script = [sp('<|tool_start|>'), ...txt('calculator 12*3'), sp('<|tool_end|>'), sp('<|tool_start|>'), ...txt('calculator:'), sp('<|tool_end|>'), ...txt('The answer is'), sp('<|assistant_end|>')];
  const r = new ChatEngine(new ScriptedModel(script), tok).reply(question, { temperature: 0, tools: defaultTools() });
  const calls = r.messages.filter((m) => m.tool_call).map((m) => m.tool_call);
  assert.deepEqual(calls, [
    { name: 'invalid', input: 'calculator 12*3' },
    { name: 'calculator', input: '' },
  ]);
  assert.match(r.messages[1].content, /^error: malformed tool call/);
  // the rendered reply is a valid conversation again (the `invalid` name is an identifier)
  assert.ok(renderConversation(tok, { messages: [...question.messages, ...r.messages] }).ids.length > 0);
});
