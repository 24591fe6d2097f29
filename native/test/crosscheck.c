/* Cross-check of every kernel path this build and CPU can run against the scalar path, in C
 * alone (no Node): the harness the NEON kernels are verified with on x86-64 machines, by
 * cross-compiling for AArch64 and running under qemu-user (test/engine/neon.test.ts). Run
 * natively it checks AVX2/AVX-512 the same way.
 *
 * For each kernel: the same random inputs through GF_ISA_SCALAR and through each other
 * supported path; the largest error relative to max(1, |scalar|) must stay under a bound
 * (the paths differ in FMA contraction and in exp's rounding only).
 * Prints one "ok <path> <kernel> <err>" line per check, or "FAIL …" and exits 1.
 *
 *   cc -O2 -std=gnu11 -pthread native/test/crosscheck.c native/{pool,isa,sgemm,ops,attention,qmatmul,qmatmul_q8,sample}.c -lm
 *   ./a.out [threads]
 *
 * A second mode runs one kernel `reps` times on one path and one thread, for instruction
 * counts under emulation (scripts/neon-icount.sh; the count of reps=0 is the baseline):
 *   ./a.out bench <scalar|neon|avx2|avx512> <sgemm|sgemm_tb M K N | layernorm R C | lnbwd R C | biasgrad R C | biasgelubwd R C | sumsq N | xent R V | attention B T H D | adamw N> <reps>
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../isa.h"
#include "../kernels.h"
#include "../pool.h"
#include "../half.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
static float *rnd(long n, float scale) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (long i = 0; i < n; i++) p[i] = frand() * scale;
  return p;
}
static float *dup(const float *x, long n) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  memcpy(p, x, sizeof(float) * (size_t)n);
  return p;
}
static float *zeros(long n) { return calloc((size_t)(n ? n : 1), sizeof(float)); }

static int failures = 0;
static void check(const char *isa, const char *what, const float *ref, const float *got, long n, double tol) {
  double err = 0;
  for (long i = 0; i < n; i++) {
    double d = fabs((double)ref[i] - (double)got[i]) / fmax(1.0, fabs((double)ref[i]));
    if (!(d <= err)) err = d; /* NaN counts as an error */
  }
  if (err <= tol) printf("ok %s %s %.3g\n", isa, what, err);
  else { printf("FAIL %s %s %.3g > %.3g\n", isa, what, err, tol); failures++; }
}

/* Each case runs `body` once per path into its own outputs; outputs[0] is the scalar one. */
#define NPATH 2
static gf_isa paths[NPATH];
static int npaths;

static void case_sgemm(long M, long K, long N, int ta, int tb, int acc, int serial) {
  float *A = rnd(M * K, 1), *B = rnd(K * N, 1), *C0 = rnd(M * N, 1);
  float *out[NPATH];
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    out[p] = dup(C0, M * N);
    (serial ? gfn_sgemm_serial : gfn_sgemm)(A, B, out[p], M, K, N, ta, tb, acc);
  }
  char name[96];
  snprintf(name, sizeof name, "sgemm%s %ldx%ldx%ld %c%c%s", serial ? "_serial" : "", M, K, N, ta ? 'T' : 'N', tb ? 'T' : 'N', acc ? " acc" : "");
  for (int p = 1; p < npaths; p++) check(gfn_isa_name(paths[p]), name, out[0], out[p], M * N, 1e-5 * sqrt((double)K));
  for (int p = 0; p < npaths; p++) free(out[p]);
  free(A); free(B); free(C0);
}

/* sgemm's bias / bias + GELU epilogue (gfn_sgemm_bias, per tile) against the product then
 * gfn_add_bias / gfn_bias_gelu_forward on the same path: bit for bit; and the paths against
 * scalar like the product */
