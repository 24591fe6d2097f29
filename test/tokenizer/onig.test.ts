// Oniguruma → JavaScript regex translation (src/tokenizer/onig.ts): each construct matches
// exactly the code points Hugging Face tokenizers' Oniguruma matches, checked over every
// assigned code point (and samples of the unassigned and private-use planes) against npm
// `tokenizers` when it loads (skipped with a printed reason otherwise), and
// against expectations derived from it (tokenizers 0.23.2) always.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onigToJs } from '../../src/tokenizer/onig.js';
import { PreTokenizer } from '../../src/tokenizer/pretokenizer.js';

interface HfModule {
  Tokenizer: { fromString(s: string): { getPreTokenizer(): { preTokenizeString(s: string): [string, [number, number]][] } | null } };
}
let hf: HfModule | null = null;
let hfWhy = '';
try {
  hf = (await import('tokenizers')) as unknown as HfModule;
} catch (e) {
  hfWhy = `Hugging Face "tokenizers" (the oracle) cannot be loaded here: ${(e as Error).message.split('\n')[0]}`;
  console.log(`# SKIPPING the oracle comparisons only: ${hfWhy}`);
}

const js = (src: string): RegExp => new RegExp(onigToJs(src), 'gu');
const matches = (src: string, s: string): string[] => s.match(js(src)) ?? [];

test('translations match what Oniguruma matches (expectations derived from tokenizers 0.23.2)', () => {
  // (?i:…): Unicode simple case folding, ſ → s and K (Kelvin) → k included
  assert.deepEqual(matches("(?i:'s|'t|'re|'ll)", "'s 'S 'ſ 't 'T 'rE 'Re 'LL 'x"), ["'s", "'S", "'ſ", "'t", "'T", "'rE", "'Re", "'LL"]);
  assert.deepEqual(matches('(?i:k)', 'kK\u212aq'), ['k', 'K', '\u212a']);
  assert.deepEqual(matches('(?i:[a-c])+', 'aBcD'), ['aBc']);
  assert.deepEqual(matches('(?i)ab', 'AB ab Ab'), ['AB', 'ab', 'Ab']);
  // \s is Unicode White_Space: U+0085 yes, U+FEFF no (JS's \s is the other way round)
  assert.deepEqual(matches('\\s', 'a\u0085b\ufeffc\u3000'), ['\u0085', '\u3000']);
  assert.deepEqual(matches('[^\\s]+', 'a\u0085b\ufeffc'), ['a', 'b\ufeffc']);
  assert.deepEqual(matches('\\d+', '12 ٣٤ १२'), ['12', '٣٤', '१२']);
  assert.deepEqual(matches('\\w+', 'héllo_1 ٣ 中文'), ['héllo_1', '٣', '中文']);
  assert.deepEqual(matches('\\h+', '0xBEEFg'), ['0', 'BEEF']);
  // . excludes only \n; ^ and $ are line anchors; \A \z the input's ends
  assert.deepEqual(matches('.+', 'a\rb\u2028c\nd'), ['a\rb\u2028c', 'd']);
  assert.deepEqual(matches('^.', 'ab\ncd\r\nef'), ['a', 'c', 'e']);
  assert.deepEqual(matches('.$', 'ab\ncd\r\nef'), ['b', '\r', 'f']);
  assert.deepEqual(matches('\\A.|.\\z', 'ab\ncd'), ['a', 'd']);
  // syntax JS u-mode lacks
  assert.deepEqual(matches('\\x{4e2d}\\p{^L}', '中! 中a'), ['中!']);
  assert.deepEqual(matches('a{,2}b', 'aaab'), ['aab']);
  assert.deepEqual(matches('\\p{Han}+', 'abc中文def'), ['中文']);
  assert.deepEqual(matches('x{y', 'x{y'), ['x{y']);
  assert.deepEqual(matches('[\\-\\]]+', 'a-]-b'), ['-]-']);
  // atomic and possessive: no backtracking into them
  assert.deepEqual(matches('a++a', 'aaaa'), []);
  assert.deepEqual(matches('(?>a+)b|a', 'aab'), ['aab']);
  assert.deepEqual(matches('"[^"]*+"', '"ab" "c'), ['"ab"']);
  // nested possessives (an enclosing one opens first in the JS source, though it is made last)
  assert.deepEqual(matches('(?:a?+b)++c', 'abbabc ab'), ['abbabc']);
  // no match between the halves of a surrogate pair (V8 tries lookbehinds there)
  assert.deepEqual(new PreTokenizer([{ pattern: { Regex: '\\A' }, behavior: 'MergedWithNext', invert: false }]).pieces('a😀b'), ['a😀b']);
  assert.deepEqual(new PreTokenizer([{ pattern: { Regex: '^' }, behavior: 'Isolated', invert: false }]).pieces('👩‍👩\n😀'), ['👩‍👩\n', '😀']);
  // refusals name the construct
  for (const [src, what] of [
    ['(?i:ss)', /case-insensitive "ss"/],
    ['(?i:straße)', /case-insensitive "st"|non-ASCII/],
    ['(a)\\1', /backreference/],
    ['[[:alpha:]]', /POSIX bracket/],
    ['[a-z&&[^q]]', /nested character class|intersection/],
    ['a(?i)b', /"\(\?i\)" other than at the start/],
    ['(?m:a.b)', /option group/],
    ['\\G', /escape "\\G"/],
    ['a{1,2}+', /quantifier of a quantifier/],
    ['\\p{NotAProperty}', /Unicode property "NotAProperty"/],
    ['(?i:é)', /non-ASCII character/],
    ['(?:a*?)++', /lazy quantifier inside an atomic group or a possessive/],
  ] as const)
    assert.throws(
      () => onigToJs(src, { file: 'x.json', field: 'pre_tokenizer.pattern' }),
      (e: Error) => e.message.startsWith('x.json, field "pre_tokenizer.pattern"') && what.test(e.message),
      src,
    );
});

