/**
 * Seeded random numbers with a serialisable state, so a resumed training run draws the
 * same numbers as an uninterrupted one. xoshiro128** (fast, 128-bit state, good quality).
 */
export type RngState = [number, number, number, number];

export class Rng {
  private s: Uint32Array;
  private spare: number | null = null;

  /**
   * @param seed any number; a whole number in [0, 2³²) is used as it is, any other (negative,
   *   2³² or more — OpenAI's `seed` is an int64 —, fractional) is first folded to 32 bits from its
   *   decimal text (FNV-1a), so distinct seeds stay distinct instead of wrapping (−1 and 2³² − 1,
   *   or 0 and 2³², used to draw the same numbers).
   * @example new Rng(7).random() === new Rng(7).random() // true: a seed always draws the same stream
   */
  constructor(seed = 1337) {
    // splitmix32 expands the seed into four non-zero words.
    this.s = new Uint32Array(4);
    let x = Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32 ? seed >>> 0 : foldSeed(seed);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits. */
  random(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Standard normal (Box–Muller, caching the second value). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * Shuffles `items` in place and returns it: Fisher–Yates from the end, j uniform in [0, i]
   * (Knuth, TAOCP vol. 2, Algorithm P). The one shuffle every seeded order in gptforge uses,
   * so the same seed gives the same order wherever it is drawn.
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** A uniformly random permutation of 0 … n − 1 (`shuffle` of the identity). */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  state(): { s: RngState; spare: number | null } {
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  restore(st: { s: RngState; spare: number | null }): void {
    this.s.set(st.s);
    this.spare = st.spare;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The seed of stream `k` of several drawn from one base seed (a data source, an epoch, a task
 * family): seed + 7919·k. The prime stride keeps the streams of neighbouring base seeds
 * (seed, seed + 1, …) from coinciding for small k; Rng's splitmix expansion decorrelates them.
 */
export function streamSeed(seed: number, k: number): number {
  return seed + 7919 * k;
}

/**
 * A 32-bit seed from several integers (FNV-1a over their 16-bit halves): for streams keyed by
 * more than one index, e.g. (seed, cycle, source, epoch) in the data mixture.
 */
export function hashSeed(...xs: number[]): number {
  let h = 2166136261;
  for (const x of xs) {
    h = Math.imul(h ^ (x & 0xffff), 16777619);
    h = Math.imul(h ^ (x >>> 16), 16777619);
  }
  return h >>> 0;
}

/** A seed outside [0, 2³²) as 32 bits: FNV-1a over its decimal text (`String(seed)`, so 1e30 and 1e300 differ). */
function foldSeed(seed: number): number {
  const text = String(seed);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
