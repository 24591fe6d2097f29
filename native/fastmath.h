/* exp(x) as 2^n · poly(r): vectorisable (no libm call), NaN propagates, relative error ~1e-7.
 * Shared by ops.c and attention.c. */
#ifndef GPTFORGE_FASTMATH_H
#define GPTFORGE_FASTMATH_H
#include <stdint.h>

static inline float gfn_expf(float x) {
  float y = x < -87.0f ? -87.0f : x;
  y = y > 88.0f ? 88.0f : y;
  float n = __builtin_rintf(y * 1.44269504088896341f);
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

#endif
