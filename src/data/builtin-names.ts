/**
 * The names of the built-in corpora (BUILTIN_SOURCES in sources.ts, which holds their readers and
 * checks it names exactly these): the command line lists them in its --help without loading the
 * readers and the word lists behind them (src/cli/main.ts).
 */
export const BUILTIN_NAMES = ['wordnet-glosses', 'wordnet-dictionary', 'sotu', 'brown', 'moby-dick', 'mail-ham', 'code'] as const;
export type BuiltinName = (typeof BUILTIN_NAMES)[number];
