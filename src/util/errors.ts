/**
 * One error type for everything a user can get wrong. It carries where the problem is
 * (file, line, field) so the CLI can print a precise, single-line message instead of a
 * stack trace.
 */
export interface ErrorLocation {
  file?: string;
  line?: number;
  field?: string;
}

export class GptforgeError extends Error {
  readonly file?: string;
  readonly line?: number;
  readonly field?: string;

  constructor(message: string, where: ErrorLocation = {}) {
    const parts: string[] = [];
    if (where.file !== undefined) parts.push(where.line !== undefined ? `${where.file}:${where.line}` : where.file);
    if (where.field !== undefined) parts.push(`field "${where.field}"`);
    super(parts.length > 0 ? `${parts.join(', ')}: ${message}` : message);
    this.name = 'GptforgeError';
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
  }
}
