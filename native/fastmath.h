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

/* y clamped to [-87, 88]; n = round(y·log2 e) */
static inline float gfn_exp_tail(float x, float y, float n) {
  float r = y - n * 0.693145751953125f;
  r = r - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union { float f; int32_t i; } u;
  u.f = p;
  u.i += (int32_t)n * (1 << 23);
  return x != x ? x : u.f;
}

static inline float gfn_expf(float x) {
  float y = x < -87.0f ? -87.0f : x;
  y = y > 88.0f ? 88.0f : y;
  return gfn_exp_tail(x, y, __builtin_rintf(y * GFN_LOG2E));
}

static inline float gfn_expf_nofma(float x) {
  float y = x < -87.0f ? -87.0f : x;
  y = y > 88.0f ? 88.0f : y;
#if defined(__x86_64__) || defined(__i386__)
  return gfn_exp_tail(x, y, (y * GFN_LOG2E + 12582912.0f) - 12582912.0f);
#else
  return gfn_exp_tail(x, y, __builtin_rintf(y * GFN_LOG2E));
#endif
}

#endif
