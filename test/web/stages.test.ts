import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GENERATION_STAGES, REWARD_STAGE } from '../../src/server/index.js';
import { LATER_STAGES } from '../../src/run/eval.js';

// dist/test/web/ → the package root; the pages' modules are plain browser ESM, imported as they are served
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const api = (await import(pathToFileURL(join(root, 'web', 'api.js')).href)) as {
  RUN_STAGES: Record<string, 'pretrained' | 'chat' | 'reward'>;
  chatTrained(id: string): boolean;
};

test("the web pages' rule for a chat-trained model: every stage a run trains is classified, base is not chat-trained, --into and merged names are", () => {
  // the stages the run layer writes and the server lists, all named in the pages' table
  for (const s of [...GENERATION_STAGES, ...LATER_STAGES.map(([name]) => name), REWARD_STAGE]) assert.ok(Object.hasOwn(api.RUN_STAGES, s), `${s} is not in RUN_STAGES`);
  assert.equal(api.RUN_STAGES[REWARD_STAGE], 'reward');
  assert.equal(api.chatTrained('base'), false);
  assert.equal(api.chatTrained(''), false);
  assert.equal(api.chatTrained(REWARD_STAGE), false);
  for (const s of ['sft', ...LATER_STAGES.map(([name]) => name)]) assert.equal(api.chatTrained(s), true, s);
  // what sft/rl/dpo --into and merge write
  for (const s of ['sft-lora', 'dpo-lora', 'sft-lora-merged', 'rl-sft-x']) assert.equal(api.chatTrained(s), true, s);
  // a name that only looks like a table key is not one
  assert.equal(api.chatTrained('constructor'), true);
});
