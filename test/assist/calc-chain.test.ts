import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { ChatEngine } from '../../src/infer/engine.js';
import { calculatorChains } from '../../src/assist/calc-chain.js';
import { numbersOf, parseOperation, reaches24, solve, solvePrompt } from '../../src/data/synthetic/countdown.js';
import { PolicyModel, peak } from '../infer/scripted.js';

const tok = trainTokenizer(["Use 1 2 3 4 5 6 7 8 9 10 11 12 13 to make 24. Let's think step by step. 4+9=13 (left: 10 13 13) - * / ".repeat(20)], { vocabSize: 330, pattern: 'gpt4-digits' });
const V = tok.vocabSize;
const sp = (name: string): number => tok.specialId(name);

/**
 * A chain writer that picks the solver's next operation from the numbers its reply has reached
 * (reading each earlier line's operation) but writes every result one too high: "4*6=25".
 * `bad`: it names an operand that is not there instead.
 */
function writer(bad = false): PolicyModel {
  return new PolicyModel(
    V,
    (h) => {
      const start = h.lastIndexOf(sp('<|assistant_start|>'));
      let nums = numbersOf(tok.decode(h.slice(0, start).filter((id) => id < sp('<|bos|>'))))!;
      const text = tok.decode(h.slice(start + 1));
      const lines = text.split('\n');
      const partial = lines.pop()!;
      for (const l of lines) nums = parseOperation(l, nums)?.left ?? nums;
      if (nums.length === 1) return peak(V, sp('<|assistant_end|>'));
      const s = solve(nums)![0];
      const line = bad ? `${s.a}+99=${s.a + 99}` : `${s.a}${s.op}${s.b}=${s.c + 1}`;
      const ids = tok.encode(`${line}\n`);
      // the token after what the line has so far
      for (let i = 0; i <= ids.length; i++) if (tok.decode(ids.slice(0, i)) === partial) return peak(V, ids[i] ?? sp('<|assistant_end|>'));
      return peak(V, sp('<|assistant_end|>'));
    },
    1024,
  );
}

test("calculator-checked chain: each line's operation is recomputed before the next is written, so a chain with wrong arithmetic still reaches 24", () => {
  const nums = [4, 9, 10, 13];
  const plain = new ChatEngine(writer(), tok).reply({ messages: [{ role: 'user', content: solvePrompt(nums) }] }, { temperature: 0, maxTokens: 96 });
  assert.equal(reaches24(nums, plain.text), false, plain.text);
  const r = calculatorChains(writer(), tok, nums);
  assert.equal(r.chains.length, 1);
  assert.ok(r.chains[0].solved, r.chains[0].lines.join('\n'));
  assert.equal(r.chains[0].lines.length, 3);
  assert.ok(reaches24(nums, r.chains[0].lines.join('\n')), 'the corrected lines are valid steps');
  assert.ok(r.tokens > 0);
  // k chains: one per row, each its own
  const k = calculatorChains(writer(), tok, [2, 3, 4, 6], { k: 3, temperature: 0.5, seed: 4 });
  assert.equal(k.chains.length, 3);
  assert.ok(k.chains.every((c) => c.solved));
  // a line that names a number not there ends the chain unsolved
  const broken = calculatorChains(writer(true), tok, nums);
  assert.deepEqual(broken.chains[0], { lines: [], solved: false });
  assert.throws(() => calculatorChains(writer(), tok, nums, { k: 0 }), /k must be a positive integer/);
  assert.throws(() => calculatorChains(writer(), tok, [24]), /2–6 whole numbers/);
});
