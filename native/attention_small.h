/* The small-tile attention kernels of attention.c (see the comment there), written once
 * for vectors of VL floats and included by attention.c once per instruction set:
 *   VL           lanes per vector: 16 (AVX-512), 8 (AVX2), 4 (SSE2, NEON, anything else)
 *   SMALL_ATTR   the target attribute the instance is compiled for (may be empty)
 *   SMALL(name)  name with the instance's suffix
 *   SMALL_EXP    gfn_expf, or gfn_expf_nofma for the baseline instance (fastmath.h)
 * A vector of VL floats then fills exactly one register, so the compiler never has to
 * split or spill it. Each inclusion #undefs these. */

/* accumulator vectors a tile may keep in registers (32 zmm; 16 ymm or xmm) */
#define ACC (VL == 16 ? 16 : 8)
typedef float SMALL(vf) __attribute__((vector_size(VL * 4), aligned(4), may_alias));
#define VLOAD(p) (*(const SMALL(vf) *)(p))
#define VSTORE(p, v) (*(SMALL(vf) *)(p) = (v))
/* pad_cols (attention.c) and, for the backward, pad_rows of the same rows in one pass */
#if defined(__x86_64__) && VL >= 8
#define PAD_COLS(src, stride, off, T, D, TP, DP, s, dst, rows) pad_cols_avx2(src, stride, off, T, D, TP, DP, s, dst, rows)
#else
#define PAD_COLS(src, stride, off, T, D, TP, DP, s, dst, rows)                                  \
  do {                                                                                         \
    pad_cols(src, stride, off, T, D, TP, DP, s, dst);                                          \
    if (rows) pad_rows(src, stride, off, T, D, TP, DP, s, rows);                               \
  } while (0)
#endif

/* S[j][0:VL] = Σ_d A[j][d] · Bt[d][0:VL] for j < NJ (A rows of stride DP, Bt rows of stride TP) */
INLINE void SMALL(tile_s)(const float *A, const float *Bt, int TP, int DP, float *S, int lds) {
  SMALL(vf) acc[NJ];
  for (int j = 0; j < NJ; j++) acc[j] = (SMALL(vf)){0};
#pragma GCC unroll 1
  for (int d = 0; d < DP; d++) {
    SMALL(vf) b = VLOAD(Bt + (long)d * TP);
    for (int j = 0; j < NJ; j++) acc[j] += A[j * DP + d] * b;
  }
  for (int j = 0; j < NJ; j++) VSTORE(S + (long)j * lds, acc[j]);
}

/* The same for two vectors of queries (2·VL lanes) and NJ2 keys: 2·NJ2 accumulators, so per d
 * each broadcast of A feeds two FMAs (tile_s: 8 FMAs for 9 loads, load-bound; here 12 for 8).
 * nj ≤ NJ2 keys: below NJ2 only for the last keys of a tile (each its own call). */
#define NJ2 6
INLINE void SMALL(tile_s2)(const float *A, const float *Bt, int TP, int DP, float *S, int lds, const int nj) {
  SMALL(vf) acc0[NJ2], acc1[NJ2];
  for (int j = 0; j < nj; j++) acc0[j] = acc1[j] = (SMALL(vf)){0};
#pragma GCC unroll 1
  for (int d = 0; d < DP; d++) {
    SMALL(vf) b0 = VLOAD(Bt + (long)d * TP), b1 = VLOAD(Bt + (long)d * TP + VL);
    for (int j = 0; j < nj; j++) {
      const float x = A[j * DP + d];
      acc0[j] += x * b0;
      acc1[j] += x * b1;
    }
  }
  for (int j = 0; j < nj; j++) {
    VSTORE(S + (long)j * lds, acc0[j]);
    VSTORE(S + (long)j * lds + VL, acc1[j]);
  }
}

/* rows per tile_pv call: R · DP/VL ≤ ACC accumulators where possible (one row of DP = 64
 * takes 16 with VL = 4: those spill, on the fallback ISA only). With 16 registers (VL 8 or 4)
 * a call instead runs R = 4 rows over column strips of PV_SV = 2 vectors (8 accumulators):
 * a whole row of DP = 64 at VL = 8 is 8 accumulators for one row, which streams all of B
 * (up to T × DP floats: 64 KiB, beyond L1) once per row; a 4 × 2-vector tile streams one
 * strip of B (T × 16 floats, 16 KiB) for 4 rows. Each output is still summed over k in
 * order, so the results are the same bits either way. */
#define PV_ROWS(DP) (VL < 16 ? 4 : (DP) / VL * 8 <= ACC ? 8 : (DP) / VL * 4 <= ACC ? 4 : (DP) / VL * 2 <= ACC ? 2 : 1)
#define PV_SV(DP) (VL < 16 ? 2 : (DP) / VL)

