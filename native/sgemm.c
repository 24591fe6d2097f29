/* sgemm: C[M,N] (+)= op(A)[M,K] · op(B)[K,N], GotoBLAS/BLIS style.
 *
 * Loop nest (per task, tasks own disjoint blocks of C):
 *   jc over N in NC columns → pc over K in KC → pack B block (KC × NC) into NR-wide panels
 *     → ic over M in MC rows → pack A block (MC × KC) into MR-tall panels
 *       → jr, ir: microkernel MR×NR tile, accumulators in registers, K-loop of FMAs.
 * Packing absorbs the transposes, so NN, NT, TN and TT all run the same microkernel.
 * Each C element is reduced over K in the same order whatever the task split, so results
 * do not depend on the thread count. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "kernels.h"
#include "pool.h"
#include "isa.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif


typedef void (*ukr_fn)(long kc, const float *a, const float *b, float *c, long ldc, int acc, int mr, int nr);

typedef struct {
  int MR, NR, KC, MC, NC;
  ukr_fn ukr;
  const char *name;
} isa_t;

/* ---------------------------------------------------------------------------------------- */
/* Microkernels */

/* Portable fallback (the "scalar" path: x86-64's baseline SSE2, and ARM64 until it has NEON
 * kernels), 4×8: plain C the compiler vectorises over j, 8 accumulator vectors of 4 lanes
 * (SSE2 has 16 registers). Per k: 2 loads of B, 4 broadcasts of A, 8 multiply-adds; 4×4 took
 * 1.4× the instructions per flop. Each C element still sums over k in order, so the tile
 * shape does not change results. */
typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
static void ukr_scalar(long kc, const float *a, const float *b, float *c, long ldc, int acc, int mr, int nr) {
  v4f t[4][2] = {{{0}}};
  for (long k = 0; k < kc; k++) {
    v4f b0 = *(const v4f *)b, b1 = *(const v4f *)(b + 4);
    for (int i = 0; i < 4; i++) {
      t[i][0] += a[i] * b0;
      t[i][1] += a[i] * b1;
    }
    a += 4;
    b += 8;
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j >> 2][j & 3] : t[i][j >> 2][j & 3];
}

#if defined(__x86_64__)
/* AVX2+FMA, 6×16: 12 ymm accumulators, two B vectors and one A broadcast (15 of the 16 ymm
 * registers). Per k: 2 loads + 6 broadcasts feed 12 FMAs. The C tile's rows are prefetched
 * before the k-loop so their misses overlap the FMAs. A full tile is added to C straight from
 * the registers: the first version spilled every tile to a buffer and added it element by
 * element, ~600 instructions per call against the k-loop's 3,072 FMAs at KC = 256. */
__attribute__((target("avx2,fma"))) static void ukr_avx2(long kc, const float *a, const float *b, float *c, long ldc, int acc, int mr, int nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int i = 0; i < mr; i++) {
    _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
  }
  for (long k = 0; k < kc; k++) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), av;
#define F2(i) av = _mm256_broadcast_ss(a + i); c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0); c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);
    F2(0) F2(1) F2(2) F2(3) F2(4) F2(5)
#undef F2
    a += 6;
    b += 16;
  }
  if (mr == 6 && nr == 16) {
#define ST(i)                                                        \
  {                                                                  \
    float *r = c + (long)i * ldc;                                    \
    if (acc) {                                                       \
      c##i##0 = _mm256_add_ps(_mm256_loadu_ps(r), c##i##0);          \
      c##i##1 = _mm256_add_ps(_mm256_loadu_ps(r + 8), c##i##1);      \
    }                                                                \
    _mm256_storeu_ps(r, c##i##0);                                    \
    _mm256_storeu_ps(r + 8, c##i##1);                                \
  }
    ST(0) ST(1) ST(2) ST(3) ST(4) ST(5)
#undef ST
    return;
  }
  float t[6][16] __attribute__((aligned(32)));
#define S2(i) _mm256_store_ps(t[i], c##i##0); _mm256_store_ps(t[i] + 8, c##i##1);
  S2(0) S2(1) S2(2) S2(3) S2(4) S2(5)
#undef S2
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

/* AVX-512, 14×32: 28 zmm accumulators, two B vectors, A broadcast from memory.
 * Per k: 2 loads + 14 broadcasts feed 28 FMAs. The C tile's rows are prefetched before the
 * k-loop (as ukr_avx2 does). UKR512(R) is the kernel for the first R rows of a 14-row A panel
 * (its stride stays 14 a k): a tile of mr < 14 rows (the last of M: 1024 = 73·14 + 2,
 * 384 = 27·14 + 6) runs the R = mr rounded up to even instance instead of all 14 rows of FMAs
 * on zero padding. Each C element is the same sum in the same order whichever instance
 * computes it (one FMA per k), so the bits do not change. */
#define UKR512(R)                                                                                                              \
  __attribute__((target("avx512f,fma"))) static void ukr_avx512_r##R(long kc, const float *a, const float *b, float *c, long ldc, int acc, int mr, int nr) { \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")                              \
    UKR512_D(0) UKR512_D(1) UKR512_D(2) UKR512_D(3) UKR512_D(4) UKR512_D(5) UKR512_D(6) UKR512_D(7) UKR512_D(8) UKR512_D(9) \
    UKR512_D(10) UKR512_D(11) UKR512_D(12) UKR512_D(13)                                                                       \
    if (mr > (R)) __builtin_unreachable();                                                                                    \
    /* the C tile's two lines a row, fetched while the k-loop runs (as ukr_avx2) */                                           \
    for (int i = 0; i < mr; i++) {                                                                                            \
      _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);                                                                 \
      _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);                                                            \
    }                                                                                                                         \
    for (long k = 0; k < kc; k++) {                                                                                           \
      __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16), av;                                                         \
      _mm_prefetch((const char *)(b + 256), _MM_HINT_T0);                                                                     \
      UKR512_F(R, 0) UKR512_F(R, 1) UKR512_F(R, 2) UKR512_F(R, 3) UKR512_F(R, 4) UKR512_F(R, 5) UKR512_F(R, 6)               \
      UKR512_F(R, 7) UKR512_F(R, 8) UKR512_F(R, 9) UKR512_F(R, 10) UKR512_F(R, 11) UKR512_F(R, 12) UKR512_F(R, 13)           \
      a += 14;                                                                                                                \
      b += 32;                                                                                                                \
    }                                                                                                                         \
    if (nr == 32) {                                                                                                           \
      UKR512_ST(0) UKR512_ST(1) UKR512_ST(2) UKR512_ST(3) UKR512_ST(4) UKR512_ST(5) UKR512_ST(6) UKR512_ST(7) UKR512_ST(8)   \
      UKR512_ST(9) UKR512_ST(10) UKR512_ST(11) UKR512_ST(12) UKR512_ST(13)                                                    \
    } else {                                                                                                                  \
      __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : ((1u << nr) - 1));                                                       \
      __mmask16 m1 = (__mmask16)(nr <= 16 ? 0 : ((1u << (nr - 16)) - 1));                                                     \
      UKR512_SM(0) UKR512_SM(1) UKR512_SM(2) UKR512_SM(3) UKR512_SM(4) UKR512_SM(5) UKR512_SM(6) UKR512_SM(7) UKR512_SM(8)   \
      UKR512_SM(9) UKR512_SM(10) UKR512_SM(11) UKR512_SM(12) UKR512_SM(13)                                                    \
    }                                                                                                                         \
    _Pragma("GCC diagnostic pop")                                                                                             \
  }
#define UKR512_D(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define UKR512_F(R, i)                                     \
  if (i < (R)) {                                           \
    av = _mm512_set1_ps(a[i]);                             \
    c##i##0 = _mm512_fmadd_ps(av, b0, c##i##0);            \
    c##i##1 = _mm512_fmadd_ps(av, b1, c##i##1);            \
  }
