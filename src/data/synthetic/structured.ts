/**
 * The structured-answer family (issue #17's effect row): "Give me the word X as JSON with its
 * definition, part of speech and syllable count." The ideal answer is one JSON object matching
 * STRUCTURED_SCHEMA, e.g.
 *
 *   {"word": "river", "part_of_speech": "noun", "definition": "a large natural stream of water", "syllables": 2}
 *
 * built from WordNet (the word's most-tagged sense among noun/verb/adjective: its part of speech
 * and gloss) and CMUdict (syllables of the first pronunciation). The eval runs it with and
 * without the schema constraint (src/eval/structured.ts) to measure what constrained decoding
 * does: the schema-valid rate and per-field accuracy.
 *
 * Self-contained on purpose (wordnet.ts and cmudict.ts only): tasks.ts registers it, so it must
 * not import tasks.ts back.
 */
import * as wn from './wordnet.js';
import * as cmu from './cmudict.js';
import { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import type { Split, SyntheticTask, TaskExample } from './task.js';
import { splitOf } from './split.js';
import { matchTemplates } from './text.js';

/** Part-of-speech names in answers. */
const POS_NAME: Partial<Record<wn.Pos, string>> = { n: 'noun', v: 'verb', a: 'adjective' };

/** The answer's JSON Schema (draft 2020-12 subset our compiler enforces; ajv agrees in tests). */
export const STRUCTURED_SCHEMA = {
  type: 'object',
  properties: {
    word: { type: 'string', minLength: 1, maxLength: 20 },
    part_of_speech: { enum: ['noun', 'verb', 'adjective'] },
    definition: { type: 'string', minLength: 1, maxLength: 80 },
    syllables: { type: 'integer', minimum: 1, maximum: 12 },
  },
  required: ['word', 'part_of_speech', 'definition', 'syllables'],
  additionalProperties: false,
} as const;

/** The fields scored for accuracy, in the schema's order. */
export const STRUCTURED_FIELDS = ['word', 'part_of_speech', 'definition', 'syllables'] as const;

/** Prompt templates ({w}: the word); tasks.ts lists them for phrasing and item lookups. */
export const STRUCTURED_PROMPTS: readonly string[] = [
  'Give me the word {w} as JSON with its definition, part of speech and syllable count.',
  'Describe {w} in JSON: word, part_of_speech, definition, syllables.',
  'As a JSON object, what are the part of speech, definition and syllable count of {w}?',
  'Return JSON for the word {w} with fields word, part_of_speech, definition and syllables.',
  'JSON please: the word {w}, its part of speech, a definition and its number of syllables.',
  'Write a JSON object describing {w} (word, part_of_speech, definition, syllables).',
  'Answer in JSON with word, part_of_speech, definition and syllables for {w}.',
  'Fill in the JSON fields word, part_of_speech, definition and syllables for the word {w}.',
];
const PROMPTS = STRUCTURED_PROMPTS;

interface Entry {
  word: string;
  pos: string;
  definition: string;
}

/**
 * The word's first clause of gloss, at most 80 characters (whole words): the schema's bounds
 * keep the longest compact answer to ≈ 170 bytes, inside the eval's 200-token reply budget.
 */
function shortGloss(gloss: string): string {
  let g = gloss.split(';')[0].trim();
  if (g.length > 80) g = g.slice(0, 80).replace(/\s+\S*$/, '');
  return g;
}

let entries: Map<string, Entry> | undefined;
/** Common single words (SemCor-tagged, 3–12 letters, pronounceable) with a noun/verb/adjective sense: the family's items, sorted. */
function wordEntries(): Map<string, Entry> {
  if (entries) return entries;
  const best = new Map<string, { tagged: number; entry: Entry }>();
  for (const pos of ['n', 'v', 'a'] as const) {
    for (const e of wn.lemmaEntries(pos)) {
      if (e.taggedSenses < 3 || !/^[a-z]{3,12}$/.test(e.lemma) || cmu.pronunciations(e.lemma).length === 0) continue;
      const prev = best.get(e.lemma);
      if (prev && prev.tagged >= e.taggedSenses) continue;
      const gloss = shortGloss(wn.synset(e.synsets[0]).gloss);
      if (gloss.length < 8) continue;
      best.set(e.lemma, { tagged: e.taggedSenses, entry: { word: e.lemma, pos: POS_NAME[pos]!, definition: gloss } });
    }
  }
  entries = new Map([...best.keys()].sort().map((w) => [w, best.get(w)!.entry]));
  return entries;
}

/** The ideal answer for a word (compact JSON, the schema's member order). */
export function structuredAnswer(word: string): string | undefined {
  const e = wordEntries().get(word);
  if (!e) return undefined;
  return JSON.stringify({ word: e.word, part_of_speech: e.pos, definition: e.definition, syllables: cmu.syllables(word) ?? 1 });
}

/** The word a prompt of this family asks about. */
export function structuredWord(prompt: string): string | undefined {
  for (const t of PROMPTS) {
    const [pre, post] = t.split('{w}');
    if (prompt.startsWith(pre) && prompt.endsWith(post))
      return prompt
        .slice(pre.length, prompt.length - post.length)
        .trim()
        .toLowerCase();
  }
  return undefined;
}

/** True when `v` satisfies STRUCTURED_SCHEMA (checked by hand, independently of the constraint compiler). */
export function validStructured(v: unknown): v is { word: string; part_of_speech: string; definition: string; syllables: number } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 4 || !STRUCTURED_FIELDS.every((k) => k in o)) return false;
  const len = (s: unknown, min: number, max: number): boolean => typeof s === 'string' && [...s].length >= min && [...s].length <= max;
  return len(o.word, 1, 20) && ['noun', 'verb', 'adjective'].includes(o.part_of_speech as string) && len(o.definition, 1, 80) && Number.isInteger(o.syllables) && (o.syllables as number) >= 1 && (o.syllables as number) <= 12;
}

