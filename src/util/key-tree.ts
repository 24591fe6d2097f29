/**
 * The keys a JSON config section may hold, so that a typo is refused rather than ignored
 * (src/run/preset-keys.ts `checkKeys`): a nested section maps to its own keys, a value checked
 * elsewhere (a number, a list, a sub-object its own validator checks) to null.
 */
export interface KeyShape {
  [key: string]: KeyShape | null;
}

/**
 * A {@link KeyShape} that the compiler checks against the TypeScript type `T` it describes: a
 * literal of this type must name every key of `T`, optional ones too, and no other. A field
 * added to `T` fails `tsc` until it is listed in the key list declared beside `T`, so the type
 * and the keys a config file may hold cannot drift apart. A key whose value is an object (not
 * a list) maps to its own tree, or to null where its value is checked elsewhere.
 */
export type KeyTree<T> = {
  [K in keyof T]-?: NonNullable<T[K]> extends readonly unknown[] ? null : NonNullable<T[K]> extends object ? KeyTree<NonNullable<T[K]>> | null : null;
};

/**
 * The key list of a section from its defaults object, which holds every field of its type (as
 * `DEFAULT_RL` holds every field of `RLConfig`): one source, no list to keep.
 */
export function keysOf<T extends object>(defaults: T): { [K in keyof T]-?: null } {
  return Object.fromEntries(Object.keys(defaults).map((k) => [k, null])) as { [K in keyof T]-?: null };
}
