/* exp(x) as 2^n · poly(r): vectorisable (no libm call), NaN propagates, relative error ~1e-7.
 * Shared by ops.c and attention.c, in two spellings that differ only in how n is rounded:
 *   gfn_expf         rintf: one instruction with SSE4.1 (the avx2 and avx512 instances) or
 *                    on ARM64;
 *   gfn_expf_nofma   for code compiled for x86-64's baseline (the scalar instances, the
 *                    general attention path, decoding), where rintf is a libm call per
 *                    element (~100 instructions): it adds and removes 1.5·2^23 instead, the
 *                    same value as rintf in round-to-nearest for |y·log2 e| < 2^22 (here
 *                    < 128), bit for bit. Not for FMA-enabled code: the compiler may fuse
 *                    y·log2 e + 1.5·2^23 and so round the unrounded product. */
#ifndef GPTFORGE_FASTMATH_H
#define GPTFORGE_FASTMATH_H
#include <stdint.h>

#define GFN_LOG2E 1.44269504088896341f
/* ln 2 split in two (Cody–Waite): HI has few enough bits that n·HI is exact for |n| < 2^8 */
#define GFN_LN2_HI 0.693145751953125f
#define GFN_LN2_LO 1.42860682030941723212e-6f
/* the clamp of the argument: e^88 is below FLT_MAX, e^-87 above FLT_MIN */
#define GFN_EXP_LO -87.0f
#define GFN_EXP_HI 88.0f
/* Taylor coefficients 1/k! of the degree-6 polynomial, highest first */
#define GFN_EXP_C6 (1.0f / 720.0f)
#define GFN_EXP_C5 (1.0f / 120.0f)
#define GFN_EXP_C4 (1.0f / 24.0f)
#define GFN_EXP_C3 (1.0f / 6.0f)
#define GFN_EXP_C2 0.5f

/* y clamped to [-87, 88]; n = round(y·log2 e) */
static inline float gfn_exp_tail(float x, float y, float n) {
  float r = y - n * GFN_LN2_HI;
  r = r - n * GFN_LN2_LO;
  float p = GFN_EXP_C6;
  p = p * r + GFN_EXP_C5;
  p = p * r + GFN_EXP_C4;
  p = p * r + GFN_EXP_C3;
  p = p * r + GFN_EXP_C2;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union { float f; int32_t i; } u;
  u.f = p;
  u.i += (int32_t)n * (1 << 23);
  return x != x ? x : u.f;
}

static inline float gfn_expf(float x) {
  float y = x < GFN_EXP_LO ? GFN_EXP_LO : x;
  y = y > GFN_EXP_HI ? GFN_EXP_HI : y;
  return gfn_exp_tail(x, y, __builtin_rintf(y * GFN_LOG2E));
}

static inline float gfn_expf_nofma(float x) {
  float y = x < GFN_EXP_LO ? GFN_EXP_LO : x;
  y = y > GFN_EXP_HI ? GFN_EXP_HI : y;
#if defined(__x86_64__) || defined(__i386__)
  return gfn_exp_tail(x, y, (y * GFN_LOG2E + 12582912.0f) - 12582912.0f);
#else
  return gfn_exp_tail(x, y, __builtin_rintf(y * GFN_LOG2E));
#endif
}

#endif