static void case_sgemm_bias(long M, long K, long N, int tb) {
  float *A = rnd(M * K, 1), *B = rnd(K * N, 1), *bias = rnd(N, 1);
  float *c[NPATH], *pre[NPATH], *act[NPATH];
  char name[96];
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    float *c0 = zeros(M * N), *pre0 = zeros(M * N), *act0 = zeros(M * N);
    gfn_sgemm(A, B, c0, M, K, N, 0, tb, 0);
    memcpy(pre0, c0, sizeof(float) * (size_t)(M * N));
    gfn_add_bias(c0, bias, M, N);
    gfn_bias_gelu_forward(pre0, bias, act0, M, N);
    c[p] = rnd(M * N, 1);
    pre[p] = rnd(M * N, 1);
    act[p] = rnd(M * N, 1);
    gfn_sgemm_bias(A, B, c[p], M, K, N, tb, bias, NULL);
    gfn_sgemm_bias(A, B, pre[p], M, K, N, tb, bias, act[p]);
    snprintf(name, sizeof name, "sgemm_bias=separate %ldx%ldx%ld N%c", M, K, N, tb ? 'T' : 'N');
    check(gfn_isa_name(paths[p]), name, c0, c[p], M * N, 0);
    snprintf(name, sizeof name, "sgemm_bias_gelu=separate pre %ldx%ldx%ld N%c", M, K, N, tb ? 'T' : 'N');
    check(gfn_isa_name(paths[p]), name, pre0, pre[p], M * N, 0);
    snprintf(name, sizeof name, "sgemm_bias_gelu=separate act %ldx%ldx%ld N%c", M, K, N, tb ? 'T' : 'N');
    check(gfn_isa_name(paths[p]), name, act0, act[p], M * N, 0);
    free(c0); free(pre0); free(act0);
  }
  snprintf(name, sizeof name, "sgemm_bias_gelu %ldx%ldx%ld N%c", M, K, N, tb ? 'T' : 'N');
  for (int p = 1; p < npaths; p++) check(gfn_isa_name(paths[p]), name, act[0], act[p], M * N, 1e-5 * sqrt((double)K));
  for (int p = 0; p < npaths; p++) { free(c[p]); free(pre[p]); free(act[p]); }
  free(A); free(B); free(bias);
}

/* Decode rows (sgemm's small-M path, M ≤ 8, and up to 32 rows in 8-row chunks) must equal the
 * same rows of a 40-row product (the general path) bit for bit, on every path: a row decoded
 * alone equals it batched. */
static void case_decode_rows(long K, long N, int tb, int acc) {
  float *A = rnd(40 * K, 1), *B = rnd(K * N, 1), *C0 = rnd(40 * N, 1);
  static const int Ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 12, 17, 32};
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    float *big = dup(C0, 40 * N);
    gfn_sgemm(A, B, big, 40, K, N, 0, tb, acc);
    long bad = -1;
    int badM = 0;
    for (int mi = 0; mi < (int)(sizeof Ms / sizeof Ms[0]) && bad < 0; mi++) {
      int M = Ms[mi];
      float *small = dup(C0, M * N);
      gfn_sgemm(A, B, small, M, K, N, 0, tb, acc);
      for (long i = 0; i < M * N; i++)
        if (memcmp(&small[i], &big[i], sizeof(float)) != 0) { bad = i; badM = M; break; }
      free(small);
    }
    char name[96];
    snprintf(name, sizeof name, "sgemm_rows_exact %ldx%ld N%c%s", K, N, tb ? 'T' : 'N', acc ? " acc" : "");
    if (bad < 0) printf("ok %s %s 0\n", gfn_isa_name(paths[p]), name);
    else { printf("FAIL %s %s: M=%d element %ld differs from the 40-row product\n", gfn_isa_name(paths[p]), name, badM, bad); failures++; }
    free(big);
  }
  free(A); free(B); free(C0);
}

