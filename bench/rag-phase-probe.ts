/**
 * node dist/bench/rag-phase-probe.js --run <run | stage dir | checkpoint> [--stage sft-m] [-n 100]
 *
 * The lookup curriculum's probes in the chat form SFT trains (docs/rag.md "Ninth attempt"), one
 * line each, every one beside its control: one-token MQAR (`mqarProbe`, `form: 'chat'`) over
 * train-split words (fresh random pairs, so nothing is recalled), 8 pairs, in the layout
 * `--kind mqar --format chat` writes (`key value`) and in the notes' (`key: value,`, `--sep ':'`),
 * and held-out words (the test split's 14 one-token keys); then the `lookup` family's held-out
 * notes (`lookupProbe`, chat form). A phase of the curriculum is done when its probe's value
 * accuracy stands far above its wrong-key control. The copy phase's probe is
 * `bench/rag-repeat-probe.ts`.
 */
import { parseArgs } from 'node:util';
import { GPT } from '../src/model/gpt.js';
import { lookupProbe, mqarProbe, type MqarProbe } from '../src/rag/effect.js';
import { loadModel } from '../src/run/models.js';

const { values: args } = parseArgs({
  options: {
    run: { type: 'string' },
    stage: { type: 'string' },
    n: { type: 'string', short: 'n', default: '100' },
  },
});
if (!args.run) throw new Error('--run <run dir | stage dir | checkpoint> is required');
const { model, tok, dir } = loadModel(args.run, args.stage);
if (!(model instanceof GPT)) throw new Error('the probes need an f32 model (they run the forward pass)');
const n = Number(args.n);
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const mq = (p: MqarProbe): string => `values ${pct(p.value.accuracy)} (${p.value.loss.toFixed(2)} nats), after a wrong key ${pct(p.wrongKey.accuracy)}, list values ${pct(p.listValue.accuracy)}; chance ${pct(p.chance)}, ${p.documents} documents`;
console.log(`${dir}: lookup probes, chat form, teacher-forced top-1`);
console.log(`  MQAR, 8 pairs, train-split words, "key value":   ${mq(mqarProbe(model, tok, { n, seed: 999, split: 'train', pairs: 8, form: 'chat' }))}`);
console.log(`  MQAR, 8 pairs, train-split words, "key: value,": ${mq(mqarProbe(model, tok, { n, seed: 999, split: 'train', pairs: 8, sep: ':', form: 'chat' }))}`);
console.log(`  MQAR, 8 pairs, held-out words, "key: value,":    ${mq(mqarProbe(model, tok, { n: Math.min(n, 50), seed: 998, split: 'test', pairs: 8, sep: ':', form: 'chat' }))}`);
const l = lookupProbe(model, tok, n, 2024, 'chat');
console.log(`  notes (lookup family, held out, ${l.examples} answerable): key tokens ${pct(l.key.accuracy)}, value's first token ${pct(l.valueFirst.accuracy)}, after a wrong key ${pct(l.valueWrongKey.accuracy)}, later value tokens ${pct(l.valueRest.accuracy)}`);