/* O[r][:] = Σ_{k0 ≤ k < k1} A[r·sr + k·sk] · B[k][:] for r < PV_ROWS(DP) (B and O rows of DP floats);
 * with `more`, O[r][:] += the same, each sum continued in k's order from the value O holds (so
 * a sum split over calls in ascending k gives the bits of one call over the whole range) */
INLINE void SMALL(tile_pv)(const float *A, long sr, long sk, const float *B, int k0, int k1, int DP, float *O, const int more) {
  const int R = PV_ROWS(DP), NV = DP / VL, SV = PV_SV(DP);
  for (int s = 0; s < NV; s += SV) {
    SMALL(vf) acc[ACC > SMALL_D / VL ? ACC : SMALL_D / VL];
    for (int r = 0; r < R; r++)
      for (int v = 0; v < SV; v++) acc[r * SV + v] = more ? VLOAD(O + (long)r * DP + VL * (s + v)) : (SMALL(vf)){0};
    const float *Bs = B + (long)s * VL;
    for (int k = k0; k < k1; k++)
      for (int r = 0; r < R; r++) {
        float x = A[r * sr + k * sk];
        for (int v = 0; v < SV; v++) acc[r * SV + v] += x * VLOAD(Bs + (long)k * DP + VL * v);
      }
    for (int r = 0; r < R; r++)
      for (int v = 0; v < SV; v++) VSTORE(O + (long)r * DP + VL * (s + v), acc[r * SV + v]);
  }
}

INLINE void SMALL(att_fwd_small)(const att_ctx *a, int b, int h, const int DP) {
  int T = a->T, D = a->D, H = a->H, TP = (T + 15) & ~15, R = PV_ROWS(DP);
  long C = (long)H * D, C3 = 3 * C;
  size_t TD = (size_t)TP * DP;
  float scale = 1.0f / sqrtf((float)D);
  /* tiles of QL queries: two vectors where 2·VL lanes fit the 16-float padding of TP (the
   * score tiles are then tile_s2's, 12 FMAs for 8 loads, as in the backward), else one */
  enum { QL = 2 * VL <= 16 ? 2 * VL : VL };
  float *qt = get_scratch(3 * TD + (size_t)TP * QL + (size_t)R * DP);
  float *k = qt + TD, *v = k + TD, *St = v + TD, *O = St + (size_t)TP * QL;
  const float *base = a->qkv + (long)b * T * C3;
  PAD_COLS(base, C3, h * D, T, D, TP, DP, scale, qt, (float *)NULL);
  pad_rows(base, C3, C + h * D, T, D, TP, DP, 1.0f, k);
  pad_rows(base, C3, 2 * C + h * D, T, D, TP, DP, 1.0f, v);
  float *lse = a->lse + ((long)b * H + h) * T;
  for (int i0 = 0; i0 < T; i0 += QL) {
    /* queries i0 + l (lane l) see keys j ≤ i0 + l < kv; scores for keys < nk (kv, or kv
     * rounded up to NJ); the keys past a lane's diagonal get p = 0 */
    int kv = i0 + QL < T ? i0 + QL : T, nk;
    if (QL == 2 * VL) {
      nk = kv;
      int j0 = 0;
      for (; j0 + NJ2 <= kv; j0 += NJ2) SMALL(tile_s2)(k + (long)j0 * DP, qt + i0, TP, DP, St + (long)j0 * QL, QL, NJ2);
      for (; j0 < kv; j0++) SMALL(tile_s2)(k + (long)j0 * DP, qt + i0, TP, DP, St + (long)j0 * QL, QL, 1);
    } else {
      nk = (kv + NJ - 1) / NJ * NJ;
      for (int j0 = 0; j0 < nk; j0 += NJ) SMALL(tile_s)(k + (long)j0 * DP, qt + i0, TP, DP, St + (long)j0 * QL, QL);
    }
    float mx[QL], sum[QL];
    for (int l = 0; l < QL; l++) mx[l] = -INFINITY, sum[l] = 0.0f;
    for (int j = 0; j < nk; j++)
#pragma omp simd
      for (int l = 0; l < QL; l++) {
        float x = St[j * QL + l];
        mx[l] = j <= i0 + l && x > mx[l] ? x : mx[l];
      }
    for (int j = 0; j < nk; j++)
#pragma omp simd
      for (int l = 0; l < QL; l++) {
        float e = SMALL_EXP(St[j * QL + l] - mx[l]), p = j <= i0 + l ? e : 0.0f;
        St[j * QL + l] = p;
        sum[l] += p;
      }
    for (int l = 0; l < QL && i0 + l < T; l++) lse[i0 + l] = mx[l] + logf(sum[l]);
    for (int l = 0; l < QL; l++) sum[l] = 1.0f / sum[l];
    for (int j = 0; j < nk; j++)
      for (int l = 0; l < QL; l++) St[j * QL + l] *= sum[l];
    /* O = P·V, R query rows at a time, each group over the keys up to its last row (the
     * rest of its p are zeros: leaving them out changes no sum) */
    for (int r0 = 0; r0 < QL && i0 + r0 < T; r0 += R) {
      const int kr = i0 + r0 + R < kv ? i0 + r0 + R : kv;
      SMALL(tile_pv)(St + r0, 1, QL, v, 0, kr, DP, O, 0);
      for (int r = 0; r < R && i0 + r0 + r < T; r++)
        memcpy(a->o + ((long)b * T + i0 + r0 + r) * C + h * D, O + (long)r * DP, sizeof(float) * D);
    }
  }
}