static void case_rows(long rows, long cols) {
  long n = rows * cols;
  float *x = rnd(n, 2), *w = rnd(cols, 1), *b = rnd(cols, 1), *dy = rnd(n, 1);
  int32_t *tg = malloc(sizeof(int32_t) * (size_t)rows);
  for (long r = 0; r < rows; r++) tg[r] = r % 7 == 3 ? -1 : (int32_t)((rng >> 20) % (uint64_t)cols), frand();
  /* per path: layernorm fwd+bwd, rmsnorm fwd+bwd, gelu, silu, softmax, cross-entropy, adamw */
  enum { LN_O, LN_DX, LN_DW, RMS_O, RMS_DX, GELU_O, GELU_DX, SILU_O, SILU_DX, SM_O, SM_DX, CE_L, CE_DL, CEF_L, CEF_DL, ADAM_P, BG_PRE, BG_ACT, BG_DPRE, BG_DB, NOUT };
  /* the fused bias + GELU's separate equivalents, per path: addBias + GELU, GELU backward + biasGrad */
  float *sep[NPATH][4];
  float *o[NPATH][NOUT], *dl = rnd(rows, 1);
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    float *mean = zeros(rows), *rstd = zeros(rows);
    for (int k = 0; k < NOUT; k++) o[p][k] = zeros(n);
    gfn_layernorm_forward(x, w, b, o[p][LN_O], mean, rstd, rows, cols, 1e-5f);
    float *db = zeros(cols);
    gfn_layernorm_backward(dy, x, w, mean, rstd, o[p][LN_DX], o[p][LN_DW], db, rows, cols);
    gfn_rmsnorm_forward(x, w, o[p][RMS_O], rstd, rows, cols, 1e-5f);
    float *dw2 = zeros(cols);
    gfn_rmsnorm_backward(dy, x, w, rstd, o[p][RMS_DX], dw2, rows, cols);
    gfn_gelu_forward(x, o[p][GELU_O], n);
    gfn_gelu_backward(x, dy, o[p][GELU_DX], n);
    gfn_silu_forward(x, o[p][SILU_O], n);
    gfn_silu_backward(x, dy, o[p][SILU_DX], n);
    gfn_softmax_forward(x, o[p][SM_O], rows, cols);
    gfn_softmax_backward(o[p][SM_O], dy, o[p][SM_DX], rows, cols);
    gfn_cross_entropy_forward(x, tg, o[p][CE_L], rows, cols, -1);
    gfn_cross_entropy_backward(x, tg, dl, o[p][CE_DL], rows, cols, -1);
    for (long i = 0; i < n; i++) o[p][CEF_DL][i] = 1e30f; /* written, not added to */
    gfn_cross_entropy_fused(x, tg, dl, o[p][CEF_L], o[p][CEF_DL], rows, cols, -1);
    float *pp = dup(x, n), *m = zeros(n), *v = zeros(n);
    for (int s = 1; s <= 3; s++) gfn_adamw(pp, dy, m, v, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f - powf(0.9f, (float)s), 1.0f - powf(0.95f, (float)s), 1.0f);
    memcpy(o[p][ADAM_P], pp, sizeof(float) * (size_t)n);
    memcpy(o[p][BG_PRE], x, sizeof(float) * (size_t)n);
    gfn_bias_gelu_forward(o[p][BG_PRE], b, o[p][BG_ACT], rows, cols);
    for (long i = 0; i < n; i++) o[p][BG_DPRE][i] = 1e30f; /* written, not added to */
    gfn_bias_gelu_backward(x, dy, o[p][BG_DPRE], o[p][BG_DB], rows, cols);
    for (int k = 0; k < 4; k++) sep[p][k] = zeros(n);
    memcpy(sep[p][0], x, sizeof(float) * (size_t)n);
    gfn_add_bias(sep[p][0], b, rows, cols);
    gfn_gelu_forward(sep[p][0], sep[p][1], n);
    gfn_gelu_backward(x, dy, sep[p][2], n);
    gfn_bias_grad(sep[p][2], sep[p][3], rows, cols);
    free(mean); free(rstd); free(db); free(dw2); free(pp); free(m); free(v);
  }
  static const char *names[NOUT] = {"layernorm_fwd", "layernorm_bwd dx", "layernorm_bwd dw", "rmsnorm_fwd", "rmsnorm_bwd dx", "gelu_fwd", "gelu_bwd", "silu_fwd", "silu_bwd", "softmax_fwd", "softmax_bwd", "cross_entropy_fwd", "cross_entropy_bwd", "cross_entropy_fused loss", "cross_entropy_fused dlogits", "adamw", "bias_gelu_fwd pre", "bias_gelu_fwd act", "bias_gelu_bwd dpre", "bias_gelu_bwd dbias"};
  const long len[NOUT] = {n, n, cols, n, n, n, n, n, n, n, n, rows, n, rows, n, n, n, n, n, cols};
  for (int k = 0; k < NOUT; k++) {
    char name[96];
    snprintf(name, sizeof name, "%s %ldx%ld", names[k], rows, cols);
    for (int p = 1; p < npaths; p++) check(gfn_isa_name(paths[p]), name, o[0][k], o[p][k], len[k], k == LN_DW || k == BG_DB ? 1e-4 : 2e-5);
  }
  /* on each path, the fused sweep against its own forward and backward-into-zeros */
  for (int p = 0; p < npaths; p++) {
    char name[96];
    snprintf(name, sizeof name, "cross_entropy_fused=separate loss %ldx%ld", rows, cols);
    check(gfn_isa_name(paths[p]), name, o[p][CE_L], o[p][CEF_L], rows, 1e-6);
    snprintf(name, sizeof name, "cross_entropy_fused=separate dlogits %ldx%ld", rows, cols);
    check(gfn_isa_name(paths[p]), name, o[p][CE_DL], o[p][CEF_DL], n, 1e-6);
    /* the fused bias + GELU runs the separate kernels' per-element code: the same bits */
    static const char *bg[4] = {"pre", "act", "dpre", "dbias"};
    for (int k = 0; k < 4; k++) {
      snprintf(name, sizeof name, "bias_gelu=separate %s %ldx%ld", bg[k], rows, cols);
      check(gfn_isa_name(paths[p]), name, sep[p][k], o[p][BG_PRE + k], k == 3 ? cols : n, 0);
      free(sep[p][k]);
    }
  }
  for (int p = 0; p < npaths; p++) for (int k = 0; k < NOUT; k++) free(o[p][k]);
  free(x); free(w); free(b); free(dy); free(tg); free(dl);
}

