/**
 * node dist/bench/rag-repeat-probe.js --run <run | stage dir | checkpoint> [--stage sft] [-n 60] [--min-words 4 --max-words 16] [--sep ',']
 *
 * The copy probe in the chat form SFT trains (docs/journal/rag.md "Eighth attempt"): fresh word lists
 * (core words, seed 4242 — random draws, so nothing is recalled) asked back as in
 * `bench/rag-copy-corpus.ts --kind repeat --format chat` (`Words: … .\nSay the words again.`),
 * the reference reply (` a b c.`, with its leading space) teacher-forced, and the model's
 * top-1 token compared with it: on the reply's first token (finding the list's start), on its
 * later tokens (each one follows the previous one in the list: an induction head's step), and
 * whole replies right; and the later tokens that start a word (` crowd`), which only a copy
 * predicts — a multi-token word's later pieces and the final "." are partly predictable without
 * copying, so a non-copying model is not at 0% on all later tokens. A model that copies
 * scores both near 100%.
 */
import { benchParseArgs } from './args.js';
import { renderPrompt } from '../src/data/chat.js';
import { coreWords } from '../src/data/synthetic/words.js';
import { Rng } from '../src/engine/rng.js';
import { argmax } from '../src/infer/processors.js';
import { noGrad } from '../src/engine/tensor.js';
import { benchF32Model } from './rag-model.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    run: { type: 'string' },
    stage: { type: 'string' },
    n: { type: 'string', short: 'n', default: '60' },
    'min-words': { type: 'string', default: '4' },
    'max-words': { type: 'string', default: '16' },
    // the lists' separator, as rag-copy-corpus --kind repeat --sep writes them ("a, b, c")
    sep: { type: 'string', default: '' },
  },
});
const { model, tok, dir } = benchF32Model(args.run, args.stage, 'the probe (it runs the forward pass)');
const n = Number(args.n);
const min = Number(args['min-words']);
const max = Number(args['max-words']);
const rng = new Rng(4242);
const vocab = [...coreWords()].sort();
const V = model.config.vocabSize;
let first = 0;
let later = 0;
let laterCount = 0;
// later tokens that start a word (" crowd"): only a copy predicts them; the rest (a word's later pieces, the ".") are partly bigram guesses
let starts = 0;
let startCount = 0;
let exact = 0;
noGrad(() => {
  for (let i = 0; i < n; i++) {
    const words = Array.from({ length: min + rng.int(max - min + 1) }, () => vocab[rng.int(vocab.length)]).join(`${args.sep} `);
    const head = renderPrompt(tok, { messages: [{ role: 'user', content: `Words: ${words}.\nSay the words again.` }] });
    const ids = [...head, ...tok.encode(` ${words}.`, { disallowedSpecial: 'plain' })];
    const logits = model.forward(Int32Array.from(ids), 1, ids.length).data;
    let all = true;
    for (let t = head.length; t < ids.length; t++) {
      const row = logits.subarray((t - 1) * V, t * V);
      const best = argmax(row);
      const ok = best === ids[t];
      if (t === head.length) first += ok ? 1 : 0;
      else {
        later += ok ? 1 : 0;
        laterCount++;
        if (tok.decode([ids[t]]).startsWith(' ')) {
          starts += ok ? 1 : 0;
          startCount++;
        }
      }
      if (!ok) all = false;
    }
    if (all) exact++;
  }
});
const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(1)}%`;
console.log(`${dir}: repeat probe (chat form, ${n} lists of ${min}–${max} words, teacher-forced top-1): first token ${pct(first, n)}, later tokens ${pct(later, laterCount)} (${laterCount}; those starting a word ${pct(starts, startCount)} of ${startCount}), whole reply ${exact}/${n}`);