INLINE void SMALL(att_bwd_small)(const att_ctx *a, int b, int h, const int DP) {
  int T = a->T, D = a->D, H = a->H, TP = (T + 15) & ~15, R = PV_ROWS(DP);
  long C = (long)H * D, C3 = 3 * C;
  size_t TD = (size_t)TP * DP, TK = (size_t)KBLK * TP;
  float scale = 1.0f / sqrtf((float)D);
  float *qt = get_scratch(9 * TD + 2 * TK + 2 * (size_t)TP);
  float *q = qt + TD, *k = q + TD, *v = k + TD, *dOt = v + TD, *dO = dOt + TD, *dq = dO + TD, *dk = dq + TD, *dv = dk + TD;
  float *Pb = dv + TD, *dSb = Pb + TK, *lse = dSb + TK, *di = lse + TP;
  const float *base = a->qkv + (long)b * T * C3, *ob = a->out + (long)b * T * C, *gb = a->dout + (long)b * T * C;
  PAD_COLS(base, C3, h * D, T, D, TP, DP, scale, qt, q);
  pad_rows(base, C3, C + h * D, T, D, TP, DP, 1.0f, k);
  pad_rows(base, C3, 2 * C + h * D, T, D, TP, DP, 1.0f, v);
  PAD_COLS(gb, C, h * D, T, D, TP, DP, 1.0f, dOt, dO);
  const float *lse_in = a->lse_in + ((long)b * H + h) * T;
  for (int t = 0; t < TP; t++) {
    float s = 0.0f;
    if (t < T) {
      const float *oi = ob + (long)t * C + h * D, *gi = gb + (long)t * C + h * D;
#pragma omp simd reduction(+ : s)
      for (int d = 0; d < D; d++) s += oi[d] * gi[d];
    }
    di[t] = s;
    lse[t] = t < T ? lse_in[t] : 0.0f;
  }
  /* FlashAttention-2's backward order (Dao 2023, Alg. 2): blocks of KBLK keys, each taking
   * its rows of Pᵀ and dSᵀ for every query that sees them (queries ≥ j0), then its rows of
   * dK and dV whole, and its share of every dQ row (a sum over keys, continued block after
   * block in key order: tile_pv's `more`). Only 2 · KBLK · TP floats of Pᵀ and dSᵀ live at
   * a time (64 KiB at T = 256), not the head's 2 · TP² (512 KiB, all of L2). Every product
   * sums in the order of the one-pass version, so the results are the same bits. */
  enum { QL = 2 * VL <= 16 ? 2 * VL : VL };
  for (int j0 = 0; j0 < T; j0 += KBLK) {
    const int j1 = j0 + KBLK < T ? j0 + KBLK : T;
    /* Pᵀ = exp(Sᵀ − lse) and dSᵀ = Pᵀ ⊙ (V·dOᵀ − di) for keys j0 ≤ j < j1, in tiles of QL
     * queries up to each tile's diagonal: two vectors (tile_s2) where 2·VL lanes fit the
     * 16-float padding of TP, else one; row j − j0 of the block holds key j */
    for (int i0 = j0; i0 < T; i0 += QL) {
      const int kv = i0 + QL < T ? i0 + QL : T, je = j1 < kv ? j1 : kv;
      int ne;
      if (QL == 2 * VL) {
        /* exactly the keys < je: groups of NJ2, then one key a call */
        ne = je - j0;
        int j = j0;
        for (; j + NJ2 <= je; j += NJ2) {
          SMALL(tile_s2)(k + (long)j * DP, qt + i0, TP, DP, Pb + (long)(j - j0) * TP + i0, TP, NJ2);
          SMALL(tile_s2)(v + (long)j * DP, dOt + i0, TP, DP, dSb + (long)(j - j0) * TP + i0, TP, NJ2);
        }
        for (; j < je; j++) {
          SMALL(tile_s2)(k + (long)j * DP, qt + i0, TP, DP, Pb + (long)(j - j0) * TP + i0, TP, 1);
          SMALL(tile_s2)(v + (long)j * DP, dOt + i0, TP, DP, dSb + (long)(j - j0) * TP + i0, TP, 1);
        }
      } else {
        ne = (je - j0 + NJ - 1) / NJ * NJ;
        for (int j = j0; j < j0 + ne; j += NJ) {
          SMALL(tile_s)(k + (long)j * DP, qt + i0, TP, DP, Pb + (long)(j - j0) * TP + i0, TP);
          SMALL(tile_s)(v + (long)j * DP, dOt + i0, TP, DP, dSb + (long)(j - j0) * TP + i0, TP);
        }
      }
      for (int jj = 0; jj < ne; jj++) {
        float *p = Pb + (long)jj * TP + i0, *g = dSb + (long)jj * TP + i0;
        const int j = j0 + jj;
#pragma omp simd
        for (int l = 0; l < QL; l++) {
          float e = SMALL_EXP(p[l] - lse[i0 + l]), x = j <= i0 + l ? e : 0.0f;
          p[l] = x;
          g[l] = x * (g[l] - di[i0 + l]);
        }
      }
    }
    /* the block's rows of dK = dSᵀ·(q·scale) and dV = Pᵀ·dO, whole (queries j ≤ i < T) */
    for (int jr = j0; jr < j1; jr += R) {
      SMALL(tile_pv)(dSb + (long)(jr - j0) * TP, TP, 1, q, jr, T, DP, dk + (long)jr * DP, 0);
      SMALL(tile_pv)(Pb + (long)(jr - j0) * TP, TP, 1, dO, jr, T, DP, dv + (long)jr * DP, 0);
    }
    /* dQ = dS·K (scaled back at the scatter): the block's keys j0 ≤ j < min(j1, i + R) of each
     * group of R query rows i ≥ j0, added on to the earlier blocks' sum (started by block 0) */
    for (int ir = j0; ir < T; ir += R) {
      const int ke = ir + R < j1 ? ir + R : j1;
      SMALL(tile_pv)(dSb + ir, 1, TP, k + (long)j0 * DP, 0, ke - j0, DP, dq + (long)ir * DP, j0 > 0);
    }
  }
  /* accumulate: dqkv += the head's gradient; else written as 0 + it (the same bits as adding
   * it to zeros, −0 included, without the caller's zero fill or this read of the zeros) */
  if (a->accumulate)
    for (int t = 0; t < T; t++) {
      float *restrict g = a->dqkv + ((long)b * T + t) * C3 + h * D;
      const float *restrict gq = dq + (long)t * DP, *restrict gk = dk + (long)t * DP, *restrict gv = dv + (long)t * DP;
      for (int d = 0; d < D; d++) g[d] += gq[d] * scale;
      for (int d = 0; d < D; d++) g[C + d] += gk[d];
      for (int d = 0; d < D; d++) g[2 * C + d] += gv[d];
    }
  else
    for (int t = 0; t < T; t++) {
      float *restrict g = a->dqkv + ((long)b * T + t) * C3 + h * D;
      const float *restrict gq = dq + (long)t * DP, *restrict gk = dk + (long)t * DP, *restrict gv = dv + (long)t * DP;
      for (int d = 0; d < D; d++) g[d] = 0.0f + gq[d] * scale;
      for (int d = 0; d < D; d++) g[C + d] = 0.0f + gk[d];
      for (int d = 0; d < D; d++) g[2 * C + d] = 0.0f + gv[d];
    }
}