/* sum of squares: every path sums in the same order (16 lanes a block of 4096, blocks in
 * double, 16 fixed chunks), so the paths differ by FMA contraction only */
static void case_sum_squares(long n) {
  float *x = rnd(n, 3);
  double s[NPATH];
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    s[p] = gfn_sum_squares(x, n);
  }
  char name[64];
  snprintf(name, sizeof name, "sum_squares n %ld", n);
  for (int p = 1; p < npaths; p++) {
    float a = (float)s[0], b = (float)s[p];
    check(gfn_isa_name(paths[p]), name, &a, &b, 1, 1e-6 * (double)n);
  }
  free(x);
}

/* the sampler's tempered exponentials and drawToken's (native/sample.c) must equal the scalar path's bit for bit
 * (the scalar path is fdlibm's exp, which test/engine/sample-exp.test.ts holds equal to V8's
 * Math.exp): n logits ≤ 0 of every kind (−∞, down to −1e4, near 0, x where exp is subnormal or
 * underflows to 0) at five temperatures, and every float32 within 3000 ulps of fdlibm's branch points */
static int same_bits(const double *a, const double *b, long n) {
  return memcmp(a, b, sizeof(double) * (size_t)n) == 0;
}
static void case_temp_exp(long n) {
  float *l = malloc(sizeof(float) * (size_t)n);
  double *e[NPATH], sum[NPATH];
  for (int p = 0; p < npaths; p++) e[p] = malloc(sizeof(double) * (size_t)n);
  static const double Ts[] = {0.3, 0.7, 1, 1.3, 2};
  int bad = 0;
  for (int t = 0; t < 5; t++) {
    double T = Ts[t];
    for (long i = 0; i < n; i++) {
      float k = frand() * 0.5f + 0.5f, u = frand() * 0.5f + 0.5f;
      l[i] = k < 0.02f ? -INFINITY : k < 0.25f ? -u * 1e4f : k < 0.45f ? -u * 1000.0f : k < 0.75f ? -u * 30.0f : k < 0.85f ? -u * 1e-6f : (float)(-T * (700.0 + u * 50.0));
    }
    l[n / 2] = 0;
    for (int p = 0; p < npaths; p++) {
      gfn_isa_set(paths[p]);
      sum[p] = gfn_temp_exp(l, 0.0, T, e[p], n);
    }
    for (int p = 1; p < npaths; p++) bad += !same_bits(e[0], e[p], n) || memcmp(&sum[0], &sum[p], sizeof(double)) != 0;
    /* gfn_shift_exp (drawToken's): float64 scores (l − 0.3) / T, which are not floats */
    double *sc = malloc(sizeof(double) * (size_t)n);
    for (long i = 0; i < n; i++) sc[i] = ((double)l[i] - 0.3) / T;
    for (int p = 0; p < npaths; p++) {
      gfn_isa_set(paths[p]);
      sum[p] = gfn_shift_exp(sc, 0.0, e[p], n);
    }
    for (int p = 1; p < npaths; p++) bad += !same_bits(e[0], e[p], n) || memcmp(&sum[0], &sum[p], sizeof(double)) != 0;
    free(sc);
  }
  static const double points[] = {-3.725290298461914e-09, -0.34657359027997264, -1.0397207708399179, -707.7032713517042, -708.3964185322641, -709.782712893384, -745.1332191019411, -746};
  for (unsigned q = 0; q < sizeof points / sizeof points[0]; q++) {
    float f = (float)points[q];
    uint32_t b;
    memcpy(&b, &f, 4);
    long m = 6001 < n ? 6001 : n;
    for (long j = 0; j < m; j++) {
      uint32_t bj = b - 3000 + (uint32_t)j;
      memcpy(&l[j], &bj, 4);
    }
    for (int p = 0; p < npaths; p++) {
      gfn_isa_set(paths[p]);
      sum[p] = gfn_temp_exp(l, 0.0, 1.0, e[p], m);
    }
    for (int p = 1; p < npaths; p++) bad += !same_bits(e[0], e[p], m) || memcmp(&sum[0], &sum[p], sizeof(double)) != 0;
  }
  for (int p = 1; p < npaths; p++) {
    if (bad) { printf("FAIL %s temp_exp_exact n %ld: %d cases differ from scalar\n", gfn_isa_name(paths[p]), n, bad); failures++; }
    else printf("ok %s temp_exp_exact n %ld 0\n", gfn_isa_name(paths[p]), n);
  }
  for (int p = 0; p < npaths; p++) free(e[p]);
  free(l);
}

