/**
 * node dist/bench/rag-phase-probe.js --run <run | stage dir | checkpoint> [--stage sft-m] [-n 100]
 *
 * The lookup curriculum's probes in the chat form SFT trains (docs/journal/rag.md "Ninth attempt"), one
 * line each, every one beside its control: one-token MQAR (`mqarProbe`, `form: 'chat'`) over
 * train-split words (fresh random pairs, so nothing is recalled), 8 pairs, in the layout
 * `--kind mqar --format chat` writes (`key value`) and in the notes' (`key: value,`, `--sep ':'`),
 * and held-out words (the test split's 14 one-token keys); then the `lookup` family's held-out
 * notes (`lookupProbe`, chat form); and the `passages` family's held-out answerable prompts: the
 * quote's tokens after its first (the asked word) teacher-forced, with the cited passage, and
 * as the control with that passage's text swapped for another prompt's passage (same number,
 * same question) — a model that reads the quote out of the passage loses it there, one that
 * writes it from the family's frames does not. A phase of the curriculum is done when its probe's value
 * accuracy stands far above its wrong-key control. The copy phase's probe is
 * `bench/rag-repeat-probe.ts`.
 */
import { benchParseArgs } from './args.js';
import { renderPrompt } from '../src/data/chat.js';
import { taskByName } from '../src/data/synthetic/tasks.js';
import { argmax } from '../src/infer/processors.js';
import { noGrad } from '../src/engine/tensor.js';
import { citedNumbers, parsePassagePrompt, passagePrompt, saysNoAnswer } from '../src/rag/context.js';
import { lookupProbe, mqarProbe, type MqarProbe } from '../src/rag/effect.js';
import { benchF32Model } from './rag-model.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    run: { type: 'string' },
    stage: { type: 'string' },
    n: { type: 'string', short: 'n', default: '100' },
  },
});
const { model, tok, dir } = benchF32Model(args.run, args.stage, 'the probes (they run the forward pass)');
const n = Number(args.n);
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const mq = (p: MqarProbe): string => `values ${pct(p.value.accuracy)} (${p.value.loss.toFixed(2)} nats), after a wrong key ${pct(p.wrongKey.accuracy)}, list values ${pct(p.listValue.accuracy)}; chance ${pct(p.chance)}, ${p.documents} documents`;
console.log(`${dir}: lookup probes, chat form, teacher-forced top-1`);
console.log(`  MQAR, 8 pairs, train-split words, "key value":   ${mq(mqarProbe(model, tok, { n, seed: 999, split: 'train', pairs: 8, form: 'chat' }))}`);
console.log(`  MQAR, 8 pairs, train-split words, "key: value,": ${mq(mqarProbe(model, tok, { n, seed: 999, split: 'train', pairs: 8, sep: ':', form: 'chat' }))}`);
console.log(`  MQAR, 8 pairs, held-out words, "key: value,":    ${mq(mqarProbe(model, tok, { n: Math.min(n, 50), seed: 998, split: 'test', pairs: 8, sep: ':', form: 'chat' }))}`);
const l = lookupProbe(model, tok, n, 2024, 'chat');
console.log(`  notes (lookup family, held out, ${l.examples} answerable): key tokens ${pct(l.key.accuracy)}, value's first token ${pct(l.valueFirst.accuracy)}, after a wrong key ${pct(l.valueWrongKey.accuracy)}, later value tokens ${pct(l.valueRest.accuracy)}`);
// the passages family: the quote read from its passage, against the same prompt with that passage swapped out
const examples = taskByName('passages').generate('test', 3 * n, 4343);
const V = model.config.vocabSize;
const hits = { real: 0, swapped: 0, first: 0, tokens: 0, prompts: 0 };
noGrad(() => {
  examples.forEach((ex, i) => {
    const user = ex.conversation.messages[0].content;
    const reply = ex.conversation.messages[1].content;
    const parsed = parsePassagePrompt(user);
    const cited = citedNumbers(reply)[0];
    if (!parsed || saysNoAnswer(reply) || cited === undefined) return;
    const other = parsePassagePrompt(examples[(i + 1) % examples.length].conversation.messages[0].content)?.passages[0];
    if (!other) return;
    const quote = tok.encode(reply.slice(0, reply.lastIndexOf(' [')), { disallowedSpecial: 'plain' });
    const score = (content: string): { ok: number; first: boolean } | undefined => {
      const head = renderPrompt(tok, { messages: [{ role: 'user', content }] });
      const ids = [...head, ...quote];
      if (ids.length > model.config.blockSize) return undefined;
      const logits = model.forward(Int32Array.from(ids), 1, ids.length).data;
      let ok = 0;
      let first = false;
      for (let t = head.length; t < ids.length; t++) {
        const row = logits.subarray((t - 1) * V, t * V);
        const best = argmax(row);
        if (t === head.length) first = best === ids[t];
        else ok += best === ids[t] ? 1 : 0;
      }
      return { ok, first };
    };
    const swapped = parsed.passages.map((p, j) => (j === cited - 1 ? { ...p, text: other.text } : p));
    const a = score(user);
    const b = score(passagePrompt(parsed.question, swapped));
    if (!a || !b || hits.prompts >= n) return;
    hits.prompts++;
    hits.real += a.ok;
    hits.swapped += b.ok;
    hits.first += a.first ? 1 : 0;
    hits.tokens += quote.length - 1;
  });
});
console.log(`  passages (held out, ${hits.prompts} answerable prompts that fit): the quote's first token (the asked word) ${pct(hits.first / hits.prompts)}, its later tokens ${pct(hits.real / hits.tokens)} (${hits.tokens}); with the cited passage swapped for another's (control) ${pct(hits.swapped / hits.tokens)}`);
