/**
 * One error type for everything a user can get wrong. It carries where the problem is
 * (file, line, field) apart from what the problem is (`detail`), so whoever prints it can name
 * the place in the user's own terms (the CLI names a library option by the flag that was typed)
 * and print a precise, single-line message instead of a stack trace.
 */
export interface ErrorLocation {
  file?: string;
  line?: number;
  /** An option's name (`maxTokens`, `topP`; the CLI prints its flag), or a field of a file (`sft.train.lr`). */
  field?: string;
  /**
   * Where inside a JSON document the problem is, as a JSON Pointer (RFC 6901: `/properties/age/minimum`,
   * `""` the whole document): a JSON Schema's node, kept apart from `field` (which names an option,
   * e.g. `jsonSchema`, the option that carried the schema).
   */
  pointer?: string;
}

/** How `GptforgeError.format` names the parts of a location. */
export interface ErrorFormat {
  /**
   * The user's name for a field (a CLI flag such as `--top-p` for the option `topP`), or
   * undefined to print it as `field "topP"`. A name given here is printed bare: `--top-p: …`.
   */
  fieldName?: (field: string) => string | undefined;
}

/**
 * "file:line, field "f": detail": the location first, so a long detail cannot hide it. A field
 * renamed by `fieldName` leads bare ("--top-p: …"), or is merged with a detail that already
 * starts with its name, the caller's or the library's ("topP: expects …, got 3" → "--top-p:
 * expects …, got 3"; "top-p 3: must be …" or "topP 3: must be …" → "--top-p 3: must be …"):
 * library details name options as the library does, the CLI's flags
 * come only from here.
 */
export function formatError(detail: string, where: ErrorLocation, fmt: ErrorFormat = {}): string {
  const parts: string[] = [];
  if (where.file !== undefined) parts.push(where.line !== undefined ? `${where.file}:${where.line}` : where.file);
  if (where.pointer !== undefined) parts.push(`at ${where.pointer === '' ? 'the root ("")' : where.pointer}`);
  if (where.field !== undefined) {
    const name = fmt.fieldName?.(where.field);
    if (name === undefined) parts.push(`field "${where.field}"`);
    else if (parts.length === 0) {
      if (detail.startsWith(name)) return detail;
      // a library detail that leads with the option's own name ("maxTokens: expects …", "maxTokens -1: must be …") leads with the caller's
      if (detail.startsWith(`${where.field}:`) || detail.startsWith(`${where.field} `)) return `${name}${detail.slice(where.field.length)}`;
      const bare = name.replace(/^-+/, '');
      return bare !== name && detail.startsWith(`${bare} `) ? `${name.slice(0, name.length - bare.length)}${detail}` : `${name}: ${detail}`;
    } else parts.push(name);
  }
  return parts.length > 0 ? `${parts.join(', ')}: ${detail}` : detail;
}

/**
 * The library's one error for bad input or state (a bad option, file, run or store): `detail`
 * says what is wrong, `file`/`line`/`field`/`pointer` where (ErrorLocation), `message` both
 * (formatError). Programming errors and I/O failures outside the user's input stay plain `Error`s.
 * @example try { gf.generateText(model, tok, ids, { maxTokens: -1 }) } catch (e) { if (e instanceof gf.GptforgeError) console.log(e.field, e.detail) } // maxTokens "maxTokens: expects an integer ≥ 0, got -1"
 */
export class GptforgeError extends Error {
  readonly file?: string;
  readonly line?: number;
  readonly field?: string;
  /** A JSON Pointer into the JSON document the error is about (ErrorLocation.pointer). */
  readonly pointer?: string;
  /** What is wrong, without the location ("must be in (0, 1], got 3"). */
  readonly detail: string;

  /**
   * `message` is the full text, location included (`formatError(detail, where)`), as every
   * caller that prints or matches `err.message` expects; `detail` and the location fields are
   * the parts, for a caller that names the place its own way (`format`).
   */
  constructor(detail: string, where: ErrorLocation = {}) {
    super(formatError(detail, where));
    this.name = 'GptforgeError';
    this.detail = detail;
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
    this.pointer = where.pointer;
  }

  /** The location this error names (only the parts that are set). */
  get where(): ErrorLocation {
    const w: ErrorLocation = {};
    if (this.file !== undefined) w.file = this.file;
    if (this.line !== undefined) w.line = this.line;
    if (this.field !== undefined) w.field = this.field;
    if (this.pointer !== undefined) w.pointer = this.pointer;
    return w;
  }

  /** The message with the location named as `fmt` says (`formatError`). */
  format(fmt: ErrorFormat = {}): string {
    return formatError(this.detail, this.where, fmt);
  }
}
