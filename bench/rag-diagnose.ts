/**
 * node dist/bench/rag-diagnose.js --tokenizer runs/rag-copy3/tokenizer.json [--block-size 256] [--per-family 100] [-k 3] [--keep-frame-words] [--json] [--shape-of sft.jsonl …]
 *
 * Why does retrieval not lift the answers? The cheap checks before any training (docs/journal/rag.md
 * "Third attempt: why it does not copy"), with a tokenizer and no model:
 *
 * - retrieval: the rank of the asked word's first entry in BM25's top 5 over the one-entry-a-chunk
 *   dictionary store — for exactly the held-out questions `bench/rag-effect.js` asks;
 * - the context: what `answerWithRetrieval` would send (top k, cut by `fitPassages` to fit the
 *   context beside 48 tokens of reply), its length in tokens, how many passages survive, and
 *   whether a kept passage still *holds* the answer (names the word and states the fact — the
 *   `passages` checker's rule): the ceiling of a perfect reader;
 * - the SFT data: `passages` training examples' token lengths (SFT skips a conversation longer
 *   than the context rather than truncating it), their answer tokens against the knowledge
 *   families' (the SFT loss is on the reply only), and the share of answers whose fact is a
 *   verbatim span of the cited passage;
 * - the prompts' shape, the effect's retrieved ones against the `passages` family's training ones
 *   (docs/journal/rag.md "Eleventh attempt"): how many shown passages hold the answer, where the first
 *   one sits, and where the reference quote's first token can be copied from — the question (the
 *   asked word as written there), or only a passage (a capitalised word, or a sentence that
 *   states the fact before the word) — and how many places in the passages that token occurs;
 *   and the same for the effect's prompts with the word's entries removed, where another word's
 *   entry can still hold the answer ("bang and slam can mean the same" in slam's entry): there
 *   "the passages don't say" is not the right reply.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchParseArgs } from './args.js';
import { renderConversation, renderPrompt } from '../src/data/chat.js';
import { dictionaryEntries, PASSAGE_FAMILIES, passagesReferences } from '../src/data/synthetic/passages.js';
import { promptItem, taskByName, wordFacts } from '../src/data/synthetic/tasks.js';
import { distinctExamples } from '../src/eval/tasks.js';
import type { ChatEngine } from '../src/infer/engine.js';
import { citedNumbers, NO_ANSWER, parsePassagePrompt } from '../src/rag/context.js';
import { ExcludingRetriever, openDictionaryStore } from '../src/rag/effect.js';
import { chunkPassage, fitPassages, passageTitles } from '../src/rag/generate.js';
import { Retriever } from '../src/rag/retrieve.js';
import { Tokenizer } from '../src/tokenizer/tokenizer.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    tokenizer: { type: 'string' },
    'block-size': { type: 'string', default: '256' },
    'per-family': { type: 'string', default: '100' },
    k: { type: 'string', short: 'k', default: '3' },
    json: { type: 'boolean', default: false },
    // the question-frame words (store.ts QUESTION_FRAME_WORDS) are dropped from the BM25 queries here, where that was
    // measured to help (docs/journal/rag.md "Retrieval for the effect questions"); --keep-frame-words measures the library default
    'keep-frame-words': { type: 'boolean', default: false },
    // SFT conversation files whose user turns' shapes are tabulated beside the effect's and the family's (repeatable)
    'shape-of': { type: 'string', multiple: true, default: [] },
  },
});

const pct = (a: number, b: number): string => `${b > 0 ? ((100 * a) / b).toFixed(0) : '—'}% (${a}/${b})`;
const quantiles = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `p10 ${q(0.1)}, p50 ${q(0.5)}, p90 ${q(0.9)}, max ${s[s.length - 1]}`;
};

function main(): void {
  if (!args.tokenizer) throw new Error('--tokenizer <tokenizer.json> is required');
  const tok = Tokenizer.load(args.tokenizer);
  const blockSize = Number(args['block-size']);
  const k = Number(args.k);
  const per = Number(args['per-family']);
  // fitPassages reads only the tokenizer and the context length
  const engine = { tok, model: { config: { blockSize } } } as unknown as ChatEngine;
  const room = Math.min(48, Math.floor(blockSize / 2));
  const passages = taskByName('passages');
  const entryWord = new Map(dictionaryEntries().map((e) => [e.line, e.word]));
  const tmp = mkdtempSync(join(tmpdir(), 'gf-rag-diagnose-'));
  const out: Record<string, unknown> = {};
  try {
    const effectPrompts: string[] = [];
    const removedPrompts: string[] = [];
    let removedBare = 0;
    const store = openDictionaryStore(join(tmp, 'dictionary.db'));
    const retriever = new Retriever(store, undefined, { dropFrameWords: !args['keep-frame-words'] });
    const lines: string[] = ['| held-out family | entry in BM25 top 5 | … at rank 1 / 2 / 3 / 4–5 | passages kept (of k) | kept passages hold the answer | prompt tokens |', '| --- | ---: | --- | --- | ---: | --- |'];
    for (const family of PASSAGE_FAMILIES) {
      const prompts: string[] = [];
      const ranks: number[] = [];
      const kept: number[] = [];
      const lengths: number[] = [];
      let n = 0;
      let holds = 0;
      for (const ex of distinctExamples(taskByName(family), per, 2024)) {
        const word = promptItem(family, ex.prompt);
        if (word === undefined || wordFacts(word) === undefined) continue;
        n++;
        const top5 = retriever.retrieve(ex.prompt, { k: 5 });
        const rank = top5.findIndex((c) => c.path === 'dictionary' && c.line !== undefined && entryWord.get(c.line) === word);
        ranks.push(rank < 0 ? 0 : rank + 1);
        const hits = top5.slice(0, k).map((c) => chunkPassage(c, undefined, passageTitles(store)));
        const fit = fitPassages(engine, [], ex.prompt, hits, room);
        kept.push(fit.count);
        if (fit.count > 0) prompts.push(fit.content);
        // the word's entries removed (as the effect's third column does): the prompt the model should refuse
        const rest = new ExcludingRetriever(retriever, (c) => c.path === 'dictionary' && c.line !== undefined && entryWord.get(c.line) === word).retrieve(ex.prompt, { k });
        const restFit = fitPassages(
          engine,
          [],
          ex.prompt,
          rest.map((c) => chunkPassage(c, undefined, passageTitles(store))),
          room,
        );
        if (restFit.count > 0) removedPrompts.push(restFit.content);
        else removedBare++;
        lengths.push(renderPrompt(tok, { messages: [{ role: 'user', content: fit.content }] }).length);
        // a perfect reader answers iff some kept passage holds the answer: then NO_ANSWER fails the checker
        if (fit.count > 0 && !passages.check(fit.content, NO_ANSWER)) holds++;
      }
      const at = (r: number): number => ranks.filter((x) => x === r).length;
      const found = ranks.filter((r) => r > 0).length;
      const keptHist = [0, 1, 2, 3].map((c) => kept.filter((x) => x === c).length);
      lines.push(`| ${family} | ${pct(found, n)} | ${at(1)} / ${at(2)} / ${at(3)} / ${at(4) + at(5)} | ${keptHist.map((c, i) => `${i}: ${c}`).join(', ')} | ${pct(holds, n)} | ${quantiles(lengths)} |`);
      out[family] = { n, found, ranks, kept: keptHist, holds, lengths: quantiles(lengths) };
      effectPrompts.push(...prompts);
    }
    store.close();

    // the SFT side: the passages family's training examples
    const train = passages.generate('train', 2000, 1337);
    const convLen = train.map((ex) => renderConversation(tok, ex.conversation).ids.length);
    const fits = convLen.filter((n) => n <= blockSize + 1).length;
    const byCount = [2, 3].map((c) => {
      const idx = train.map((ex, i) => (parsePassagePrompt(ex.prompt)!.passages.length === c ? i : -1)).filter((i) => i >= 0);
      return `${c} passages: ${pct(idx.filter((i) => convLen[i] <= blockSize + 1).length, idx.length)} fit`;
    });
    const answerTokens = (xs: typeof train): number => xs.reduce((s, ex) => s + tok.encode(ex.conversation.messages[1].content).length, 0) / xs.length;
    const knowledge = PASSAGE_FAMILIES.flatMap((f) => taskByName(f).generate('train', 300, 1337));
    let answerable = 0;
    let verbatim = 0;
    for (const ex of train) {
      const answer = ex.conversation.messages[1].content.trim();
      if (answer === NO_ANSWER) continue;
      answerable++;
      const p = parsePassagePrompt(ex.prompt)!;
      const cited = p.passages[citedNumbers(answer)[0] - 1].text;
      // the reply quotes the cited passage (docs/rag.md "Generation with retrieval"): all of it before the citation
      const fact = /^(.*) \[\d+\]\.$/.exec(answer)?.[1];
      if (fact !== undefined && cited.includes(fact)) verbatim++;
    }
    const sft = [
      `passages training conversations in ${blockSize + 1} tokens (the rest are skipped by SFT): ${pct(fits, train.length)} — ${byCount.join('; ')}; tokens ${quantiles(convLen)}`,
      `reply tokens (the SFT loss): passages ${answerTokens(train).toFixed(1)} a conversation, definitions/kinds/synonyms ${answerTokens(knowledge).toFixed(1)}`,
      `answerable replies whose fact is a verbatim span of the cited passage: ${pct(verbatim, answerable)}`,
    ];
    out.sft = sft;
    const shapeLines = ["| prompts | n | passages holding the answer 0 / 1 / 2 / 3 | first holding passage at 1 / 2 / 3 | quote's first token in the question | … only in the passages | its occurrences in the passages (p50, p90) |", '| --- | ---: | --- | --- | ---: | ---: | --- |'];
    const shape = (name: string, prompts: readonly string[]): void => {
      const holding = [0, 0, 0, 0];
      const firstAt = [0, 0, 0, 0];
      let inQuestion = 0;
      let onlyPassages = 0;
      const occurrences: number[] = [];
      for (const prompt of prompts) {
        const refs = passagesReferences(prompt);
        const parsed = parsePassagePrompt(prompt);
        if (refs === undefined || parsed === undefined) continue;
        holding[Math.min(3, refs.length)]++;
        if (refs.length === 0) continue;
        firstAt[Math.min(3, refs[0].n)]++;
        const first = tok.encode(refs[0].reply, { disallowedSpecial: 'plain' })[0];
        const count = (text: string): number => tok.encode(text, { disallowedSpecial: 'plain' }).filter((t) => t === first).length;
        if (count(` ${parsed.question}`) > 0) inQuestion++;
        else onlyPassages++;
        occurrences.push(parsed.passages.reduce((a, p) => a + count(` ${p.text}`), 0));
      }
      const answerable = holding[1] + holding[2] + holding[3];
      const q = quantiles(occurrences.length > 0 ? occurrences : [0]).split(', ');
      shapeLines.push(`| ${name} | ${prompts.length} | ${holding.join(' / ')} | ${firstAt.slice(1).join(' / ')} | ${pct(inQuestion, answerable)} | ${pct(onlyPassages, answerable)} | ${q[1]}, ${q[2]} |`);
    };
    shape(`the effect's retrieved prompts (top ${k}, fitted)`, effectPrompts);
    shape("the effect's prompts with the word's entries removed", removedPrompts);
    shape(
      'passages training prompts',
      train.map((ex) => ex.prompt),
    );
    for (const file of args['shape-of'] ?? [])
      shape(
        file,
        readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => (JSON.parse(l) as { messages: { content: string }[] }).messages[0].content),
      );
    const stillHolding = removedPrompts.filter((p) => (passagesReferences(p)?.length ?? 0) > 0).length;
    const asked = removedPrompts.length + removedBare;
    shapeLines.push(
      '',
      `the word's entries removed: ${pct(removedBare, asked)} of the questions have no passage left (the model sees the bare question); ${pct(stillHolding, asked)} still show a passage holding the answer — a perfect reader answers those, so "the passages don't say" as measured is at most ${pct(asked - stillHolding, asked)} (refusing every bare question)`,
    );
    out.shapes = shapeLines;
    if (args.json) console.log(JSON.stringify(out));
    else console.log(`${lines.join('\n')}\n\n${sft.join('\n')}\n\n${shapeLines.join('\n')}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
