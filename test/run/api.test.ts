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
    evaluation: ['evaluateTasks', 'compareModels', 'diversityReport', 'structuredEffect', 'structuredMarkdown'],
    rag: ['RagStore', 'Retriever', 'indexInputs'],
    export: ['exportHuggingFace', 'importHuggingFace', 'checkpointToGguf'],
    constraints: ['schemaConstraint', 'regexConstraint', 'gbnfConstraint', 'constraintFromOptions', 'ReplyConstraint'],
    run: ['runLayout', 'runPreset', 'loadModel', 'runSft'],
    assist: ['ask', 'selfConsistency', 'reflect', 'treeOfThoughts', 'trainThinking', 'vote'],
  };
  for (const [layer, names] of Object.entries(layers)) for (const n of names) assert.ok(viaName[n] !== undefined, `${layer}: ${n}`);
  for (const internal of ['getKernels', 'setBackend', 'Tape', 'noGrad', 'atomicWriteFile', 'holdRunLock', 'interruptSignal']) assert.ok(!(internal in viaName), `${internal} is internal`);
});
