import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels } from '../../src/engine/backend-native.js';
import { referenceKernels as ref } from '../../src/engine/backend-reference.js';
import { getKernels, setBackend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/rng.js';
import { Sampler } from '../../src/infer/processors.js';

/**
 * The sampler's tempered exponentials, drawToken's exponentials and the inverse-CDF walk
 * (Kernels.tempExp / shiftExp / walkCdf): the
 * native kernels (native/sample.c, V8's Math.exp ported) give the JavaScript's bits exactly, on
 * every kernel path this CPU runs — e[i], their sum, and so every token drawn. Exactness, not a
 * tolerance: a changed last bit of the sum moves a draw that lands on a CDF step.
 */
const loaded = loadNativeKernels();
const native = 'kernels' in loaded ? loaded.kernels : null;
const skip = native ? false : `native addon not built: ${'error' in loaded ? loaded.error : ''}`;
const paths = native
  ? native
      .isas()
      .filter((s) => s.supported)
      .map((s) => s.name)
  : [];

/** Runs fn on each supported path, restoring the path this process started on. */
function onEachPath(fn: (isa: string) => void): void {
  const start = native!.isa;
  try {
    for (const isa of paths) {
      native!.setIsa(isa);
      fn(isa);
    }
  } finally {
    native!.setIsa(start);
  }
}

/** e and the sum from the native kernel equal the reference's bit for bit (NaN: both NaN). */
function sameBits(what: string, l: Float32Array, mx: number, T: number): void {
  const n = l.length;
  const er = new Float64Array(n),
    en = new Float64Array(n);
  const sr = ref.tempExp(l, mx, T, er, n);
  const sn = native!.tempExp(l, mx, T, en, n);
  const br = new BigUint64Array(er.buffer),
    bn = new BigUint64Array(en.buffer);
  for (let i = 0; i < n; i++) {
    if (br[i] !== bn[i] && !(Number.isNaN(er[i]) && Number.isNaN(en[i]))) {
      assert.fail(`${what}: e[${i}] (l = ${l[i]}, mx = ${mx}, T = ${T}, x = ${(l[i] - mx) / T}): native ${en[i]}, JavaScript ${er[i]}`);
    }
  }
  assert.ok(Object.is(sn, sr), `${what}: sum native ${sn}, JavaScript ${sr}`);
}

/** n float32 logits ≤ 0 (max exactly 0): −∞ (masked), [−1e4, 0], [−1000, 0], [−30, 0], near 0, and x near exp's underflow. */
function logits(rng: Rng, n: number, T: number): Float32Array {
  const l = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = rng.random();
    const u = rng.random();
    if (k < 0.02) l[i] = -Infinity;
    else if (k < 0.25) l[i] = -u * 1e4;
    else if (k < 0.45) l[i] = -u * 1000;
    else if (k < 0.75) l[i] = -u * 30;
    else if (k < 0.85) l[i] = -u * 1e-6;
    else l[i] = -T * (700 + u * 50); // x in [−750, −700]: subnormal results (below −708.4) and underflow to 0 (below −745.13)
  }
  l[n >> 1] = 0;
  return l;
}

/** Every float32 within `half` ulps of v (v ≤ 0): they straddle fdlibm's branch points when v is one. */
function around(v: number, half: number): Float32Array {
  const f = new Float32Array(1);
  const b = new Uint32Array(f.buffer);
  f[0] = v;
  const mid = b[0];
  const out = new Float32Array(2 * half + 1);
  const ob = new Uint32Array(out.buffer);
  for (let j = -half; j <= half; j++) ob[j + half] = mid + j;
  return out;
}

test('tempExp: native e[] and sum equal the JavaScript bit for bit, ≥ 1M random logits per path and T', { skip }, () => {
  const n = (1 << 20) + 13; // + a tail that is not a whole vector
  onEachPath((isa) => {
    for (const T of [0.3, 0.7, 1, 1.3, 2]) {
      const l = logits(new Rng(Math.round(T * 100)), n, T);
      sameBits(`${isa} T=${T}`, l, 0, T);
      // a max that is not the row's own (a double, not a float): x = (l − mx) / T rounds in both subtraction and division
      sameBits(
        `${isa} T=${T} mx=0.1`,
        l.map((v) => v - 0.25),
        0.1,
        T,
      );
    }
  });
});

test("tempExp: native equals the JavaScript around each of fdlibm's branch points, on subnormal results and on underflow", { skip }, () => {
  const ln2 = Math.LN2;
  // |x| = 2^-28 (tiny: 1 + x), 0.5 ln2 and 1.5 ln2 (the reduction's ranges), 1021 ln2 (the 2^k scale's
  // split), 709.78 (the filter), the subnormal range, −745.13 (underflow to 0), and far below it
  const points = [-(2 ** -28), -0.5 * ln2, -1.5 * ln2, -1021 * ln2, -1022 * ln2, -709.782712893384, -730, -745.1332191019411, -746, -1e4, -3e38];
  onEachPath((isa) => {
    for (const p of points) {
      const l = around(p, 4000);
      sameBits(`${isa} around ${p}`, l, 0, 1);
      sameBits(`${isa} around ${p}, T=0.7`, l, 0, 0.7);
    }
    // every lane position of a vector holding one special value among ordinary ones, all lengths 0–19
    for (let len = 0; len <= 19; len++) {
      for (let at = 0; at < len; at++) {
        const l = new Float32Array(len).map((_, i) => -i * 0.37);
        l[at] = -Infinity;
        sameBits(`${isa} len ${len}, −∞ at ${at}`, l, 0, 1.3);
      }
    }
  });
});

