import type { TokenConstraint } from '../infer/constraint.js';
import { schemaConstraint } from '../infer/constrain/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { badRequest } from './errors.js';

/**
 * `response_format` → a TokenConstraint for each row, through constrained decoding
 * (src/infer/constrain: JSON Schema → a byte-level automaton over the vocabulary). Both JSON
 * types are registered below; a type without a compiler is answered 400 naming the missing
 * feature rather than with unconstrained text that claims to be JSON.
 *
 * Whitespace is compact (no spaces or newlines between tokens, as OpenAI's structured outputs
 * write): a small model given the choice spends its token budget on indentation, and a
 * bounded schema then always completes within a bounded number of tokens.
 */
export type ResponseFormatType = 'json_object' | 'json_schema';

/** Builds the constraint for one request (each row gets a `clone()`). `schema` is the json_schema's schema (json_object: undefined). */
export type ConstraintCompiler = (tok: Tokenizer, schema: unknown, strict: boolean) => TokenConstraint;

const compilers = new Map<ResponseFormatType, ConstraintCompiler>([
  // OpenAI: json_object is "valid JSON"; an object at the top level, as its docs and clients expect
  ['json_object', (tok) => schemaConstraint({ type: 'object' }, tok, { whitespace: 'compact' })],
  ['json_schema', (tok, schema) => schemaConstraint(schema, tok, { whitespace: 'compact', file: 'response_format.json_schema.schema' })],
]);

/** Make `response_format: {type}` available (called by the constrained-decoding module). */
export function registerResponseFormat(type: ResponseFormatType, compile: ConstraintCompiler): void {
  compilers.set(type, compile);
}

/** The constraint a request's `response_format` asks for, or undefined for plain text. */
export function responseFormatConstraint(tok: Tokenizer, raw: unknown): TokenConstraint | undefined {
  if (raw === undefined || raw === null) return undefined;
  const rf = raw as { type?: unknown; json_schema?: { schema?: unknown; strict?: unknown } };
  if (typeof rf !== 'object' || typeof rf.type !== 'string') throw badRequest("'response_format' must be an object with a 'type'", 'response_format');
  if (rf.type === 'text') return undefined;
  if (rf.type !== 'json_object' && rf.type !== 'json_schema') throw badRequest(`'response_format.type' must be text, json_object or json_schema, got ${JSON.stringify(rf.type)}`, 'response_format');
  const compile = compilers.get(rf.type);
  if (!compile) throw badRequest(`response_format ${rf.type} is not supported by this server yet: it needs constrained decoding (src/infer/constrain), which is not built in`, 'response_format', 'unsupported_response_format');
  if (rf.type === 'json_schema' && (typeof rf.json_schema !== 'object' || rf.json_schema === null)) throw badRequest("'response_format.json_schema' must be an object with a 'schema'", 'response_format');
  try {
    return compile(tok, rf.type === 'json_schema' ? rf.json_schema!.schema : undefined, rf.type === 'json_schema' && rf.json_schema!.strict === true);
  } catch (e) {
    // a schema error names its place already ("response_format.json_schema.schema, field …"): no second prefix
    const msg = (e as Error).message;
    throw badRequest(msg.startsWith('response_format') ? msg : `response_format: ${msg}`, 'response_format');
  }
}