static void case_attention(int B, int T, int H, int D) {
  long nq = (long)B * T * 3 * H * D, no = (long)B * T * H * D;
  float *qkv = rnd(nq, 1), *dout = rnd(no, 1);
  float *out[NPATH], *lse[NPATH], *dq[NPATH];
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    out[p] = zeros(no); lse[p] = zeros((long)B * H * T); dq[p] = zeros(nq);
    gfn_attention_forward(qkv, out[p], lse[p], B, T, H, D);
    gfn_attention_backward(qkv, out[p], lse[p], dout, dq[p], B, T, H, D, 1);
  }
  char name[96];
  for (int p = 1; p < npaths; p++) {
    snprintf(name, sizeof name, "attention_fwd B%d T%d H%d D%d", B, T, H, D);
    check(gfn_isa_name(paths[p]), name, out[0], out[p], no, 2e-5);
    snprintf(name, sizeof name, "attention_bwd B%d T%d H%d D%d", B, T, H, D);
    check(gfn_isa_name(paths[p]), name, dq[0], dq[p], nq, 1e-4);
  }
  for (int p = 0; p < npaths; p++) { free(out[p]); free(lse[p]); free(dq[p]); }
  free(qkv); free(dout);
}

static void case_decode(int B, int Tq, int pos0, int Tmax, int H, int D) {
  long nq = (long)B * Tq * H * D, nc = (long)B * H * Tmax * D;
  float *q = rnd(nq, 1), *kc = rnd(nc, 1), *vc = rnd(nc, 1);
  /* per cache row: left padding, its own length (continuous batching), rows read in reverse */
  int32_t starts[8], lens[8], rows[8];
  for (int b = 0; b < B; b++) {
    starts[b] = b % 3;
    lens[b] = pos0 - b;
    rows[b] = B - 1 - b;
  }
  float *out[NPATH];
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    out[p] = zeros(nq);
    gfn_attention_decode(q, kc, vc, out[p], B, Tq, Tmax, H, D, starts, lens, rows);
  }
  char name[96];
  snprintf(name, sizeof name, "attention_decode B%d Tq%d pos0 %d H%d D%d", B, Tq, pos0, H, D);
  for (int p = 1; p < npaths; p++) check(gfn_isa_name(paths[p]), name, out[0], out[p], nq, 2e-5);
  for (int p = 0; p < npaths; p++) free(out[p]);
  free(q); free(kc); free(vc);
}

