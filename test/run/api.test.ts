import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '../../src/index.js';

test('public API: the package name resolves through the exports map to src/index; every layer is there; engine internals are not', async () => {
  const viaName = (await import('gptforge')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(viaName).sort(), Object.keys(api).sort());
  const layers: Record<string, string[]> = {
    tokenizer: ['Tokenizer', 'trainTokenizer'],
    model: ['GPT', 'KVCache', 'makeConfig', 'loadCheckpoint', 'saveCheckpoint'],
    generation: ['generate', 'decode', 'BatchDecoder', 'generateText', 'TopP', 'StopStrings'],
    chat: ['ChatEngine', 'renderConversation', 'ToolRegistry', 'defaultTools', 'calculator'],
    training: ['pretrain', 'sft', 'trainRewardModel', 'trainRL', 'trainDpo', 'train'],
    data: ['loadMixtureConfig', 'prepareData', 'BatchLoader', 'PackedLoader', 'readJSONL', 'readConversationsJSONL'],
    evaluation: ['evaluateTasks', 'compareModels', 'winTally', 'diversityReport', 'structuredEffect', 'structuredMarkdown'],
    rag: ['RagStore', 'Retriever', 'indexInputs'],
    export: ['exportHuggingFace', 'importHuggingFace', 'checkpointToGguf'],
    constraints: ['schemaConstraint', 'regexConstraint', 'gbnfConstraint', 'constraintFromOptions', 'ReplyConstraint'],
    run: ['runLayout', 'runPreset', 'loadModel', 'runSft'],
    assist: ['ask', 'selfConsistency', 'reflect', 'treeOfThoughts', 'trainThinking', 'vote'],
  };
  for (const [layer, names] of Object.entries(layers)) for (const n of names) assert.ok(viaName[n] !== undefined, `${layer}: ${n}`);
  for (const internal of ['getKernels', 'setBackend', 'Tape', 'noGrad', 'atomicWriteFile', 'holdRunLock', 'interruptSignal']) assert.ok(!(internal in viaName), `${internal} is internal`);
});

test('library errors name the option in err.field (the CLI prints the flag): an unknown preset, a bad regex, a bad sampling option; a missing run or stage names the run directory in err.file', () => {
  const fieldOf = (f: () => unknown): { field?: string; file?: string } => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof api.GptforgeError, String(e));
      return { field: e.field, file: e.file };
    }
    assert.fail('no error');
  };
  assert.deepEqual(
    fieldOf(() => api.loadPreset('nopreset')),
    { field: 'preset', file: undefined },
  );
  const tok = api.trainTokenizer(['abc abc abc '.repeat(20)], { vocabSize: 280 });
  assert.equal(fieldOf(() => api.constraintFromOptions({ regex: '(' }, tok)).field, 'regex');
  assert.equal(fieldOf(() => api.checkGenerationOptions({ maxTokens: -1 })).field, 'maxTokens');
  assert.deepEqual(
    fieldOf(() => api.loadModel('/nonexistent-gptforge-run', 'sft')),
    { field: undefined, file: '/nonexistent-gptforge-run' },
  );
});
