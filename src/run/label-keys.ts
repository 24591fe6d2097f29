/**
 * The labeling session's key help, apart from the session (label.ts): `gptforge label --help`
 * prints it without loading the model code the session needs (src/cli/main.ts).
 */
export const LABEL_HELP = 'keys: 1-9 pick the next best completion · = then a number: it ties with your previous pick ("3 = 1 4"; the implied last one is always below the rest) · u undo · s skip this prompt · q quit (finished rankings are saved) · ? help';
