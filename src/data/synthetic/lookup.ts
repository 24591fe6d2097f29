import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import { escapeRegExp } from '../../util/regex.js';
import { citedNumbers, NO_ANSWER, parsePassagePrompt, passagePrompt, quotedReply, saysNoAnswer, type Passage } from '../../rag/context.js';
import type { Split, SyntheticTask, TaskExample } from './task.js';
import { type WordFacts, wordFacts } from './facts.js';
import { fnv1a, splitOf } from './split.js';
import { coreWords } from './words.js';

/**
 * The `lookup` family: key → value recall from the context (associative recall, the skill a
 * reader of retrieved passages needs — docs/journal/rag.md "Fifth attempt").
 *
 * A prompt is the `passages` family's context block (rag/context.ts) whose passages are notes
 * of `key: value.` lines, then a question naming one key:
 *
 *   Passages:
 *   [1] (notes:1) anchor: to walk slowly toward the sea. velvet: a hollow tube of light.
 *   [2] (notes:2) harbor: a kind of fish. kettle: loud, noisy.
 *   Question: What is velvet?
 *   → velvet: a hollow tube of light [1].
 *
 * The reply restates the key line and cites its passage, so after the key and ":" each next
 * token is found by matching the tokens before it in the passage (induction) — the lookup
 * is the one step the model must learn. Keys are random core words and values the glosses,
 * kinds or synonym lists of *other* random words: nothing can be recalled from training,
 * only read. In 30% the key is on no line and the reply is NO_ANSWER; in half of those
 * another line's value names the key (a hard negative, as BM25 returns once a word's
 * entry is gone), so "the key occurs" never suffices.
 *
 * Held out: keys and value-words of a split's prompts are that split's words (splitOf), so
 * the probe (`test` split) asks about keys and values no training prompt used.
 *
 * `lookupDocument` writes the same notes with several questions and answers for pretraining
 * text (bench/rag-copy-corpus.ts `--kind lookup`): more of the loss is on lookups.
 */

/** The source label of a notes passage. */
const NOTES = 'notes';

/** Question templates; `{k}` is the key. */
export const LOOKUP_PROMPTS = ['What is {k}?', '{k}?', 'Look up {k}.', 'What do the notes say about {k}?', 'What does {k} mean?'] as const;

/** Share of unanswerable questions, percent. */
const NO_ANSWER_PERCENT = 30;

/** Longest value, in words (a gloss is cut there, at a word boundary). */
const MAX_VALUE_WORDS = 10;

interface Pools {
  keys: string[];
  values: string[];
}

const poolCache = new Map<Split, Pools>();