/* (mr ≤ R: rows past mr are neither computed into C nor stored) */
#define UKR512_ST(i)                                                                   \
  if (i < mr) {                                                                        \
    float *r = c + (long)i * ldc;                                                      \
    if (acc) {                                                                         \
      c##i##0 = _mm512_add_ps(c##i##0, _mm512_loadu_ps(r));                            \
      c##i##1 = _mm512_add_ps(c##i##1, _mm512_loadu_ps(r + 16));                       \
    }                                                                                  \
    _mm512_storeu_ps(r, c##i##0);                                                      \
    _mm512_storeu_ps(r + 16, c##i##1);                                                 \
  }
#define UKR512_SM(i)                                                                   \
  if (i < mr) {                                                                        \
    float *r = c + (long)i * ldc;                                                      \
    if (acc) {                                                                         \
      c##i##0 = _mm512_add_ps(c##i##0, _mm512_maskz_loadu_ps(m0, r));                  \
      c##i##1 = _mm512_add_ps(c##i##1, _mm512_maskz_loadu_ps(m1, r + 16));             \
    }                                                                                  \
    _mm512_mask_storeu_ps(r, m0, c##i##0);                                             \
    _mm512_mask_storeu_ps(r + 16, m1, c##i##1);                                        \
  }
UKR512(2) UKR512(4) UKR512(6) UKR512(8) UKR512(10) UKR512(12) UKR512(14)
#undef UKR512
#undef UKR512_D
#undef UKR512_F
#undef UKR512_ST
#undef UKR512_SM

/* the path's microkernel (ISA.ukr): a full tile, or the instance for the first mr rows */
__attribute__((target("avx512f,fma"))) static void ukr_avx512(long kc, const float *a, const float *b, float *c, long ldc, int acc, int mr, int nr) {
  static const ukr_fn rows[7] = {ukr_avx512_r2, ukr_avx512_r4, ukr_avx512_r6, ukr_avx512_r8, ukr_avx512_r10, ukr_avx512_r12, ukr_avx512_r14};
  rows[(mr - 1) >> 1](kc, a, b, c, ldc, acc, mr, nr);
}
#endif

#if defined(__aarch64__)
/* NEON (AArch64's baseline Advanced SIMD: every ARM64 CPU has it), 8×12: 24 q-register
 * accumulators of the 32, three B vectors and two A vectors per k, each FMA taking its A
 * value from a lane (fmla by element) so A needs no broadcasts. Each C element sums over k
 * in order with one fused multiply-add per step, like the other paths. */
static void ukr_neon(long kc, const float *a, const float *b, float *c, long ldc, int acc, int mr, int nr) {
#define D(i) float32x4_t c##i##0 = vdupq_n_f32(0.0f), c##i##1 = vdupq_n_f32(0.0f), c##i##2 = vdupq_n_f32(0.0f);
  D(0) D(1) D(2) D(3) D(4) D(5) D(6) D(7)
#undef D
  for (long k = 0; k < kc; k++) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
#define F(i, av, l)                            \
  c##i##0 = vfmaq_laneq_f32(c##i##0, b0, av, l); \
  c##i##1 = vfmaq_laneq_f32(c##i##1, b1, av, l); \
  c##i##2 = vfmaq_laneq_f32(c##i##2, b2, av, l);
    F(0, a0, 0) F(1, a0, 1) F(2, a0, 2) F(3, a0, 3) F(4, a1, 0) F(5, a1, 1) F(6, a1, 2) F(7, a1, 3)
#undef F
    a += 8;
    b += 12;
  }
  if (mr == 8 && nr == 12) {
#define ST(i)                                                              \
  {                                                                        \
    float *r = c + (long)i * ldc;                                          \
    if (acc) {                                                             \
      c##i##0 = vaddq_f32(vld1q_f32(r), c##i##0);                          \
      c##i##1 = vaddq_f32(vld1q_f32(r + 4), c##i##1);                      \
      c##i##2 = vaddq_f32(vld1q_f32(r + 8), c##i##2);                      \
    }                                                                      \
    vst1q_f32(r, c##i##0);                                                 \
    vst1q_f32(r + 4, c##i##1);                                             \
    vst1q_f32(r + 8, c##i##2);                                             \
  }
    ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7)
#undef ST
    return;
  }
  float t[8][12];
#define S(i) vst1q_f32(t[i], c##i##0); vst1q_f32(t[i] + 4, c##i##1); vst1q_f32(t[i] + 8, c##i##2);
  S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7)
#undef S
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}
#endif

static isa_t ISA;

/* Blocking per path: MR×NR registers of the microkernel; KC·NR·4 bytes of packed B stay in
 * L1, MC·KC of packed A in L2. GFN_AVX2_KC / GFN_AVX2_MC (and GFN_AVX512_KC / GFN_AVX512_MC),
 * -D at compile time, replace that path's KC and MC for blocking sweeps in
 * native/test/sgemm_ab.c (scripts there build one object per setting); the addon's build
 * never defines them. MC must stay a multiple of MR (6, 14). */
#ifndef GFN_AVX2_KC
#define GFN_AVX2_KC 256
#endif
#ifndef GFN_AVX2_MC
#define GFN_AVX2_MC (6 * 24)
#endif
#if GFN_AVX2_MC % 6 != 0
#error "GFN_AVX2_MC must be a multiple of the avx2 microkernel's 6 rows"
#endif
#ifndef GFN_AVX512_KC
#define GFN_AVX512_KC 512
#endif
#ifndef GFN_AVX512_MC
#define GFN_AVX512_MC (14 * 6)
#endif
#if GFN_AVX512_MC % 14 != 0
#error "GFN_AVX512_MC must be a multiple of the avx512 microkernel's 14 rows"
#endif
static void choose_isa(void) {
  if (ISA.ukr) return;
  switch (gfn_isa()) {
#if defined(__x86_64__)
    case GF_ISA_AVX512: ISA = (isa_t){14, 32, GFN_AVX512_KC, GFN_AVX512_MC, 32 * 48, ukr_avx512, "avx512"}; return;
    case GF_ISA_AVX2: ISA = (isa_t){6, 16, GFN_AVX2_KC, GFN_AVX2_MC, 16 * 96, ukr_avx2, "avx2"}; return;
#endif
#if defined(__aarch64__)
    /* KC·NR·4 = 12 KiB of packed B in L1 (64 KiB on Neoverse, 128 KiB on Apple's P-cores) */
    case GF_ISA_NEON: ISA = (isa_t){8, 12, 256, 8 * 16, 12 * 96, ukr_neon, "neon"}; return;
#endif
    default: ISA = (isa_t){4, 8, 256, 4 * 32, 8 * 128, ukr_scalar, "scalar"}; return;
  }
}

/* called by gfn_isa_set: pick again at the next call */
void gfn_sgemm_isa_changed(void) { ISA.ukr = 0; }

const char *gfn_sgemm_isa(void) {
  choose_isa();
  return ISA.name;
}

/* ---------------------------------------------------------------------------------------- */
/* Packing. op(A)[i,k] = A[i*rsa + k*csa]; op(B)[k,j] = B[k*rsb + j*csb]. */

#if defined(__x86_64__)
#include "transpose8.h"

/* One full 6-row panel of a row-major A: dst[k·6 + i] = src[i·rsa + k]. Eight k at a time
 * through an 8×8 transpose (rows 6 and 7 are don't-cares); each k's 8-lane store spills two
 * floats into the next k's slots, which the next store overwrites; the eighth k's is stored as
 * 4 + 2 floats, so nothing is written past the panel. The scalar loop took ~6 instructions
 * a float. */
__attribute__((target("avx2,fma"))) static void pack_a6_avx2(const float *src, long rsa, long kc, float *dst) {
  long k = 0;
  for (; k + 8 <= kc; k += 8) {
    const float *s = src + k;
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + rsa), r2 = _mm256_loadu_ps(s + 2 * rsa);
    __m256 r3 = _mm256_loadu_ps(s + 3 * rsa), r4 = _mm256_loadu_ps(s + 4 * rsa), r5 = _mm256_loadu_ps(s + 5 * rsa);
    __m256 r6 = r5, r7 = r5;
    TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7)
    float *d = dst + k * 6;
    _mm256_storeu_ps(d, r0); _mm256_storeu_ps(d + 6, r1); _mm256_storeu_ps(d + 12, r2); _mm256_storeu_ps(d + 18, r3);
    _mm256_storeu_ps(d + 24, r4); _mm256_storeu_ps(d + 30, r5); _mm256_storeu_ps(d + 36, r6);
    _mm_storeu_ps(d + 42, _mm256_castps256_ps128(r7));
    _mm_storel_pi((__m64 *)(d + 46), _mm256_extractf128_ps(r7, 1));
  }
  for (; k < kc; k++)
    for (int i = 0; i < 6; i++) dst[k * 6 + i] = src[i * rsa + k];
}

/* One full 14-row panel of a row-major A (the avx512 microkernel's MR): dst[k·14 + i] =
 * src[i·rsa + k]. Eight k at a time through two 8×8 transposes (rows 0–7, rows 8–13 with
 * 14 and 15 don't-cares); each k's second 8-lane store spills two floats into the next k's
 * slots, which the next k's first store overwrites; the eighth k's is stored as 4 + 2
 * floats, so nothing is written past the panel. The scalar loop took ~3 instructions a float
 * (8% of 4096×1536×384 NN at one thread, where A is packed for only 384 columns). */
__attribute__((target("avx2,fma"))) static void pack_a14_avx2(const float *src, long rsa, long kc, float *dst) {
  long k = 0;
  for (; k + 8 <= kc; k += 8) {
    const float *s = src + k;
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + rsa), r2 = _mm256_loadu_ps(s + 2 * rsa), r3 = _mm256_loadu_ps(s + 3 * rsa);
    __m256 r4 = _mm256_loadu_ps(s + 4 * rsa), r5 = _mm256_loadu_ps(s + 5 * rsa), r6 = _mm256_loadu_ps(s + 6 * rsa), r7 = _mm256_loadu_ps(s + 7 * rsa);
    TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7)
    s += 8 * rsa;
    __m256 q0 = _mm256_loadu_ps(s), q1 = _mm256_loadu_ps(s + rsa), q2 = _mm256_loadu_ps(s + 2 * rsa), q3 = _mm256_loadu_ps(s + 3 * rsa);
    __m256 q4 = _mm256_loadu_ps(s + 4 * rsa), q5 = _mm256_loadu_ps(s + 5 * rsa), q6 = q5, q7 = q5;
    TRANSPOSE8(q0, q1, q2, q3, q4, q5, q6, q7)
    float *d = dst + k * 14;
    _mm256_storeu_ps(d, r0); _mm256_storeu_ps(d + 8, q0);
    _mm256_storeu_ps(d + 14, r1); _mm256_storeu_ps(d + 22, q1);
    _mm256_storeu_ps(d + 28, r2); _mm256_storeu_ps(d + 36, q2);
    _mm256_storeu_ps(d + 42, r3); _mm256_storeu_ps(d + 50, q3);
    _mm256_storeu_ps(d + 56, r4); _mm256_storeu_ps(d + 64, q4);
    _mm256_storeu_ps(d + 70, r5); _mm256_storeu_ps(d + 78, q5);
    _mm256_storeu_ps(d + 84, r6); _mm256_storeu_ps(d + 92, q6);
    _mm256_storeu_ps(d + 98, r7);
    _mm_storeu_ps(d + 106, _mm256_castps256_ps128(q7));
    _mm_storel_pi((__m64 *)(d + 110), _mm256_extractf128_ps(q7, 1));
  }
  for (; k < kc; k++)
    for (int i = 0; i < 14; i++) dst[k * 14 + i] = src[i * rsa + k];
}

/* One 8×8 block of a transposing pack: eight columns' eight k (stride csb) become eight rows of
 * eight j in the W-wide panel at dst (32-byte aligned). */
__attribute__((target("avx2,fma"))) static inline void transpose8_panel(const float *s, long csb, float *d, long W) {
  __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + csb), r2 = _mm256_loadu_ps(s + 2 * csb), r3 = _mm256_loadu_ps(s + 3 * csb);
  __m256 r4 = _mm256_loadu_ps(s + 4 * csb), r5 = _mm256_loadu_ps(s + 5 * csb), r6 = _mm256_loadu_ps(s + 6 * csb), r7 = _mm256_loadu_ps(s + 7 * csb);
  TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7)
  _mm256_store_ps(d, r0); _mm256_store_ps(d + W, r1); _mm256_store_ps(d + 2 * W, r2); _mm256_store_ps(d + 3 * W, r3);
  _mm256_store_ps(d + 4 * W, r4); _mm256_store_ps(d + 5 * W, r5); _mm256_store_ps(d + 6 * W, r6); _mm256_store_ps(d + 7 * W, r7);
}

