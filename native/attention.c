/* Causal self-attention, forward and backward, one pool task per (batch, head). Heads are
 * disjoint slices of the packed qkv rows, so tasks never write the same memory. The math:
 *   S = (q·scale)·Kᵀ  →  P = softmax(S) with the causal mask  →  O = P·V
 * Forward saves the log-sum-exp per row; backward recomputes P from it:
 *   dV += Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),  dQ += dS·K·scale,  dK += dSᵀ·(Q·scale)
 * Two implementations of it:
 *  - small tiles (T ≤ SMALL_T, D ≤ SMALL_D): direct register-blocked loops, see below;
 *  - the general path, blocked like FlashAttention but built from the sgemm microkernel:
 *    query tiles of BQ rows, only a BQ × T tile of scores at a time (never T × T per head). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "pool.h"
#include "isa.h"
#include "fastmath.h"

#define INLINE static inline __attribute__((always_inline))

#define BQ 64

static __thread float *scratch;
static __thread size_t scratch_cap;

static float *get_scratch(size_t n) {
  if (scratch_cap < n) {
    free(scratch);
    scratch = (float *)aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    scratch_cap = scratch ? n : 0;
    if (!scratch) abort();
  }
  return scratch;
}


typedef struct {
  const float *qkv, *out, *lse_in, *dout;
  float *o, *lse, *dqkv;
  int B, T, H, D;
  int accumulate; /* backward: add into dqkv (1) or write it (0) */
} att_ctx;

/* ---------------------------------------------------------------------------------------- */
/* Small tiles: T ≤ SMALL_T and D ≤ SMALL_D.
 *
 * Why: small models trained on CPU run attention on tiny tiles (nanoGPT's shakespeare_char
 * CPU config: T = 64, D = 32, 48 heads × 4 layers a step). There the general path spends
 * most of its time packing 64×32 operands for the blocked sgemm, not multiplying them
 * (measured: this path is ~3.5× faster at T = 64, D = 32 and still ~2.5× at T = 256).
 * Each task copies its head into small zero-padded buffers (D rounded up to DP, T to TP,
 * both multiples of 16; q and dO also transposed) and works on tiles of VL query rows held
 * in the VL lanes of one vector register, scores stored transposed (key-major, Sᵀ[j][i]):
 *   tile_s   NJ keys × VL queries of Sᵀ = K·Qᵀ (and dPᵀ = V·dOᵀ): A rows [., DP], Bᵀ [DP, TP]
 *   softmax  down each lane (a query row) over the keys j ≤ i: plain loops over the lanes,
 *            no horizontal reductions, the same branch-free code for every row
 *   tile_pv  R rows × DP of Σ_k a(r, k)·B[k, :], B rows [TP, DP]  (P·V, dS·K, dSᵀ·q, Pᵀ·dO)
 * Each loop nest is instantiated per DP, so its bounds are constants: the accumulators
 * stay in registers and the lane loops vectorise. The kernels live in attention_small.h,
 * included once per vector width (AVX-512, AVX2, 4 lanes) and picked at run time.
 * Zero padding adds nothing to any sum; padded query lanes (i ≥ T) stay finite and are
 * never written out. Tiles stop at the causal diagonal (to NJ keys; entries past it are set
 * to zero). The backward runs over blocks of KBLK keys (FlashAttention-2's order), so it holds
 * 2·KBLK·TP floats of Pᵀ and dSᵀ, not the head's 2·TP² (512 KiB at T = 256, 2 MiB at 512):
 * that is what let SMALL_T go from 256 to 512. Against the general path at T 384 (B 8, H 4,
 * D 32) and T 512 (B 4, H 6, D 64), one thread, AVX2 (Zen 3, loaded machine, best of 3 runs
 * each, alternated): forward 17.5 → 9.7 and 31.5 → 20.1 ms, backward 37.4 → 22.8 and 69.9 →
 * 52.8 ms. A task's padded copies are 9·TP·DP floats (1.2 MB at T 512, D 64). */
