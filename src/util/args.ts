import { InvalidArgumentError } from '@commander-js/extra-typings';

/**
 * Option-argument parsers for the command line's commander definitions (src/cli): each turns
 * the text after a flag into a typed value, or throws commander's InvalidArgumentError, which
 * commander reports as `error: option '--max-steps <n>' argument 'abc' is invalid. <reason>`.
 */

/** A finite number ("3", "1e-4", "-5"; range checks are the runner's, which name the field). */
export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expects a number, got "${value}"`);
  return n;
}

/** A whole number ≥ 1 ("48"): token counts, passages, samples. @example positiveInteger('48') // 48; positiveInteger('0') throws */
export function positiveInteger(value: string): number {
  const n = number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expects a whole number ≥ 1, got "${value}"`);
  return n;
}

/** A repeatable option: each occurrence appends its value (`--data a.jsonl --data b.jsonl`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