/* One full W-column panel (W = 16 for avx2, 32 for avx512) of a transposed B (stored N×K,
 * column j contiguous in k): dst[k·W + j] = src[j·csb + k], W/8 8×8 transposes per eight k.
 * Column by column instead (the scalar loop below), each column's pass writes one float per
 * W-float row of the panel: at W 32 and KC 512 the panel is 64 KiB, over Zen 5's 48 KiB L1,
 * so every pass re-fetched the lines the last one wrote.
 * PFD > 0: each group of sixteen k first prefetches into L2 (prefetcht1) the line PFD groups
 * ahead in each of the W columns: W column streams 4·K bytes apart are more than the hardware
 * prefetchers follow. Packing a 4096×1536 transposed B from memory (one thread, W 32) went
 * from 0.85–1.19 to 0.42–0.80 ns a float (an L1 hint, prefetcht0, did not help); the avx512
 * path's NT products 1.006–1.032 by CPU time (sgemm47). The avx2 pack (W 16) measured level
 * with it (0.990–1.021) and keeps PFD 0. */
#define PACK_BT_BODY(W, PFD)                                                                                                          \
  long k = 0;                                                                                                                    \
  /* sixteen k (a whole cache line of each column) per group of 8 columns before the next: the                                 \
   * columns' lines can share one L1 set (K a power of two), which holds 8 (Zen 3) or 12 (Zen 5) */                            \
  for (; k + 16 <= kc; k += 16) {                                                                                                \
    if ((PFD) > 0 && k + 16 * (PFD) < kc)                                                                                        \
      for (int j = 0; j < (W); j++) __builtin_prefetch(src + (long)j * csb + k + 16 * (PFD), 0, 2);                              \
    for (int h = 0; h < (W) / 8; h++)                                                                                            \
      for (long k8 = k; k8 < k + 16; k8 += 8) transpose8_panel(src + (long)(8 * h) * csb + k8, csb, dst + k8 * (W) + 8 * h, (W)); \
  }                                                                                                                              \
  for (; k + 8 <= kc; k += 8)                                                                                                    \
    for (int h = 0; h < (W) / 8; h++) transpose8_panel(src + (long)(8 * h) * csb + k, csb, dst + k * (W) + 8 * h, (W));     \
  for (; k < kc; k++)                                                                                                            \
    for (int j = 0; j < (W); j++) dst[k * (W) + j] = src[j * csb + k];
__attribute__((target("avx2,fma"))) static void pack_b16t_avx2(const float *src, long csb, long kc, float *dst) { PACK_BT_BODY(16, 0) }
__attribute__((target("avx2,fma"))) static void pack_b32t_avx2(const float *src, long csb, long kc, float *dst) { PACK_BT_BODY(32, 4) }
#undef PACK_BT_BODY
#endif

/* Copy of n floats where n is one of the tile widths: a constant size lets the compiler
 * inline the copy as a few vector moves (a variable one is a call to memcpy per k). */
static inline void copy_tile_row(float *d, const float *s, int n) {
  switch (n) {
    case 4: memcpy(d, s, 4 * sizeof(float)); return;
    case 6: memcpy(d, s, 6 * sizeof(float)); return;
    case 8: memcpy(d, s, 8 * sizeof(float)); return;
    case 12: memcpy(d, s, 12 * sizeof(float)); return;
    case 14: memcpy(d, s, 14 * sizeof(float)); return;
    case 16: memcpy(d, s, 16 * sizeof(float)); return;
    case 32: memcpy(d, s, 32 * sizeof(float)); return;
    default: memcpy(d, s, (size_t)n * sizeof(float)); return;
  }
}

/* pack_a for a row-major A (op(A)[i,k] = A[i·rsa + k]); pack_at below for a transposed one */
static void pack_a(const float *A, long rsa, long i0, long mc, long k0, long kc, int MR, float *dst) {
  for (long ir = 0; ir < mc; ir += MR, dst += (long)MR * kc) {
    int mr = (int)(mc - ir < MR ? mc - ir : MR);
    const float *src = A + (i0 + ir) * rsa + k0;
#if defined(__x86_64__)
    if (mr == 6 && ISA.ukr == ukr_avx2) {
      pack_a6_avx2(src, rsa, kc, dst);
      continue;
    }
    if (mr == 14 && ISA.ukr == ukr_avx512) {
      pack_a14_avx2(src, rsa, kc, dst);
      continue;
    }
#endif
    for (long k = 0; k < kc; k++) {
      int i = 0;
      for (; i < mr; i++) dst[k * MR + i] = src[i * rsa + k];
      for (; i < MR; i++) dst[k * MR + i] = 0.0f;
    }
  }
}

/* Panels of width W from a row-major source (row k at src + k·stride, `extent` columns),
 * in blocks of PACK_KB rows: per block, each panel copies its W floats from each of the
 * block's rows, zero-padding the last panel. Panel by panel down all kc rows instead, a cache
 * line of a row is wanted again by the next panel only after kc other rows, and rows a
 * power-of-two stride apart all fall in one L1 set (and a handful of L2 sets), so every panel
 * re-read its lines from L3; and at a stride of several KiB no prefetcher follows, so each
 * line was a miss when the source was not in cache (packing B took 7% of 384×4096×1536 TN at
 * one thread, B 24 MiB). Here the block's rows are read as PACK_KB sequential streams, and
 * with `prefetch` the next block's rows are fetched ahead. Same layout and values as the
 * panel-by-panel copy. Shared by pack_at (a transposed A) and pack_b (a row-major B). */
#define PACK_KB 8
static inline void pack_rows_blocked(const float *src, long stride, long extent, long kc, int W, int prefetch, float *dst) {
  for (long kb = 0; kb < kc; kb += PACK_KB) {
    long ke = kc - kb < PACK_KB ? kc : kb + PACK_KB;
    if (prefetch)
      for (long k = ke; k < ke + PACK_KB && k < kc; k++) {
        const char *r = (const char *)(src + k * stride);
        __builtin_prefetch(r, 0, 3);
        __builtin_prefetch(r + 64, 0, 3);
      }
    float *d = dst;
    for (long c = 0; c < extent; c += W, d += (long)W * kc) {
      int w = (int)(extent - c < W ? extent - c : W);
      for (long k = kb; k < ke; k++) {
        const float *s = src + k * stride + c;
        float *dk = d + k * W;
        if (w == W) copy_tile_row(dk, s, W);
        else {
          int i = 0;
          for (; i < w; i++) dk[i] = s[i];
          for (; i < W; i++) dk[i] = 0.0f;
        }
      }
    }
  }
}

/* pack_a for a transposed A (stored K×M, op(A)[i,k] = A[k·csa + i]): MR-wide panels of the
 * rows of A (pack_rows_blocked). Same layout and values as pack_a. */
static void pack_at(const float *A, long csa, long i0, long mc, long k0, long kc, int MR, float *dst) {
  pack_rows_blocked(A + k0 * csa + i0, csa, mc, kc, MR, 0, dst);
}

static void pack_b(const float *B, long rsb, long csb, long k0, long kc, long j0, long nc, int NR, float *dst) {
  if (csb == 1) {
    /* B row-major: NR-wide panels of its rows, the next block's rows prefetched (pack_rows_blocked). */
    pack_rows_blocked(B + k0 * rsb + j0, rsb, nc, kc, NR, 1, dst);
    return;
  }
  for (long jr = 0; jr < nc; jr += NR) {
    int nr = (int)(nc - jr < NR ? nc - jr : NR);
    const float *src = B + k0 * rsb + (j0 + jr) * csb;
#if defined(__x86_64__)
    if (nr == 16 && rsb == 1 && ISA.ukr == ukr_avx2) {
      pack_b16t_avx2(src, csb, kc, dst);
      dst += (long)NR * kc;
      continue;
    }
    if (nr == 32 && rsb == 1 && ISA.ukr == ukr_avx512) {
      pack_b32t_avx2(src, csb, kc, dst);
      dst += (long)NR * kc;
      continue;
    }
#endif
    /* B transposed (stored N×K): read each column j contiguously along k */
    for (int j = 0; j < NR; j++) {
      if (j < nr) {
        const float *s = src + j * csb;
        for (long k = 0; k < kc; k++) dst[k * NR + j] = s[k * rsb];
      } else {
        for (long k = 0; k < kc; k++) dst[k * NR + j] = 0.0f;
      }
    }
    dst += (long)NR * kc;
  }
}

/* ---------------------------------------------------------------------------------------- */

/* Pack buffers are per thread: a thread runs one block at a time, and attention calls the
 * serial sgemm from inside pool tasks. */
static __thread float *bufA, *bufB, *bufP; /* bufP: gfn_sgemm's k-split sums (the caller's) */
static __thread size_t capA, capB, capP;

static float *grow(float **buf, size_t *cap, size_t n) {
  if (*cap < n) {
    free(*buf);
    size_t bytes = ((n * sizeof(float)) + 63) & ~(size_t)63;
    *buf = (float *)aligned_alloc(64, bytes);
    *cap = *buf ? n : 0;
  }
  return *buf;
}

#ifndef NEXT_PANEL
#define NEXT_PANEL 1
#endif
typedef struct {
  const float *A, *B;
  float *C;
  long M, K, N, rsa, csa, rsb, csb;
  int accumulate;
  int splitM; /* tasks split M (else N) */
  long chunk; /* rows or columns per task, a multiple of MR or NR */
  /* k in two parts (ksplit_k0 > 0): k < ksplit_k0 accumulates into C as usual, the rest sums
   * from zero into P (M × N, row stride N); tasks are part-major, `slices` per part */
  long ksplit_k0;
  float *P;
  int slices;
  /* epilogue (gfn_sgemm_bias; never with a k split): each tile, right after its last KC
   * block is stored, gets C += bias and, with act, act = GELU(C), while it is still in L1 */
  const float *bias;
  float *act;
} job_t;

/* c[r, j] += b[j] on one tile: a float add rounds the same however it is vectorised, so these
 * are gfn_add_bias's bits; inline, with the full tile widths as constants (a call through the
 * row kernels per row ran ~95 instructions a 16-float row at 1024×384×1152, 5% of the product) */
