/* The sampler's tempered exponentials, bit-identical to the JavaScript it replaces
 * (src/infer/processors.ts, Sampler.pick: e[i] = Math.exp((l[i] − mx) / T) in float64, then a
 * left-to-right sum). V8's Math.exp is fdlibm's e_exp.c (V8 src/base/ieee754.cc, `exp`);
 * v8_exp below is that function line for line, and the vector instances (sample_body.h) run
 * the same double operations per lane. Nothing may be contracted into an FMA (one rounding
 * instead of two changes bits): this file is compiled with fp-contract off (the pragma; GCC
 * honours it per function), and the test compares every path with Math.exp bit for bit. */
#pragma GCC optimize("fp-contract=off")
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* clang (macOS builds) ignores GCC's pragma and contracts by default on arm64; not built here */
#endif
#include <stdint.h>
#include <string.h>
#include "kernels.h"
#include "isa.h"

static const double halF[2] = {0.5, -0.5}, o_threshold = 7.09782712893383973096e+02, u_threshold = -7.45133219101941108420e+02,
                    ln2HI = 6.93147180369123816490e-01, ln2LO = 1.90821492927058770002e-10, invln2 = 1.44269504088896338700e+00,
                    P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03, P3 = 6.61375632143793436117e-05,
                    P4 = -1.65339022054652515390e-06, P5 = 4.13813679705723846039e-08, E = 2.718281828459045;
static const double huge = 1.0e+300, twom1000 = 9.33263618503218878990e-302, two1023 = 8.988465674311579539e307;

static inline uint64_t bits_of(double x) {
  uint64_t u;
  memcpy(&u, &x, 8);
  return u;
}
static inline double of_bits(uint64_t u) {
  double x;
  memcpy(&x, &u, 8);
  return x;
}

/* fdlibm e_exp.c as V8 has it (src/base/ieee754.cc): the same branches and double operations */
static double v8_exp(double x) {
  double y, hi = 0.0, lo = 0.0, c, t, twopk;
  int32_t k = 0, xsb;
  uint32_t hx = (uint32_t)(bits_of(x) >> 32);
  xsb = (hx >> 31) & 1;
  hx &= 0x7FFFFFFF;
  if (hx >= 0x40862E42) {
    if (hx >= 0x7FF00000) {
      uint32_t lx = (uint32_t)bits_of(x);
      if (((hx & 0xFFFFF) | lx) != 0) return x + x; /* NaN */
      return (xsb == 0) ? x : 0.0;                  /* exp(±inf) = {inf, 0} */
    }
    if (x > o_threshold) return huge * huge;
    if (x < u_threshold) return twom1000 * twom1000;
  }
  if (hx > 0x3FD62E42) {
    if (hx < 0x3FF0A2B2) {
      if (x == 1.0) return E;
      hi = x - (xsb ? -ln2HI : ln2HI);
      lo = xsb ? -ln2LO : ln2LO;
      k = 1 - xsb - xsb;
    } else {
      k = (int32_t)(invln2 * x + halF[xsb]);
      t = k;
      hi = x - t * ln2HI;
      lo = t * ln2LO;
    }
    x = hi - lo;
  } else if (hx < 0x3E300000) {
    if (huge + x > 1.0) return 1.0 + x;
  } else {
    k = 0;
  }
  t = x * x;
  if (k >= -1021)
    twopk = of_bits((uint64_t)(uint32_t)(0x3FF00000 + (int32_t)((uint32_t)k << 20)) << 32);
  else
    twopk = of_bits((uint64_t)(0x3FF00000u + ((uint32_t)(k + 1000) << 20)) << 32);
  c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return 1.0 - ((x * c) / (c - 2.0) - x);
  y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) {
    if (k == 1024) return y * 2.0 * two1023;
    return y * twopk;
  }
  return y * twopk * twom1000;
}

double gfn_v8_exp(double x) { return v8_exp(x); }

/* Why the vector lanes may use the general reduction (hi = x − t·ln2HI, lo = t·ln2LO) for every
 * x ≤ 0: in (0.5 ln2, 1.5 ln2) fdlibm takes hi = x − ln2HI[1] = x + ln2HI, lo = −ln2LO, k = −1,
 * which are exactly the general formulas at t = −1 (−1·a is exact). Below 0.5 ln2 it keeps x
 * (k = 0) and returns 1 − ((x·c)/(c − 2) − x); at t = 0 the general formulas give hi = x, lo = +0,
 * the same reduced x, and 1 − ((0 − (x·c)/(2 − c)) − x), where c − 2 = −(2 − c) and the quotient
 * only changes sign (round-to-nearest is symmetric), so the terms are equal up to the sign of a
 * zero that 1 − (±0) erases; twopk = 1 then. The test checks this against Math.exp. */

static double temp_exp_scalar(const float *l, double mx, double T, double *e, long n) {
  double sum = 0;
  for (long i = 0; i < n; i++) {
    e[i] = v8_exp(((double)l[i] - mx) / T);
    sum += e[i];
  }
  return sum;
}

static double shift_exp_scalar(const double *s, double mx, double *e, long n) {
  double sum = 0;
  for (long i = 0; i < n; i++) {
    e[i] = v8_exp(s[i] - mx);
    sum += e[i];
  }
  return sum;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SMP_ATTR __attribute__((target("avx512f,avx2")))
#define SMP(name) name##_avx512
#define SMP_W 8
#include "sample_body.h"
#define SMP_ATTR __attribute__((target("avx2")))
#define SMP(name) name##_avx2
#define SMP_W 4
#include "sample_body.h"
#endif
#if defined(__aarch64__)
#define SMP_ATTR
#define SMP(name) name##_neon
#define SMP_W 2
#include "sample_body.h"
#endif

double gfn_temp_exp(const float *l, double mx, double T, double *e, long n) {
  switch (gfn_isa()) {
#if defined(__x86_64__) && defined(__GNUC__)
    case GF_ISA_AVX512: return temp_exp_avx512(l, mx, T, e, n);
    case GF_ISA_AVX2: return temp_exp_avx2(l, mx, T, e, n);
#endif
#if defined(__aarch64__)
    case GF_ISA_NEON: return temp_exp_neon(l, mx, T, e, n);
#endif
    default: return temp_exp_scalar(l, mx, T, e, n);
  }
}

double gfn_shift_exp(const double *s, double mx, double *e, long n) {
  switch (gfn_isa()) {
#if defined(__x86_64__) && defined(__GNUC__)
    case GF_ISA_AVX512: return shift_exp_avx512(s, mx, e, n);
    case GF_ISA_AVX2: return shift_exp_avx2(s, mx, e, n);
#endif
#if defined(__aarch64__)
    case GF_ISA_NEON: return shift_exp_neon(s, mx, e, n);
#endif
    default: return shift_exp_scalar(s, mx, e, n);
  }
}

/* The inverse CDF of e[i] / sum in id order at u (Sampler's walkCdf): the first i where
 * u −= e[i] / sum goes below 0; rounding: the last i with e[i] / sum > 0; else 0. */
long gfn_walk_cdf(const double *e, double sum, long n, double u) {
  for (long i = 0; i < n; i++) {
    u -= e[i] / sum;
    if (u < 0) return i;
  }
  for (long i = n - 1; i >= 0; i--)
    if (e[i] / sum > 0) return i;
  return 0;
}
