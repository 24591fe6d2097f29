/* GELU (tanh approximation, Hendrycks & Gimpel 2016, arXiv:1606.08415 eq. for "GELU(x) ≈
 * 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))") forward and backward, 8 lanes with AVX2 + FMA
 * intrinsics, for ops.c's avx2 instance (included only on x86-64 with GCC/Clang).
 *
 * Why not the plain loop: gcc 12 vectorises ops_body.h's loop with 0.5x(1 + 1 − 2/(e^{2u}+1))
 * and gfn_expf's clamp if-converted into compares and blends (engine9 counted 43 instructions
 * a vector for the exp alone). Here the same function in the form
 *     GELU(x) = x·σ(2u) = x / (1 + e^z),  z = −2u = x·(−2k − 2k·0.044715·x²),  k = √(2/π)
 * (0.5(1 + tanh u) = σ(2u)), with the exp's clamp as one max and one min, rounding by
 * vroundps and the reduction and polynomial as FMAs (the same Cody–Waite split and degree-6
 * polynomial as fastmath.h, so the same ~1e-7 relative error). The backward uses
 * d/dx x·σ(s) = σ + x·σ(1 − σ)·s',  s = 2u,  s' = 2k(1 + 3·0.044715·x²).
 * Values differ from the scalar instance's by rounding only (native.test.ts checks both
 * against the float64 reference). NaN propagates through the final multiply by x. Under the
 * kernels' flush-to-zero (pool.c), σ underflows to 0 for x ≲ −44, so x = −∞ gives −∞·0 = NaN,
 * as the tanh form does.
 *
 * A range's last n mod 8 elements go through the same lanes with a masked load and store, so
 * every element is computed by the same instructions whatever the pool's split: the results
 * are the same bits at any thread count. */
#include <immintrin.h>
#include "fastmath.h"

#define GELU8_ATTR __attribute__((target("avx2,fma")))

/* e^z for z already clamped to [−87, 88] (fastmath.h's gfn_exp_tail, vectorised, with its constants) */
GELU8_ATTR static inline __m256 gelu8_exp(__m256 z) {
  __m256 n = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(GFN_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(GFN_LN2_HI), z);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(GFN_LN2_LO), r);
  __m256 p = _mm256_set1_ps(GFN_EXP_C6);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(GFN_EXP_C5));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(GFN_EXP_C4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(GFN_EXP_C3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(GFN_EXP_C2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

/* σ(2u) = 1 / (1 + e^z) for the 8 lanes of x; x² returned for the backward */
GELU8_ATTR static inline __m256 gelu8_sig(__m256 x, __m256 *x2) {
  const float k = 0.7978845608028654f;
  *x2 = _mm256_mul_ps(x, x);
  __m256 z = _mm256_mul_ps(x, _mm256_fmadd_ps(*x2, _mm256_set1_ps(-2.0f * k * 0.044715f), _mm256_set1_ps(-2.0f * k)));
  /* max(z, lo) returns lo for a NaN z: the NaN comes back through the multiply by x */
  z = _mm256_min_ps(_mm256_max_ps(z, _mm256_set1_ps(GFN_EXP_LO)), _mm256_set1_ps(GFN_EXP_HI));
  __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, gelu8_exp(z)));
}

/* lanes [0, m) on, the rest off */
GELU8_ATTR static inline __m256i gelu8_mask(long m) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* out[i] = GELU(x[i]) for i in [i0, i1) */
GELU8_ATTR static void gelu8_forward(const float *x, float *out, long i0, long i1) {
  long i = i0;
  __m256 x2;
  for (; i + 8 <= i1; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(v, gelu8_sig(v, &x2)));
  }
  if (i < i1) {
    __m256i m = gelu8_mask(i1 - i);
    __m256 v = _mm256_maskload_ps(x + i, m);
    _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(v, gelu8_sig(v, &x2)));
  }
}