#define TILE_ADD_BIAS(W) for (int r = 0; r < mr; r++, c += ldc) for (int x = 0; x < (W); x++) c[x] += b[x]
static inline void tile_add_bias(float *restrict c, long ldc, const float *restrict b, int mr, int nr) {
  switch (nr) {
    case 8: TILE_ADD_BIAS(8); break;
    case 12: TILE_ADD_BIAS(12); break;
    case 16: TILE_ADD_BIAS(16); break;
    case 32: TILE_ADD_BIAS(32); break;
    default: TILE_ADD_BIAS(nr);
  }
}

/* C[m0:m1, n0:n1] (+)= the product over k0 ≤ k < k1, into Cout (row stride N): the first KC
 * block stores or adds by `accumulate`, the later ones add */
static void run_block_k(const job_t *j, long m0, long m1, long n0, long n1, long k0, long k1, float *Cout, int accumulate) {
  const isa_t *s = &ISA;
  float *Ap = grow(&bufA, &capA, (size_t)s->MC * s->KC);
  float *Bp = grow(&bufB, &capB, (size_t)s->NC * s->KC);
  if (!Ap || !Bp) abort();
  for (long jc = n0; jc < n1; jc += s->NC) {
    long nc = n1 - jc < s->NC ? n1 - jc : s->NC;
    for (long pc = k0; pc < k1; pc += s->KC) {
      long kc = k1 - pc < s->KC ? k1 - pc : s->KC;
      int acc = pc > k0 || accumulate;
      pack_b(j->B, j->rsb, j->csb, pc, kc, jc, nc, s->NR, Bp);
      for (long ic = m0; ic < m1; ic += s->MC) {
        long mc = m1 - ic < s->MC ? m1 - ic : s->MC;
        if (j->csa == 1) pack_a(j->A, j->rsa, ic, mc, pc, kc, s->MR, Ap);
        else pack_at(j->A, j->csa, ic, mc, pc, kc, s->MR, Ap);
        /* lines of the next packed B panel to prefetch a call: the panel (KC·NR floats, 16 KiB
         * on avx2) otherwise comes from L3 as the first of the row tiles runs against it. Only
         * where a full panel (KC·NR) is at most 32 KiB: avx512's (512 × 32 floats, 64 KiB) is over Zen 5's
         * 48 KiB L1 already, and pulling the next one in too evicted the panel in use (without
         * it, 1.01–1.13× by CPU time on the bench cells at one thread; journal, engine20) */
        long mtiles = (mc + s->MR - 1) / s->MR;
        int next_panel = NEXT_PANEL && (long)s->NR * s->KC * (long)sizeof(float) <= 32768;
        long pl = next_panel ? ((long)s->NR * kc * (long)sizeof(float) / 64 + mtiles - 1) / mtiles : 0;
        for (long jr = 0; jr < nc; jr += s->NR) {
          int nr = (int)(nc - jr < s->NR ? nc - jr : s->NR);
          const float *bp = Bp + jr * kc;
          const char *next = (const char *)(jr + s->NR < nc ? bp + (long)s->NR * kc : Bp);
          for (long ir = 0, t = 0; ir < mc; ir += s->MR, t++) {
            int mr = (int)(mc - ir < s->MR ? mc - ir : s->MR);
            for (long l = t * pl; l < (t + 1) * pl; l++) __builtin_prefetch(next + l * 64, 0, 3);
            float *ct = Cout + (ic + ir) * j->N + jc + jr;
            s->ukr(kc, Ap + ir * kc, bp, ct, j->N, acc, mr, nr);
            if (j->bias && pc + kc >= k1) {
              if (j->act) gfn_bias_tile(ct, j->N, j->bias + jc + jr, j->act + (ic + ir) * j->N + jc + jr, j->N, mr, nr);
              else tile_add_bias(ct, j->N, j->bias + jc + jr, mr, nr);
            }
          }
        }
      }
    }
  }
}

static void run_block(const job_t *j, long m0, long m1, long n0, long n1) { run_block_k(j, m0, m1, n0, n1, 0, j->K, j->C, j->accumulate); }

static void sgemm_task(void *ctx, int task, int ntasks) {
  const job_t *j = (const job_t *)ctx;
  (void)ntasks;
  long k0 = 0, k1 = j->K;
  float *Cout = j->C;
  int accumulate = j->accumulate;
  if (j->ksplit_k0 > 0) {
    int part = task / j->slices;
    task %= j->slices;
    if (part == 0) k1 = j->ksplit_k0;
    else k0 = j->ksplit_k0, Cout = j->P, accumulate = 0;
  }
  if (j->splitM) {
    long m0 = task * j->chunk, m1 = m0 + j->chunk < j->M ? m0 + j->chunk : j->M;
    if (m0 < m1) run_block_k(j, m0, m1, 0, j->N, k0, k1, Cout, accumulate);
  } else {
    long n0 = task * j->chunk, n1 = n0 + j->chunk < j->N ? n0 + j->chunk : j->N;
    if (n0 < n1) run_block_k(j, 0, j->M, n0, n1, k0, k1, Cout, accumulate);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Decode shapes: C[M,N] (+)= A[M,K]·B[K,N] with M ≤ SMALL_M, neither operand transposed (every
 * linear layer while sampling on the KV cache, M = the batch rows). Packing B (K×N) for a few
 * rows of A costs as much as the multiply and the MR-tall microkernel wastes most of its
 * rows, so these read B in place instead, with register tiles of R ≤ DR rows × W columns:
 * per k, W/VL vector loads of B's row k feed R·W/VL multiply-adds (one broadcast of A per
 * row), so each weight loaded from memory serves every row of the batch — a decode step of
 * 4 rows reads the weights once, like a step of 1.
 * Memory order: a tile walking all of a KC block's rows reads one cache line per row at a
 * stride of N floats (4 KiB at N = 1024: every row in another page, all in one L1 set), which
 * the prefetchers do not follow; measured on Zen 3, such tiles ran 2× slower than streaming
 * B's rows whenever the weights were not in cache. So k goes in sub-blocks of DKB rows: per
 * sub-block the tiles sweep across the columns (DKB streams along B's rows, each line
 * prefetched DPF floats ahead), the accumulators parked in T (R × w floats, L1) between
 * sub-blocks. Row groups (M > DR) run inside the sub-block, which is still in cache.
 * Each tile also prefetches the same columns of the next sub-block's rows into L2, a
 * sub-block's sweep ahead: without it each sub-block's first lines missed (at N = 256 a
 * quarter of them). Measured on Zen 3 over a 4-layer × 256 model's linears (weights in
 * L3, one thread): 4 rows 2.3–2.8× the time of 1 row before, 1.6–1.8× with it.
 * Per KC block each element sums A[m,k]·B[k,j] from zero in order of k (parking a float in
 * memory does not round it), then C = t or C + t: the microkernel's own reduction order (FMA
 * where the path has it), so a row's results are bit-for-bit those of the general path — a
 * row decoded alone equals the same row decoded in a batch of any size.
 * Tile widths: AVX2 (16 ymm) 3×32, 4×16 (12 and 8 accumulators: enough independent FMA chains
 * to hide the FMA latency); 4-lane vectors (SSE2, NEON) 3×8, 4×8. Leftover columns: 1-vector
 * tiles, then one column at a time. One or two rows sweep each row of B whole instead, their
 * sums in T (one B stream, no tile loop; measured 1.5× faster than 1×64 tiles at one row).
 */
#define SMALL_M 8
#define PREFILL_M 32
#define DR 4
#define DKB 16
/* Rows of B a whole multiple of 4 KiB apart (N a multiple of 1024: the MLP's c_fc at nEmbd
 * 256) put a sub-block's lines, and the next sub-block's prefetched ones, in one L1 set
 * (8 ways on Zen 3): 16 of them evict each other before use. 8-row sub-blocks fit (a
 * sub-block's 8 lines, the next one's 8 prefetched lines in another set). Measured (one
 * thread, weights in L3, best of 60–100, 4 layers): 256×1024 at 4 rows 70 µs a layer at 16,
 * 38 at 4, 32 at 8 (2: 50); at 8 rows 75 → 62 µs from 4 to 8; 1–2 rows the same. The other
 * shapes keep DKB (at 4 they slowed 1.4×). Same sums, same order. */
#define DKB_ALIASED 8
#define DPF 64

/* Where the parked sums T go. A tile's T lines sit at column j of R rows w floats apart; at
 * w = 1024 (c_fc) all in one L1 set, as are its B lines (DKB_ALIASED rows 4 KiB apart, which
 * fill that set's 8 ways). Where the two sets coincide — it depends only on where malloc put
 * T and the weights, (T − B) mod 4 KiB — T and B evict each other on every k sub-block:
 * 256×1024 at 4 rows ran 150–185 µs over 4 layers, or 320 with B's rows 16 bytes off a line,
 * depending on the allocations (a C harness and the addon under node disagreed for that
 * reason). So T starts half the L1 sets (2 KiB) away from B's column n0: never B's set,
 * whatever the allocator did. Measured (one thread, weights in L3, best of 150, load ~12):
 * 256×1024 at 4 rows 170 → 127 µs (64-byte-aligned weights), 171 → 122 (one 2 MiB huge-page
 * arena), 320 → 145 (rows 16 bytes off); the other shapes unchanged. Only T's address
 * moves: same sums, same order. */
#define T_SLACK 1040
static float *t_placed(float *T, const float *B) {
  T = (float *)(((uintptr_t)T + 63) & ~(uintptr_t)63);
  long d = ((long)((uintptr_t)B >> 6) + 32 - (long)((uintptr_t)T >> 6)) & 63;
  return T + 16 * d;
}

#define GEMV_ARGS const float *restrict A, const float *restrict B, float *restrict C, float *restrict T, long M, long K, long N, long n0, long w, long KC, int acc

/* One R × (V vectors) tile over kn rows of k: a, b point at the tile's first A and B
 * elements, t at its parked accumulators (row stride ldt). R and V are constants at every
 * call, so the accumulators stay in registers. */
