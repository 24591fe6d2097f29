/**
 * `s` with every regular-expression metacharacter escaped, to embed literal text in a
 * `RegExp` (the set MDN gives for `RegExp.escape`'s purpose: . * + ? ^ $ { } ( ) | [ ] \).
 *   escapeRegExp('a.b(c)') → 'a\\.b\\(c\\)'
 */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