/** A value written as the dictionary writes facts, without the characters the notes use as separators. */
function valuesOf(f: WordFacts): string[] {
  const clean = (s: string): string =>
    s
      .replace(/[.:;[\]()]/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .split(' ')
      .slice(0, MAX_VALUE_WORDS)
      .join(' ');
  const out = f.senses.map((s) => (s.pos === 'v' && !s.gloss.startsWith('to ') ? `to ${clean(s.gloss)}` : clean(s.gloss)));
  if (f.kind !== undefined) out.push(`a kind of ${clean(f.kind)}`);
  if (f.synonyms.length > 0) out.push(clean(f.synonyms.slice(0, 3).join(', ')));
  return out.filter((v) => v.length > 0);
}

/** A split's keys (its core words, lower-case letters only) and values (its words' facts). */
function pools(split: Split): Pools {
  let p = poolCache.get(split);
  if (!p) {
    const words = [...coreWords()].sort().filter((w) => splitOf(w) === split && /^[a-z]+$/.test(w));
    const values = words.flatMap((w) => {
      const f = wordFacts(w);
      return f ? valuesOf(f) : [];
    });
    p = { keys: words, values };
    poolCache.set(split, p);
  }
  return p;
}

/** One set of notes and its questions, each with the reply. */
export interface LookupNotes {
  passages: Passage[];
  qa: { question: string; key: string; reply: string }[];
}

const hasWord = (text: string, word: string): boolean => new RegExp(`(^|[^a-z'-])${escapeRegExp(word)}($|[^a-z'-])`, 'i').test(text);

/**
 * Notes of 2–3 passages with 2–4 `key: value.` lines each (keys distinct), and `questions`
 * questions about them — answerable ones about a random line's key, unanswerable ones (30%)
 * about a key on no line. Draws only `split`'s words.
 */
export function lookupNotes(rng: Rng, split: Split, questions: number): LookupNotes {
  const { keys, values } = pools(split);
  const nPassages = 2 + rng.int(2);
  const lines: { key: string; value: string; passage: number }[] = [];
  const used = new Set<string>();
  const freshKey = (): string => {
    for (;;) {
      const k = keys[rng.int(keys.length)];
      if (!used.has(k)) {
        used.add(k);
        return k;
      }
    }
  };
  for (let p = 0; p < nPassages; p++) {
    const n = 2 + rng.int(3);
    for (let i = 0; i < n; i++) {
      const key = freshKey();
      let value = values[rng.int(values.length)];
      for (let tries = 0; tries < 20 && (hasWord(value, key) || value === key); tries++) value = values[rng.int(values.length)];
      lines.push({ key, value, passage: p });
    }
  }
  const qa: LookupNotes['qa'] = [];
  const asked = new Set<string>();
  for (let q = 0; q < questions; q++) {
    const template = LOOKUP_PROMPTS[rng.int(LOOKUP_PROMPTS.length)];
    if (rng.int(100) < NO_ANSWER_PERCENT) {
      const key = freshKey();
      // a hard negative: another line's value names the key (it is still on no line as a key)
      if (rng.int(2) === 0) {
        const line = lines[rng.int(lines.length)];
        const words = line.value.split(' ');
        words[rng.int(words.length)] = key;
        line.value = words.join(' ');
      }
      qa.push({ question: template.replace('{k}', key), key, reply: NO_ANSWER });
    } else {
      const candidates = lines.filter((l) => !asked.has(l.key));
      const line = candidates.length > 0 ? candidates[rng.int(candidates.length)] : lines[rng.int(lines.length)];
      asked.add(line.key);
      qa.push({ question: template.replace('{k}', line.key), key: line.key, reply: quotedReply(`${line.key}: ${line.value} [${line.passage + 1}].`) });
    }
  }
  // (a hard negative edits a value after an earlier reply quoted it: rebuild those replies)
  for (const x of qa) {
    const line = lines.find((l) => l.key === x.key);
    if (line) x.reply = quotedReply(`${line.key}: ${line.value} [${line.passage + 1}].`);
  }
  const passages: Passage[] = Array.from({ length: nPassages }, (_, p) => ({
    source: `${NOTES}:${p + 1}`,
    text: lines
      .filter((l) => l.passage === p)
      .map((l) => `${l.key}: ${l.value}.`)
      .join(' '),
  }));
  return { passages, qa };
}

/**
 * A pretraining document: the notes' context block, then `questions` question/answer pairs
 * ("Question: …" as the block writes it, "Answer: …"), as bench/rag-copy-corpus.ts writes
 * the passages family (`prompt\nAnswer: reply`).
 */
export function lookupDocument(rng: Rng, split: Split, questions: number): string {
  const notes = lookupNotes(rng, split, questions);
  const [first, ...rest] = notes.qa;
  return [`${passagePrompt(first.question, notes.passages)}\nAnswer: ${first.reply.trimStart()}`, ...rest.map((x) => `Question: ${x.question}\nAnswer: ${x.reply.trimStart()}`)].join('\n');
}

/** The key a lookup question names; undefined when it is not one of LOOKUP_PROMPTS. */
export function lookupKey(question: string): string | undefined {
  for (const t of LOOKUP_PROMPTS) {
    const m = new RegExp(`^${escapeRegExp(t).replace('\\{k\\}', '([a-z]+)')}$`).exec(question.trim());
    if (m) return m[1];
  }
  return undefined;
}

/** The `key: value.` lines of a notes passage. */
export function noteLines(text: string): { key: string; value: string }[] {
  return [...text.matchAll(/(?:^|\. )([a-z]+): ([^.:]*)(?=\.(?: |$))/g)].map((m) => ({ key: m[1], value: m[2] }));
}

/** The line of `key` in the prompt's passages (its 1-based passage), if any. */
function findLine(passages: readonly Passage[], key: string): { value: string; n: number } | undefined {
  for (let i = 0; i < passages.length; i++) {
    const line = noteLines(passages[i].text).find((l) => l.key === key);
    if (line) return { value: line.value, n: i + 1 };
  }
  return undefined;
}

/**
 * Check: re-read the notes. When no line has the asked key, the answer must say the passages
 * don't say; otherwise it must not, must contain the line's value verbatim (case and spacing
 * aside), and must cite that line's passage.
 */
function check(prompt: string, answer: string): boolean {
  const parsed = parsePassagePrompt(prompt);
  const key = parsed && lookupKey(parsed.question);
  if (!parsed || key === undefined) return false;
  const line = findLine(parsed.passages, key);
  if (!line) return saysNoAnswer(answer);
  if (saysNoAnswer(answer)) return false;
  const norm = (s: string): string => s.toLowerCase().replace(/\s+/g, ' ').trim();
  return norm(answer).includes(norm(line.value)) && citedNumbers(answer).includes(line.n);
}

function generate(split: Split, n: number, seed: number): TaskExample[] {
  if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "lookup": example count must be a non-negative integer, got ${n}`);
  const rng = new Rng((seed ^ fnv1a(`lookup:${split}`)) >>> 0);
  return Array.from({ length: n }, () => {
    const notes = lookupNotes(rng, split, 1);
    const prompt = passagePrompt(notes.qa[0].question, notes.passages);
    return {
      prompt,
      conversation: {
        messages: [
          { role: 'user', content: prompt },
          { role: 'assistant', content: notes.qa[0].reply },
        ],
      },
    };
  });
}

/** The family as a SyntheticTask (opt-in, like `passages`). */
export const lookup: SyntheticTask = {
  name: 'lookup',
  description: 'Key → value recall: notes of "key: value." lines in numbered passages, a question naming a key; reply the line and cite it, or "The passages don\'t say." when no line has the key.',
  usesTool: false,
  generate,
  check,
  prompts: LOOKUP_PROMPTS,
  item(prompt: string): string | undefined {
    const parsed = parsePassagePrompt(prompt);
    return parsed && lookupKey(parsed.question);
  },
};