#ifndef SMALL_T
#define SMALL_T 512
#endif
#define SMALL_D 64
#define NJ 8 /* keys per tile_s call */
/* keys per block of the backward (FlashAttention-2's order, att_bwd_small): a multiple of 16
 * (the query tiles and the padding of T), so a block's rows start on a tile and every group of
 * PV_ROWS rows (≤ 8, dividing 16) lies in one block */
#ifndef KBLK
#define KBLK 32
#endif
_Static_assert(KBLK % 16 == 0, "KBLK: a multiple of 16");

/* dst[TP][DP] = s · rows t < T, columns off .. off+D of a strided array; zero elsewhere */
INLINE void pad_rows(const float *src, long stride, long off, int T, int D, int TP, int DP, float s, float *dst) {
  for (int t = 0; t < TP; t++) {
    float *o = dst + (long)t * DP;
    int d = 0;
    if (t < T)
      for (; d < D; d++) o[d] = src[t * stride + off + d] * s;
    for (; d < DP; d++) o[d] = 0.0f;
  }
}

/* the same, transposed: dst[DP][TP]. In blocks of 16 time steps: the block's 16 source rows
 * stay in L1 while each of dst's DP rows gets one whole cache line (16 floats), and the next
 * block's rows are prefetched (rows 3C floats apart, which the hardware prefetcher does not
 * follow). Column by column over all T (as first written) it read T rows DP times over:
 * 10.4% of the small-tile attention's samples under perf at B 16, T 256, H 4, D 64, 6.7% now. */
