import { getKernels } from '../engine/backend.js';
import { Rng } from '../engine/rng.js';

/**
 * An inverted-file (IVF) index for approximate inner-product search, FAISS's IndexIVFFlat
 * (Jégou, Douze & Schmid 2011): k-means (spherical: centroids renormalised, for unit vectors)
 * splits the N vectors into `nlist` cells; a query scans only the `nprobe` cells whose
 * centroids are nearest, so it reads about nprobe/nlist of the vectors. nprobe = nlist is the
 * exact scan. Vectors are not copied: lists hold row numbers into the caller's matrix.
 */
export interface IVFIndex {
  nlist: number;
  dim: number;
  /** [nlist, dim] unit centroids. */
  centroids: Float32Array;
  /** Row numbers of each cell. */
  lists: Int32Array[];
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += a[ao + j] * b[bo + j];
  return s;
}

/**
 * Build an IVF index over the rows of mat [n, dim]: nlist defaults to ⌈√n⌉ (the usual rule of
 * thumb; FAISS suggests up to 4–16√n for millions of vectors, where the scan dominates), `iters`
 * Lloyd iterations (default 10) on a sample of up to 64 rows per cell (FAISS warns below 39),
 * seeded from rows drawn at random. Cost: iters · 64 · nlist² · dim to train, n · nlist · dim
 * to assign.
 */
export function buildIVF(mat: Float32Array, n: number, dim: number, opts: { nlist?: number; iters?: number; seed?: number } = {}): IVFIndex {
  const nlist = Math.max(1, Math.min(n, opts.nlist ?? Math.ceil(Math.sqrt(n))));
  const rng = new Rng(opts.seed ?? 1);
  const sampleN = Math.min(n, nlist * 64);
  const sample = new Int32Array(sampleN);
  for (let i = 0; i < sampleN; i++) sample[i] = sampleN === n ? i : rng.int(n);
  const centroids = new Float32Array(nlist * dim);
  for (let c = 0; c < nlist; c++) centroids.set(mat.subarray(sample[(c * 7919) % sampleN] * dim, sample[(c * 7919) % sampleN] * dim + dim), c * dim);
  // nearest centroid of each row by the engine's sgemm, a block of rows at a time: scores
  // [rows, nlist] = X · Cᵀ (native AVX2/NEON when built; the k-means' whole cost)
  const kernels = getKernels();
  const BLOCK = 1024;
  const xs = new Float32Array(BLOCK * dim);
  const scores = new Float32Array(BLOCK * nlist);
  const assignAll = (rows: Int32Array): Int32Array => {
    const out = new Int32Array(rows.length);
    for (let b0 = 0; b0 < rows.length; b0 += BLOCK) {
      const m = Math.min(BLOCK, rows.length - b0);
      for (let i = 0; i < m; i++) xs.set(mat.subarray(rows[b0 + i] * dim, rows[b0 + i] * dim + dim), i * dim);
      kernels.matmul(xs.subarray(0, m * dim), centroids, scores.subarray(0, m * nlist), m, dim, nlist, false, true, false);
      for (let i = 0; i < m; i++) {
        let best = 0;
        let bestS = -Infinity;
        for (let c = 0; c < nlist; c++) {
          const v = scores[i * nlist + c];
          if (v > bestS) {
            bestS = v;
            best = c;
          }
        }
        out[b0 + i] = best;
      }
    }
    return out;
  };
  for (let it = 0; it < (opts.iters ?? 10); it++) {
    const sums = new Float64Array(nlist * dim);
    const counts = new Int32Array(nlist);
    const cells = assignAll(sample);
    for (let i = 0; i < sampleN; i++) {
      const r = sample[i];
      const c = cells[i];
      counts[c]++;
      for (let j = 0; j < dim; j++) sums[c * dim + j] += mat[r * dim + j];
    }
    for (let c = 0; c < nlist; c++) {
      if (counts[c] === 0) {
        // an empty cell restarts at a random row
        const r = sample[rng.int(sampleN)];
        centroids.set(mat.subarray(r * dim, r * dim + dim), c * dim);
        continue;
      }
      let norm = 0;
      for (let j = 0; j < dim; j++) norm += sums[c * dim + j] * sums[c * dim + j];
      norm = Math.sqrt(norm) || 1;
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j] / norm;
    }
  }
  const members: number[][] = Array.from({ length: nlist }, () => []);
  const all = new Int32Array(n);
  for (let r = 0; r < n; r++) all[r] = r;
  assignAll(all).forEach((c, r) => members[c].push(r));
  return { nlist, dim, centroids, lists: members.map((m) => Int32Array.from(m)) };
}

/**
 * The k rows of mat with the largest dot product with q among the nprobe nearest cells
 * (`allow(row)` may exclude rows). Returns row numbers and scores, best first.
 */
export function searchIVF(index: IVFIndex, mat: Float32Array, q: Float32Array, k: number, nprobe: number, allow?: (row: number) => boolean): { row: number; score: number }[] {
  const { nlist, dim, centroids, lists } = index;
  const probes = Math.max(1, Math.min(nlist, nprobe));
  const cs = Array.from({ length: nlist }, (_, c) => ({ c, s: dot(centroids, c * dim, q, 0, dim) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, probes);
  const bestS = new Float64Array(k).fill(-Infinity);
  const bestR = new Int32Array(k).fill(-1);
  for (const { c } of cs) {
    for (const r of lists[c]) {
      if (allow && !allow(r)) continue;
      const s = dot(mat, r * dim, q, 0, dim);
      // ties go to the lower row, as in the exact scan (which visits rows in order)
      if (s < bestS[k - 1] || (s === bestS[k - 1] && r > bestR[k - 1])) continue;
      let p = k - 1;
      while (p > 0 && (bestS[p - 1] < s || (bestS[p - 1] === s && bestR[p - 1] > r))) {
        bestS[p] = bestS[p - 1];
        bestR[p] = bestR[p - 1];
        p--;
      }
      bestS[p] = s;
      bestR[p] = r;
    }
  }
  const out: { row: number; score: number }[] = [];
  for (let i = 0; i < k && bestR[i] >= 0; i++) out.push({ row: bestR[i], score: bestS[i] });
  return out;
}
