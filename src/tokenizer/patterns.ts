/**
 * Pre-split patterns: text is cut into chunks by a regex before BPE, so merges never cross
 * word/number/punctuation boundaries. Every pattern is read as tokenizer.json holds it, an
 * Oniguruma regex (onig.ts translates it), so what we train and save splits the same way in
 * Hugging Face tokenizers. The OpenAI ones are written as js-tiktoken writes them (contractions
 * spelled out rather than "(?i:…)"), which keeps the hashes of tokenizers trained before.
 */
export const PATTERNS: Readonly<Record<string, string>> = {
  /** OpenAI cl100k_base (GPT-4), exactly as js-tiktoken compiles it. */
  cl100k: "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  /** Our training default: GPT-4's pattern with numbers split into groups of at most two digits (nanochat). */
  gpt4: "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,2}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  /**
   * GPT-4's pattern with every digit its own chunk (LLaMA's choice): a number is always the
   * same tokens wherever it appears, one per digit, which is what copying numbers into a
   * calculator call and back — and arithmetic generally — needs from a small model.
   */
  'gpt4-digits': "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  /** OpenAI o200k_base (GPT-4o), exactly as js-tiktoken compiles it. */
  o200k:
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  /** GPT-2 (also r50k_base and p50k_base). */
  gpt2: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  /** No pre-split: plain byte-level BPE over whole documents. */
  none: '',
};

/** A pattern name (cl100k, gpt4, gpt4-digits, o200k, gpt2, none) or a regex source → the regex source ('' = none). */
export function resolvePattern(p: string | undefined): string {
  if (p === undefined) return PATTERNS.gpt4;
  if (Object.prototype.hasOwnProperty.call(PATTERNS, p)) return PATTERNS[p];
  return p;
}

/** The name of a known pattern source, if it is one. */
export function patternName(source: string): string | undefined {
  for (const [name, src] of Object.entries(PATTERNS)) if (src === source) return name;
  return undefined;
}
