/* fp16 helpers shared by the block kernels (qmatmul.c, qmatmul_q8.c). */
#ifndef GPTFORGE_HALF_H
#define GPTFORGE_HALF_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* IEEE half (little-endian bytes) → float, subnormals included (no F16C needed on any path) */
static inline float gf_half(const uint8_t *p) {
  uint32_t h = (uint32_t)p[0] | ((uint32_t)p[1] << 8);
  uint32_t s = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
  if (e == 0) {
    if (m == 0) bits = s;
    else {
      e = 113; /* 127 − 15 + 1, lowered once per shift that normalises the mantissa */
      while (!(m & 0x400u)) { m <<= 1; e--; }
      bits = s | (e << 23) | ((m & 0x3ffu) << 13);
    }
  } else if (e == 31) bits = s | 0x7f800000u | (m << 13);
  else bits = s | ((e + 112) << 23) | (m << 13);
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* float → the nearest IEEE half (round to nearest even, subnormals included, overflow → ±inf)
 * → float: the value ggml's GGML_FP32_TO_FP16 stores, e.g. block_q8_0.d of a quantized
 * activation row. Exact steps: scaling by powers of two, and rintf in the default rounding
 * mode (nearest even). */
static inline float gf_round_half(float f) {
  if (f == 0.0f || !(fabsf(f) < INFINITY)) return f;
  int e;
  (void)frexpf(f, &e); /* |f| ∈ [2^(e−1), 2^e): a normal half keeps 11 bits, quantum 2^(e−11) */
  if (e < -13) e = -13; /* below 2^−14 the half is subnormal: quantum 2^−24 */
  const float r = ldexpf(rintf(ldexpf(f, 11 - e)), e - 11);
  return fabsf(r) > 65504.0f ? copysignf(INFINITY, f) : r;
}

#endif
