import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleFromModel } from '../../src/run/sample.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { PolicyModel, peak } from '../infer/scripted.js';

// sampleFromModel on a scripted model: a reply "1", the end of the turn, then "2" and <|eos|> —
// what an SFT model given a raw prompt does when it is not stopped at its turn's end.
const tok = trainTokenizer(['the sea 1 2 3 '.repeat(20)], { vocabSize: 300 });
const V = tok.vocabSize;
const script = [tok.encode('1')[0], tok.specialId('<|assistant_end|>'), tok.encode('2')[0], tok.specialId('<|eos|>')];
const model = (): PolicyModel => new PolicyModel(V, (h) => peak(V, script[Math.min(h.length - 1 - tok.encode('the sea').length, script.length - 1)]));

test('sampleFromModel: a chat stage stops at the end of its turn (<|assistant_end|>), a base model at <|eos|> only', () => {
  for (const stage of ['sft', 'rl', 'dpo']) {
    let streamed = '';
    const r = sampleFromModel({ model: model(), tok, stage }, 'the sea', { maxTokens: 8, temperature: 0, onText: (d) => (streamed += d) });
    assert.equal(r.text, '1', stage);
    assert.equal(streamed, '1', stage);
    assert.equal(r.finishReason, 'stop', stage);
    assert.deepEqual(r.ids, [script[0]], stage);
  }
  // a base model has no turns: the marker is text like any other, the document ends at <|eos|>
  for (const stage of ['pretrain', undefined]) {
    const r = sampleFromModel({ model: model(), tok, stage }, 'the sea', { maxTokens: 8, temperature: 0 });
    assert.equal(r.text, '1<|assistant_end|>2', String(stage));
    assert.equal(r.finishReason, 'stop', String(stage));
  }
});