INLINE void pad_cols(const float *src, long stride, long off, int T, int D, int TP, int DP, float s, float *dst) {
  for (int t0 = 0; t0 < TP; t0 += 16) {
    int n = T - t0 >= 16 ? 16 : T > t0 ? T - t0 : 0;
    const float *r = src + (long)t0 * stride + off;
    if (t0 + 16 < T)
      for (int l = 0; l < 16; l++)
        for (int d = 0; d < D; d += 16) __builtin_prefetch(r + (16L + l) * stride + d);
    for (int d = 0; d < DP; d++) {
      float *o = dst + (long)d * TP + t0;
      int l = 0;
      if (d < D)
        for (; l < n; l++) o[l] = r[(long)l * stride + d] * s;
      for (; l < 16; l++) o[l] = 0.0f;
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "transpose8.h"
/* pad_cols for the AVX2 and AVX-512 instances, 8 × 8 blocks through a register transpose
 * (8 row loads, 24 shuffles, 8 stores) instead of one scalar load and store a float: the
 * scalar gather was ~8% of the small-tile backward's samples at B 16, T 256, H 6, D 64. Also
 * writes pad_rows's copy of the same rows into `rows` (when not NULL) from the loaded
 * vectors, so the backward reads q and dO once for both layouts. Blocks past T or D take
 * the scalar loop (zeros there). Same products x·s, so the same values as pad_cols/pad_rows. */
__attribute__((target("avx2,fma"))) static void pad_cols_avx2(const float *src, long stride, long off, int T, int D, int TP, int DP, float s, float *dst, float *rows) {
  const __m256 sv = _mm256_set1_ps(s);
  for (int t0 = 0; t0 < TP; t0 += 16) {
    const float *r16 = src + (long)t0 * stride + off;
    if (t0 + 16 < T)
      for (int l = 0; l < 16; l++)
        for (int d = 0; d < D; d += 16) __builtin_prefetch(r16 + (16L + l) * stride + d);
    for (int tb = t0; tb < t0 + 16; tb += 8) {
      const int nb = T - tb >= 8 ? 8 : T > tb ? T - tb : 0;
      const float *r = src + (long)tb * stride + off;
      for (int d0 = 0; d0 < DP; d0 += 8) {
        float *o = dst + (long)d0 * TP + tb;
        if (nb == 8 && d0 + 8 <= D) {
          __m256 r0 = _mm256_mul_ps(_mm256_loadu_ps(r + d0), sv), r1 = _mm256_mul_ps(_mm256_loadu_ps(r + stride + d0), sv);
          __m256 r2 = _mm256_mul_ps(_mm256_loadu_ps(r + 2 * stride + d0), sv), r3 = _mm256_mul_ps(_mm256_loadu_ps(r + 3 * stride + d0), sv);
          __m256 r4 = _mm256_mul_ps(_mm256_loadu_ps(r + 4 * stride + d0), sv), r5 = _mm256_mul_ps(_mm256_loadu_ps(r + 5 * stride + d0), sv);
          __m256 r6 = _mm256_mul_ps(_mm256_loadu_ps(r + 6 * stride + d0), sv), r7 = _mm256_mul_ps(_mm256_loadu_ps(r + 7 * stride + d0), sv);
          if (rows) {
            float *w = rows + (long)tb * DP + d0;
            _mm256_storeu_ps(w, r0); _mm256_storeu_ps(w + DP, r1); _mm256_storeu_ps(w + 2 * DP, r2); _mm256_storeu_ps(w + 3 * DP, r3);
            _mm256_storeu_ps(w + 4 * DP, r4); _mm256_storeu_ps(w + 5 * DP, r5); _mm256_storeu_ps(w + 6 * DP, r6); _mm256_storeu_ps(w + 7 * DP, r7);
          }
          TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7)
          _mm256_storeu_ps(o, r0); _mm256_storeu_ps(o + TP, r1); _mm256_storeu_ps(o + 2 * TP, r2); _mm256_storeu_ps(o + 3 * TP, r3);
          _mm256_storeu_ps(o + 4 * TP, r4); _mm256_storeu_ps(o + 5 * TP, r5); _mm256_storeu_ps(o + 6 * TP, r6); _mm256_storeu_ps(o + 7 * TP, r7);
          continue;
        }
        for (int dd = 0; dd < 8; dd++)
          for (int l = 0; l < 8; l++) {
            const float x = d0 + dd < D && l < nb ? r[(long)l * stride + d0 + dd] * s : 0.0f;
            o[(long)dd * TP + l] = x;
            if (rows) rows[(long)(tb + l) * DP + d0 + dd] = x;
          }
      }
    }
  }
}
#endif

/* One instance of the small-tile kernels per vector width, chosen at run time like the
 * sgemm microkernel: the addon-wide path of isa.h (GPTFORGE_ISA forces one). */
#if defined(__x86_64__) && defined(__GNUC__)
#define VL 16
#define SMALL_ATTR __attribute__((target("avx512f,fma")))
#define SMALL(name) name##_avx512
#define SMALL_EXP gfn_expf
#include "attention_small.h"
#define VL 8
#define SMALL_ATTR __attribute__((target("avx2,fma")))
#define SMALL(name) name##_avx2
#define SMALL_EXP gfn_expf
#include "attention_small.h"
#endif
#if defined(__aarch64__)
/* 4 lanes in q registers; AArch64 has 32 of them, so the 16 this tile needs do not spill */
#define VL 4
#define SMALL_ATTR
#define SMALL(name) name##_neon
#define SMALL_EXP gfn_expf
#include "attention_small.h"
#endif
#define VL 4
#define SMALL_ATTR
#define SMALL(name) name##_vec4
#define SMALL_EXP gfn_expf_nofma
#include "attention_small.h"

static pool_task_fn small_fwd, small_bwd;

/* called by gfn_isa_set: pick again at the next call */
void gfn_attention_isa_changed(void) { small_fwd = small_bwd = 0; }

/* the small path applies (and its kernels are chosen) when T ≤ SMALL_T and D ≤ SMALL_D */
static int use_small(int T, int D) {
  if (T > SMALL_T || D > SMALL_D) return 0;
  if (small_fwd) return 1;
  switch (gfn_isa()) {
#if defined(__x86_64__) && defined(__GNUC__)
    case GF_ISA_AVX512: small_bwd = att_bwd_small_task_avx512; small_fwd = att_fwd_small_task_avx512; break;
    case GF_ISA_AVX2: small_bwd = att_bwd_small_task_avx2; small_fwd = att_fwd_small_task_avx2; break;
#endif
#if defined(__aarch64__)
    case GF_ISA_NEON: small_bwd = att_bwd_small_task_neon; small_fwd = att_fwd_small_task_neon; break;
#endif
    default: small_bwd = att_bwd_small_task_vec4; small_fwd = att_fwd_small_task_vec4; break;
  }
  return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* General path */

/* copy head h of rows (b, 0..T) from a strided [B, T, stride] array into dst [T, D], times s */
static void gather(const float *src, long stride, long off, int T, int D, float s, float *dst) {
  for (int t = 0; t < T; t++) {
    const float *r = src + t * stride + off;
    for (int d = 0; d < D; d++) dst[t * D + d] = r[d] * s;
  }
}

static void att_fwd_task(void *c, int bh, int n) {
  (void)n;
  const att_ctx *a = (const att_ctx *)c;
  int T = a->T, D = a->D, H = a->H, b = bh / H, h = bh % H;
  long C = (long)H * D, C3 = 3 * C;
  float scale = 1.0f / sqrtf((float)D);
  float *q = get_scratch((size_t)3 * T * D + (size_t)BQ * T + (size_t)BQ * D);
  float *k = q + (size_t)T * D, *v = k + (size_t)T * D, *S = v + (size_t)T * D, *O = S + (size_t)BQ * T;
  const float *base = a->qkv + (long)b * T * C3;
  gather(base, C3, h * D, T, D, scale, q);
  gather(base, C3, C + h * D, T, D, 1.0f, k);
  gather(base, C3, 2 * C + h * D, T, D, 1.0f, v);
  for (int t0 = 0; t0 < T; t0 += BQ) {
    int bq = T - t0 < BQ ? T - t0 : BQ, kv = t0 + bq;
    gfn_sgemm_serial(q + (long)t0 * D, k, S, bq, D, kv, 0, 1, 0);
    for (int i = 0; i < bq; i++) {
      float *row = S + (long)i * kv;
      int valid = t0 + i + 1;
      float mx = -INFINITY;
      for (int j = 0; j < valid; j++) mx = row[j] > mx ? row[j] : mx;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int j = 0; j < valid; j++) {
        row[j] = gfn_expf_nofma(row[j] - mx);
        sum += row[j];
      }
      float inv = 1.0f / sum;
      for (int j = 0; j < valid; j++) row[j] *= inv;
      for (int j = valid; j < kv; j++) row[j] = 0.0f;
      a->lse[((long)b * H + h) * T + t0 + i] = mx + logf(sum);
    }
    gfn_sgemm_serial(S, v, O, bq, kv, D, 0, 0, 0);
    for (int i = 0; i < bq; i++) memcpy(a->o + ((long)b * T + t0 + i) * C + h * D, O + (long)i * D, sizeof(float) * D);
  }
}

void gfn_attention_forward(const float *qkv, float *out, float *lse, int B, int T, int H, int D) {
  att_ctx a = {.qkv = qkv, .o = out, .lse = lse, .B = B, .T = T, .H = H, .D = D};
  pool_run(use_small(T, D) ? small_fwd : att_fwd_task, &a, B * H);
}

static void att_bwd_task(void *c, int bh, int n) {
  (void)n;
  const att_ctx *a = (const att_ctx *)c;
  int T = a->T, D = a->D, H = a->H, b = bh / H, h = bh % H;
  long C = (long)H * D, C3 = 3 * C;
  size_t TD = (size_t)T * D;
  float scale = 1.0f / sqrtf((float)D);
  float *q = get_scratch(8 * TD + 2 * (size_t)BQ * T);
  float *k = q + TD, *v = k + TD, *o = v + TD, *dO = o + TD, *dq = dO + TD, *dk = dq + TD, *dv = dk + TD;
  float *P = dv + TD, *dP = P + (size_t)BQ * T;
  const float *base = a->qkv + (long)b * T * C3;
  gather(base, C3, h * D, T, D, scale, q);
  gather(base, C3, C + h * D, T, D, 1.0f, k);
  gather(base, C3, 2 * C + h * D, T, D, 1.0f, v);
  gather(a->out + (long)b * T * C, C, h * D, T, D, 1.0f, o);
  gather(a->dout + (long)b * T * C, C, h * D, T, D, 1.0f, dO);
  memset(dq, 0, sizeof(float) * 3 * TD);
  const float *lse = a->lse_in + ((long)b * H + h) * T;
  for (int t0 = 0; t0 < T; t0 += BQ) {
    int bq = T - t0 < BQ ? T - t0 : BQ, kv = t0 + bq;
    gfn_sgemm_serial(q + (long)t0 * D, k, P, bq, D, kv, 0, 1, 0);
    for (int i = 0; i < bq; i++) {
      float *row = P + (long)i * kv;
      int valid = t0 + i + 1;
      float l = lse[t0 + i];
      for (int j = 0; j < valid; j++) row[j] = gfn_expf_nofma(row[j] - l);
      for (int j = valid; j < kv; j++) row[j] = 0.0f;
    }
    /* dV[0:kv] += Pᵀ · dO_t */
    gfn_sgemm_serial(P, dO + (long)t0 * D, dv, kv, bq, D, 1, 0, 1);
    /* dP = dO_t · Vᵀ */
    gfn_sgemm_serial(dO + (long)t0 * D, v, dP, bq, D, kv, 0, 1, 0);
    for (int i = 0; i < bq; i++) {
      const float *oi = o + (long)(t0 + i) * D, *gi = dO + (long)(t0 + i) * D;
      float di = 0.0f;
#pragma omp simd reduction(+ : di)
      for (int d = 0; d < D; d++) di += oi[d] * gi[d];
      float *pr = P + (long)i * kv, *dr = dP + (long)i * kv;
      for (int j = 0; j < kv; j++) dr[j] = pr[j] * (dr[j] - di);
    }
    /* dQ_t += dS · K (gradient w.r.t. the scaled q; scaled back at scatter) */
    gfn_sgemm_serial(dP, k, dq + (long)t0 * D, bq, kv, D, 0, 0, 1);
    /* dK[0:kv] += dSᵀ · (q·scale) */
    gfn_sgemm_serial(dP, q + (long)t0 * D, dk, kv, bq, D, 1, 0, 1);
  }
  float *g = a->dqkv + (long)b * T * C3;
  for (int t = 0; t < T; t++) {
    float *r = g + (long)t * C3;
    /* accumulate, or write 0 + x: the same bits as adding to zeros (see att_bwd_small) */
    const float z = 0.0f;
    for (int d = 0; d < D; d++) {
      r[h * D + d] = (a->accumulate ? r[h * D + d] : z) + dq[(long)t * D + d] * scale;
      r[C + h * D + d] = (a->accumulate ? r[C + h * D + d] : z) + dk[(long)t * D + d];
      r[2 * C + h * D + d] = (a->accumulate ? r[2 * C + h * D + d] : z) + dv[(long)t * D + d];
    }
  }
}

void gfn_attention_backward(const float *qkv, const float *out, const float *lse, const float *dout, float *dqkv, int B, int T, int H, int D, int accumulate) {
  att_ctx a = {.qkv = qkv, .out = out, .lse_in = lse, .dout = dout, .dqkv = dqkv, .B = B, .T = T, .H = H, .D = D, .accumulate = accumulate};
  pool_run(use_small(T, D) ? small_bwd : att_bwd_task, &a, B * H);
}

/* ---------------------------------------------------------------------------------------- */
/* Decoding against a KV cache: few queries, plain loops per (b, h). Batch row b reads cache
   row r = rows[b] (the cache may hold more rows than are decoded: continuous batching decodes
   only the active ones); its query i sits at position lens[r] + i and attends keys
   starts[r]..lens[r]+i: the positions before starts[r] are left padding. Rows at different
   lengths (requests that joined the batch at different times) decode together. */
typedef struct { const float *q, *kc, *vc; float *out; int B, Tq, Tmax, H, D; const int32_t *starts, *lens, *rows; long qs; const float *qkv; float *kw, *vw; } dec_ctx;

/* Fused decoding (attentionDecodeQkv): task (b, h) first writes its head of each new key and
   value — read in place from c_attn's output [B, Tq, 3C] — into cache row r at pos0 + i. Every
   ISA's task calls this one copy, so the cache holds the same bits on every path. */
static void dec_write_kv(const dec_ctx *a, int b, int h, int r, int pos0) {
  const long D = a->D, C = (long)a->H * D;
  for (int i = 0; i < a->Tq; i++) {
    const float *src = a->qkv + ((long)b * a->Tq + i) * 3 * C + h * D;
    long dst = ((long)r * a->Tmax + pos0 + i) * C + h * D;
    memcpy(a->kw + dst, src + C, sizeof(float) * D);
    memcpy(a->vw + dst, src + 2 * C, sizeof(float) * D);
  }
}

static void dec_task(void *c, int bh, int n) {
  (void)n;
  const dec_ctx *a = (const dec_ctx *)c;
  int H = a->H, D = a->D, b = bh / H, h = bh % H;
  long C = (long)H * D;
  float scale = 1.0f / sqrtf((float)D);
  int r = a->rows[b];
  int pos0 = a->lens[r];
  float *p = get_scratch((size_t)pos0 + a->Tq);
  int first = a->starts[r];
  const float *kr = a->kc + (long)r * a->Tmax * C, *vr = a->vc + (long)r * a->Tmax * C;
  if (a->qkv) dec_write_kv(a, b, h, r, pos0);
  for (int i = 0; i < a->Tq; i++) {
    const float *qi = a->q + ((long)b * a->Tq + i) * a->qs + h * D;
    float *oi = a->out + ((long)b * a->Tq + i) * C + h * D;
    int last = pos0 + i;
    memset(oi, 0, sizeof(float) * D);
    if (first > last) continue; /* a padding query: nothing to attend to */
    float mx = -INFINITY;
    for (int s = first; s <= last; s++) {
      const float *ks = kr + (long)s * C + h * D;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int d = 0; d < D; d++) dot += qi[d] * ks[d];
      p[s] = dot * scale;
      mx = p[s] > mx ? p[s] : mx;
    }
    float sum = 0.0f;
    for (int s = first; s <= last; s++) {
      p[s] = gfn_expf_nofma(p[s] - mx);
      sum += p[s];
    }
    for (int s = first; s <= last; s++) {
      const float *vs = vr + (long)s * C + h * D;
      float w = p[s] / sum;
      for (int d = 0; d < D; d++) oi[d] += w * vs[d];
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The AVX2 + FMA instance of dec_task (the avx2 and avx512 paths; heads of D a multiple of 8):
 * the same three passes with 8-lane vectors, the query·key dots in two FMA chains, the
 * exponentials with the FMA gfn_expf, the weights scaled by 1/sum and P·V summed over the
 * keys in up to 8 ymm accumulators (64 columns) that stay in registers: one load of each
 * value row, no read-modify-write of the output per key. Results differ from dec_task's
 * in rounding only (fp32, ~1e-6 relative); a row's result still depends on that row alone,
 * so a request decodes to the same bits alone or in any batch. */
__attribute__((target("avx2,fma"))) static inline float dec_hsum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

/* o[0 : 8·NV] = Σ_{first ≤ s ≤ last} p[s] · v_s[0 : 8·NV] (v_s = vr + s·C) */
#define DEC_PV(NV)                                                                             \
  {                                                                                            \
    __m256 acc[NV];                                                                            \
    for (int v = 0; v < NV; v++) acc[v] = _mm256_setzero_ps();                                 \
    for (int s = first; s <= last; s++) {                                                      \
      const __m256 w = _mm256_broadcast_ss(p + s);                                             \
      const float *vs = vr + (long)s * C + c0;                                                 \
      for (int v = 0; v < NV; v++) acc[v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vs + 8 * v), acc[v]); \
    }                                                                                          \
    for (int v = 0; v < NV; v++) _mm256_storeu_ps(oi + c0 + 8 * v, acc[v]);                   \
  }

__attribute__((target("avx2,fma"))) static void dec_task_avx2(void *c, int bh, int n) {
  (void)n;
  const dec_ctx *a = (const dec_ctx *)c;
  int H = a->H, D = a->D, b = bh / H, h = bh % H;
  long C = (long)H * D;
  float scale = 1.0f / sqrtf((float)D);
  int r = a->rows[b];
  int pos0 = a->lens[r];
  float *p = get_scratch((size_t)pos0 + a->Tq);
  int first = a->starts[r];
  const float *kr = a->kc + (long)r * a->Tmax * C + h * D, *vr = a->vc + (long)r * a->Tmax * C + h * D;
  if (a->qkv) dec_write_kv(a, b, h, r, pos0);
  for (int i = 0; i < a->Tq; i++) {
    const float *qi = a->q + ((long)b * a->Tq + i) * a->qs + h * D;
    float *oi = a->out + ((long)b * a->Tq + i) * C + h * D;
    int last = pos0 + i;
    if (first > last) { /* a padding query: nothing to attend to */
      memset(oi, 0, sizeof(float) * D);
      continue;
    }
    float mx = -INFINITY;
    for (int s = first; s <= last; s++) {
      const float *ks = kr + (long)s * C;
      __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
      int d = 0;
      for (; d + 16 <= D; d += 16) {
        d0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + d), _mm256_loadu_ps(ks + d), d0);
        d1 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + d + 8), _mm256_loadu_ps(ks + d + 8), d1);
      }
      if (d < D) d0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + d), _mm256_loadu_ps(ks + d), d0);
      float x = dec_hsum(_mm256_add_ps(d0, d1)) * scale;
      p[s] = x;
      mx = x > mx ? x : mx;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int s = first; s <= last; s++) {
      float e = gfn_expf(p[s] - mx);
      p[s] = e;
      sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int s = first; s <= last; s++) p[s] *= inv;
    for (int c0 = 0; c0 < D; c0 += 64) switch ((D - c0 < 64 ? D - c0 : 64) / 8) {
        case 1: DEC_PV(1) break;
        case 2: DEC_PV(2) break;
        case 3: DEC_PV(3) break;
        case 4: DEC_PV(4) break;
        case 5: DEC_PV(5) break;
        case 6: DEC_PV(6) break;
        case 7: DEC_PV(7) break;
        default: DEC_PV(8) break;
      }
  }
}
#endif

