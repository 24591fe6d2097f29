/**
 * Constrained decoding: JSON Schema, regular expressions and GBNF grammars compiled to one
 * token-level matcher (a lazily determinized pushdown automaton over bytes walked against the
 * vocabulary trie) that implements the decoding pipeline's TokenConstraint hook
 * (src/infer/constraint.ts). See docs/constrain.md.
 */
import { readFileSync } from 'node:fs';
import type { Tokenizer } from '../../tokenizer/index.js';
import { GptforgeError, type ErrorLocation } from '../../util/errors.js';
import { parseGbnf } from './gbnf.js';
import { type Grammar } from './grammar.js';
import { Automaton, GrammarConstraint, TokenMatcher } from './matcher.js';
import { regexToExpr } from './regex.js';
import { lowerSchema, type SchemaOptions } from './schema.js';
import { tokenTrie } from './trie.js';
import { parseJsonFile } from '../../util/json.js';

export { Automaton, GrammarConstraint, TokenMatcher, DEAD, clearSharedFrames } from './matcher.js';
export { TokenTrie, tokenTrie } from './trie.js';
export { lowerGrammar, literal, seq, alt, repeat, opt, star, plus, ref, bytes, chars, EMPTY, NOTHING, type Expr, type Grammar, type LoweredGrammar } from './grammar.js';
export { regexToExpr, type RegexOptions, type CharEncoder } from './regex.js';
export { schemaGrammar, lowerSchema, jsonChars, intRange, type SchemaOptions } from './schema.js';
export { parseGbnf } from './gbnf.js';
export { ReplyConstraint } from './reply.js';

/** Compile a grammar for a tokenizer: the shared matcher every row's constraint steps through. */
export function compileGrammar(grammar: Grammar, tok: Tokenizer): TokenMatcher {
  return new TokenMatcher(new Automaton(grammar), tokenTrie(tok));
}

/** The grammar of a regular expression matched against the whole output (see regex.ts for the syntax). */
export function regexGrammar(pattern: string, where: ErrorLocation = {}): Grammar {
  return { rules: new Map([['root', regexToExpr(pattern, { mode: 'full', where })]]), start: 'root', source: where.file };
}

/**
 * A constraint forcing the output to match `pattern` in full. Throws GptforgeError for a bad or
 * unsupported pattern; the error names `where` (a file or a field), or the field `regex` when
 * `where` names neither (the option's name in `constraintFromOptions`).
 */
export function regexConstraint(pattern: string, tok: Tokenizer, at: ErrorLocation = {}): GrammarConstraint {
  const where: ErrorLocation = at.file === undefined && at.field === undefined ? { ...at, field: 'regex' } : at;
  try {
    return new GrammarConstraint(compileGrammar(regexGrammar(pattern, where), tok));
  } catch (e) {
    // the grammar check knows no file for a pattern given inline: say which pattern matches nothing
    if (e instanceof GptforgeError && /no string satisfies/.test(e.message) && where.file === undefined) throw new GptforgeError(`no string matches the regular expression /${pattern}/`, where);
    throw e;
  }
}

/** A constraint forcing the output to be a JSON text the schema accepts (see schema.ts for the supported subset and whitespace policy). */
export function schemaConstraint(schema: unknown, tok: Tokenizer, opts: SchemaOptions = {}): GrammarConstraint {
  return new GrammarConstraint(new TokenMatcher(new Automaton(lowerSchema(schema, opts)), tokenTrie(tok)));
}

/** A constraint forcing the output to derive from the GBNF grammar's `root` rule. */
export function gbnfConstraint(text: string, tok: Tokenizer, file = '<grammar>'): GrammarConstraint {
  return new GrammarConstraint(compileGrammar(parseGbnf(text, file), tok));
}

/** Read and parse a JSON Schema file; a syntax error names the file and line. */
export function readSchemaFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new GptforgeError(`cannot read the schema: ${(e as Error).message}`, { file: path });
  }
  return parseJsonFile(text, path);
}

/** The constraint of `--json-schema file | --regex pattern | --grammar file` (exactly one). */
export function constraintFromOptions(opts: { jsonSchema?: string; regex?: string; grammar?: string; whitespace?: SchemaOptions['whitespace'] }, tok: Tokenizer): GrammarConstraint | undefined {
  const given = [opts.jsonSchema, opts.regex, opts.grammar].filter((x) => x !== undefined).length;
  if (given > 1) throw new GptforgeError('give at most one of --json-schema, --regex, --grammar');
  if (opts.jsonSchema !== undefined) return schemaConstraint(readSchemaFile(opts.jsonSchema), tok, { file: opts.jsonSchema, whitespace: opts.whitespace });
  if (opts.regex !== undefined) return regexConstraint(opts.regex, tok, { field: 'regex' });
  if (opts.grammar !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.grammar, 'utf8');
    } catch (e) {
      throw new GptforgeError(`cannot read the grammar: ${(e as Error).message}`, { file: opts.grammar });
    }
    return gbnfConstraint(text, tok, opts.grammar);
  }
  return undefined;
}