#define DTILE_BODY(VT, VL, LOAD, BCAST, MADD, STORE, PREFETCH)                                 \
  VT s[DR][8];                                                                                 \
  for (int r = 0; r < R; r++)                                                                  \
    for (int v = 0; v < V; v++) s[r][v] = LOAD(t + r * ldt + VL * v);                          \
  for (long k = 0; k < kn; k++) {                                                              \
    const float *bk = b + k * ldb;                                                             \
    for (int p = 0; p < VL * V; p += 16) {                                                     \
      PREFETCH(bk + DPF + p);                                                                  \
      __builtin_prefetch(bk + kn * ldb + p, 0, 2); /* the next sub-block's row, into L2 */     \
    }                                                                                          \
    VT bv[8];                                                                                  \
    for (int v = 0; v < V; v++) bv[v] = LOAD(bk + VL * v);                                     \
    for (int r = 0; r < R; r++) {                                                              \
      const VT av = BCAST(a + r * lda + k);                                                    \
      for (int v = 0; v < V; v++) s[r][v] = MADD(av, bv[v], s[r][v]);                          \
    }                                                                                          \
  }                                                                                            \
  for (int r = 0; r < R; r++)                                                                  \
    for (int v = 0; v < V; v++) STORE(t + r * ldt + VL * v, s[r][v]);

#define DTILE_ARGS const int R, const int V, long kn, const float *restrict a, long lda, const float *restrict b, long ldb, float *restrict t, long ldt

/* Columns [0, w) of R rows for one sub-block of kn rows: tiles of V vectors, then of one
 * vector, then single columns (SMADD: the path's scalar multiply-add, fused where its
 * vectors are). */
#define DROWS_BODY(TILE, VL, V, SMADD)                                                         \
  long j = 0;                                                                                  \
  for (; j + VL * (V) <= w; j += VL * (V)) TILE(R, V, kn, a, lda, b + j, ldb, t + j, ldt);     \
  for (; j + VL <= w; j += VL) TILE(R, 1, kn, a, lda, b + j, ldb, t + j, ldt);                 \
  for (; j < w; j++)                                                                           \
    for (int r = 0; r < R; r++) {                                                              \
      float s = t[r * ldt + j];                                                                \
      for (long k = 0; k < kn; k++) s = SMADD(a[r * lda + k], b[k * ldb + j], s);              \
      t[r * ldt + j] = s;                                                                      \
    }

/* One or two rows (R), sweeping B's row k whole for each k: t[r, :] += A[r, k]·B[k, :]. */
#define DSWEEP_BODY(VT, VL, LOAD, BCAST, MADD, STORE, SMADD)                                   \
  for (long k = 0; k < kn; k++) {                                                              \
    const float *bk = b + k * ldb;                                                             \
    const VT a0 = BCAST(a + k), a1 = BCAST(a + (R > 1 ? lda : 0) + k);                         \
    float *t1 = t + (R > 1 ? ldt : 0);                                                         \
    long j = 0;                                                                                \
    for (; j + VL <= w; j += VL) {                                                             \
      const VT bv = LOAD(bk + j);                                                              \
      STORE(t + j, MADD(a0, bv, LOAD(t + j)));                                                 \
      if (R > 1) STORE(t1 + j, MADD(a1, bv, LOAD(t1 + j)));                                    \
    }                                                                                          \
    for (; j < w; j++) {                                                                       \
      t[j] = SMADD(a[k], bk[j], t[j]);                                                         \
      if (R > 1) t1[j] = SMADD(a[lda + k], bk[j], t1[j]);                                      \
    }                                                                                          \
  }

#define DROWS_ARGS long kn, const float *restrict a, long lda, const float *restrict b, long ldb, float *restrict t, long ldt, long w

/* The whole product for columns [n0, n0 + w): KC blocks → sub-blocks of DKB rows → row
 * groups of DR → tiles across the columns; each KC block's sums in its own part of T (M × w,
 * placed by t_placed), so C is written only afterwards, by gemv_commit: a split product's
 * task can then be computed twice (pool_run_rescue) with C written once. Returns 0 as soon
 * as *cancel is set (checked every sub-block: the other thread committed this task), else 1. */
#define DIRECT_BODY(ROWS)                                                                      \
  for (long pc = 0, blk = 0; pc < K; pc += KC, blk++) {                                        \
    long kc = K - pc < KC ? K - pc : KC;                                                       \
    float *restrict T = t_placed(T0 + blk * (M * w + T_SLACK), B + n0);                        \
    memset(T, 0, sizeof(float) * (size_t)(M * w));                                            \
    const long dkb = N % 1024 == 0 ? DKB_ALIASED : DKB;                                       \
    for (long kb = 0; kb < kc; kb += dkb) {                                                    \
      if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) return 0;              \
      long kn = kc - kb < dkb ? kc - kb : dkb;                                                 \
      const float *b = B + (pc + kb) * N + n0;                                                 \
      for (long m0 = 0; m0 < M; m0 += DR) {                                                    \
        const float *a = A + m0 * K + pc + kb;                                                 \
        float *t = T + m0 * w;                                                                 \
        switch (M - m0 < DR ? M - m0 : DR) {                                                   \
          case 1: ROWS(1)(kn, a, K, b, N, t, w, w); break;                                     \
          case 2: ROWS(2)(kn, a, K, b, N, t, w, w); break;                                     \
          case 3: ROWS(3)(kn, a, K, b, N, t, w, w); break;                                     \
          default: ROWS(4)(kn, a, K, b, N, t, w, w); break;                                    \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }                                                                                            \
  return 1;

/* Floats of T a product over columns [n0, n0 + w) needs (every KC block's, each with its slack) */
static size_t gemv_t_floats(long M, long K, long w, long KC) { return (size_t)((K + KC - 1) / KC) * (size_t)(M * w + T_SLACK); }

/* C's columns [n0, n0 + w) from the KC blocks' sums in T, block by block: C = t (or C + t
 * where accumulating), then C + t for each later block — each element's additions in the
 * order the general path makes them. */
static void gemv_commit(float *restrict C, float *restrict T0, const float *B, long M, long K, long N, long n0, long w, long KC, int acc) {
  for (long pc = 0, blk = 0; pc < K; pc += KC, blk++) {
    const float *T = t_placed(T0 + blk * (M * w + T_SLACK), B + n0);
    int add = pc > 0 || acc;
    for (long m = 0; m < M; m++) {
      float *c = C + m * N + n0;
      const float *t = T + m * w;
      if (add)
        for (long j = 0; j < w; j++) c[j] += t[j];
      else
        memcpy(c, t, sizeof(float) * (size_t)w);
    }
  }
}

#define GEMV_DIRECT_ARGS const float *restrict A, const float *restrict B, float *restrict T0, long M, long K, long N, long n0, long w, long KC, const atomic_int *cancel

/* 4-lane vectors in portable C (x86-64's SSE2 baseline; AArch64's NEON). The multiply-add is
 * written a·b + t, like ukr_scalar's: unfused where the ISA has no FMA (SSE2), contracted to
 * a fused one where it has (AArch64's fmla, as ukr_neon's vfmaq), so each path matches its
 * own microkernel. */
#define V4_LOAD(p) (*(const v4f *)(p))
#define V4_BCAST(p) ((v4f){*(p), *(p), *(p), *(p)})
#define V4_MADD(x, y, s) ((s) + (x) * (y))
#define V4_STORE(p, x) (*(v4f *)(p) = (x))
#define S_MADD(x, y, s) ((s) + (x) * (y))
#define PREFETCH_R(p) __builtin_prefetch(p, 0, 3)
static inline __attribute__((always_inline)) void dtile_v4(DTILE_ARGS) { DTILE_BODY(v4f, 4, V4_LOAD, V4_BCAST, V4_MADD, V4_STORE, PREFETCH_R) }
#define DROWS_V4(RR, VV)                                                                       \
  static void drows_v4_##RR(DROWS_ARGS) {                                                      \
    const int R = RR;                                                                          \
    DROWS_BODY(dtile_v4, 4, VV, S_MADD)                                                        \
  }
#define DSWEEP_V4(RR)                                                                          \
  static void drows_v4_##RR(DROWS_ARGS) {                                                      \
    const int R = RR;                                                                          \
    DSWEEP_BODY(v4f, 4, V4_LOAD, V4_BCAST, V4_MADD, V4_STORE, S_MADD)                          \
  }
DSWEEP_V4(1)
DSWEEP_V4(2)
DROWS_V4(3, 2)
DROWS_V4(4, 2)
#define ROWS_V4(R) drows_v4_##R
static int gemv_v4(GEMV_DIRECT_ARGS) { DIRECT_BODY(ROWS_V4) }

#if defined(__x86_64__)
#define Y_MADD(x, y, s) _mm256_fmadd_ps(x, y, s)
#define F_MADD(x, y, s) __builtin_fmaf(x, y, s)
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void dtile_avx2(DTILE_ARGS) {
  DTILE_BODY(__m256, 8, _mm256_loadu_ps, _mm256_broadcast_ss, Y_MADD, _mm256_storeu_ps, PREFETCH_R)
}
#define DROWS_AVX2(RR, VV)                                                                     \
  __attribute__((target("avx2,fma"))) static void drows_avx2_##RR(DROWS_ARGS) {               \
    const int R = RR;                                                                          \
    DROWS_BODY(dtile_avx2, 8, VV, F_MADD)                                                      \
  }
#define DSWEEP_AVX2(RR)                                                                        \
  __attribute__((target("avx2,fma"))) static void drows_avx2_##RR(DROWS_ARGS) {               \
    const int R = RR;                                                                          \
    DSWEEP_BODY(__m256, 8, _mm256_loadu_ps, _mm256_broadcast_ss, Y_MADD, _mm256_storeu_ps, F_MADD) \
  }
DSWEEP_AVX2(1)
DSWEEP_AVX2(2)
DROWS_AVX2(3, 4)
DROWS_AVX2(4, 2)
#define ROWS_AVX2(R) drows_avx2_##R
/* also the AVX-512 path's (its microkernel fuses every multiply-add too, so the results are
 * the same; ymm tiles fit the decode shapes' widths better than 16-lane ones) */
__attribute__((target("avx2,fma"))) static int gemv_avx2(GEMV_DIRECT_ARGS) { DIRECT_BODY(ROWS_AVX2) }
#endif