const contentWords = (s: string): string[] => s.toLowerCase().match(/[a-z]{3,}/g) ?? [];

/**
 * Per-field correctness of an answer to `prompt`: the answer's text parsed as JSON (surrounding
 * whitespace allowed); a field is correct when present and right — word: the asked word;
 * part_of_speech: a part of speech the word has among noun/verb/adjective; syllables: the count
 * of one of its pronunciations; definition: content-word F1 ≥ 0.5 against the gloss of one of
 * its senses. `valid`: the whole object satisfies the schema.
 */
export function scoreStructured(prompt: string, answer: string): { valid: boolean; fields: Record<(typeof STRUCTURED_FIELDS)[number], boolean> } {
  const fields = { word: false, part_of_speech: false, definition: false, syllables: false };
  const word = structuredWord(prompt);
  let v: unknown;
  try {
    v = JSON.parse(answer.trim());
  } catch {
    return { valid: false, fields };
  }
  const valid = validStructured(v);
  if (word === undefined || typeof v !== 'object' || v === null) return { valid, fields };
  const o = v as Record<string, unknown>;
  fields.word = o.word === word;
  const senses = wn.senses(word).filter((s) => POS_NAME[s.pos] !== undefined);
  fields.part_of_speech = senses.some((s) => POS_NAME[s.pos] === o.part_of_speech);
  fields.syllables = typeof o.syllables === 'number' && cmu.syllableCounts(word).includes(o.syllables);
  if (typeof o.definition === 'string') {
    const a = contentWords(o.definition);
    fields.definition = senses.some((s) => {
      const r = contentWords(shortGloss(s.gloss));
      const common = a.filter((x) => r.includes(x)).length;
      if (common === 0) return false;
      const p = common / a.length;
      const q = common / r.length;
      return (2 * p * q) / (p + q) >= 0.5;
    });
  }
  return { valid, fields };
}

export const structured: SyntheticTask = {
  name: 'structured',
  description: 'A word as a JSON object (word, part_of_speech, definition, syllables) matching a schema; correct when valid and every field is right.',
  usesTool: false,
  prompts: PROMPTS,
  generate(split: Split, n: number, seed: number): TaskExample[] {
    if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "structured": example count must be a non-negative integer, got ${n}`);
    const words = [...wordEntries().keys()].filter((w) => splitOf(w) === split);
    if (n > 0 && words.length === 0) throw new GptforgeError('task "structured": no items in this split');
    const rng = new Rng((seed ^ 0x5f3759df) >>> 0);
    const out: TaskExample[] = [];
    let pool: string[] = [];
    while (out.length < n) {
      if (pool.length === 0) pool = rng.shuffle(words.slice());
      const word = pool.pop()!;
      const prompt = PROMPTS[rng.int(PROMPTS.length)].replace('{w}', word);
      out.push({
        prompt,
        conversation: {
          messages: [
            { role: 'user', content: prompt },
            { role: 'assistant', content: structuredAnswer(word)! },
          ],
        },
      });
    }
    return out;
  },
  check(prompt: string, answer: string): boolean {
    const s = scoreStructured(prompt, answer);
    return s.valid && STRUCTURED_FIELDS.every((k) => s.fields[k]);
  },
  item(prompt: string): string | undefined {
    return matchTemplates(PROMPTS, prompt)?.slots.w?.toLowerCase();
  },
};
