import { GptforgeError } from '../util/errors.js';
import type { KeyShape } from '../util/key-tree.js';
import { closestKey } from '../util/closest.js';

export type { KeyShape } from '../util/key-tree.js';
export { closestKey } from '../util/closest.js';

/** A hint for a key that is known elsewhere, in place of the list of keys. */
const MISPLACED: Record<string, string> = {
  'sft.onBad': 'onBad is a field of the SFT mixture: "sft": { "mixture": { "onBad": "skip", "sources": […] } }',
};

/**
 * Refuse a key that `shape` (a preset's: PRESET_KEYS, src/run/presets.ts) does not name, in `obj` and in every nested section, naming the full
 * field path (`train.maxStep`), the keys its section has, and the closest one when it is near.
 * A section that is not an object is left to the checks of its values.
 *
 * @param path the field path of `obj` ('' at the top of the file)
 * @throws GptforgeError `{ file, field: "<path>.<key>" }` for the first unknown key
 */
export function checkKeys(obj: unknown, shape: KeyShape, file: string, path = ''): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
  const known = Object.keys(shape);
  for (const [key, value] of Object.entries(obj)) {
    const field = path ? `${path}.${key}` : key;
    if (!Object.hasOwn(shape, key)) {
      const misplaced = MISPLACED[field];
      if (misplaced) throw new GptforgeError(misplaced, { file, field });
      const near = closestKey(key, known);
      throw new GptforgeError(`unknown key (${path || 'a preset'} has: ${known.join(', ')})${near ? `; did you mean "${near}"?` : ''}`, { file, field });
    }
    const sub = shape[key];
    if (sub) checkKeys(value, sub, file, field);
  }
}