/* The same for B transposed (stored N×K: the logits head h·wteᵀ, and an RM's score head).
 * Streaming B's rows would reduce along k inside a vector, which is not the microkernel's
 * order, so each block of GEMVT_W columns is first transposed into a small k-major buffer
 * (kc × GEMVT_W, in L1) and then swept like gemv: t[m, j] accumulates over k in order, one
 * fused multiply-add (where the path has FMA) a step. That is the general path's packing
 * without its MR-tall microkernel, whose rows a 1–4 row product mostly wastes. Results are
 * bit-for-bit the general path's.
 * The AVX2/AVX-512 path sweeps the buffer with up to GEMVT_R rows at once (GEMVT_SWEEP), each
 * k's two vectors of T feeding every row: one row's sums are 2 dependent FMA chains, bound by
 * the FMA latency to a quarter of the FMA rate; R rows are 2R independent chains. Each
 * element's sum is still its own chain in order of k, so the bits do not change. Measured
 * (one thread, best of 100, the bench model's 512 × 256 head): 4 rows 53 → 23 µs. */
#define GEMVT_W 16
#define GEMVT_BODY                                                                             \
  for (long nb = n0; nb < n0 + w; nb += GEMVT_W) {                                             \
    long wn = n0 + w - nb < GEMVT_W ? n0 + w - nb : GEMVT_W;                                   \
    for (long pc = 0; pc < K; pc += KC) {                                                      \
      long kc = K - pc < KC ? K - pc : KC;                                                     \
      int add = pc > 0 || acc;                                                                 \
      GEMVT_TRANSPOSE(B + nb * K + pc, K, kc, wn, T);                                          \
      for (long m = 0; m < M; m += GEMVT_R) {                                                  \
        const int R = M - m < GEMVT_R ? (int)(M - m) : GEMVT_R;                                \
        float t[GEMVT_R][GEMVT_W];                                                             \
        GEMVT_SWEEP(R, kc, A + m * K + pc, K, T, t[0]);                                        \
        for (int r = 0; r < R; r++) {                                                          \
          float *c = C + (m + r) * N + nb;                                                     \
          if (add)                                                                             \
            for (long j = 0; j < wn; j++) c[j] += t[r][j];                                     \
          else                                                                                 \
            for (long j = 0; j < wn; j++) c[j] = t[r][j];                                      \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }
/* The multiply-add spelled out: GCC's vectoriser left this loop's a·b + t unfused, while the
 * microkernels fuse it wherever the path has FMA (x86-64's baseline has none; AArch64's does) */
#if defined(__aarch64__)
#define GEMVT_MADD(a, b, t) __builtin_fmaf(a, b, t)
#else
#define GEMVT_MADD(a, b, t) ((t) + (a) * (b))
#endif
/* T[k·W + j] = b[j·ldb + k] for j < wn, k < kc; zeros in columns wn… */
static inline void gemvt_transpose_loops(const float *b, long ldb, long kc, long wn, float *T) {
  for (long j = 0; j < GEMVT_W; j++) {
    if (j < wn)
      for (long k = 0; k < kc; k++) T[k * GEMVT_W + j] = b[j * ldb + k];
    else
      for (long k = 0; k < kc; k++) T[k * GEMVT_W + j] = 0.0f;
  }
}
#define GEMVT_TRANSPOSE gemvt_transpose_loops
#define GEMVT_R 4
/* t[r·W + j] = Σ_k a[r·lda + k]·T[k·W + j] for r < R, in order of k (one row at a time) */
static inline void gemvt_sweep_loops(int R, long kc, const float *a, long lda, const float *T, float *t) {
  for (int r = 0; r < R; r++) {
    float s[GEMVT_W] = {0};
    for (long k = 0; k < kc; k++) {
      const float av = a[r * lda + k];
      const float *bt = T + k * GEMVT_W;
      for (long j = 0; j < GEMVT_W; j++) s[j] = GEMVT_MADD(av, bt[j], s[j]);
    }
    memcpy(t + r * GEMVT_W, s, sizeof s);
  }
}
#define GEMVT_SWEEP gemvt_sweep_loops
static void gemvt_scalar(GEMV_ARGS) { GEMVT_BODY }
#if defined(__x86_64__)
/* 8×8 blocks transposed in registers (unpack, shuffle, lane permute: 24 shuffles for 64
 * floats) instead of 64 scalar moves; the block's result is the same copy */
__attribute__((target("avx2,fma"))) static inline void gemvt_transpose_avx2(const float *b, long ldb, long kc, long wn, float *T) {
  if (wn < GEMVT_W) { gemvt_transpose_loops(b, ldb, kc, wn, T); return; }
  long k = 0;
  for (; k + 8 <= kc; k += 8)
    for (int h = 0; h < 2; h++) {
      const float *r = b + (long)(8 * h) * ldb + k;
      __m256 r0 = _mm256_loadu_ps(r), r1 = _mm256_loadu_ps(r + ldb), r2 = _mm256_loadu_ps(r + 2 * ldb), r3 = _mm256_loadu_ps(r + 3 * ldb);
      __m256 r4 = _mm256_loadu_ps(r + 4 * ldb), r5 = _mm256_loadu_ps(r + 5 * ldb), r6 = _mm256_loadu_ps(r + 6 * ldb), r7 = _mm256_loadu_ps(r + 7 * ldb);
      __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5), t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE), u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float *d = T + k * GEMVT_W + 8 * h;
      _mm256_storeu_ps(d + 0 * GEMVT_W, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(d + 1 * GEMVT_W, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(d + 2 * GEMVT_W, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(d + 3 * GEMVT_W, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(d + 4 * GEMVT_W, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(d + 5 * GEMVT_W, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(d + 6 * GEMVT_W, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(d + 7 * GEMVT_W, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  for (; k < kc; k++)
    for (long j = 0; j < GEMVT_W; j++) T[k * GEMVT_W + j] = b[j * ldb + k];
}
#undef GEMVT_MADD
#define GEMVT_MADD(a, b, t) __builtin_fmaf(a, b, t)
#undef GEMVT_TRANSPOSE
#define GEMVT_TRANSPOSE gemvt_transpose_avx2
/* R (constant at each call) rows together: 2R accumulators in registers */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void gemvt_rows_avx2(const int R, long kc, const float *a, long lda, const float *T, float *t) {
  __m256 s[GEMVT_R][2];
  for (int r = 0; r < R; r++) s[r][0] = s[r][1] = _mm256_setzero_ps();
  for (long k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_loadu_ps(T + k * GEMVT_W), b1 = _mm256_loadu_ps(T + k * GEMVT_W + 8);
    for (int r = 0; r < R; r++) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + k);
      s[r][0] = _mm256_fmadd_ps(av, b0, s[r][0]);
      s[r][1] = _mm256_fmadd_ps(av, b1, s[r][1]);
    }
  }
  for (int r = 0; r < R; r++) {
    _mm256_storeu_ps(t + r * GEMVT_W, s[r][0]);
    _mm256_storeu_ps(t + r * GEMVT_W + 8, s[r][1]);
  }
}
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void gemvt_sweep_avx2(int R, long kc, const float *a, long lda, const float *T, float *t) {
  switch (R) {
    case 1: gemvt_rows_avx2(1, kc, a, lda, T, t); break;
    case 2: gemvt_rows_avx2(2, kc, a, lda, T, t); break;
    case 3: gemvt_rows_avx2(3, kc, a, lda, T, t); break;
    default: gemvt_rows_avx2(4, kc, a, lda, T, t); break;
  }
}
#undef GEMVT_SWEEP
#define GEMVT_SWEEP gemvt_sweep_avx2
__attribute__((target("avx2,fma"))) static void gemvt_avx2(GEMV_ARGS) { GEMVT_BODY }
__attribute__((target("avx512f,avx2,fma"))) static void gemvt_avx512(GEMV_ARGS) { GEMVT_BODY }
#endif

#define GEMV_MAX_TASKS 16
typedef struct {
  const float *A, *B;
  float *C;
  long M, K, N, chunk;
  int acc, transB;
  /* a rescued split (pool_run_rescue): per task, whether a thread has claimed the right to
   * write its columns of C (the first to finish computing them), and whether it has */
  atomic_int committed[GEMV_MAX_TASKS], finished[GEMV_MAX_TASKS];
} gemv_job_t;
/* pool_run_rescue copies the job into its descriptor (at most POOL_CTX_MAX bytes, else it aborts) */
_Static_assert(sizeof(gemv_job_t) <= POOL_CTX_MAX, "gemv_job_t outgrew pool_run_rescue's context copy");

/* The number in the environment variable `name` when it is positive, else `dflt`: the
 * GPTFORGE_* tuning knobs and test switches below, each read once by its caller. */
static double env_positive(const char *name, double dflt) {
  const char *e = getenv(name);
  double x = e ? atof(e) : 0;
  return x > 0 ? x : dflt;
}

/* GPTFORGE_SPLIT_CHAOS=1 (tests only, read once): every split product is split (no back-off,
 * no waiting for a worker to wake) and the thread computing the last task of every other one
 * stops 300 µs between computing and committing it, as a preempted worker would: the caller's
 * rescue then commits first, and the late thread must drop its result. */
static int split_chaos(void) {
  static int v = -1;
  if (v < 0) v = (int)env_positive("GPTFORGE_SPLIT_CHAOS", 0) > 0;
  return v;
}

/* Task `task`'s columns, B not transposed: the sums in this thread's T, then C written by the
 * first thread to finish them (the only one when the product is not rescued). */
static int gemv_direct_task(gemv_job_t *j, int task, int rescued) {
  long n0 = task * j->chunk, n1 = n0 + j->chunk < j->N ? n0 + j->chunk : j->N;
  atomic_int *committed = rescued ? &j->committed[task] : NULL;
  if (n0 < n1) {
    float *T = grow(&bufA, &capA, gemv_t_floats(j->M, j->K, n1 - n0, ISA.KC));
    if (!T) abort();
    int whole;
#if defined(__x86_64__)
    if (ISA.ukr == ukr_avx512 || ISA.ukr == ukr_avx2) whole = gemv_avx2(j->A, j->B, T, j->M, j->K, j->N, n0, n1 - n0, ISA.KC, committed);
    else
#endif
      whole = gemv_v4(j->A, j->B, T, j->M, j->K, j->N, n0, n1 - n0, ISA.KC, committed);
    if (!whole) return 0; /* the other thread committed it */
    if (committed && split_chaos() && task == (int)((j->N + j->chunk - 1) / j->chunk) - 1) {
      static atomic_int n;
      if (atomic_fetch_add(&n, 1) % 2 == 0) usleep(300);
    }
    if (committed && atomic_exchange(committed, 1) != 0) return 0;
    gemv_commit(j->C, T, j->B, j->M, j->K, j->N, n0, n1 - n0, ISA.KC, j->acc);
  } else if (committed && atomic_exchange(committed, 1) != 0) return 0;
  if (rescued) atomic_store_explicit(&j->finished[task], 1, memory_order_release);
  return 1;
}

static void gemv_task(void *ctx, int task, int ntasks) {
  gemv_job_t *j = (gemv_job_t *)ctx;
  (void)ntasks;
  if (!j->transB) {
    gemv_direct_task(j, task, 0);
    return;
  }
  long n0 = task * j->chunk, n1 = n0 + j->chunk < j->N ? n0 + j->chunk : j->N;
  if (n0 >= n1) return;
  float *T = grow(&bufA, &capA, (size_t)ISA.KC * GEMVT_W);
  if (!T) abort();
#if defined(__x86_64__)
  if (ISA.ukr == ukr_avx512) { gemvt_avx512(j->A, j->B, j->C, T, j->M, j->K, j->N, n0, n1 - n0, ISA.KC, j->acc); return; }
  if (ISA.ukr == ukr_avx2) { gemvt_avx2(j->A, j->B, j->C, T, j->M, j->K, j->N, n0, n1 - n0, ISA.KC, j->acc); return; }
#endif
  gemvt_scalar(j->A, j->B, j->C, T, j->M, j->K, j->N, n0, n1 - n0, ISA.KC, j->acc);
}

static void gemv_task_rescued(void *ctx, int task, int ntasks) {
  (void)ntasks;
  gemv_direct_task((gemv_job_t *)ctx, task, 1);
}

/* The caller, its own tasks done: every task not yet finished it computes too (a worker
 * preempted in the middle of one would otherwise hold it up for a time slice or more), and
 * whichever thread finishes a task first writes it; a worker that is running normally
 * finishes first, and the caller stops at its next sub-block. */
static _Thread_local int rescued_tasks; /* tasks the caller wrote in its last rescue */
static void gemv_rescue(void *ctx, int ntasks) {
  gemv_job_t *j = (gemv_job_t *)ctx;
  for (int i = 0; i < ntasks; i++) {
    if (atomic_load_explicit(&j->finished[i], memory_order_acquire)) continue;
    if (!atomic_load_explicit(&j->committed[i], memory_order_relaxed)) rescued_tasks += gemv_direct_task(j, i, 1);
    while (!atomic_load_explicit(&j->finished[i], memory_order_acquire)) POOL_CPU_RELAX();
  }
}

/* Backing off the split: on a machine whose cores other processes hold, the worker is often
 * off its core when a product needs it — then the caller computes the worker's half too (the
 * rescue) after its own, and a spinning worker takes CPU time the caller's process needs
 * (Linux's autogroup shares one weight among a session's threads). A rescue costs about what
 * the split saves, so one now and then is fine; SPLIT_FAILS in a row (a rescue, or a worker
 * still asleep at the product after the one that woke it) mean it is not getting a core: the
 * next `penalty` eligible products then run on the caller alone (doubling from 8 up to
 * SPLIT_PENALTY_MAX ≈ tens of decode steps) and the worker falls asleep; each split the worker
 * finished halves the penalty. Which thread computes a task never changes its bits. */
#define SPLIT_FAILS 3
#define SPLIT_PENALTY_MAX 2048
static _Thread_local int split_skip, split_penalty, split_fails, split_woke;
static int split_allowed(void) {
  if (split_skip <= 0) return 1;
  split_skip--;
  return 0;
}
static void split_penalise(void) {
  split_penalty = split_penalty ? (split_penalty * 2 < SPLIT_PENALTY_MAX ? split_penalty * 2 : SPLIT_PENALTY_MAX) : 8;
  split_skip = split_penalty;
  split_fails = 0;
}
static void split_outcome(int worker_awake) {
  if (!worker_awake) return; /* a worker still waking up is late, not preempted */
  if (rescued_tasks == 0) {
    split_fails = 0;
    split_penalty /= 2;
  } else if (++split_fails >= SPLIT_FAILS)
    split_penalise();
}

/* The FLOPs above which a decode-size product (M ≤ SMALL_M rows) is split over the pool: 1e6
 * by default, so a 256-wide model's 4-row c_attn, c_fc and MLP c_proj (1.6–2.1 MFLOP) are split
 * too, and its 1-row ones (0.4–0.5 MFLOP) stay on one core. With the short spin, the rescue
 * and the back-off above, idle serve-ab A/Bs against 4e6 (docs/server.md) read bench:serve's
 * 4/1 ratio 2.71–2.98× against 2.40–2.68×, 4-stream throughput 1.03–1.13×, one stream level.
 * GPTFORGE_SMALL_M_PAR_FLOPS overrides it, read once: a tuning knob for bench:serve, not a
 * setting users need. */
static double small_m_par_flops(void) {
  static double v = 0;
  if (v == 0) v = env_positive("GPTFORGE_SMALL_M_PAR_FLOPS", 1e6);
  return v;
}

/* Tasks per thread when a decode-size product is split (GPTFORGE_SMALL_M_TASKS, read once) */
static int small_m_tasks(void) {
  static int v = 0;
  if (v == 0) {
    int x = (int)env_positive("GPTFORGE_SMALL_M_TASKS", 1);
    v = x > 0 ? x : 1;
  }
  return v;
}

/* serial: on the calling thread only (inside pool tasks), else split N over the pool */
static void small_m(const float *A, const float *B, float *C, long M, long K, long N, int transB, int accumulate, int serial) {
  int threads = serial ? 1 : pool_threads();
  /* B transposed (a logits head) has no rescue: it keeps the threshold it had (4e6) */
  int ntasks = threads > 1 && 2.0 * (double)M * (double)N * (double)K > (transB ? 4e6 : small_m_par_flops()) ? threads * small_m_tasks() : 1;
  if (!transB && ntasks > GEMV_MAX_TASKS) ntasks = GEMV_MAX_TASKS; /* the rescue's per-task flags; B transposed has none */
  if (ntasks > 1 && !transB && !split_chaos()) {
    if (!split_allowed()) ntasks = 1;
    else if (pool_asleep()) {
      /* the worker is asleep: wake it for the products that follow and run this one alone
       * (waiting for it would cost more than the half it could take); asleep again at the
       * next one (it did not get a core in between) counts as a failed split */
      if (split_woke && ++split_fails >= SPLIT_FAILS) {
        split_penalise();
        split_woke = 0;
      } else {
        pool_wake_short();
        split_woke = 1;
      }
      ntasks = 1;
    } else
      split_woke = 0;
  }
  /* chunks of whole cache lines (16 floats) so threads never share one of C's lines */
  long chunk = ((N + ntasks - 1) / ntasks + 15) & ~15L;
  gemv_job_t j = {A, B, C, M, K, N, chunk, accumulate, transB, {0}, {0}};
  if (ntasks == 1) gemv_task(&j, 0, 1);
  else if (transB) pool_run_short(gemv_task, &j, ntasks);
  else {
    rescued_tasks = 0;
    split_outcome(pool_run_rescue(gemv_task_rescued, gemv_rescue, &j, sizeof j, ntasks));
  }
}

/* The product, then (bias set: gfn_sgemm_bias, accumulate off, A not transposed) the bias and
 * GELU epilogue. The decode-sized paths run the product, then the row kernels over C. */
static void sgemm_impl(const float *A, const float *B, float *C, long M, long K, long N, int transA, int transB, int accumulate, const float *bias, float *act);

void gfn_sgemm(const float *A, const float *B, float *C, long M, long K, long N, int transA, int transB, int accumulate) {
  sgemm_impl(A, B, C, M, K, N, transA, transB, accumulate, NULL, NULL);
}

/* C = A·B + bias (bias [N] broadcast over rows), and with act (not NULL) also act = GELU(C), C
 * keeping the pre-activation: a linear layer's forward (llm.c's matmul_forward with its bias,
 * and its gelu_forward). The bias and GELU run on each microkernel tile as soon as its last KC
 * block is stored (the tile still in L1), instead of a pass over C after the product that
 * reads and writes it again from memory (4096 × 1536 floats, 25 MB, at the GPU config's c_fc).
 * Per element the epilogue runs gfn_add_bias's / gfn_bias_gelu_forward's own row code
 * (gfn_bias_tile), after C holds the whole product: the same bits as gfn_sgemm then those
 * kernels, on every path and at any thread count. */
void gfn_sgemm_bias(const float *A, const float *B, float *C, long M, long K, long N, int transB, const float *bias, float *act) {
  sgemm_impl(A, B, C, M, K, N, 0, transB, 0, bias, act);
}

/* the epilogue as a pass over the whole of C (paths without tiles) */
static void bias_pass(float *C, long M, long N, const float *bias, float *act) {
  if (!bias) return;
  if (act) gfn_bias_gelu_forward(C, bias, act, M, N);
  else gfn_add_bias(C, bias, M, N);
}

static void sgemm_impl(const float *A, const float *B, float *C, long M, long K, long N, int transA, int transB, int accumulate, const float *bias, float *act) {
  choose_isa();
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) memset(C, 0, sizeof(float) * (size_t)M * (size_t)N);
    bias_pass(C, M, N, bias, act);
    return;
  }
  if (M <= SMALL_M && !transA) {
    small_m(A, B, C, M, K, N, transB, accumulate, 0);
    bias_pass(C, M, N, bias, act);
    return;
  }
  /* A few more rows (a short prompt's prefill, forced tokens): the decode path SMALL_M rows at
   * a time, bit-for-bit the general path's rows (see above), which would pack all of B for
   * them. One thread, weights in L3, the bench model's linears: 12–32 rows 1.5–3× faster;
   * at 48 rows about even. */
  if (M <= PREFILL_M && !transA && !transB) {
    for (long m0 = 0; m0 < M; m0 += SMALL_M) small_m(A + m0 * K, B, C + m0 * N, M - m0 < SMALL_M ? M - m0 : SMALL_M, K, N, 0, accumulate, 0);
    bias_pass(C, M, N, bias, act);
    return;
  }
  job_t j = {A, B, C, M, K, N, transA ? 1 : K, transA ? M : 1, transB ? 1 : N, transB ? K : 1, accumulate, 1, M, 0, NULL, 1, NULL, NULL};
  int threads = pool_threads();
  double flops = 2.0 * (double)M * (double)N * (double)K;
  /* Weight gradients (A transposed: dW = Xᵀ·dY, K = the batch's B·T rows) are short and
   * wide in M and N and long in k. Split over M or N, each thread packs the whole of the
   * other operand over all of K (at 384×4096×384, a 6 MiB dY per thread for 0.6 GFLOP); so
   * there the k range is split in two instead, by a rule of the shape alone (never of the
   * thread count): the first part accumulates into C as usual, the second sums from zero
   * into a buffer P, and C += P after both. Each element then always sums the same blocks
   * in the same order — (C + k-blocks of part 1) + (k-blocks of part 2) — at any thread
   * count, so results still do not depend on it (they differ from the unsplit order in
   * rounding only). The split point is a whole number of KC blocks. Only transposed A:
   * the other layouts meet the decode path (small_m), whose rows must equal the general
   * path's bit for bit. */
  int kparts = 1;
  long mx = M > N ? M : N;
  if (transA && K >= 2 * mx && K >= 4 * ISA.KC && flops > 3e7) {
    kparts = 2;
    j.ksplit_k0 = (K / 2 + ISA.KC / 2) / ISA.KC * ISA.KC;
    j.P = grow(&bufP, &capP, (size_t)M * (size_t)N);
    if (!j.P) abort();
  }
  int slices = 1;
  if (threads > 1 && flops > 4e6) {
    /* Split the larger dimension into equal, tile-aligned chunks; duplicate packing of the
     * other operand is cheap next to the multiply when that dimension is the larger one.
     * With a k-split, the threads are shared among its parts first. */
    int want = threads / kparts;
    long mt = (M + ISA.MR - 1) / ISA.MR, nt = (N + ISA.NR - 1) / ISA.NR;
    if (want <= 1) {
      /* slices stays 1 */
    } else if (mt * ISA.MR >= nt * ISA.NR && mt >= want) {
      slices = want;
      j.splitM = 1;
      j.chunk = ((mt + slices - 1) / slices) * ISA.MR;
    } else if (nt >= want) {
      slices = want;
      j.splitM = 0;
      j.chunk = ((nt + slices - 1) / slices) * ISA.NR;
    } else if (mt >= want) {
      slices = want;
      j.splitM = 1;
      j.chunk = ((mt + slices - 1) / slices) * ISA.MR;
    }
  }
  if (slices == 1) {
    j.splitM = 1;
    j.chunk = M;
  }
  j.slices = slices;
  if (kparts == 1) j.bias = bias, j.act = act; /* (a bias comes with A not transposed: no k split) */
  pool_run(sgemm_task, &j, kparts * slices);
  if (kparts > 1) {
    gfn_add(C, j.P, C, M * N); /* C += P (elementwise: any split, same bits) */
    bias_pass(C, M, N, bias, act);
  }
}

/* The same product on the calling thread only (used inside pool tasks, e.g. attention). */
void gfn_sgemm_serial(const float *A, const float *B, float *C, long M, long K, long N, int transA, int transB, int accumulate) {
  choose_isa();
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) memset(C, 0, sizeof(float) * (size_t)M * (size_t)N);
    return;
  }
  if (M <= SMALL_M && !transA) {
    small_m(A, B, C, M, K, N, transB, accumulate, 1);
    return;
  }
  job_t j = {A, B, C, M, K, N, transA ? 1 : K, transA ? M : 1, transB ? 1 : N, transB ? K : 1, accumulate, 1, M, 0, NULL, 1, NULL, NULL};
  run_block(&j, 0, M, 0, N);
}

/* ---------------------------------------------------------------------------------------- */
/* Peak FMA throughput: independent FMA chains on every thread, no memory traffic. The
 * benchmark and MFU report against this measured figure, not a datasheet number. */

typedef struct { long iters; volatile float sink[64]; } peak_ctx;

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) static float peak_avx512(long iters) {
  /* distinct starting values so the compiler cannot merge the chains */
  __m512 c0 = _mm512_set1_ps(0.10f), c1 = _mm512_set1_ps(0.11f), c2 = _mm512_set1_ps(0.12f), c3 = _mm512_set1_ps(0.13f), c4 = _mm512_set1_ps(0.14f), c5 = _mm512_set1_ps(0.15f);
  __m512 c6 = _mm512_set1_ps(0.16f), c7 = _mm512_set1_ps(0.17f), c8 = _mm512_set1_ps(0.18f), c9 = _mm512_set1_ps(0.19f), c10 = _mm512_set1_ps(0.20f), c11 = _mm512_set1_ps(0.21f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; i++) {
    c0 = _mm512_fmadd_ps(a, c0, b); c1 = _mm512_fmadd_ps(a, c1, b); c2 = _mm512_fmadd_ps(a, c2, b); c3 = _mm512_fmadd_ps(a, c3, b);
    c4 = _mm512_fmadd_ps(a, c4, b); c5 = _mm512_fmadd_ps(a, c5, b); c6 = _mm512_fmadd_ps(a, c6, b); c7 = _mm512_fmadd_ps(a, c7, b);
    c8 = _mm512_fmadd_ps(a, c8, b); c9 = _mm512_fmadd_ps(a, c9, b); c10 = _mm512_fmadd_ps(a, c10, b); c11 = _mm512_fmadd_ps(a, c11, b);
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)), _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
  return _mm512_reduce_add_ps(s);
}
__attribute__((target("avx2,fma"))) static float peak_avx2(long iters) {
  __m256 c0 = _mm256_set1_ps(0.10f), c1 = _mm256_set1_ps(0.11f), c2 = _mm256_set1_ps(0.12f), c3 = _mm256_set1_ps(0.13f), c4 = _mm256_set1_ps(0.14f), c5 = _mm256_set1_ps(0.15f);
  __m256 c6 = _mm256_set1_ps(0.16f), c7 = _mm256_set1_ps(0.17f), c8 = _mm256_set1_ps(0.18f), c9 = _mm256_set1_ps(0.19f), c10 = _mm256_set1_ps(0.20f), c11 = _mm256_set1_ps(0.21f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iters; i++) {
    c0 = _mm256_fmadd_ps(a, c0, b); c1 = _mm256_fmadd_ps(a, c1, b); c2 = _mm256_fmadd_ps(a, c2, b); c3 = _mm256_fmadd_ps(a, c3, b);
    c4 = _mm256_fmadd_ps(a, c4, b); c5 = _mm256_fmadd_ps(a, c5, b); c6 = _mm256_fmadd_ps(a, c6, b); c7 = _mm256_fmadd_ps(a, c7, b);
    c8 = _mm256_fmadd_ps(a, c8, b); c9 = _mm256_fmadd_ps(a, c9, b); c10 = _mm256_fmadd_ps(a, c10, b); c11 = _mm256_fmadd_ps(a, c11, b);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)), _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  float t[8];
  _mm256_storeu_ps(t, s);
  return t[0] + t[7];
}
#endif
#if defined(__aarch64__)
static float peak_neon(long iters) {
  float32x4_t c0 = vdupq_n_f32(0.10f), c1 = vdupq_n_f32(0.11f), c2 = vdupq_n_f32(0.12f), c3 = vdupq_n_f32(0.13f), c4 = vdupq_n_f32(0.14f), c5 = vdupq_n_f32(0.15f);
  float32x4_t c6 = vdupq_n_f32(0.16f), c7 = vdupq_n_f32(0.17f), c8 = vdupq_n_f32(0.18f), c9 = vdupq_n_f32(0.19f), c10 = vdupq_n_f32(0.20f), c11 = vdupq_n_f32(0.21f);
  const float32x4_t a = vdupq_n_f32(0.999999f), b = vdupq_n_f32(1e-7f);
  for (long i = 0; i < iters; i++) {
    c0 = vfmaq_f32(b, a, c0); c1 = vfmaq_f32(b, a, c1); c2 = vfmaq_f32(b, a, c2); c3 = vfmaq_f32(b, a, c3);
    c4 = vfmaq_f32(b, a, c4); c5 = vfmaq_f32(b, a, c5); c6 = vfmaq_f32(b, a, c6); c7 = vfmaq_f32(b, a, c7);
    c8 = vfmaq_f32(b, a, c8); c9 = vfmaq_f32(b, a, c9); c10 = vfmaq_f32(b, a, c10); c11 = vfmaq_f32(b, a, c11);
  }
  float32x4_t s = vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)), vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7)));
  s = vaddq_f32(s, vaddq_f32(vaddq_f32(c8, c9), vaddq_f32(c10, c11)));
  return vaddvq_f32(s);
}
#endif