static int bench(int argc, char **argv) {
  pool_init(1);
  int ok = 0;
  for (int i = 0; i < GF_ISA_COUNT; i++)
    if (!strcmp(argv[2], gfn_isa_name((gf_isa)i))) ok = gfn_isa_set((gf_isa)i) == 0;
  if (!ok) { fprintf(stderr, "path %s is not supported here\n", argv[2]); return 2; }
  const char *k = argv[3];
  long a = argc > 4 ? atol(argv[4]) : 0, b = argc > 5 ? atol(argv[5]) : 0, c = argc > 6 ? atol(argv[6]) : 0, d = argc > 7 ? atol(argv[7]) : 0;
  int reps = atoi(argv[argc - 1]);
  if (!strcmp(k, "sgemm") || !strcmp(k, "sgemm_tb")) {
    float *A = rnd(a * b, 1), *B = rnd(b * c, 1), *C = zeros(a * c);
    for (int r = 0; r < reps; r++) gfn_sgemm(A, B, C, a, b, c, 0, k[5] == '_', 0);
  } else if (!strcmp(k, "layernorm")) {
    float *x = rnd(a * b, 1), *w = rnd(b, 1), *bb = rnd(b, 1), *o = zeros(a * b), *m = zeros(a), *rs = zeros(a);
    for (int r = 0; r < reps; r++) gfn_layernorm_forward(x, w, bb, o, m, rs, a, b, 1e-5f);
  } else if (!strcmp(k, "xent")) {
    float *x = rnd(a * b, 4), *l = zeros(a), *dl = rnd(a, 1), *dx = zeros(a * b);
    int32_t *t = calloc((size_t)a, sizeof(int32_t));
    for (int r = 0; r < reps; r++) { gfn_cross_entropy_forward(x, t, l, a, b, -1); gfn_cross_entropy_backward(x, t, dl, dx, a, b, -1); }
  } else if (!strcmp(k, "attention")) {
    long nq = a * b * 3 * c * d, no = a * b * c * d;
    float *qkv = rnd(nq, 1), *o = zeros(no), *lse = zeros(a * b * c), *dout = rnd(no, 1), *dq = zeros(nq);
    for (int r = 0; r < reps; r++) { gfn_attention_forward(qkv, o, lse, (int)a, (int)b, (int)c, (int)d); gfn_attention_backward(qkv, o, lse, dout, dq, (int)a, (int)b, (int)c, (int)d, 0); }
  } else if (!strcmp(k, "adamw")) {
    float *p = rnd(a, 1), *g = rnd(a, 1), *m = zeros(a), *v = zeros(a);
    for (int r = 0; r < reps; r++) gfn_adamw(p, g, m, v, a, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, 1.0f);
  } else if (!strcmp(k, "lnbwd")) {
    float *x = rnd(a * b, 1), *w = rnd(b, 1), *bb = rnd(b, 1), *o = zeros(a * b), *m = zeros(a), *rs = zeros(a);
    float *d = rnd(a * b, 1), *dx = zeros(a * b), *dw = zeros(b), *db = zeros(b);
    gfn_layernorm_forward(x, w, bb, o, m, rs, a, b, 1e-5f);
    for (int r = 0; r < reps; r++) gfn_layernorm_backward(d, x, w, m, rs, dx, dw, db, a, b);
  } else if (!strcmp(k, "biasgrad")) {
    float *d = rnd(a * b, 1), *db = zeros(b);
    for (int r = 0; r < reps; r++) gfn_bias_grad(d, db, a, b);
  } else if (!strcmp(k, "biasgelubwd")) {
    float *x = rnd(a * b, 3), *d = rnd(a * b, 1), *g = zeros(a * b), *db = zeros(b);
    for (int r = 0; r < reps; r++) gfn_bias_gelu_backward(x, d, g, db, a, b);
  } else if (!strcmp(k, "sumsq")) {
    float *x = rnd(a, 1);
    double s = 0;
    for (int r = 0; r < reps; r++) s += gfn_sum_squares(x, a);
    if (s < 0) printf("%g\n", s);
  } else { fprintf(stderr, "unknown kernel %s\n", k); return 2; }
  return 0;
}

