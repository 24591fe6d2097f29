/**
 * node dist/bench/rag-effect.js --run <run dir> [--stage sft] [--per-family 50] [-k 3] [--lookup 200] [--family 150] [--keep-frame-words] [--empty-context no-answer|generate] [--extractive] [--min-score 0.74 [--refusal-by-cutoff]] [--seed 2024] [--json] [--probe-only] [--dump answers.jsonl]
 *
 * The effect of retrieval on a chat model (src/rag/effect.ts): held-out definitions, kinds
 * and synonyms questions answered without retrieval, with the top-k BM25 passages of a store
 * of the built-in dictionary (one entry a chunk), and with the asked word's entries removed
 * (the answer should then be "The passages don't say."). Also the `passages` family's own
 * held-out accuracy (passages chosen by the generator, not retrieved), and why each answer
 * failed (effect.ts diagnoseAnswer / diagnoseRemoved: not retrieved, refused, a distractor
 * quoted, the quote's first token, a broken copy); `--dump` writes every question's prompts,
 * replies and diagnosis as JSONL. When retrieval leaves no passage, the reply is "The passages
 * don't say." without the model (answerWithRetrieval's default); `--empty-context generate`
 * asks the model the bare question instead, as the measurement did before the twelfth attempt.
 * `--extractive` constrains every reply with retrieval to "The passages don't say." or a quote
 * of a shown passage with its [n] (answerWithRetrieval's `extractive`): a product feature,
 * reported as its own row beside the unconstrained figure, never in its place.
 *
 * The measurement in docs/journal/rag.md trains its model with bench/rag/pretrain.rag.json:
 *   gptforge pretrain --preset bench/rag/pretrain.rag.json --run runs/rag
 *   gptforge sft --run runs/rag
 *   node dist/bench/rag-effect.js --run runs/rag
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchParseArgs } from './args.js';
import { benchModel } from './rag-model.js';
import { copyProbe, effectCausesMarkdown, lookupProbe, mqarProbe, effectMarkdown, measureEffect, measurePassagesFamily, openDictionaryStore } from '../src/rag/effect.js';
import { GPT } from '../src/model/gpt.js';
import { atomicWriteFile } from '../src/util/atomic.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    run: { type: 'string' },
    stage: { type: 'string' },
    'per-family': { type: 'string', default: '50' },
    k: { type: 'string', short: 'k', default: '3' },
    json: { type: 'boolean', default: false },
    // only the copy probes (seconds, not a minute): the curriculum's check at each phase boundary
    'probe-only': { type: 'boolean', default: false },
    // held-out lookup prompts (key → value recall) scored beside the effect; 0 skips them
    lookup: { type: 'string', default: '200' },
    // held-out `passages` family prompts (passages given, not retrieved); default 3 × --per-family, 0 skips them (a loaded machine's shorter run)
    family: { type: 'string' },
    // the question-frame words (store.ts QUESTION_FRAME_WORDS) are dropped from the BM25 queries here, where that was
    // measured to help (docs/journal/rag.md "Retrieval for the effect questions"); --keep-frame-words measures the library default
    'keep-frame-words': { type: 'boolean', default: false },
    // every question's retrieved prompts, replies and diagnoses, one JSON line each
    dump: { type: 'string' },
    // no passage left to show: NO_ANSWER without the model (the library default) or the model's answer to the bare question
    'empty-context': { type: 'string', default: 'no-answer' },
    // replies with retrieval constrained to NO_ANSWER or a quote of a shown passage with its [n] (generate.ts extractiveConstraint)
    extractive: { type: 'boolean', default: false },
    // the relevance cutoff on each chunk's relative BM25 score (src/rag/relevance.ts; calibrated by bench/rag-relevance.ts): chunks below are not shown, none left → "The passages don't say." without the model
    'min-score': { type: 'string' },
    // with --min-score and --extractive: only the cutoff refuses; the grammar leaves "The passages don't say." out, so the model must quote a shown passage
    'refusal-by-cutoff': { type: 'boolean', default: false },
    // which held-out questions (distinctExamples' seed; default 2024, the figures in docs/rag.md): another draw of the same test split
    seed: { type: 'string', default: '2024' },
  },
});

function main(): void {
  const emptyContext = args['empty-context'];
  if (emptyContext !== 'no-answer' && emptyContext !== 'generate') throw new Error(`--empty-context: expects no-answer or generate, got ${JSON.stringify(emptyContext)}`);
  if (!Number.isInteger(Number(args.seed))) throw new Error(`--seed: expects a whole number, got ${JSON.stringify(args.seed)}`);
  const minScore = args['min-score'] !== undefined ? Number(args['min-score']) : undefined;
  if (minScore !== undefined && !Number.isFinite(minScore)) throw new Error(`--min-score: expects a number (a relative BM25 score, 0…1), got ${JSON.stringify(args['min-score'])}`);
  const { model, tok, dir } = benchModel(args.run, args.stage);
  if (args['probe-only']) {
    if (!(model instanceof GPT)) throw new Error('--probe-only needs an f32 model (the probe runs its forward pass)');
    const long = copyProbe(model, tok);
    const short = copyProbe(model, tok, 30, 99, { min: 4, max: 12 });
    // with <|bos|> first, as training documents and chat prompts have it
    const longBos = copyProbe(model, tok, 30, 99, { min: 12, max: 40 }, 'bos');
    const shortBos = copyProbe(model, tok, 30, 99, { min: 4, max: 12 }, 'bos');
    // after an earlier document, as pretraining packs them (where rag-copy4 copies)
    const longDoc = copyProbe(model, tok, 30, 99, { min: 12, max: 40 }, 'document');
    const shortDoc = copyProbe(model, tok, 30, 99, { min: 4, max: 12 }, 'document');
    const line = (p: typeof long): string => `${p.first.toFixed(2)} / ${p.repeat.toFixed(2)}`;
    // key → value lookups, teacher-forced: the key's tokens, the value's, the value after a wrong key
    const lookText = lookupProbe(model, tok, 100, 2024, 'text');
    const lookChat = lookupProbe(model, tok, 100, 2024, 'chat');
    // one-token associative recall (MQAR), held-out words and fresh train-split documents; and with "key:" as the notes write it
    const mq = mqarProbe(model, tok, { split: 'test' });
    const mqTrain = mqarProbe(model, tok, { split: 'train', pairs: 16, seed: 99 });
    const mqTrain8 = mqarProbe(model, tok, { split: 'train', pairs: 8, seed: 98, n: 100 });
    const mqSep = mqarProbe(model, tok, { split: 'train', pairs: 16, seed: 99, sep: ':' });
    const mp = (p: typeof mq): string =>
      `value ${(100 * p.value.accuracy).toFixed(0)}% (${p.value.loss.toFixed(2)} nats), after a wrong key ${(100 * p.wrongKey.accuracy).toFixed(0)}% (${p.wrongKey.loss.toFixed(2)}), list values (chance) ${(100 * p.listValue.accuracy).toFixed(0)}% (1/${Math.round(1 / p.chance)}); ${p.documents} documents`;
    const lp = (l: typeof lookText): string =>
      `key ${(100 * l.key.accuracy).toFixed(0)}% (${l.key.loss.toFixed(2)} nats), value's first token ${(100 * l.valueFirst.accuracy).toFixed(0)}% (${l.valueFirst.loss.toFixed(2)}), later value tokens ${(100 * l.valueRest.accuracy).toFixed(0)}% (${l.valueRest.loss.toFixed(2)}), its first token after a wrong key ${(100 * l.valueWrongKey.accuracy).toFixed(0)}% (${l.valueWrongKey.loss.toFixed(2)}); ${l.examples} lookups`;
    console.log(
      args.json
        ? JSON.stringify({
            model: dir,
            copyProbe: long,
            copyProbeShort: short,
            copyProbeBos: longBos,
            copyProbeShortBos: shortBos,
            copyProbeDoc: longDoc,
            copyProbeShortDoc: shortDoc,
            lookupProbe: lookText,
            lookupProbeChat: lookChat,
            mqarProbe: mq,
            mqarProbeTrain: mqTrain,
            mqarProbeTrain8: mqTrain8,
            mqarProbeSep: mqSep,
          })
        : `${dir}: copy probe, first saying / repeat (nats/token): 12–40-word lists ${line(long)}; 4–12-word lists ${line(short)}; with <|bos|>: ${line(longBos)}; ${line(shortBos)}; after a document: ${line(longDoc)}; ${line(shortDoc)}\nlookup probe (top-1 token accuracy, teacher-forced), document form: ${lp(lookText)}\nchat form: ${lp(lookChat)}\nMQAR probe, held-out words (12 pairs): ${mp(mq)}\nMQAR, train-split words (16 pairs): ${mp(mqTrain)}\nMQAR, train-split words (8 pairs): ${mp(mqTrain8)}\nMQAR with "key:" (16 pairs): ${mp(mqSep)}`,
    );
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'gf-rag-effect-'));
  try {
    const t0 = performance.now();
    const store = openDictionaryStore(join(tmp, 'dictionary.db'));
    const perFamily = Number(args['per-family']);
    const rows = measureEffect(model, tok, store, {
      perFamily,
      k: Number(args.k),
      dropFrameWords: !args['keep-frame-words'],
      emptyContext,
      extractive: args.extractive,
      ...(minScore !== undefined ? { minScore: { bm25Relative: minScore } } : {}),
      ...(args['refusal-by-cutoff'] ? { refusal: 'cutoff' as const } : {}),
      seed: Number(args.seed),
      keepAnswers: true,
      onAnswer: (d, n) => {
        if (!args.json && process.stderr.isTTY) process.stderr.write(`\r${d}/${n}`);
      },
    });
    const fam = measurePassagesFamily(model, tok, args.family !== undefined ? Number(args.family) : 3 * perFamily);
    // can it look a key up? (the lookup family's held-out notes: docs/journal/rag.md "Fifth attempt")
    const look = measurePassagesFamily(model, tok, Number(args.lookup), { task: 'lookup' });
    // can it copy at all? (a quantized model has no forward: skipped)
    const copy = model instanceof GPT ? copyProbe(model, tok) : undefined;
    // short lists: where copying shows first (docs/journal/rag.md "Third attempt")
    const copyShort = model instanceof GPT ? copyProbe(model, tok, 30, 99, { min: 4, max: 12 }) : undefined;
    const copyShortBos = model instanceof GPT ? copyProbe(model, tok, 30, 99, { min: 4, max: 12 }, 'bos') : undefined;
    const copyShortDoc = model instanceof GPT ? copyProbe(model, tok, 30, 99, { min: 4, max: 12 }, 'document') : undefined;
    store.close();
    const seconds = (performance.now() - t0) / 1000;
    if (args.json) {
      console.log(JSON.stringify({ model: dir, perFamily, k: Number(args.k), rows, passagesFamily: fam, lookup: look, copyProbe: copy, copyProbeShort: copyShort, copyProbeShortBos: copyShortBos, copyProbeShortDoc: copyShortDoc, seconds }));
      return;
    }
    console.log(
      `model: ${dir} (${model.numParams().toLocaleString('en-US')} parameters, context ${model.config.blockSize}); ${perFamily} held-out questions per family (seed ${args.seed}); k = ${args.k}; no passage left → ${emptyContext === 'no-answer' ? 'NO_ANSWER without the model' : 'the model answers the bare question'}${minScore !== undefined ? `; relevance cutoff: relative BM25 ≥ ${minScore} (the retrieval layer decides; below it for every chunk → NO_ANSWER without the model)${args['refusal-by-cutoff'] ? '; only the cutoff refuses (the extractive grammar has no NO_ANSWER)' : ''}` : '; no relevance cutoff (the model decides)'}${args.extractive ? '; extractive decoding (replies with retrieval constrained to NO_ANSWER or a quote of a shown passage)' : ''}; ${seconds.toFixed(0)} s\n`,
    );
    console.log(effectMarkdown(rows));
    const answers = rows.flatMap((r) => r.answers ?? []);
    console.log(`\nwhy (with retrieval: each question's cause; entry removed: refusal or not):\n\n${effectCausesMarkdown(rows, answers)}`);
    if (args.dump) atomicWriteFile(args.dump, answers.map((a) => JSON.stringify(a)).join('\n') + '\n');
    if (fam.total + fam.tooLong > 0) console.log(`\nthe passages family, held out (passages given, not retrieved): ${(100 * fam.accuracy).toFixed(0)}% (${fam.correct}/${fam.total}; ${fam.tooLong} prompts longer than the context left out)`);
    const pc = (c: { correct: number; total: number; accuracy: number }): string => `${(100 * c.accuracy).toFixed(0)}% (${c.correct}/${c.total})`;
    if (look.total + look.tooLong > 0) console.log(`the lookup family, held out (key → value recall over random notes): ${pc(look)}; answerable ${pc(look.answerable)}, no such key → "don't say" ${pc(look.unanswerable)}; ${look.tooLong} too long`);
    for (const x of look.samples.slice(0, 4)) console.log(`  ${x.prompt.split('\n').slice(-1)[0]} → ${x.reply}   (reference: ${x.reference})`);
    if (copy) console.log(`copy probe (${copy.lists} random word lists said twice): loss ${copy.first.toFixed(2)} nats/token on the first saying, ${copy.repeat.toFixed(2)} on the repeat — ${copy.repeat < 0.5 * copy.first ? 'the model copies' : 'the model does not copy from its context'}`);
    if (copyShort) console.log(`copy probe, 4–12-word lists: ${copyShort.first.toFixed(2)} on the first saying, ${copyShort.repeat.toFixed(2)} on the repeat${copyShort.repeat < copyShort.first ? ' (copying has begun)' : ''}`);
    if (copyShortDoc) console.log(`copy probe, 4–12-word lists after an earlier document: ${copyShortDoc.first.toFixed(2)} / ${copyShortDoc.repeat.toFixed(2)}`);
    if (copyShortBos) console.log(`copy probe, 4–12-word lists after <|bos|>: ${copyShortBos.first.toFixed(2)} / ${copyShortBos.repeat.toFixed(2)}${copyShortBos.repeat < copyShortBos.first ? ' (copying has begun)' : ''}`);
    for (const r of rows) for (const e of r.examples) console.log(`\n${r.family}: ${e.prompt}\n  without: ${e.without}\n  with:    ${e.with}\n  removed: ${e.removed}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