GELU8_ATTR static inline __m256 gelu8_dx(__m256 v, __m256 dy, __m256 acc) {
  const float k = 0.7978845608028654f;
  __m256 x2, s = gelu8_sig(v, &x2);
  __m256 ds = _mm256_fmadd_ps(x2, _mm256_set1_ps(2.0f * k * 3.0f * 0.044715f), _mm256_set1_ps(2.0f * k));
  /* σ + x·σ(1 − σ)·s' */
  __m256 t = _mm256_mul_ps(_mm256_mul_ps(v, s), _mm256_sub_ps(_mm256_set1_ps(1.0f), s));
  return _mm256_fmadd_ps(dy, _mm256_fmadd_ps(t, ds, s), acc);
}

/* dx[i] += dout[i]·GELU'(x[i]) for i in [i0, i1) */
GELU8_ATTR static void gelu8_backward(const float *x, const float *dout, float *dx, long i0, long i1) {
  long i = i0;
  for (; i + 8 <= i1; i += 8)
    _mm256_storeu_ps(dx + i, gelu8_dx(_mm256_loadu_ps(x + i), _mm256_loadu_ps(dout + i), _mm256_loadu_ps(dx + i)));
  if (i < i1) {
    __m256i m = gelu8_mask(i1 - i);
    __m256 r = gelu8_dx(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(dout + i, m), _mm256_maskload_ps(dx + i, m));
    _mm256_maskstore_ps(dx + i, m, r);
  }
}

/* The fused bias + GELU of a linear layer (ops.c's gfn_bias_gelu_*), one row segment [j0, j1)
 * at a time: forward pre[j] += bias[j], out[j] = GELU(pre[j]); backward dpre[j] = dout[j]·GELU'(pre[j])
 * (written, not added) and dbias[j] += dpre[j]. Per element the same instructions as
 * gelu8_forward / gelu8_backward (the backward's accumulator is 0, and fma(a, b, 0) rounds as
 * a·b), so the same bits as addBias then GELU, and GELU's backward into zeros then biasGrad. */
GELU8_ATTR static void gelu8_bias_forward(float *pre, const float *bias, float *out, long j0, long j1) {
  long j = j0;
  __m256 x2;
  for (; j + 8 <= j1; j += 8) {
    __m256 v = _mm256_add_ps(_mm256_loadu_ps(pre + j), _mm256_loadu_ps(bias + j));
    _mm256_storeu_ps(pre + j, v);
    _mm256_storeu_ps(out + j, _mm256_mul_ps(v, gelu8_sig(v, &x2)));
  }
  if (j < j1) {
    __m256i m = gelu8_mask(j1 - j);
    __m256 v = _mm256_add_ps(_mm256_maskload_ps(pre + j, m), _mm256_maskload_ps(bias + j, m));
    _mm256_maskstore_ps(pre + j, m, v);
    _mm256_maskstore_ps(out + j, m, _mm256_mul_ps(v, gelu8_sig(v, &x2)));
  }
}

GELU8_ATTR static void gelu8_bias_backward(const float *pre, const float *dout, float *dpre, float *dbias, long j0, long j1) {
  long j = j0;
  const __m256 zero = _mm256_setzero_ps();
  for (; j + 8 <= j1; j += 8) {
    __m256 d = gelu8_dx(_mm256_loadu_ps(pre + j), _mm256_loadu_ps(dout + j), zero);
    _mm256_storeu_ps(dpre + j, d);
    if (dbias) _mm256_storeu_ps(dbias + j, _mm256_add_ps(_mm256_loadu_ps(dbias + j), d));
  }
  if (j < j1) {
    __m256i m = gelu8_mask(j1 - j);
    __m256 d = gelu8_dx(_mm256_maskload_ps(pre + j, m), _mm256_maskload_ps(dout + j, m), zero);
    _mm256_maskstore_ps(dpre + j, m, d);
    if (dbias) _mm256_maskstore_ps(dbias + j, m, _mm256_add_ps(_mm256_maskload_ps(dbias + j, m), d));
  }
}