/* Random blocks for W [N, K]: type 0 = Q8_0 (levels −128…127, −128 included though ggml's
 * quantizer never writes it), 1 = Q4_0; fp16 scales 2^−10…2^−6 with random mantissas, or all
 * equal to 2^−8 when `pow2`. */
static uint8_t *rnd_blocks(long N, long K, int type, int pow2) {
  const long bs = type == 0 ? 34 : 18, n = N * K / 32;
  uint8_t *w = malloc((size_t)(n * bs));
  for (long b = 0; b < n; b++) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    const unsigned h = pow2 ? (7u << 10) : ((5u + (unsigned)(rng % 5)) << 10) | (unsigned)((rng >> 8) & 0x3ff);
    w[b * bs] = (uint8_t)(h & 0xff);
    w[b * bs + 1] = (uint8_t)(h >> 8);
    for (long i = 2; i < bs; i++) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; w[b * bs + i] = (uint8_t)(rng >> 24); }
  }
  return w;
}

/* The integer decode kernel (qmatmul_q8.c) on each path against scalar: random inputs within
 * fp32 summation-order error; then inputs on which every float step is exact (power-of-two
 * scales, every block's max |x| = 127/8) must agree bit for bit; then each row computed alone
 * must equal the same row of the 7-row call, on every path. */
static void case_qmatmul_q8(long M, long K, long N, int type, int acc) {
  float *x = rnd(M * K, 1), *y0 = rnd(M * N, 1), *out[NPATH];
  uint8_t *w = rnd_blocks(N, K, type, 0);
  char name[96];
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    out[p] = dup(y0, M * N);
    gfn_qmatmul_q8(x, w, NULL, out[p], M, K, N, type, acc);
  }
  snprintf(name, sizeof name, "qmatmul_q8 %s %ldx%ldx%ld%s", type ? "q4_0" : "q8_0", M, K, N, acc ? " acc" : "");
  for (int p = 1; p < npaths; p++) check(gfn_isa_name(paths[p]), name, out[0], out[p], M * N, 1e-5 * sqrt((double)K));
  for (int p = 0; p < npaths; p++) free(out[p]);
  /* exact inputs */
  uint8_t *w2 = rnd_blocks(N, K, type, 1);
  for (long r = 0; r < M * K / 32; r++) x[r * 32 + (r % 32)] = (r & 1) ? 127.0f / 8 : -127.0f / 8;
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    out[p] = dup(y0, M * N);
    gfn_qmatmul_q8(x, w2, NULL, out[p], M, K, N, type, acc);
  }
  snprintf(name, sizeof name, "qmatmul_q8_exact %s %ldx%ldx%ld%s", type ? "q4_0" : "q8_0", M, K, N, acc ? " acc" : "");
  for (int p = 1; p < npaths; p++) check(gfn_isa_name(paths[p]), name, out[0], out[p], M * N, 0);
  for (int p = 0; p < npaths; p++) free(out[p]);
  /* a row alone = the same row batched */
  for (int p = 0; p < npaths; p++) {
    gfn_isa_set(paths[p]);
    float *all = zeros(M * N), *one = zeros(N);
    gfn_qmatmul_q8(x, w, NULL, all, M, K, N, type, 0);
    long bad = -1;
    for (long m = 0; m < M && bad < 0; m++) {
      gfn_qmatmul_q8(x + m * K, w, NULL, one, 1, K, N, type, 0);
      if (memcmp(one, all + m * N, sizeof(float) * (size_t)N) != 0) bad = m;
    }
    snprintf(name, sizeof name, "qmatmul_q8_rows_exact %s %ldx%ldx%ld", type ? "q4_0" : "q8_0", M, K, N);
    if (bad < 0) printf("ok %s %s 0\n", gfn_isa_name(paths[p]), name);
    else { printf("FAIL %s %s: row %ld alone differs from it batched\n", gfn_isa_name(paths[p]), name, bad); failures++; }
    /* the scales passed as fp32 (what decoding does) give the same bits as read from the blocks */
    const long bs = type == 0 ? 34 : 18;
    float *ws = malloc(sizeof(float) * (size_t)(N * K / 32)), *with = zeros(M * N);
    for (long b = 0; b < N * K / 32; b++) ws[b] = gf_half(w + b * bs);
    gfn_qmatmul_q8(x, w, ws, with, M, K, N, type, 0);
    snprintf(name, sizeof name, "qmatmul_q8_ws_exact %s %ldx%ldx%ld", type ? "q4_0" : "q8_0", M, K, N);
    if (!memcmp(with, all, sizeof(float) * (size_t)(M * N))) printf("ok %s %s 0\n", gfn_isa_name(paths[p]), name);
    else { printf("FAIL %s %s: fp32 scales change the result\n", gfn_isa_name(paths[p]), name); failures++; }
    free(ws); free(with);
    free(all); free(one);
  }
  free(x); free(y0); free(w); free(w2);
}

