import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT } from '../../src/model/gpt.js';
import { makeConfig } from '../../src/model/config.js';
import { generateText, type GenerateOptions } from '../../src/infer/generate.js';
import { ChatEngine, type ChatOptions } from '../../src/infer/engine.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { GptforgeError } from '../../src/util/errors.js';

const tok = trainTokenizer(['the quick brown fox jumps over the lazy dog. '.repeat(40)], { vocabSize: 300 });
const model = new GPT(makeConfig({ vocabSize: tok.vocabSize, blockSize: 48, nLayer: 1, nHead: 2, nEmbd: 32 }), { seed: 4 });
const prompt = tok.encodeOrdinary('the');

test("generateText takes OpenAI's `stop` (as ChatOptions and decode do); stopSequences stays a deprecated alias; both given must agree", () => {
  const free = generateText(model, tok, prompt, { maxTokens: 30, temperature: 0 });
  const stop = free.text.slice(2, 5);
  const viaStop = generateText(model, tok, prompt, { maxTokens: 30, temperature: 0, stop: [stop] });
  assert.equal(viaStop.finishReason, 'stop');
  assert.equal(viaStop.matchedStop, stop);
  assert.equal(viaStop.text, free.text.slice(0, free.text.indexOf(stop)));
  const viaAlias = generateText(model, tok, prompt, { maxTokens: 30, temperature: 0, stopSequences: [stop] });
  assert.equal(viaAlias.text, viaStop.text);
  assert.throws(
    () => generateText(model, tok, prompt, { maxTokens: 30, stop: [stop], stopSequences: ['x'] }),
    (e: unknown) => e instanceof GptforgeError && e.field === 'stop',
  );
});

test('an unknown option key is refused at run time, naming the key and the nearest known one (generateText, ChatEngine)', () => {
  const gen = (o: Record<string, unknown>) => () => generateText(model, tok, prompt, { maxTokens: 3, ...o } as GenerateOptions);
  assert.throws(gen({ stopSequence: ['x'] }), (e: unknown) => e instanceof GptforgeError && e.field === 'stopSequence' && /unknown option "stopSequence" of generateText; did you mean "stopSequences"\?/.test(e.message));
  assert.throws(gen({ max_tokens: 3 }), /unknown option "max_tokens".*did you mean "maxTokens"/);
  assert.throws(gen({ zzz: 1 }), /unknown option "zzz" of generateText \(its options: .*stop/);
  const engine = new ChatEngine(model, tok);
  const conv = { messages: [{ role: 'user' as const, content: 'the fox' }] };
  assert.throws(
    () => engine.reply(conv, { maxToken: 3 } as ChatOptions),
    (e: unknown) => e instanceof GptforgeError && e.field === 'maxToken' && /did you mean "maxTokens"/.test(e.message),
  );
  assert.throws(() => engine.replies(conv, 2, { stopSequences: ['x'] } as ChatOptions), /unknown option "stopSequences" of ChatEngine; did you mean "stop"/);
  assert.equal(engine.reply(conv, { maxTokens: 2, stop: ['zz'], temperature: 0 }).ids.length <= 3, true);
});
