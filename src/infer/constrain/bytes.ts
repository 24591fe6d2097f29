/**
 * Byte sets and the UTF-8 encoding of code-point ranges: the terminals of the grammar IR are
 * single bytes, so a character class over code points becomes an alternation of byte-range
 * sequences (RFC 3629 §3; the splitting follows the well-known scheme of Rust's
 * regex-syntax `Utf8Sequences`: split at encoding-length boundaries, then at continuation-byte
 * boundaries until each piece is a product of byte ranges).
 */

/** 256 bits: bit (b & 31) of word (b >>> 5) set = byte b is in the set. */
export type ByteSet = Uint32Array;

/** An inclusive code-point range [lo, hi]. */
export type CodeRange = readonly [number, number];

export const MAX_CODE_POINT = 0x10ffff;

export function byteSet(...ranges: readonly (readonly [number, number])[]): ByteSet {
  const s = new Uint32Array(8);
  for (const [lo, hi] of ranges) for (let b = lo; b <= hi; b++) s[b >>> 5] |= 1 << (b & 31);
  return s;
}

export function hasByte(s: ByteSet, b: number): boolean {
  return (s[b >>> 5] & (1 << (b & 31))) !== 0;
}

export function isEmptySet(s: ByteSet): boolean {
  for (let i = 0; i < 8; i++) if (s[i] !== 0) return false;
  return true;
}

export function byteSetKey(s: ByteSet): string {
  return `${s[0]},${s[1]},${s[2]},${s[3]},${s[4]},${s[5]},${s[6]},${s[7]}`;
}

/** Sort, merge overlapping/adjacent ranges and drop surrogates (U+D800–U+DFFF: not encodable in UTF-8). */
export function normalizeRanges(ranges: readonly CodeRange[]): CodeRange[] {
  const split: [number, number][] = [];
  for (const [lo, hi] of ranges) {
    if (lo > hi) continue;
    if (lo <= 0xdfff && hi >= 0xd800) {
      if (lo < 0xd800) split.push([lo, 0xd7ff]);
      if (hi > 0xdfff) split.push([0xe000, hi]);
    } else split.push([lo, hi]);
  }
  split.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of split) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** The complement of a set of code-point ranges within [0, U+10FFFF] (surrogates excluded). */
export function complementRanges(ranges: readonly CodeRange[]): CodeRange[] {
  const n = normalizeRanges(ranges);
  const out: [number, number][] = [];
  let next = 0;
  for (const [lo, hi] of n) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return normalizeRanges(out);
}

export function subtractRanges(a: readonly CodeRange[], b: readonly CodeRange[]): CodeRange[] {
  const nb = complementRanges(b);
  return intersectRanges(a, nb);
}

export function intersectRanges(a: readonly CodeRange[], b: readonly CodeRange[]): CodeRange[] {
  const na = normalizeRanges(a);
  const nb = normalizeRanges(b);
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < na.length && j < nb.length) {
    const lo = Math.max(na[i][0], nb[j][0]);
    const hi = Math.min(na[i][1], nb[j][1]);
    if (lo <= hi) out.push([lo, hi]);
    if (na[i][1] < nb[j][1]) i++;
    else j++;
  }
  return out;
}

function encode(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}

/**
 * The UTF-8 byte-range sequences whose union is exactly the encodings of the code points in
 * [lo, hi] (surrogates excluded). Each sequence is a list of inclusive byte ranges, one per byte.
 */
export function utf8Sequences(lo: number, hi: number): [number, number][][] {
  const out: [number, number][][] = [];
  const go = (a: number, b: number): void => {
    if (a > b) return;
    if (a <= 0xdfff && b >= 0xd800) {
      go(a, 0xd7ff);
      go(0xe000, b);
      return;
    }
    for (const edge of [0x7f, 0x7ff, 0xffff]) {
      if (a <= edge && b > edge) {
        go(a, edge);
        go(edge + 1, b);
        return;
      }
    }
    if (b <= 0x7f) {
      out.push([[a, b]]);
      return;
    }
    const n = encode(a).length;
    for (let i = 1; i < n; i++) {
      const m = (1 << (6 * i)) - 1;
      if ((a & ~m) !== (b & ~m)) {
        if ((a & m) !== 0) {
          go(a, a | m);
          go((a | m) + 1, b);
          return;
        }
        if ((b & m) !== m) {
          go(a, (b & ~m) - 1);
          go(b & ~m, b);
          return;
        }
      }
    }
    const ea = encode(a);
    const eb = encode(b);
    out.push(ea.map((x, i) => [x, eb[i]] as [number, number]));
  };
  go(lo, hi);
  return out;
}