int main(int argc, char **argv) {
  if (argc > 4 && !strcmp(argv[1], "bench")) return bench(argc, argv);
  pool_init(argc > 1 ? atoi(argv[1]) : 2);
  paths[npaths++] = GF_ISA_SCALAR;
  gf_isa best = gfn_isa_best();
  if (best == GF_ISA_SCALAR) { printf("FAIL only the scalar path is supported here\n"); return 1; }
  paths[npaths++] = best;
  printf("paths scalar %s\n", gfn_isa_name(best));
  gfn_isa_set(best);
  printf("sgemm path %s\n", gfn_sgemm_isa());
  /* shapes: decode rows (M ≤ 4), tile edges (not multiples of 6/8/12/14/16/32), a KC split */
  static const long shapes[][3] = {{1, 64, 96}, {3, 130, 77}, {4, 256, 1024}, {6, 100, 72}, {8, 64, 48}, {13, 37, 29}, {64, 300, 200}, {97, 513, 65}};
  for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int t = 0; t < 4; t++) case_sgemm(shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t >> 1, s & 1, 0);
  case_sgemm(50, 70, 90, 0, 1, 1, 1);
  /* a weight-gradient shape (A transposed, K ≥ 2·max(M, N)): k split in two parts, the second
   * summed apart and added; K not a multiple of KC */
  for (int acc = 0; acc < 2; acc++) case_sgemm(70, 2100, 130, 1, 0, acc, 0);
  case_sgemm(70, 2100, 130, 1, 1, 1, 0);
  /* the bias epilogue: decode rows, prefill rows, tiles with edges, two KC blocks, two MC blocks */
  for (int tb = 0; tb < 2; tb++) {
    case_sgemm_bias(3, 64, 40, tb);
    case_sgemm_bias(20, 33, 19, tb);
    case_sgemm_bias(97, 300, 37, tb);
    case_sgemm_bias(300, 40, 50, tb);
  }
  for (int t = 0; t < 8; t++) case_decode_rows(t & 4 ? 300 : 256, t & 4 ? 1030 : 77, t & 1, (t >> 1) & 1);
  case_rows(7, 4096);
  case_rows(33, 256);
  case_rows(5, 13);
  for (long n = 1; n < 40; n += 3) case_sum_squares(n);
  case_sum_squares(4096 * 16 * 3 + 1234); /* several blocks a chunk, a block's 16-lane tail */
  case_attention(2, 16, 2, 16);  /* the small-tile path */
  case_attention(1, 160, 2, 32); /* the small-tile path, its backward over 5 key blocks */
  case_attention(2, 77, 2, 48);  /* 3 key blocks, the last one partial; T not a multiple of 16 */
  case_attention(1, 300, 2, 32); /* the small-tile path beyond the old bound of T 256 */
  case_attention(1, 40, 1, 80);  /* the general path (D > 64) */
  case_decode(3, 1, 20, 32, 2, 16);
  case_decode(2, 4, 9, 24, 1, 32);
  for (int type = 0; type < 2; type++) {
    case_qmatmul_q8(1, 256, 77, type, 0);
    case_qmatmul_q8(7, 96, 40, type, 1); /* odd block count: the tail block, tiles of 4 + 3 */
    case_qmatmul_q8(8, 768, 300, type, 0);
  }
  case_temp_exp(200003);
  if (failures) { printf("%d FAILED\n", failures); return 1; }
  printf("all ok\n");
  return 0;
}
