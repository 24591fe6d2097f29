/**
 * node dist/bench/rag-copy-corpus.js --out runs/rag-passages.jsonl [--examples 8000] [--seed 77]
 *
 * Pretraining text that makes copying pay (docs/journal/rag.md "Measured: the effect"): `passages`
 * family examples of the *train* split as plain documents — the numbered passages, the
 * question, "Answer: " and the reply — one JSONL record `{"text": …}` each, for a mixture's
 * `paths` source (bench/rag/mixture.rag.json). The dictionary pages alone never repeat a
 * span inside a context window, so a model pretrained on them forms no induction (copy)
 * heads; here an answer's fact is a verbatim span of a passage a few dozen tokens earlier,
 * and two editions of one word repeat its glosses, so next-token prediction rewards copying.
 * Test-split words are never asked about (their entries stay in the dictionary source, as before).
 *
 * `--kind repeat [--min-words 12 --max-words 40]`: documents of 12–40 words drawn at random from the core vocabulary, then the
 * same words again ("… Again: …") — the induction task of Olsson et al. 2022 in words: the
 * second half can only be predicted by finding the earlier occurrence of the current word and
 * copying the one after it, and random draws cannot be memorised. Short lists (4–16 words) are
 * learnt first: a tiny model starts to copy them within a few hundred steps where 12–40-word
 * lists showed no copying at all (docs/journal/rag.md "Third attempt").
 *
 * `--kind lookup [--questions 4]`: the `lookup` family's notes (data/synthetic/lookup.ts: numbered
 * passages of random `key: value.` lines) each followed by several questions and answers —
 * key → value recall, the step between copying a list and reading a passage (docs/journal/rag.md
 * "Fifth attempt"); train-split keys and values only.
 *
 * `--kind mqar --tokenizer runs/x/tokenizer.json [--pairs 16 --queries 16 --sep ':']`:
 * multi-query associative recall (data/synthetic/mqar.ts, Zoology's MQAR) over train-split
 * words that are one token after a space under that tokenizer — the denser, simpler lookup
 * learnt before the notes (docs/journal/rag.md "Sixth attempt"). Train the tokenizer first.
 * `--any-length` draws keys and values from all train-split core words instead (no
 * tokenizer): multi-token keys and values, the notes' case, one word each (docs/journal/rag.md
 * "Ninth attempt").
 *
 * `--kind repeat --format chat`: the lists as SFT conversations — the list in the user turn,
 * the copy as the reply (written with a leading space, `quotedReply`, so the reply's first
 * word is the list's token) — so SFT's reply mask puts the loss on the copied words only, the
 * setting under which both engines learnt induction (docs/journal/rag.md "Seventh attempt", "Eighth").
 *
 * `--kind repeat --sep ','`: the words separated ("caution, vision, crowd") — in the repeat
 * each word is two tokens after the one it follows, the notes' "key: value," distance, so the
 * copy needs the match two back (docs/journal/rag.md "Ninth attempt": the step a plain copy and a plain
 * lookup do not carry over to).
 *
 * `--kind mqar --format chat --tokenizer …`: the MQAR documents as SFT conversations — the
 * pair list in the user turn, the queries (each key, then its value) as the reply — so the loss
 * falls on the queried keys and looked-up values, not on the unpredictable pair list.
 *
 * `--kind retrieved --format chat [--no-answer 20] [-k 3] [--block-size 256]`: `passages` conversations
 * whose passages are what the effect measurement shows (docs/journal/rag.md "Eleventh attempt"): train-split
 * definitions, kinds and synonyms questions, BM25's top k over the one-entry-a-chunk dictionary
 * store (frame words dropped, test-split words' entries never shown), cut to fit the context
 * beside 48 tokens of reply as answerWithRetrieval does; the reply the family's quote of the first
 * passage that holds the answer. About `--no-answer` percent are asked with every passage holding
 * the answer removed (the effect's strict removal), the reply "The passages don't say."; a
 * question left with no passage is skipped. The family's own generator shows one holding passage
 * in 69% of its answerable prompts and never three; retrieval shows two or three in 84%, the
 * first of them at [1] in 98% (bench/rag-diagnose.ts).
 *
 * `--kind retrieved --all-families`: each answerable question is followed by the other families'
 * questions about the same word over the *same* shown passages (the first question's retrieval),
 * each with its own family's quote — so only the question's frame tells which sentence of the
 * entry to quote (docs/journal/rag.md "Thirteenth attempt": a wrong sentence of the right entry
 * was the largest cause left with the entry shown). `--examples` counts every conversation.
 *
 * `--kind retrieved --contrast`: every conversation comes with a partner over the *same* shown
 * passages that flips the reply — the one decision left wrong both ways (docs/journal/rag.md
 * "Thirteenth attempt": refusals with the entry shown, answers read off another word's entry
 * with it gone), "is the asked word's entry shown?", made from one block. An answerable block
 * is asked again about a word one of its passages only mentions (a train-split word with no
 * shown passage holding its answer): "The passages don't say.". A strict-removal block (the
 * word's answer-holding passages gone, what the effect's refusal column shows) is asked again
 * about the word whose entry a shown passage is, in a family that passage answers: its quote.
 * `--no-answer` is then the share of pairs built from a strict-removal block; refusals are half
 * of the conversations either way. Pairs are written one after the other (the SFT loader
 * shuffles them apart). A question with no partner is skipped.
 *
 * `--kind retrieved --vary`: the k passages shown are drawn at random from BM25's top k + 3 (in
 * their rank order) instead of its top k. Without it the 20,000 conversations show about 1,600
 * distinct blocks (the train split's words asked again and again, one retrieval each), few enough
 * to learn each block's reply by heart rather than the rule; an answerable question whose
 * holding passages were all left out is skipped.
 *
 * `--kind entry --from runs/x-contrast.jsonl`: the "which passage is the asked word's entry?"
 * task (data/synthetic/passages.ts entryConversation) made from a passages corpus, one line
 * for each of its lines, in order (so a contrast pair stays a pair: `groupSize 2`): the same
 * passages, "Which passage is the entry for w?", replied " [n]." (the passage titled w) or
 * "The passages don't say." (docs/journal/rag.md "Sixteenth attempt").
 *
 * `--format chat [--no-answer 10]` (passages or lookup): SFT conversations
 * (`{"messages": …}`, for an SFT mixture's `path` source) with "The passages don't say." cut
 * to about `--no-answer` percent of the examples (the families give 30%): fewer refusals while
 * reading is still being learnt, so the one fixed reply is not the loss's cheapest answer.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { benchParseArgs } from './args.js';
import { Rng } from '../src/engine/rng.js';
import { promptItem, splitOf, taskByName } from '../src/data/synthetic/tasks.js';
import { dictionaryEntries, entryConversation, PASSAGE_FAMILIES, passageHoldsAnswer, passagesReferences } from '../src/data/synthetic/passages.js';
import type { ChatEngine } from '../src/infer/engine.js';
import { ExcludingRetriever, openDictionaryStore } from '../src/rag/effect.js';
import { chunkPassage, fitPassages, passageTitles } from '../src/rag/generate.js';
import { Retriever, type RetrievedChunk } from '../src/rag/retrieve.js';
import { coreWords } from '../src/data/synthetic/words.js';
import { lookupDocument } from '../src/data/synthetic/lookup.js';
import { mqarDocuments, mqarPools } from '../src/data/synthetic/mqar.js';
import { NO_ANSWER, quotedReply, saysNoAnswer } from '../src/rag/context.js';
import { mqarConversation } from '../src/rag/effect.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { atomicWriteFile } from '../src/util/atomic.js';

const { values: args } = benchParseArgs(import.meta.url, {
  options: {
    out: { type: 'string' },
    examples: { type: 'string', default: '8000' },
    seed: { type: 'string', default: '77' },
    kind: { type: 'string', default: 'passages' },
    'min-words': { type: 'string', default: '12' },
    'max-words': { type: 'string', default: '40' },
    questions: { type: 'string', default: '4' },
    tokenizer: { type: 'string' },
    pairs: { type: 'string', default: '16' },
    queries: { type: 'string', default: '16' },
    sep: { type: 'string', default: '' },
    'any-length': { type: 'boolean', default: false },
    format: { type: 'string', default: 'text' },
    'no-answer': { type: 'string', default: '10' },
    k: { type: 'string', short: 'k', default: '3' },
    'block-size': { type: 'string', default: '256' },
    'all-families': { type: 'boolean', default: false },
    contrast: { type: 'boolean', default: false },
    vary: { type: 'boolean', default: false },
    from: { type: 'string' },
  },
});

if (!args.out) throw new Error('--out <file.jsonl> is required');
const n = Number(args.examples);
function repeats(count: number, seed: number, min: number, max: number): string[] {
  if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 1 && max >= min)) throw new Error(`--min-words/--max-words must be whole numbers, 1 ≤ min ≤ max; got ${min}, ${max}`);
  const rng = new Rng(seed);
  const vocab = [...coreWords()].sort();
  return Array.from({ length: count }, () => {
    const words = Array.from({ length: min + rng.int(max - min + 1) }, () => vocab[rng.int(vocab.length)]).join(`${args.sep} `);
    return `Words: ${words}.\nAgain: ${words}.`;
  });
}
function lookups(count: number, seed: number, questions: number): string[] {
  if (!(Number.isInteger(questions) && questions >= 1)) throw new Error(`--questions must be a whole number ≥ 1; got ${questions}`);
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => lookupDocument(rng, 'train', questions));
}
function mqar(count: number, seed: number): string[] {
  let pools;
  if (args['any-length']) pools = mqarPools('train');
  else {
    if (!args.tokenizer) throw new Error('--kind mqar needs --tokenizer <tokenizer.json> (keys and values are words that are one token after a space), or --any-length');
    const tok = Tokenizer.load(args.tokenizer);
    pools = mqarPools('train', (w) => tok.encode(` ${w}`).length === 1);
  }
  console.log(`mqar: ${pools.keys.length} ${args['any-length'] ? '' : 'one-token '}keys, ${pools.values.length} values (train split)`);
  return mqarDocuments('train', count, seed, pools, Number(args.pairs), Number(args.queries), args.sep).map((d) => d.text);
}
/** The lists of `repeats` as SFT conversations: the list asked for again, the copy the reply. */
function repeatConversations(count: number, seed: number, min: number, max: number): string[] {
  return repeats(count, seed, min, max).map((doc) => {
    const words = doc.slice('Words: '.length, doc.indexOf('.\n'));
    return JSON.stringify({
      messages: [
        { role: 'user', content: `Words: ${words}.\nSay the words again.` },
        { role: 'assistant', content: quotedReply(`${words}.`) },
      ],
    });
  });
}
/** MQAR documents as SFT conversations: the pair list in the user turn, the queries (each key, then its value) as the reply, so the loss falls on the queried keys and the looked-up values only. */
function mqarConversations(count: number, seed: number): string[] {
  return mqar(count, seed).map((text) => JSON.stringify(mqarConversation(text)));
}
/** SFT conversations of a family with refusals kept to about `percent`% (every answerable example kept). */
function conversations(kind: string, count: number, seed: number, percent: number): string[] {
  if (!(percent >= 0 && percent <= 100)) throw new Error(`--no-answer must be a percentage; got ${percent}`);
  const out: string[] = [];
  let refusals = 0;
  for (let round = 0; out.length < count; round++) {
    for (const ex of taskByName(kind).generate('train', count, seed + round)) {
      if (out.length >= count) break;
      if (saysNoAnswer(ex.conversation.messages[1].content)) {
        if (refusals + 1 > (percent / 100) * (out.length + 1)) continue;
        refusals++;
      }
      out.push(JSON.stringify(ex.conversation));
    }
  }
  return out;
}
/** `passages` conversations over BM25-retrieved dictionary entries (the effect's prompts, for train-split questions). */
function retrievedConversations(count: number, seed: number, percent: number): string[] {
  if (!(percent >= 0 && percent <= 100)) throw new Error(`--no-answer must be a percentage; got ${percent}`);
  const tmp = mkdtempSync(join(tmpdir(), 'gf-rag-retrieved-'));
  try {
    const store = openDictionaryStore(join(tmp, 'dictionary.db'));
    const entries = dictionaryEntries();
    const entryOf = (c: RetrievedChunk): string | undefined => (c.path === 'dictionary' && c.line !== undefined ? entries[c.line - 1]?.word : undefined);
    // test-split words' entries are never shown in training (the passages family's rule for its distractors)
    const retriever = new ExcludingRetriever(new Retriever(store, undefined, { dropFrameWords: true }), (c) => splitOf(entryOf(c) ?? '') === 'test');
    // fitPassages reads only the tokenizer and the context length
    if (!args.tokenizer) throw new Error('--kind retrieved needs --tokenizer <tokenizer.json> (the passages are cut to fit the context as answerWithRetrieval cuts them)');
    const blockSize = Number(args['block-size']);
    const engine = { tok: Tokenizer.load(args.tokenizer), model: { config: { blockSize } } } as unknown as ChatEngine;
    const k = Number(args.k);
    const rng = new Rng(seed);
    /** --vary: k of the hits, drawn at random, in their rank order (all of them, and no draw from rng, without it). */
    const sample = (hits: RetrievedChunk[], keep: number): RetrievedChunk[] => {
      if (!args.vary) return hits;
      const picked = new Set<number>();
      while (picked.size < Math.min(keep, hits.length)) picked.add(rng.int(hits.length));
      return hits.filter((_, i) => picked.has(i));
    };
    /** Fisher–Yates in place, from the corpus's seeded rng. */
    const shuffled = <T>(xs: T[]): T[] => {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [xs[i], xs[j]] = [xs[j], xs[i]];
      }
      return xs;
    };
    const out: string[] = [];
    let refusals = 0;
    // --all-families / --contrast: every family's train questions by word, to ask them over another word's retrieval
    const byWord = new Map<string, string[]>();
    if (args['all-families'] || args.contrast)
      for (const f of PASSAGE_FAMILIES)
        for (const ex of taskByName(f).generate('train', 3 * count, seed ^ 0x5eed)) {
          const w = promptItem(f, ex.prompt);
          if (w === undefined) continue;
          const list = byWord.get(w) ?? [];
          if (!list.some((p) => promptItem(f, p) !== undefined)) list.push(ex.prompt);
          byWord.set(w, list);
        }
    for (let round = 0; out.length < count && round < 50; round++) {
      const questions = PASSAGE_FAMILIES.flatMap((f) => taskByName(f).generate('train', Math.ceil(count / 3), seed + round));
      for (let i = questions.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [questions[i], questions[j]] = [questions[j], questions[i]];
      }
      for (const q of questions) {
        if (out.length >= count) break;
        const refuse = args.contrast ? rng.int(100) < percent : refusals + 1 <= (percent / 100) * (out.length + 1) && rng.int(100) < 2 * percent;
        const r = refuse ? new ExcludingRetriever(retriever, (c) => passageHoldsAnswer(q.prompt, c.text) || entryOf(c) === promptItemOf(q.prompt)) : retriever;
        const chunks = sample(r.retrieve(q.prompt, { k: args.vary ? k + VARY_EXTRA : k }), k);
        const hits = chunks.map((c) => chunkPassage(c, undefined, passageTitles(store)));
        const fit = fitPassages(engine, [], q.prompt, hits, Math.min(48, Math.floor(blockSize / 2)));
        if (fit.count === 0) continue;
        const refs = passagesReferences(fit.content);
        if (refs === undefined || (!refuse && refs.length === 0)) continue;
        const chat = (content: string, reply: string): string =>
          JSON.stringify({
            messages: [
              { role: 'user', content },
              { role: 'assistant', content: reply },
            ],
          });
        if (args.contrast) {
          const partner = contrastPartner(q.prompt, refuse, chunks.slice(0, fit.count), (other) => {
            const same = fitPassages(engine, [], other, hits.slice(0, fit.count), Math.min(48, Math.floor(blockSize / 2)));
            return same.count === fit.count ? same.content : undefined;
          });
          if (partner === undefined || out.length + 2 > count) continue;
          out.push(chat(fit.content, refuse ? NO_ANSWER : refs[0].reply), chat(partner.content, partner.reply));
          continue;
        }
        if (refuse) refusals++;
        out.push(chat(fit.content, refuse ? NO_ANSWER : refs[0].reply));
        if (refuse || !args['all-families']) continue;
        // the other families' questions about this word over the same passages (the same count shown)
        const word = promptItemOf(q.prompt);
        for (const other of (word !== undefined ? byWord.get(word) : undefined) ?? []) {
          if (out.length >= count) break;
          if (familyOf(other) === familyOf(q.prompt)) continue;
          const same = fitPassages(engine, [], other, hits.slice(0, fit.count), Math.min(48, Math.floor(blockSize / 2)));
          if (same.count !== fit.count) continue;
          const otherRefs = passagesReferences(same.content);
          if (otherRefs && otherRefs.length > 0) out.push(chat(same.content, otherRefs[0].reply));
        }
      }
    }
    /**
     * --contrast: the same shown passages (`shown`, their prompt rebuilt for another question by
     * `reask`, undefined when they would no longer all fit) asked about another word, with the
     * reply flipped. After a refusal: the word whose entry a shown passage is, in a family that
     * passage answers (its quote). After an answer: a word a shown passage mentions that is no
     * shown passage's own word and whose answer no shown passage holds (a refusal). Candidates
     * in a seeded random order; undefined when none qualifies.
     */
    function contrastPartner(asked: string, refused: boolean, shown: readonly RetrievedChunk[], reask: (question: string) => string | undefined): { content: string; reply: string } | undefined {
      const owners = new Set(shown.map(entryOf));
      const word = promptItemOf(asked);
      const candidates = refused ? [...owners].filter((w): w is string => w !== undefined && w !== word) : [...new Set(shown.flatMap((c) => c.text.toLowerCase().match(/[a-z][a-z'-]*[a-z]/g) ?? []))].filter((w) => w !== word && !owners.has(w));
      for (const w of shuffled(candidates)) {
        for (const other of shuffled([...(byWord.get(w) ?? [])])) {
          const content = reask(other);
          const otherRefs = content === undefined ? undefined : passagesReferences(content);
          if (content === undefined || otherRefs === undefined) continue;
          if (refused && otherRefs.length > 0) return { content, reply: otherRefs[0].reply };
          if (!refused && otherRefs.length === 0) return { content, reply: NO_ANSWER };
        }
      }
      return undefined;
    }
    store.close();
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
/** --vary draws the k passages shown from BM25's top k + VARY_EXTRA. */
const VARY_EXTRA = 3;
/** The family of a definitions, kinds or synonyms question. */
function familyOf(prompt: string): string | undefined {
  return PASSAGE_FAMILIES.find((f) => promptItem(f, prompt) !== undefined);
}
/** The asked word of a definitions, kinds or synonyms question. */
function promptItemOf(prompt: string): string | undefined {
  for (const f of PASSAGE_FAMILIES) {
    const w = promptItem(f, prompt);
    if (w !== undefined) return w;
  }
  return undefined;
}
/** --kind entry: each conversation of the --from corpus as the entry question over its passages, in order. */
function entryConversations(from: string | undefined): string[] {
  if (from === undefined) throw new Error('--kind entry needs --from <passages corpus.jsonl>');
  return readFileSync(from, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      const messages = (JSON.parse(line) as { messages?: { role: string; content: string }[] }).messages;
      const conv = messages?.[0]?.role === 'user' ? entryConversation(messages[0].content) : undefined;
      if (conv === undefined) throw new Error(`${from}:${i + 1}: field "messages[0].content": not a passages prompt over a definitions, kinds or synonyms question`);
      return JSON.stringify(conv);
    });
}
const lines =
  args.kind === 'entry'
    ? entryConversations(args.from)
    : args.format === 'chat' && args.kind === 'retrieved'
      ? retrievedConversations(n, Number(args.seed), Number(args['no-answer']))
      : args.format === 'chat' && args.kind === 'mqar'
        ? mqarConversations(n, Number(args.seed))
        : args.format === 'chat' && args.kind === 'repeat'
          ? repeatConversations(n, Number(args.seed), Number(args['min-words']), Number(args['max-words']))
          : args.format === 'chat'
            ? conversations(args.kind, n, Number(args.seed), Number(args['no-answer']))
            : args.kind === 'mqar'
              ? mqar(n, Number(args.seed)).map((text) => JSON.stringify({ text }))
              : (args.kind === 'lookup'
                  ? lookups(n, Number(args.seed), Number(args.questions))
                  : args.kind === 'repeat'
                    ? repeats(n, Number(args.seed), Number(args['min-words']), Number(args['max-words']))
                    : taskByName('passages')
                        .generate('train', n, Number(args.seed))
                        .map((ex) => `${ex.prompt}\nAnswer: ${ex.conversation.messages[1].content.trimStart()}`)
                ).map((text) => JSON.stringify({ text }));
mkdirSync(dirname(args.out), { recursive: true });
atomicWriteFile(args.out, `${lines.join('\n')}\n`);
console.log(`${args.out}: ${lines.length} ${args.kind} documents`);
