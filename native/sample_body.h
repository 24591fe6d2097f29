/* The tempered-exponential kernel's vector loop (sample.c), included once per instruction set:
 *   SMP_ATTR    the target attribute of the instance (may be empty)
 *   SMP(name)   name with the instance's suffix
 *   SMP_W       lanes (doubles) per vector: 8 (AVX-512), 4 (AVX2), 2 (NEON)
 * GCC vector extensions (clang has them too), so one text serves every width. Each lane runs fdlibm's e_exp.c
 * (v8_exp in sample.c) for x ≤ 0 with its branches turned into selects, each select
 * choosing between values the scalar code computes with the same double operations in the
 * same order (see sample.c for why the k = 0 and k = −1 ranges may share the general reduction).
 * A row with any x > 0 or NaN (never produced by the sampler: x = (l − max) / T ≤ 0) is redone
 * by the scalar v8_exp loop. Each inclusion #undefs the three macros. */

typedef double SMP(vd) __attribute__((vector_size(SMP_W * 8)));
typedef int64_t SMP(vl) __attribute__((vector_size(SMP_W * 8)));
typedef int32_t SMP(vi) __attribute__((vector_size(SMP_W * 4)));
typedef float SMP(vf) __attribute__((vector_size(SMP_W * 4)));

/* e[j] = exp(x[j]) for SMP_W lanes (the caller sums); returns the
 * lanes where x ≤ 0 does not hold (x > 0 or NaN), whose e[j] are then not exp's: the caller redoes
 * the row in scalar code when any lane of any vector has one */
SMP_ATTR static inline SMP(vl) SMP(exp_lanes)(SMP(vd) x, double *e) {
  typedef SMP(vd) vd;
  typedef SMP(vl) vl;
  typedef SMP(vi) vi;
  vl le0 = x <= 0.0;
  vl ix = (vl)x;
  vl hx = (ix >> 32) & 0x7FFFFFFF;
  /* k = (int)(invln2·x + halF[1]) (truncation), on x clamped above −800 so the conversion stays in
   * range: a clamped lane is below u_threshold and its result is 0 whatever k */
  vl inr = x > -800.0;
  vd xc = (vd)(((vl)x & inr) | ((vl)((vd){0} - 800.0) & ~inr));
  vd kf = invln2 * xc + -0.5;
  vd t = __builtin_convertvector(__builtin_convertvector(kf, vi), vd);
  vl mid = hx < 0x3FF0A2B2, small = hx <= 0x3FD62E42;
  t = (vd)(((vl)t & ~mid) | ((vl)((vd){0} - 1.0) & mid)); /* k = −1 in (0.5 ln2, 1.5 ln2) */
  t = (vd)((vl)t & ~small);                                 /* k = 0 below 0.5 ln2 */
  vd hi = x - t * ln2HI;
  vd lo = t * ln2LO;
  vd r = hi - lo;
  vd tt = r * r;
  vd c = r - tt * (P1 + tt * (P2 + tt * (P3 + tt * (P4 + tt * P5))));
  vd y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
  /* k as an integer, exactly: t is integral and |t| < 2^51 */
  vd magic = (vd){0} + 6755399441055744.0;
  vl k = (vl)(t + magic) - (vl)magic;
  vl lowk = k < -1021;
  k = k + (lowk & 1000);
  vd twopk = (vd)((k + 1023) << 52);
  vd res = y * twopk;
  res = (vd)(((vl)(res * twom1000) & lowk) | ((vl)res & ~lowk));
  vl tiny = hx < 0x3E300000;
  res = (vd)(((vl)(1.0 + x) & tiny) | ((vl)res & ~tiny));
  vl under = x < u_threshold;
  res = (vd)((vl)res & ~under); /* twom1000 · twom1000 = +0 */
  memcpy(e, &res, sizeof res);
  return ~le0;
}

SMP_ATTR static double SMP(temp_exp)(const float *l, double mx, double T, double *e, long n) {
  double sum = 0;
  long i = 0;
  SMP(vl) bad = {0};
  for (; i + SMP_W <= n; i += SMP_W) {
    SMP(vf) lf;
    memcpy(&lf, l + i, sizeof lf);
    bad |= SMP(exp_lanes)((__builtin_convertvector(lf, SMP(vd)) - mx) / T, e + i);
    for (int j = 0; j < SMP_W; j++) sum += e[i + j];
  }
  int64_t any = 0;
  for (int j = 0; j < SMP_W; j++) any |= bad[j];
  if (any) return temp_exp_scalar(l, mx, T, e, n); /* some x > 0 or NaN: never from the sampler */
  for (; i < n; i++) {
    e[i] = v8_exp(((double)l[i] - mx) / T);
    sum += e[i];
  }
  return sum;
}

/* e[i] = exp(s[i] − mx) over float64 scores, the sum left to right (drawToken's softmax) */
SMP_ATTR static double SMP(shift_exp)(const double *s, double mx, double *e, long n) {
  double sum = 0;
  long i = 0;
  SMP(vl) bad = {0};
  for (; i + SMP_W <= n; i += SMP_W) {
    SMP(vd) v;
    memcpy(&v, s + i, sizeof v);
    bad |= SMP(exp_lanes)(v - mx, e + i);
    for (int j = 0; j < SMP_W; j++) sum += e[i + j];
  }
  int64_t any = 0;
  for (int j = 0; j < SMP_W; j++) any |= bad[j];
  if (any) return shift_exp_scalar(s, mx, e, n);
  for (; i < n; i++) {
    e[i] = v8_exp(s[i] - mx);
    sum += e[i];
  }
  return sum;
}

#undef SMP_ATTR
#undef SMP
#undef SMP_W
