/* sgemm A/B harness: this build's gfn_sgemm, a base build's (its symbols renamed) and OpenBLAS
 * (cblas_sgemm, loaded with dlopen) timed in turn in one process, so that a machine shared
 * with other work disturbs all three alike. Per cell (shape × layout) and side: `rounds`
 * rounds, the side's order rotating, each an untimed call then `reps` timed ones; it prints
 * each side's best GFLOP/s by wall time and by CPU time (the thread's at 1 thread, the
 * process's at more: OpenBLAS's spinning threads then count against it), the ratios, whether
 * this build's C equals the base's bit for bit, and the largest difference from OpenBLAS's.
 *
 *   CF="-std=gnu11 -O3 -fno-math-errno -fno-trapping-math -fopenmp-simd -funroll-loops -Inative"
 *   git show BASE:native/sgemm.c > /tmp/base_sgemm.c && gcc $CF -Inative -c /tmp/base_sgemm.c -o /tmp/b.o
 *   objcopy $(for s in gfn_sgemm gfn_sgemm_serial gfn_sgemm_bias gfn_sgemm_isa gfn_sgemm_isa_changed gfn_peak_gflops; \
 *     do echo --redefine-sym $s=base_${s#gfn_}; done) /tmp/b.o /tmp/base.o
 *   gcc $CF -o /tmp/sgemm_ab native/test/sgemm_ab.c native/sgemm.c native/pool.c native/isa.c \
 *     native/ops.c native/attention.c native/qmatmul.c /tmp/base.o -ldl -lm -lpthread
 *   /tmp/sgemm_ab THREADS ROUNDS REPS NN,NT,TN 1024x1024x1024 384x4096x1536 ...   (M×K×N)
 *
 * NOOB=1 leaves OpenBLAS out (Debian: libopenblas0-pthread). GPTFORGE_ISA=avx2 (or scalar) runs every
 * build on that kernel path instead of the best one.
 *
 * Blocking sweeps: up to three more builds of sgemm.c with other avx2 blocking (-DGFN_AVX2_KC=…
 * -DGFN_AVX2_MC=…, see choose_isa) linked with their symbols renamed v1_ … v3_ (as base_
 * above) join the rotation as sides of their own; VARIANTS="kc320 mc288 kc320,mc288" names
 * them in the output, where each gets `vN/base cpu` (by CPU time against the base build) and
 * `vN/openblas cpu`. `native/test/sgemm_sweep.sh` builds and runs such a sweep. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../kernels.h"
#include "../pool.h"
#include "../isa.h"

typedef void (*sgemm_fn)(const float *A, const float *B, float *C, long M, long K, long N, int tA, int tB, int acc);
void base_sgemm(const float *A, const float *B, float *C, long M, long K, long N, int tA, int tB, int acc);
/* blocking variants: linked only in sweeps (weak, so NULL otherwise) */
__attribute__((weak)) void v1_sgemm(const float *A, const float *B, float *C, long M, long K, long N, int tA, int tB, int acc);
__attribute__((weak)) void v2_sgemm(const float *A, const float *B, float *C, long M, long K, long N, int tA, int tB, int acc);
__attribute__((weak)) void v3_sgemm(const float *A, const float *B, float *C, long M, long K, long N, int tA, int tB, int acc);
enum { MAXV = 3 };
static sgemm_fn variant[MAXV];
static int nvar;
typedef void (*cblas_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
static cblas_fn cblas;

static double now(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *A, *B, *C;
static long M, K, N;
static int tA, tB;

/* side 0: this build, 1: the base build, 2 … 1 + nvar: the variants, then OpenBLAS
 * (row-major, 101; 111/112: (no) transpose) */
static void run(int side) {
  if (side == 0) gfn_sgemm(A, B, C, M, K, N, tA, tB, 0);
  else if (side == 1) base_sgemm(A, B, C, M, K, N, tA, tB, 0);
  else if (side < 2 + nvar) variant[side - 2](A, B, C, M, K, N, tA, tB, 0);
  else cblas(101, tA ? 112 : 111, tB ? 112 : 111, (int)M, (int)N, (int)K, 1.0f, A, tA ? (int)M : (int)K, B, tB ? (int)K : (int)N, 0.0f, C, (int)N);
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

/* median over rounds of rb[r][num] / rb[r][den] (times: > 1 means side den is faster) */
static double median_ratio(const double *rb, int rounds, int sides, int num, int den) {
  double q[256];
  int n = rounds < 256 ? rounds : 256;
  for (int r = 0; r < n; r++) q[r] = rb[r * sides + num] / rb[r * sides + den];
  qsort(q, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? q[n / 2] : 0.5 * (q[n / 2 - 1] + q[n / 2]);
}

static float *alloc_rand(long n) {
  float *p = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) & ~(size_t)63);
  for (long i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  return p;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s THREADS ROUNDS REPS LAYOUTS(NN,NT,TN) MxKxN...\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[1]), rounds = atoi(argv[2]), reps = atoi(argv[3]);
  sgemm_fn linked[MAXV] = {v1_sgemm, v2_sgemm, v3_sgemm};
  while (nvar < MAXV && linked[nvar]) variant[nvar] = linked[nvar], nvar++;
  char vname[MAXV][64] = {"v1", "v2", "v3"};
  if (getenv("VARIANTS")) {
    const char *p = getenv("VARIANTS");
    for (int v = 0; v < nvar && *p; v++) {
      int n = 0;
      while (*p == ' ') p++;
      while (*p && *p != ' ' && n < 63) vname[v][n++] = *p++;
      vname[v][n] = 0;
    }
  }
  int blas = !getenv("NOOB");
  int sides = 2 + nvar + blas, ob = 2 + nvar; /* ob: OpenBLAS's side when present */
  if (blas) {
    void *h = dlopen("libopenblas.so.0", RTLD_NOW);
    if (!h || !(cblas = (cblas_fn)dlsym(h, "cblas_sgemm"))) {
      fprintf(stderr, "libopenblas.so.0 / cblas_sgemm not found (NOOB=1 to leave it out)\n");
      return 1;
    }
    void (*set_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    if (set_threads) set_threads(threads);
  }
  /* GPTFORGE_ISA=avx2|scalar|avx512: every side's kernel path (they share isa.c) */
  const char *isa = getenv("GPTFORGE_ISA");
  if (isa) {
    gf_isa want = GF_ISA_COUNT;
    for (int i = 0; i < GF_ISA_COUNT; i++)
      if (!strcmp(isa, gfn_isa_name((gf_isa)i))) want = (gf_isa)i;
    if (gfn_isa_set(want) != 0) {
      fprintf(stderr, "GPTFORGE_ISA=%s: not a path this CPU runs\n", isa);
      return 2;
    }
  }
  pool_init(threads);
  clockid_t cpu_clock = threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID;
  for (int s = 5; s < argc; s++) {
    if (sscanf(argv[s], "%ldx%ldx%ld", &M, &K, &N) != 3) {
      fprintf(stderr, "bad shape %s (MxKxN)\n", argv[s]);
      return 2;
    }
    for (const char *l = argv[4]; l[0] && l[1]; l += l[2] ? 3 : 2) {
      tA = l[0] == 'T';
      tB = l[1] == 'T';
      A = alloc_rand(M * K);
      B = alloc_rand(K * N);
      C = alloc_rand(M * N);
      float *ours = malloc((size_t)(M * N) * sizeof(float));
      run(1);
      float *base = malloc((size_t)(M * N) * sizeof(float));
      memcpy(base, C, (size_t)(M * N) * sizeof(float));
      run(0);
      memcpy(ours, C, (size_t)(M * N) * sizeof(float));
      int same = memcmp(base, ours, (size_t)(M * N) * sizeof(float)) == 0;
      double maxdiff = 0;
      if (blas) {
        run(ob);
        for (long i = 0; i < M * N; i++) maxdiff = fmax(maxdiff, fabs((double)C[i] - (double)ours[i]));
      }
      double best[2 + MAXV + 1][2];
      for (int i = 0; i < sides; i++) best[i][0] = best[i][1] = 1e30;
      /* each round's best CPU time per side, for the median of the per-round ratios */
      double *rb = malloc(sizeof(double) * (size_t)(rounds * sides));
      for (int i = 0; i < rounds * sides; i++) rb[i] = 1e30;
      for (int r = 0; r < rounds; r++)
        for (int o = 0; o < sides; o++) {
          int side = (o + r) % sides;
          run(side);
          for (int i = 0; i < reps; i++) {
            double w0 = now(CLOCK_MONOTONIC), c0 = now(cpu_clock);
            run(side);
            double w = now(CLOCK_MONOTONIC) - w0, c = now(cpu_clock) - c0;
            if (w < best[side][0]) best[side][0] = w;
            if (c < best[side][1]) best[side][1] = c;
            if (c < rb[r * sides + side]) rb[r * sides + side] = c;
          }
          if (threads > 1) nanosleep(&(struct timespec){0, 50000000}, NULL); /* OpenBLAS's threads spin after a call */
        }
      double gf = 2.0 * (double)M * (double)K * (double)N / 1e9;
      printf("%ldx%ldx%ld %c%c %dT  GFLOP/s wall new %5.1f base %5.1f", M, K, N, l[0], l[1], threads, gf / best[0][0], gf / best[1][0]);
      if (blas) printf(" openblas %5.1f", gf / best[ob][0]);
      printf(" | cpu new %5.1f base %5.1f", gf * threads / best[0][1], gf * threads / best[1][1]);
      if (blas) printf(" openblas %5.1f", gf * threads / best[ob][1]);
      printf(" | new/base wall %.3f cpu %.3f", best[1][0] / best[0][0], best[1][1] / best[0][1]);
      if (blas) printf("  new/openblas wall %.3f cpu %.3f base/openblas cpu %.3f maxdiff %.1e", best[ob][0] / best[0][0], best[ob][1] / best[0][1], best[ob][1] / best[1][1], maxdiff);
      printf("  %s", same ? "same bits" : "BITS DIFFER");
      for (int v = 0; v < nvar; v++) {
        printf(" | %s/base cpu %.3f", vname[v], best[1][1] / best[2 + v][1]);
        if (blas) printf(" %s/openblas cpu %.3f", vname[v], best[ob][1] / best[2 + v][1]);
      }
      /* medians of the per-round ratios (by CPU time): steadier than the best-of ratios above
       * when the load changes during a run */
      printf(" | median/round new/base %.3f", median_ratio(rb, rounds, sides, 1, 0));
      if (blas) printf(" new/openblas %.3f base/openblas %.3f", median_ratio(rb, rounds, sides, ob, 0), median_ratio(rb, rounds, sides, ob, 1));
      for (int v = 0; v < nvar; v++) {
        printf(" %s/base %.3f", vname[v], median_ratio(rb, rounds, sides, 1, 2 + v));
        if (blas) printf(" %s/openblas %.3f", vname[v], median_ratio(rb, rounds, sides, ob, 2 + v));
      }
      free(rb);
      printf("\n");
      fflush(stdout);
      free(A);
      free(B);
      free(C);
      free(ours);
      free(base);
    }
  }
  return 0;
}
