import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { GptforgeError } from './errors.js';

/** jsonc-parser's error codes, worded. */
const FAULTS: Record<string, string> = {
  InvalidSymbol: 'an invalid symbol',
  InvalidNumberFormat: 'a malformed number',
  PropertyNameExpected: 'expected a property name (in double quotes)',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected a colon',
  CommaExpected: 'expected a comma',
  CloseBraceExpected: 'expected a closing brace',
  CloseBracketExpected: 'expected a closing bracket',
  EndOfFileExpected: 'expected the end of the file',
  InvalidCommentToken: 'a comment (JSON has none)',
  UnexpectedEndOfComment: 'an unterminated comment',
  UnexpectedEndOfString: 'an unterminated string',
  UnexpectedEndOfNumber: 'an unterminated number',
  InvalidUnicode: 'an invalid \\u escape',
  InvalidEscapeCharacter: 'an invalid escape character',
  InvalidCharacter: 'an invalid character in a string',
};

/**
 * `JSON.parse` for a whole file a user wrote (a schema, a preset, a config): a syntax error
 * names the file, the line and column of the first fault and what was expected there.
 * Node's own message often has no position ("Unexpected token ',', … is not valid JSON"), so
 * the position comes from Microsoft's jsonc-parser run over the same text in strict JSON mode
 * (no comments, no trailing commas) — a well-kept scanner rather than our own.
 *
 * @example parseJsonFile('{\n  "a": ,\n}', 'x.json')
 *   // throws GptforgeError 'x.json:2: not valid JSON: expected a value at column 8'
 * @throws GptforgeError with `file` and `line` set.
 */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const errors: ParseError[] = [];
    parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    if (!first) throw new GptforgeError(`not valid JSON: ${(e as Error).message}`, { file });
    const before = text.slice(0, first.offset).split('\n');
    const column = before[before.length - 1].length + 1;
    throw new GptforgeError(`not valid JSON: ${FAULTS[printParseErrorCode(first.error)] ?? printParseErrorCode(first.error)} at column ${column}`, { file, line: before.length });
  }
}
