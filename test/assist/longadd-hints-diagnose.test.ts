import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnoseHinted } from '../../src/assist/thinking.js';
import { HINT_FILLERS, HINT_LABELS, hintedScratchpad, longAdditionHinted } from '../../src/data/synthetic/longadd-hints.js';
import { parseLong, THINK_TRIGGER } from '../../src/data/synthetic/longarith.js';
import type { DecodingModel } from '../../src/infer/engine.js';
import { makeConfig } from '../../src/model/config.js';
import { KVCache } from '../../src/model/kvcache.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';

const texts = longAdditionHinted
  .generate('train', 300, 1, { variant: { mode: 'cot', filler: 0.3 } })
  .flatMap((e) => [e.prompt, e.conversation.messages[1].content])
  .concat(HINT_FILLERS, [THINK_TRIGGER, HINT_LABELS]);
const tok = trainTokenizer(texts, { vocabSize: 320, pattern: 'gpt4-digits' });

/**
 * A stand-in model that writes the right hinted scratchpad for the question in its context —
 * except that, for operands longer than `readCap` digits, its reads stop after `readCap`
 * digits (the failure model F shows). It keeps the start label and the reads already in its
 * context (so teacher-forced reads are continued, not rewritten). Batch 1 only.
 */
class HintedTeacher implements DecodingModel {
  readonly config = makeConfig({ vocabSize: tok.vocabSize, blockSize: 384, nLayer: 1, nHead: 1, nEmbd: 8 });
  private history: number[] = [];
  constructor(private readonly readCap: number) {}
  createCache(batch: number): KVCache {
    assert.equal(batch, 1);
    this.history = [];
    return new KVCache(1, batch, this.config.blockSize, 8);
  }
  nextLogits(ids: Int32Array, cache: KVCache): Float32Array {
    this.history.push(...ids);
    cache.length += ids.length;
    const us = this.history.indexOf(tok.specialId('<|user_start|>'));
    const ue = this.history.indexOf(tok.specialId('<|user_end|>'));
    const as = this.history.lastIndexOf(tok.specialId('<|assistant_start|>'));
    const { a, b } = parseLong(tok.decode(this.history.slice(us + 1, ue)))!;
    const sofar = this.history.slice(as + 1);
    const start = HINT_LABELS.indexOf(/^A:([a-z])/.exec(tok.decode(sofar))?.[1] ?? 'h');
    const lines = hintedScratchpad(a, b, start).split('\n');
    const cap = (line: string): string => line.slice(0, 2 + 2 * this.readCap);
    // reads already written (or forced) are kept; the column lines always use the true operands
    const written = tok.decode(sofar).split('\n');
    const reads = written.length >= 3 ? written.slice(0, 2) : [cap(lines[0]), cap(lines[1])];
    const text = [...reads, ...lines.slice(2)].join('\n');
    const target = [...tok.encode(text), tok.specialId('<|assistant_end|>')];
    const logits = new Float32Array(tok.vocabSize);
    logits[target[Math.min(sofar.length, target.length - 1)]] = 10;
    return logits;
  }
}

test('diagnoseHinted: a right writer is right at every step; one whose reads stop at 6 digits fails at the read, and is right again once the reads are given', () => {
  const right = diagnoseHinted(new HintedTeacher(99), tok, { digits: [3, 7], perCell: 4, batch: 1 });
  for (const r of right) {
    assert.equal(r.correct, 4, `${r.digits} digits: ${r.examples.join('\n')}`);
    assert.equal(r.sumCorrect, 4);
    assert.equal(r.firstWrong.none, 4);
    assert.deepEqual(r.givenReads, { correct: 4, allRight: 4 });
  }
  const capped = diagnoseHinted(new HintedTeacher(6), tok, { digits: [5, 7], perCell: 4, batch: 1 });
  assert.equal(capped[0].firstWrong.none, 4);
  assert.equal(capped[1].firstWrong.A, 4);
  assert.equal(capped[1].examples.length, 3);
  // the columns of this writer still use the true operands: only the read is wrong
  assert.equal(capped[1].correct, 4);
  assert.deepEqual(capped[1].givenReads, { correct: 4, allRight: 4 });
});
