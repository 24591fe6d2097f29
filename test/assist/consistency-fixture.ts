import type { Conversation } from '../../src/data/conversation.js';
import { trainTokenizer } from '../../src/tokenizer/index.js';
import { PolicyModel } from '../infer/scripted.js';

// The scripted setting the self-consistency tests share: a tiny tokenizer, one question, and a
// policy whose reply is one digit ("1", "2", "3" at logits 2, 1, 0), then the end of the turn.

export const tok = trainTokenizer(['Answer: 1 2 3 4 5 6 7 8 9 0 What is it? '.repeat(20)], { vocabSize: 300 });
export const V = tok.vocabSize;
export const sp = (name: string): number => tok.specialId(name);
export const id = (s: string): number => tok.encode(s)[0];
export const question: Conversation = { messages: [{ role: 'user', content: 'What is it?' }] };
export const digits = ['1', '2', '3'].map(id);

/** The reply's first token is a digit (logits 2, 1, 0: "1" most likely); then the turn ends. */
export const policy = (): PolicyModel =>
  new PolicyModel(V, (h) => {
    const reply = h.slice(h.lastIndexOf(sp('<|assistant_start|>')) + 1);
    const l = new Float32Array(V).fill(-30);
    if (reply.length === 0) digits.forEach((d, i) => (l[d] = 2 - i));
    else l[sp('<|assistant_end|>')] = 0;
    return l;
  });
