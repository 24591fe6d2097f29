import { createRequire } from 'node:module';

/**
 * A tool's input checked against its declared JSON Schema (Tool.parameters, OpenAI's function
 * `parameters`) with ajv — the validator the project's tests already trust as the reference
 * (test/constrain/ajv.ts uses compileJsonSchema below, so tests and product read a schema with the
 * same set-up: draft 2020-12 or draft-07 by the schema's keywords, draft-04 when ajv-draft-04 is
 * installed, ajv-formats, `strict: false`). A library rather than our
 * constrained-decoding compiler because the compiler enforces a subset while decoding, whereas a
 * call that reaches the registry any other way (a caller, a server client) needs the full keyword set.
 * ajv is loaded on first use, so a registry without schemas never pays for it.
 */

/** Why an input failed its schema: where (a JSON Pointer into the input, RFC 6901; '' for the root) and what. */
export interface SchemaViolation {
  pointer: string;
  message: string;
}

/** Checks an input text: null when it is JSON the schema accepts, else the first violation. */
export type InputValidator = (input: string) => SchemaViolation | null;

/** One of ajv's errors: where in the instance (a JSON Pointer), which keyword failed, and ajv's message. */
export interface AjvError {
  instancePath: string;
  message?: string;
  keyword: string;
  params?: Record<string, unknown>;
}
interface AjvLike {
  compile(schema: unknown): JsonSchemaValidator;
}
type AjvCtor = new (opts: Record<string, unknown>) => AjvLike;

let ctors: { v2020: AjvCtor; v7: AjvCtor; v4?: AjvCtor; addFormats: (a: AjvLike) => void } | undefined;
function ajvCtors(): NonNullable<typeof ctors> {
  if (ctors) return ctors;
  const require = createRequire(import.meta.url);
  let v4: AjvCtor | undefined;
  try {
    v4 = (require('ajv-draft-04') as { default: AjvCtor }).default;
  } catch {
    v4 = undefined; // optional: draft-04 schemas then validate with the draft-07 validator
  }
  ctors = {
    v2020: (require('ajv/dist/2020') as { default: AjvCtor }).default,
    v7: (require('ajv') as { default: AjvCtor }).default,
    v4,
    addFormats: (require('ajv-formats') as { default: (a: AjvLike) => void }).default,
  };
  return ctors;
}

/** A compiled JSON Schema: true when `data` is an instance; `errors` then says why not (ajv's). */
export interface JsonSchemaValidator {
  (data: unknown): boolean;
  errors?: AjvError[] | null;
}

/**
 * Compile `schema` with ajv as the product validates tool inputs — and as the tests validate
 * constrained output, so both read a schema alike: draft 2020-12 when the schema uses its keywords
 * (`prefixItems`, `$defs`, `$dynamicRef`) or names it, draft-04 when it names that draft and
 * ajv-draft-04 is installed, else draft-07; ajv-formats' formats checked; `strict: false` (keywords
 * ajv does not know are ignored, as JSON Schema says); `unicodeRegExp` (a `pattern` is a Unicode
 * regex); the first error only. A `$schema` of another draft is dropped (ajv refuses meta-schemas
 * it does not know).
 * @throws Error (ajv's message) when the schema itself is not a valid JSON Schema.
 */
export function compileJsonSchema(schema: unknown): JsonSchemaValidator {
  const c = ajvCtors();
  const text = JSON.stringify(schema);
  const s = typeof schema === 'object' && schema !== null ? (schema as Record<string, unknown>).$schema : undefined;
  const draft4 = typeof s === 'string' && s.includes('draft-04');
  const modern = /"prefixItems"|"\$defs"|"\$dynamicRef"/.test(text) || (typeof s === 'string' && s.includes('2020-12'));
  const Ctor = draft4 && c.v4 ? c.v4 : modern ? c.v2020 : c.v7;
  const ajv = new Ctor({ strict: false, allErrors: false, validateFormats: true, unicodeRegExp: true });
  c.addFormats(ajv);
  let target = schema;
  if (!modern && !draft4 && typeof s === 'string' && !s.includes('draft-07')) {
    // $schema of another draft: ajv refuses unknown meta-schemas; validate without it
    const copy = { ...(schema as Record<string, unknown>) };
    delete copy.$schema;
    target = copy;
  }
  return ajv.compile(target);
}

/**
 * Compile `schema` into an input validator (compileJsonSchema's set-up).
 * @throws Error (ajv's message) when the schema itself is not a valid JSON Schema.
 */
export function compileInputSchema(schema: unknown): InputValidator {
  const validate = compileJsonSchema(schema);
  return (input) => {
    let value: unknown;
    try {
      value = JSON.parse(input);
    } catch {
      return { pointer: '', message: 'not JSON (the input must be a JSON value its schema accepts)' };
    }
    if (validate(value)) return null;
    const e = validate.errors?.[0];
    if (!e) return { pointer: '', message: 'does not match the schema' };
    // a missing property is reported at its parent: point at the property itself
    const missing = e.keyword === 'required' && typeof e.params?.missingProperty === 'string' ? `/${e.params.missingProperty.replace(/~/g, '~0').replace(/\//g, '~1')}` : '';
    return { pointer: e.instancePath + missing, message: e.message ?? e.keyword };
  };
}
