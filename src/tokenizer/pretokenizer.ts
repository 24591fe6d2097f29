import { literalToJs, onigToJs } from './onig.js';

/**
 * Pre-tokenization as Hugging Face `tokenizers` defines it: text is cut into pieces before
 * BPE, so merges never cross piece boundaries. A pre-tokenizer here is a list of Split rules
 * applied in order (HF's `Sequence`): each rule cuts every piece the previous ones made,
 * and its regex sees only that piece (lookarounds stop at the piece's ends). Empty pieces are
 * dropped. Sources: tokenizers/src/tokenizer/normalizer.rs (NormalizedString::split),
 * tokenizers/src/utils/pattern.rs (find_matches), onig's FindMatches (empty-match rule).
 */
export type SplitBehavior = 'Isolated' | 'Removed' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
export const SPLIT_BEHAVIORS: readonly SplitBehavior[] = ['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

/** One Split pre-tokenizer, in tokenizer.json's terms. */
export interface SplitRule {
  /** Regex (Oniguruma syntax, as in tokenizer.json) or a literal string. */
  pattern: { Regex: string } | { String: string };
  behavior: SplitBehavior;
  /** Pieces are what the pattern does NOT match (HF `invert`). */
  invert: boolean;
}

/** GPT-2's regex: what ByteLevel with use_regex: true splits with (Isolated). */
export const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

interface Compiled {
  re: RegExp;
  behavior: SplitBehavior;
  invert: boolean;
}

/** Compile a rule's pattern to a JS regex ('gu'); `where` names the file and JSON path in errors. */
export function compileRule(rule: SplitRule, where: { file?: string; field?: string } = {}): RegExp {
  const js = 'Regex' in rule.pattern ? onigToJs(rule.pattern.Regex, where) : literalToJs(rule.pattern.String);
  return new RegExp(js, 'gu');
}

/** True when index i of text falls between the two halves of a surrogate pair. */
function inPair(text: string, i: number): boolean {
  return i > 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800;
}

/**
 * Calls visit(start, end, isMatch) for HF's find_matches of `re` over `text`: the matches and
 * the non-empty stretches between them, in order. Empty matches follow Oniguruma's iterator:
 * an empty match right where the previous match ended is skipped (one code point onward).
 */
function findMatches(re: RegExp, text: string, visit: (start: number, end: number, isMatch: boolean) => void): void {
  if (text.length === 0) {
    visit(0, 0, false);
    return;
  }
  let prev = 0;
  let from = 0;
  let lastMatchEnd = -1;
  while (from <= text.length) {
    re.lastIndex = from;
    const m = re.exec(text);
    if (m === null) break;
    const s = m.index;
    const e = s + m[0].length;
    if (inPair(text, s) || inPair(text, e)) {
      // V8 tries lookbehinds between the halves of a surrogate pair (Oniguruma, on UTF-8, never
      // stands inside a character): not a match position; go on from the next code point
      from = inPair(text, s) ? s + 1 : s + (text.codePointAt(s)! > 0xffff ? 2 : 1);
      continue;
    }
    if (s === e && lastMatchEnd === e) {
      const c = text.codePointAt(from);
      from += c === undefined ? 1 : c > 0xffff ? 2 : 1;
      continue;
    }
    from = e;
    lastMatchEnd = e;
    if (prev !== s) visit(prev, s, false);
    visit(s, e, true);
    prev = e;
  }
  if (prev !== text.length) visit(prev, text.length, false);
}

/**
 * Pieces of `text` under one Split rule (NormalizedString::split): the match/gap stretches,
 * flagged (inverted if asked), then grouped by the behavior; empty pieces dropped.
 */
function splitOne(text: string, rule: Compiled, out: string[]): void {
  const starts: number[] = [];
  const ends: number[] = [];
  const keep: boolean[] = [];
  const b = rule.behavior;
  if (b === 'MergedWithNext') {
    // HF folds over the stretches in reverse: collect them first
    const all: [number, number, boolean][] = [];
    findMatches(rule.re, text, (s, e, m) => all.push([s, e, m !== rule.invert]));
    let prevMatch = false;
    for (let k = all.length - 1; k >= 0; k--) {
      const [s, e, m] = all[k];
      if (m && !prevMatch && starts.length > 0) starts[starts.length - 1] = s;
      else {
        starts.push(s);
        ends.push(e);
        keep.push(true);
      }
      prevMatch = m;
    }
    for (let k = starts.length - 1; k >= 0; k--) if (ends[k] > starts[k]) out.push(text.slice(starts[k], ends[k]));
    return;
  }
  let prevMatch = false;
  findMatches(rule.re, text, (s, e, matched) => {
    const m = matched !== rule.invert;
    const n = starts.length;
    if (b === 'Isolated') {
      starts.push(s);
      ends.push(e);
      keep.push(true);
    } else if (b === 'Removed') {
      starts.push(s);
      ends.push(e);
      keep.push(!m);
    } else if (b === 'Contiguous') {
      if (m === prevMatch && n > 0) ends[n - 1] = e;
      else {
        starts.push(s);
        ends.push(e);
        keep.push(true);
      }
    } else {
      // MergedWithPrevious
      if (m && !prevMatch && n > 0) ends[n - 1] = e;
      else {
        starts.push(s);
        ends.push(e);
        keep.push(true);
      }
    }
    prevMatch = m;
  });
  for (let k = 0; k < starts.length; k++) if (keep[k] && ends[k] > starts[k]) out.push(text.slice(starts[k], ends[k]));
}

/** A compiled list of Split rules (HF Sequence semantics). */
export class PreTokenizer {
  private readonly rules: Compiled[];
  /** The single regex of the common one-rule Isolated case (a fast path), else null. */
  private readonly isolated: RegExp | null;

  /** `where(i)` names the file and JSON path of rule i for errors. */
  constructor(rules: readonly SplitRule[], where: (i: number) => { file?: string; field?: string } = () => ({})) {
    this.rules = rules.map((r, i) => ({ re: compileRule(r, where(i)), behavior: r.behavior, invert: r.invert }));
    this.isolated = this.rules.length === 1 && this.rules[0].behavior === 'Isolated' ? this.rules[0].re : null;
  }

  /** True when no rule applies (the whole text is one piece). */
  get empty(): boolean {
    return this.rules.length === 0;
  }

  /**
   * Calls visit(piece) for each non-empty piece of `text`, in order. `text` should be
   * well-formed UTF-16 (callers pass s.toWellFormed(): HF sees U+FFFD for lone surrogates).
   */
  forEachPiece(text: string, visit: (piece: string) => void): void {
    if (text.length === 0) return;
    if (this.rules.length === 0) {
      visit(text);
      return;
    }
    if (this.isolated) {
      // Isolated keeps every stretch, matched or not: only the cut points matter
      findMatches(this.isolated, text, (s, e) => {
        if (e > s) visit(text.slice(s, e));
      });
      return;
    }
    let pieces = [text];
    for (const rule of this.rules) {
      const next: string[] = [];
      for (const p of pieces) splitOne(p, rule, next);
      pieces = next;
    }
    for (const p of pieces) visit(p);
  }

  pieces(text: string): string[] {
    const out: string[] = [];
    this.forEachPiece(text, (p) => out.push(p));
    return out;
  }
}