static void peak_task(void *c, int task, int n) {
  peak_ctx *p = (peak_ctx *)c;
  (void)n;
#if defined(__x86_64__)
  if (ISA.ukr == ukr_avx512) p->sink[task & 63] = peak_avx512(p->iters);
  else if (ISA.ukr == ukr_avx2) p->sink[task & 63] = peak_avx2(p->iters);
  else
#endif
#if defined(__aarch64__)
  if (ISA.ukr == ukr_neon) p->sink[task & 63] = peak_neon(p->iters);
  else
#endif
  {
    float x = 0.1f;
    for (long i = 0; i < p->iters * 12; i++) x = x * 0.999999f + 1e-7f;
    p->sink[task & 63] = x;
  }
}

/* FLOPs per iteration per thread of peak_task, for the current ISA. */
static double peak_flops_per_iter(void) {
#if defined(__x86_64__)
  if (ISA.ukr == ukr_avx512) return 12.0 * 16 * 2;
  if (ISA.ukr == ukr_avx2) return 12.0 * 8 * 2;
#endif
#if defined(__aarch64__)
  if (ISA.ukr == ukr_neon) return 12.0 * 4 * 2;
#endif
  return 12.0 * 2;
}

#include <time.h>
double gfn_peak_gflops(long iters) {
  choose_isa();
  peak_ctx p;
  p.iters = iters;
  struct timespec t0, t1;
  pool_run(peak_task, &p, pool_threads()); /* warm up clocks and threads */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pool_run(peak_task, &p, pool_threads());
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  return peak_flops_per_iter() * (double)iters * pool_threads() / dt / 1e9;
}
