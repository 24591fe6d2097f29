/** The nearest known name to a misspelt one, for "did you mean" hints (presets, mixtures, tasks, options). */

/** Optimal string alignment distance (Damerau–Levenshtein with adjacent transpositions), case-insensitive. */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known key closest to `key` when it is close enough to be a typo (≤ 1 edit for short keys, ≤ 2 from 5 letters), else undefined. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const limit = key.length >= 5 ? 2 : 1;
  let best: string | undefined;
  let bestD = limit + 1;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}
