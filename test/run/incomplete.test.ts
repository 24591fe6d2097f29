import { test } from 'node:test';
import assert from 'node:assert/strict';
import { incompleteReason } from '../../src/run/sample.js';
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