/* the path's decode task: AVX2 + FMA on the avx2 and avx512 paths when D is a multiple of 8 */
static pool_task_fn dec_pick(int D) {
#if defined(__x86_64__) && defined(__GNUC__)
  gf_isa isa = gfn_isa();
  if ((isa == GF_ISA_AVX2 || isa == GF_ISA_AVX512) && D % 8 == 0) return dec_task_avx2;
#endif
  (void)D;
  return dec_task;
}

/* A decode step's attention is a few µs (1–8 rows at this repo's model sizes): below ~2M
 * multiply-adds (Q·Kᵀ and P·V over each row's cached positions) it does not wake the pool's
 * sleeping workers, which would then spin on a core the server's other threads need
 * (pool_run_light); same tasks either way, so the same bits. */
static void dec_run(dec_ctx *a) {
  double work = 0;
  for (int b = 0; b < a->B; b++) work += 2.0 * a->Tq * (a->lens[a->rows[b]] + a->Tq) * a->H * a->D;
  if (work < 2e6) pool_run_light(dec_pick(a->D), a, a->B * a->H);
  else pool_run(dec_pick(a->D), a, a->B * a->H);
}

void gfn_attention_decode(const float *q, const float *kc, const float *vc, float *out, int B, int Tq, int Tmax, int H, int D, const int32_t *starts, const int32_t *lens, const int32_t *rows) {
  dec_ctx a = {q, kc, vc, out, B, Tq, Tmax, H, D, starts, lens, rows, (long)H * D, NULL, NULL, NULL};
  dec_run(&a);
}

/* The same fed straight from the fused projection qkv [B, Tq, 3C] (one decode step's
   c_attn output): each (b, h) task first copies its head's slice of the new keys and values
   into cache row rows[b] at positions lens[r]..lens[r]+Tq−1 (tasks write disjoint slices:
   rows are distinct), then attends with the queries read in place (row stride 3C). Same
   arithmetic as gfn_attention_decode, so the same bits; it saves the caller a q copy and
   the per-row key/value copies. lens is not advanced. */
void gfn_attention_decode_qkv(const float *qkv, float *kc, float *vc, float *out, int B, int Tq, int Tmax, int H, int D, const int32_t *starts, const int32_t *lens, const int32_t *rows) {
  long C = (long)H * D;
  dec_ctx a = {qkv, kc, vc, out, B, Tq, Tmax, H, D, starts, lens, rows, 3 * C, qkv, kc, vc};
  dec_run(&a);
}