const text = (cps: number[]): string => {
  const parts: string[] = [];
  for (let i = 0; i < cps.length; i += 4096) parts.push(String.fromCodePoint(...cps.slice(i, i + 4096)));
  return parts.join('');
};

test('each translated construct matches the same code points as Oniguruma, over every assigned character but the newest (oracle: npm tokenizers)', (t) => {
  if (!hf) return t.skip(hfWhy);
  const oracle = hf;
  // Every code point of planes 0–3 and 14, where every assigned character lives, once (no
  // surrogates: no well-formed text has them alone). Planes 4–13 are unassigned and planes
  // 15–16 private use; each plane's first and last 256 code points stand for the rest (checked
  // below in this Node's Unicode, newer than Oniguruma's; assignments are never withdrawn and
  // private use is stable, so in Oniguruma's too). A code point's category, script, White_Space
  // and case folding are all a class construct reads, so the rest would only repeat the samples
  // (and cost ~3x the oracle's time).
  const cps: number[] = [];
  const sampledOut: [number[], number[]] = [[], []]; // planes 4–13, planes 15–16
  for (let c = 1; c <= 0x10ffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const plane = c >> 16;
    if (plane <= 3 || plane === 14 || (c & 0xffff) < 256 || (c & 0xffff) >= 0xff00) cps.push(c);
    else sampledOut[plane <= 13 ? 0 : 1].push(c);
  }
  assert.ok(/^\p{Cn}*$/u.test(text(sampledOut[0])), 'planes 4–13 have an assigned character: test every code point there');
  assert.ok(/^\p{Co}*$/u.test(text(sampledOut[1])), 'planes 15–16 have a character that is not private use: test every code point there');
  const all = text(cps);
  const onigSet = (regex: string): Set<number> => {
    const tok = oracle.Tokenizer.fromString(JSON.stringify({ version: '1.0', added_tokens: [], pre_tokenizer: { type: 'Split', pattern: { Regex: regex }, behavior: 'Removed', invert: true }, model: { type: 'BPE', vocab: {}, merges: [] } }));
    const out = new Set<number>();
    for (const [piece] of tok.getPreTokenizer()!.preTokenizeString(all)) for (const ch of piece) out.add(ch.codePointAt(0)!);
    return out;
  };
  const jsSet = (regex: string): Set<number> => {
    const out = new Set<number>();
    for (const m of all.matchAll(js(regex))) for (const ch of m[0]) out.add(ch.codePointAt(0)!);
    return out;
  };
  // characters assigned after Oniguruma's Unicode version differ (docs/tokenizer.md): measured, excluded
  const onigAssigned = onigSet('\\P{Cn}');
  const newer = new Set([...jsSet('\\P{Cn}')].filter((c) => !onigAssigned.has(c)));
  console.log(`# ${newer.size} code points are assigned in this Node's Unicode (${process.versions.unicode}) but not in Oniguruma's; excluded below`);
  assert.ok(newer.size < 10_000, 'the Unicode versions should differ by one release at most');
  for (const src of ['\\s', '\\S', '\\d', '\\D', '\\w', '\\W', '\\h', '.', '\\P{L}', '[\\p{L}\\p{M}]', '\\p{Hiragana}', '[^\\s\\p{L}\\p{N}]', '[^\\r\\n\\p{L}\\p{N}]', '\\p{L}', '\\p{N}', '\\p{P}', '\\p{S}', '\\p{M}', '\\p{Lu}', '\\p{Han}', '(?i:[a-z])', '(?i:s)', '(?i:k)']) {
    const o = onigSet(src);
    const j = jsSet(src);
    const onlyOnig = [...o].filter((c) => !j.has(c) && !newer.has(c)).slice(0, 5);
    const onlyJs = [...j].filter((c) => !o.has(c) && !newer.has(c)).slice(0, 5);
    assert.deepEqual([onlyOnig, onlyJs], [[], []], `${src}: Oniguruma only ${onlyOnig.map((c) => c.toString(16))}, JS only ${onlyJs.map((c) => c.toString(16))}`);
  }
});