/* one instance per padded head size DP, so that every loop bound over d is a constant */
SMALL_ATTR static void SMALL(att_fwd_small_task)(void *c, int bh, int n) {
  const att_ctx *a = (const att_ctx *)c;
  int b = bh / a->H, h = bh % a->H;
  switch ((a->D + 15) & ~15) {
    case 16: SMALL(att_fwd_small)(a, b, h, 16); break;
    case 32: SMALL(att_fwd_small)(a, b, h, 32); break;
    case 48: SMALL(att_fwd_small)(a, b, h, 48); break;
    default: SMALL(att_fwd_small)(a, b, h, 64); break;
  }
}

SMALL_ATTR static void SMALL(att_bwd_small_task)(void *c, int bh, int n) {
  const att_ctx *a = (const att_ctx *)c;
  int b = bh / a->H, h = bh % a->H;
  switch ((a->D + 15) & ~15) {
    case 16: SMALL(att_bwd_small)(a, b, h, 16); break;
    case 32: SMALL(att_bwd_small)(a, b, h, 32); break;
    case 48: SMALL(att_bwd_small)(a, b, h, 48); break;
    default: SMALL(att_bwd_small)(a, b, h, 64); break;
  }
}

#undef ACC
#undef NJ2
#undef PV_ROWS
#undef PV_SV
#undef VLOAD
#undef VSTORE
#undef PAD_COLS
#undef VL
#undef SMALL_ATTR
#undef SMALL_EXP
#undef SMALL
