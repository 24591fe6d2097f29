import { createRequire } from 'node:module';

/** An independent validator: ajv (draft 2020-12 or draft-07 by the schema's keywords) with ajv-formats. */
export interface Validator {
  (data: unknown): boolean;
}
interface AjvLike {
  compile(schema: unknown): Validator;
}
const require = createRequire(import.meta.url);
type AjvCtor = new (opts: Record<string, unknown>) => AjvLike;
const Ajv2020 = (require('ajv/dist/2020') as { default: AjvCtor }).default;
const Ajv7 = (require('ajv') as { default: AjvCtor }).default;
const Ajv4 = ((): AjvCtor | undefined => {
  try {
    return (require('ajv-draft-04') as { default: AjvCtor }).default;
  } catch {
    return undefined;
  }
})();
const addFormats = (require('ajv-formats') as { default: (a: AjvLike) => void }).default;

export function ajvValidator(schema: unknown): Validator {
  const text = JSON.stringify(schema);
  const s = typeof schema === 'object' && schema !== null ? (schema as Record<string, unknown>).$schema : undefined;
  const draft4 = typeof s === 'string' && s.includes('draft-04');
  const modern = /"prefixItems"|"\$defs"|"\$dynamicRef"/.test(text) || (typeof s === 'string' && s.includes('2020-12'));
  const Ctor = draft4 && Ajv4 ? Ajv4 : modern ? Ajv2020 : Ajv7;
  const ajv = new Ctor({ strict: false, allErrors: false, validateFormats: true, unicodeRegExp: true });
  addFormats(ajv);
  if (!modern && !draft4 && typeof s === 'string' && !s.includes('draft-07')) {
    // $schema of another draft: ajv refuses unknown meta-schemas; validate without it
    const copy = { ...(schema as Record<string, unknown>) };
    delete copy.$schema;
    return ajv.compile(copy);
  }
  return ajv.compile(schema);
}