test('tempExp: arguments the sampler never passes (x > 0, overflow, NaN) still give the JavaScript bits', { skip }, () => {
  const rng = new Rng(7);
  const l = new Float32Array(50_000).map(() => (rng.random() - 0.1) * 900);
  l[5] = Number.NaN;
  l[100] = Infinity;
  l[101] = 1;
  onEachPath((isa) => {
    sameBits(`${isa} mixed signs`, l, 0, 1);
    sameBits(`${isa} mixed signs T=2`, l, 0, 2);
  });
});

/** shiftExp's e and sum from the native kernel equal the reference's bit for bit. */
function sameShiftBits(what: string, sc: Float64Array, mx: number): void {
  const n = sc.length;
  const er = new Float64Array(n),
    en = new Float64Array(n);
  const sr = ref.shiftExp(sc, mx, er, n);
  const sn = native!.shiftExp(sc, mx, en, n);
  const br = new BigUint64Array(er.buffer),
    bn = new BigUint64Array(en.buffer);
  for (let i = 0; i < n; i++) {
    if (br[i] !== bn[i] && !(Number.isNaN(er[i]) && Number.isNaN(en[i]))) {
      assert.fail(`${what}: e[${i}] (s = ${sc[i]}, mx = ${mx}): native ${en[i]}, JavaScript ${er[i]}`);
    }
  }
  assert.ok(Object.is(sn, sr), `${what}: sum native ${sn}, JavaScript ${sr}`);
}

test('shiftExp (drawToken): native equals the JavaScript bit for bit on ≥ 1M float64 scores per path, and on doubles straddling each branch point', { skip }, () => {
  const n = (1 << 20) + 7;
  const rng = new Rng(21);
  // warped scores as drawToken sees them: (l − m) / T for float32 logits, so not floats themselves
  const l = logits(rng, n, 1);
  const sc = new Float64Array(n).map((_, i) => (l[i] - 0.3) / 0.7);
  const mx = sc.reduce((m, v) => Math.max(m, v), -Infinity);
  // fdlibm branches on the high word of |x|: each threshold as a double (high word, low word 0),
  // and −1021 ln2, −1022 ln2 (the 2^k scale's split), u_threshold, −746; 6,001 doubles around
  // each, 2^20 ulps apart (the high word changes every 2^32 ulps: the sweep crosses it)
  const hiWords = [0x3e300000, 0x3fd62e42, 0x3fd62e43, 0x3ff0a2b2, 0x40862e42].map((h) => new Float64Array(new BigInt64Array([BigInt.asIntN(64, (0x80000000n | BigInt(h)) << 32n)]).buffer)[0]);
  const points = [...hiWords, -1021 * Math.LN2, -1022 * Math.LN2, -745.1332191019411, -746];
  const grid = new Float64Array(6001 * points.length);
  const gb = new BigInt64Array(grid.buffer);
  points.forEach((p, q) => {
    const b = new BigInt64Array(new Float64Array([p]).buffer)[0];
    for (let j = 0; j < 6001; j++) gb[q * 6001 + j] = b + BigInt(j - 3000) * 2n ** 20n;
  });
  onEachPath((isa) => {
    sameShiftBits(`${isa} scores`, sc, mx);
    sameShiftBits(`${isa} branch points`, grid, 0);
    sameShiftBits(`${isa} branch points, mx −0.5`, grid, -0.5); // x > 0 in some rows: the scalar redo
  });
});

test('walkCdf: native returns the JavaScript token, including the rounding fallback and an all-zero row', { skip }, () => {
  const rng = new Rng(11);
  const V = 4099;
  const e = new Float64Array(V);
  for (let trial = 0; trial < 300; trial++) {
    let sum = 0;
    for (let i = 0; i < V; i++) {
      e[i] = rng.random() < 0.5 ? 0 : Math.exp(-rng.random() * 40);
      sum += e[i];
    }
    for (const u of [rng.random(), rng.random(), 0, 1 - 2 ** -53, 0.999999999]) {
      assert.equal(native!.walkCdf(e, sum, V, u), ref.walkCdf(e, sum, V, u), `trial ${trial}, u ${u}`);
    }
  }
  e.fill(0);
  e[17] = 1;
  assert.equal(native!.walkCdf(e, 1, V, 1 - 2 ** -53), ref.walkCdf(e, 1, V, 1 - 2 ** -53));
  e.fill(0);
  assert.equal(native!.walkCdf(e, 0, V, 0.5), 0);
  assert.equal(ref.walkCdf(e, 0, V, 0.5), 0);
});

test('Sampler draws the same tokens on the native backend (every path) as on the reference backend (temperature alone: pick; with top-k: drawToken)', { skip }, () => {
  const V = 4096;
  const draws = (T: number, topK: number | undefined, seed: number): number[] => {
    const rng = new Rng(seed);
    const s = new Sampler([], { temperature: T, topK }, new Rng(seed + 1));
    const out: number[] = [];
    const l = new Float32Array(V);
    for (let step = 0; step < 400; step++) {
      // flat-ish rows (many tokens share the mass), some masked ids
      for (let i = 0; i < V; i++) l[i] = rng.random() < 0.05 ? -Infinity : (rng.random() - 1) * 8;
      out.push(s.pick(l));
    }
    return out;
  };
  const prev = getKernels().name;
  try {
    for (const [T, topK] of [
      [0.7, undefined],
      [1, undefined],
      [1.3, undefined],
      [0.3, 50],
    ] as const) {
      setBackend('reference');
      const want = draws(T, topK, 5);
      setBackend('native');
      onEachPath((isa) => assert.deepEqual(draws(T, topK, 5), want, `${isa} T=${T} topK=${topK}`));
    }
  } finally {
    setBackend(prev);
  }
});
