import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { ToolRegistry, type Tool } from '../../src/infer/tools/registry.js';
import { calculator } from '../../src/infer/tools/calculator.js';
import { toolCallConstraint } from '../../src/infer/constrain/toolcall.js';
import { Rng } from '../../src/engine/rng.js';
import { GptforgeError } from '../../src/util/errors.js';
import type { Conversation } from '../../src/data/conversation.js';
import { PolicyModel } from '../infer/scripted.js';
import { ajvValidator } from './ajv.js';
import { randomWalk } from './helpers.js';

const tok = trainTokenizer(['{"city": "Paris", "days": 3, "unit": "celsius"} weather: {"city":"Oslo"} convert: calculator: 12*3 '.repeat(30), 'the quick brown fox 0123456789 '.repeat(10)], { vocabSize: 400 });
const sp = (name: string): number => tok.specialId(name);

const weatherSchema = { type: 'object', properties: { city: { type: 'string', minLength: 1, maxLength: 8 }, days: { type: 'integer', minimum: 1, maximum: 7 }, unit: { enum: ['celsius', 'fahrenheit'] } }, required: ['city', 'unit'], additionalProperties: false };
const convertSchema = { type: 'object', properties: { value: { type: 'number', minimum: -1000, maximum: 1000 }, to: { enum: ['m', 'cm', 'km'] } }, required: ['value', 'to'], additionalProperties: false };
const seen: string[] = [];
const tool = (name: string, parameters: unknown): Tool => ({ name, description: name, parameters, run: (input) => (seen.push(`${name}: ${input}`), 'ok') });
const registry = (): ToolRegistry => new ToolRegistry().register(tool('weather', weatherSchema)).register(tool('convert', convertSchema)).register(calculator);

/** The tool and JSON arguments of a call body "name: {…}". */
function split(body: string): { name: string; args: string } {
  const colon = body.indexOf(':');
  return { name: body.slice(0, colon), args: body.slice(colon + 1).trim() };
}

test('tool calls: random walks of the call grammar give a registered name and, for a tool with parameters, arguments ajv accepts', () => {
  const con = toolCallConstraint(registry(), tok);
  assert.ok(con);
  const validators = { weather: ajvValidator(weatherSchema), convert: ajvValidator(convertSchema) };
  const rng = new Rng(3);
  let withSchema = 0;
  for (let i = 0; i < 150; i++) {
    const { text, complete } = randomWalk(con.clone(), tok, rng, 300, 0.5);
    if (!complete) continue;
    const { name, args } = split(text);
    assert.ok(['weather', 'convert', 'calculator'].includes(name), `name ${JSON.stringify(name)}`);
    if (name === 'calculator') continue;
    withSchema++;
    assert.ok(validators[name as 'weather' | 'convert'](JSON.parse(args)), `${name} arguments rejected by ajv: ${args}`);
  }
  assert.ok(withSchema >= 40, `only ${withSchema} complete calls to tools with parameters`);
});

test('tool calls: without declared parameters calls stay free (no call grammar)', () => {
  assert.equal(toolCallConstraint(new ToolRegistry().register(calculator), tok), null);
});

test('tool calls: a tool whose parameters we cannot enforce is refused before decoding, naming the tool and pointer', () => {
  const bad = new ToolRegistry().register(tool('odd', { type: 'object', properties: { x: { not: { type: 'string' } } } }));
  assert.throws(
    () => toolCallConstraint(bad, tok),
    (e: unknown) => e instanceof GptforgeError && /tool odd parameters/.test(e.message) && /\/properties\/x/.test(e.message) && /not/.test(e.message),
  );
});

test('chat engine: a random model calling tools sends arguments that always satisfy the tool schema (ajv)', () => {
  const V = tok.vocabSize;
  const validators = { weather: ajvValidator(weatherSchema), convert: ajvValidator(convertSchema) };
  const conv: Conversation = { messages: [{ role: 'user', content: 'weather in Paris?' }] };
  let runs = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const rng = new Rng(seed);
    // random logits, a strong pull to open a call first and to close it whenever allowed
    const model = new PolicyModel(V, (h) => {
      const l = new Float32Array(V);
      for (let i = 0; i < V; i++) l[i] = rng.random() * 4;
      const last = h[h.length - 1];
      if (last === sp('<|assistant_start|>')) l[sp('<|tool_start|>')] = 30;
      l[sp('<|tool_end|>')] = 6;
      if (last === sp('<|output_end|>')) l[sp('<|assistant_end|>')] = 30;
      return l;
    });
    const calls: string[] = [];
    const r = new ChatEngine(model, tok).reply(conv, { temperature: 1, seed, maxTokens: 200, maxCallTokens: 160, maxToolCalls: 1, tools: registry(), onToolCall: (c) => calls.push(c) });
    assert.ok(r.toolCalls >= 1, `seed ${seed}: no call`);
    for (const c of calls) {
      const { name, args } = split(c);
      assert.ok(['weather', 'convert', 'calculator'].includes(name), `seed ${seed}: name ${JSON.stringify(name)}`);
      if (name === 'calculator') continue;
      runs++;
      assert.ok(validators[name as 'weather' | 'convert'](JSON.parse(args)), `seed ${seed}: ${name} arguments rejected by ajv: ${args}`);
    }
  }
  assert.ok(runs >= 4, `only ${runs} calls to tools with parameters`);
});
