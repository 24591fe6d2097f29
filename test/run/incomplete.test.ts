import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constrainedValueComplete, incompleteReason } from '../../src/run/sample.js';
import type { FinishReason } from '../../src/infer/stopping.js';
import type { GenerateResult } from '../../src/infer/generate.js';

/**
 * `sample --regex '[0-9]+' --max-tokens 5` printed "406422" and called it incomplete (exit 3):
 * cut at the token limit in an accepting state, the output already matches in full.
 */
test('incompleteReason: cut at the token limit in an accepting state is complete; outside one it is not', () => {
  const res = (finishReason: GenerateResult['finishReason']) => ({ finishReason }) as GenerateResult;
  const accepting = { isComplete: () => true };
  const midway = { isComplete: () => false };
  assert.equal(incompleteReason(res('length'), accepting), undefined);
  assert.equal(incompleteReason(res('stop'), accepting), undefined);
  assert.match(incompleteReason(res('length'), midway) ?? '', /cut at --max-tokens: the constrained value is incomplete/);
  assert.match(incompleteReason(res('context'), accepting) ?? '', /ended by context/);
  assert.match(incompleteReason(res('abort'), accepting) ?? '', /ended by abort/);
});

/**
 * `chat` and `sample` judge a constrained value by one rule (constrainedValueComplete): for
 * every finish reason and constraint state, chat's verdict on a reply is sample's on the same
 * finish. (Each had its own copy; chat took any 'end' for complete, whatever the state.)
 */
test('chat and sample agree on every finish reason and constraint state', async () => {
  const { chatValueComplete } = await import('../../src/cli/chat-run.js');
  const reasons: FinishReason[] = ['stop', 'length', 'context', 'unclosed_tool_call', 'abort'];
  let complete = 0;
  for (const finishReason of reasons) {
    for (const accepting of [true, false]) {
      const sample = incompleteReason({ finishReason } as GenerateResult, { isComplete: () => accepting }) === undefined;
      assert.equal(chatValueComplete({ finishReason, constraintComplete: accepting }), sample, `${finishReason}, accepting ${accepting}`);
      assert.equal(constrainedValueComplete(finishReason, accepting), sample);
      if (sample) complete++;
    }
  }
  assert.equal(complete, 2); // 'stop' and 'length', each only in an accepting state
});
