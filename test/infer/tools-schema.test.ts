import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolRegistry, type Tool } from '../../src/infer/tools/registry.js';

test("ToolRegistry.call validates a tool's input against its declared JSON Schema before run(): not JSON, a wrong type, a missing field are refused with ok: false naming the pointer; a valid input runs", () => {
  const seen: string[] = [];
  const weather: Tool = {
    name: 'weather',
    description: 'the weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1 } }, required: ['city'], additionalProperties: false },
    run: (input) => {
      seen.push(input);
      return 'sunny';
    },
  };
  const reg = new ToolRegistry().register(weather);
  const notJson = reg.call('weather: not json');
  assert.equal(notJson.ok, false);
  assert.equal(notJson.tool, 'weather');
  assert.equal(notJson.pointer, '');
  assert.match(notJson.output, /^error: weather input: not JSON/);
  const wrongType = reg.call('Weather: {"city": 3}'); // names match case-insensitively; so does the check
  assert.deepEqual([wrongType.ok, wrongType.pointer], [false, '/city']);
  assert.match(wrongType.output, /^error: weather input \/city: must be string/);
  const missing = reg.call('weather: {"days": 2}');
  assert.deepEqual([missing.ok, missing.pointer], [false, '/city']);
  assert.match(missing.output, /must have required property 'city'/);
  assert.deepEqual([reg.call('weather: {"city": "Oslo", "days": 0}').pointer], ['/days']);
  assert.deepEqual(seen, [], 'no refused input reached run()');
  const good = reg.call('weather: {"city": "Oslo", "days": 2}');
  assert.deepEqual(good, { ok: true, output: 'sunny', tool: 'weather' });
  assert.deepEqual(seen, ['{"city": "Oslo", "days": 2}']);
  // a tool without parameters still takes free text
  assert.equal(new ToolRegistry().register({ name: 'echo', description: 'echo', run: (s) => s }).call('echo: not json').output, 'not json');
  // a schema ajv cannot compile is refused when the tool is registered, naming the tool
  assert.throws(() => new ToolRegistry().register({ ...weather, parameters: { type: 'nonsense' } }), /tool "weather": its parameters are not a valid JSON Schema/);
});
