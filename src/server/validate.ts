import { badRequest } from './errors.js';

/**
 * Small field checks for request bodies: each throws a 400 naming the field (OpenAI's `param`).
 * Hand-written rather than a JSON Schema so that every message says what the field must be
 * in the API's own terms.
 */
export type Body = Record<string, unknown>;

export function asBody(x: unknown): Body {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw badRequest('the request body must be a JSON object');
  return x as Body;
}

export function optNumber(b: Body, key: string, min: number, max: number, opts: { integer?: boolean } = {}): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v))) throw badRequest(`'${key}' must be ${opts.integer ? 'an integer' : 'a number'}`, key);
  if (v < min || v > max) throw badRequest(`'${key}' must be between ${min} and ${max}, got ${v}`, key);
  return v;
}

export function optBool(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`'${key}' must be a boolean`, key);
  return v;
}

export function optString(b: Body, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`'${key}' must be a string`, key);
  return v;
}

/** OpenAI's `stop`: a string or up to 4 non-empty strings. */
export function stopStrings(b: Body): string[] {
  const v = b.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s === '')) throw badRequest("'stop' must be a non-empty string or an array of non-empty strings", 'stop');
  if (list.length > 4) throw badRequest(`'stop' takes at most 4 sequences, got ${list.length}`, 'stop');
  return list as string[];
}

/** OpenAI's `logit_bias`: token id (as a string key) → bias in [-100, 100]. */
export function logitBias(b: Body, vocabSize: number): Map<number, number> | undefined {
  const v = b.logit_bias;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest("'logit_bias' must be an object mapping token ids to biases", 'logit_bias');
  const out = new Map<number, number>();
  for (const [k, bias] of Object.entries(v as Record<string, unknown>)) {
    const id = Number(k);
    if (!/^\d+$/.test(k) || id >= vocabSize) throw badRequest(`'logit_bias' key ${JSON.stringify(k)} is not a token id of the vocabulary of ${vocabSize}`, 'logit_bias');
    if (typeof bias !== 'number' || !Number.isFinite(bias) || bias < -100 || bias > 100) throw badRequest(`'logit_bias' value for token ${k} must be a number between -100 and 100`, 'logit_bias');
    out.set(id, bias);
  }
  return out;
}
