import type { Rng } from '../../engine/rng.js';
import { GptforgeError } from '../../util/errors.js';
import type { Message } from '../conversation.js';
import type { TaskExample } from './task.js';
import { escapeRegExp } from '../../util/regex.js';

/**
 * What every synthetic family shares: drawing items, filling prompt and answer templates and
 * parsing prompts back through them, and the word-level text helpers checkers use (tokens,
 * stopwords, a crude stemmer).
 */

export function checkCount(n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0) throw new GptforgeError(`task "${name}": example count must be a non-negative integer, got ${n}`);
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

/** n items: a fresh shuffle per pass, so every item appears once before any repeats. */
export function drawItems<T>(items: readonly T[], n: number, rng: Rng, name: string): T[] {
  if (n > 0 && items.length === 0) throw new GptforgeError(`task "${name}": no items in this split`);
  const out: T[] = [];
  while (out.length < n) {
    out.push(...rng.shuffle([...items]).slice(0, n - out.length));
  }
  return out;
}

/** A lazily computed, then cached, value: WordNet tables are built on first use, not at import. */
export function memo<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

export function example(prompt: string, replies: Message[]): TaskExample {
  return { prompt, conversation: { messages: [{ role: 'user', content: prompt }, ...replies] } };
}

export const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Fills `{slot}` placeholders; `{Slot}` (capitalised name) inserts the value capitalised. */
export function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, slot: string) => {
    const value = vars[slot] ?? vars[slot.toLowerCase()];
    if (value === undefined) throw new GptforgeError(`template "${template}" has no value for {${slot}}`);
    return slot === slot.toLowerCase() ? value : capitalize(value);
  });
}

/** What each prompt slot may match when a checker parses a prompt back. */
const SLOT_PATTERNS: Record<string, string> = {
  w: "[a-z][a-z'-]*",
  art: 'an?',
  a: '\\d[\\d,]*',
  b: '\\d[\\d,]*',
  t: '.+?',
};

const templateRegexes = new Map<string, RegExp>();

/** The template as a case-insensitive regex with a named group per slot. */
function templateRegex(template: string): RegExp {
  let re = templateRegexes.get(template);
  if (!re) {
    const body = template
      .split(/(\{\w+\})/)
      .map((part) => {
        const slot = /^\{(\w+)\}$/.exec(part)?.[1].toLowerCase();
        if (slot === undefined) return escapeRegExp(part).replace(/ /g, '\\s+');
        return `(?<${slot}>${SLOT_PATTERNS[slot]})`;
      })
      .join('');
    re = new RegExp(`^\\s*${body}\\s*$`, 'i');
    templateRegexes.set(template, re);
  }
  return re;
}

/** The slot values of the first template the prompt matches, with that template. */
export function matchTemplates(templates: readonly string[], prompt: string): { template: string; slots: Record<string, string> } | undefined {
  for (const template of templates) {
    const m = templateRegex(template).exec(prompt);
    if (m) return { template, slots: { ...m.groups } };
  }
  return undefined;
}

/** Lower-case word tokens ("Can't" → "can't"). */
export function tokens(text: string): string[] {
  return text.toLowerCase().match(/[a-z][a-z'-]*[a-z]|[a-z]/g) ?? [];
}

/** Whether a phrase ("domestic animal") appears in the token list as whole words. */
export function containsPhrase(toks: readonly string[], phrase: string): boolean {
  return ` ${toks.join(' ')} `.includes(` ${tokens(phrase).join(' ')} `);
}

export const STOPWORDS = new Set(
  (
    'a an the and or but nor of to in on at by for with from into onto over under as than then that this these those ' +
    "it its it's is are was were be been being am do does did done have has had having not no yes so such very too " +
    'can could will would shall should may might must i me my you your we our he him his she her they them their ' +
    'who whom whose which what when where why how all any some each every either neither both other another ' +
    'one something someone somebody anything thing things up down out off about also just only more most much many ' +
    'there here if whether while because usually especially often etc'
  ).split(' '),
);

/** Crude stemmer: enough to match "moves"/"moving"/"move" and "parties"/"party". */
export function stem(word: string): string {
  let w = word.replace(/'s$/, '');
  if (w.length > 4 && w.endsWith('ies')) return w.slice(0, -3) + 'y';
  for (const suffix of ['ing', 'ed', 'es', 'ly', 's']) {
    if (w.endsWith(suffix) && w.length - suffix.length >= 3) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  return w.length > 3 && w.endsWith('e') ? w.slice(0, -1) : w;
}

/** Single, lower-case, alphabetic words of three letters or more: no names, phrases or abbreviations. */
export const PLAIN_WORD = /^[a-z]{3,}$/;
