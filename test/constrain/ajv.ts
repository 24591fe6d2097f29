import { compileJsonSchema } from '../../src/infer/tools/schema.js';

/**
 * The tests' independent validator of constrained output: ajv, set up exactly as the product
 * validates tool inputs (compileJsonSchema: the draft by the schema's keywords, ajv-formats,
 * `strict: false`), so a test never accepts what the product would refuse or the reverse.
 * Independent of the constrained-decoding compiler, which is what these tests check.
 */
export type Validator = (data: unknown) => boolean;

export function ajvValidator(schema: unknown): Validator {
  const validate = compileJsonSchema(schema);
  return (data) => validate(data);
}
