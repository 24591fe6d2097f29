import { renderConversation } from '../../src/data/chat.js';
import type { DpoPair } from '../../src/train/dpo.js';
import { trainTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';

/**
 * The DPO tests' toy preference data: a tokenizer of a few words and eight copies of one pair,
 * "Is it good?" answered "yes it is." (chosen) against "no it is not." (rejected).
 */
export function toyDpoPairs(): { tok: Tokenizer; pairs: DpoPair[] } {
  const tok = trainTokenizer(['Is it good? yes it is. no it is not. '.repeat(20)], { vocabSize: 290 });
  const conv = (a: string) =>
    renderConversation(tok, {
      messages: [
        { role: 'user', content: 'Is it good?' },
        { role: 'assistant', content: a },
      ],
    });
  return { tok, pairs: Array.from({ length: 8 }, () => ({ chosen: conv('yes it is.'), rejected: conv('no it is not.') })) };
}
