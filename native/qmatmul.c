/* Matrix products with a frozen weight held as ggml blocks (Q8_0, Q4_0; src/model/quantize.ts
 * documents the layouts): W is [N, K] in ggml's orientation, each row K/32 blocks.
 *
 *   forward   y[M,N] (+)= x[M,K]·Wᵀ
 *   backward  dx[M,K] += dy[M,N]·W      (to the input only: a frozen base gets no weight gradient)
 *
 * Decode shapes (M ≤ Q_SMALL_M rows) stream W's blocks once and dequantize them in registers:
 * the product is memory-bound there, and a Q4_0 block is 18 bytes where fp32 takes 128.
 * Larger M (training) dequantizes W once into a scratch fp32 [N, K] and calls sgemm: its
 * compute then dwarfs the dequantization, and sgemm's blocking does the rest.
 * The loops are in qmatmul_body.h, compiled once per instruction set like ops_body.h. The
 * avx2 and avx512 instances also use F16C (vcvtph2ps) for the blocks' fp16 scales: every CPU
 * with AVX2 or AVX-512F has it (Intel since Ivy Bridge, AMD since Piledriver). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "pool.h"
#include "isa.h"
#include "half.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define Q_SMALL_M 8
#define Q_TYPE_Q8_0 0
#define Q_TYPE_Q4_0 1

typedef struct {
  const float *x, *dy;
  const uint8_t *w;
  float *y, *dx, *out;
  long M, K, N;
  int type, acc;
} q_job;

typedef void (*q_range_fn)(const q_job *j, long r0, long r1);
typedef struct { q_range_fn fwd, bwd, deq; } q_table;

static inline long q_block_bytes(int type) { return type == Q_TYPE_Q8_0 ? 34 : 18; }

#if defined(__x86_64__) && defined(__GNUC__)
#define QM_ATTR __attribute__((target("avx512f,avx2,fma,f16c")))
#define QM(name) q_##name##_avx512
#define QVL 16
#define QDEQ 512
#define QM_HALF(p) _cvtsh_ss((unsigned short)((p)[0] | ((p)[1] << 8)))
#include "qmatmul_body.h"
#define QM_ATTR __attribute__((target("avx2,fma,f16c")))
#define QM(name) q_##name##_avx2
#define QVL 8
#define QDEQ 256
#define QM_HALF(p) _cvtsh_ss((unsigned short)((p)[0] | ((p)[1] << 8)))
#include "qmatmul_body.h"
#endif
#define QM_ATTR
#define QM(name) q_##name##_scalar
#define QVL 4
#define QDEQ 0
#define QM_HALF(p) gf_half(p)
#include "qmatmul_body.h"

static const q_table *q_cur;
void gfn_qmatmul_isa_changed(void) { q_cur = 0; }
static const q_table *q_choose(void) {
  switch (gfn_isa()) {
#if defined(__x86_64__) && defined(__GNUC__)
    case GF_ISA_AVX512: return q_cur = &q_tab_avx512;
    case GF_ISA_AVX2: return q_cur = &q_tab_avx2;
#endif
    default: return q_cur = &q_tab_scalar;
  }
}
#define Q_T (q_cur ? q_cur : q_choose())

typedef struct {
  const q_job *j;
  q_range_fn fn;
  long total, chunk;
} q_split;

static void q_task(void *c, int t, int n) {
  const q_split *s = (const q_split *)c;
  (void)n;
  long r0 = t * s->chunk, r1 = r0 + s->chunk < s->total ? r0 + s->chunk : s->total;
  if (r0 < r1) s->fn(s->j, r0, r1);
}

/* fn over [0, total) in chunks of `align` units, over the pool when the work pays for it */
static void q_run(const q_job *j, q_range_fn fn, long total, long align, double work) {
  int threads = pool_threads();
  int ntasks = threads > 1 && work > 2e5 ? threads : 1;
  long chunk = ((total + ntasks - 1) / ntasks + align - 1) / align * align;
  q_split s = {j, fn, total, chunk};
  if (ntasks == 1) fn(j, 0, total);
  else pool_run(q_task, &s, ntasks);
}

/* One fp32 copy of the largest matrix dequantized so far (training shapes only; JS calls the
 * kernels from one thread). */
static float *q_scratch;
static size_t q_scratch_cap;
static float *q_dequantized(q_job *j) {
  size_t n = (size_t)j->N * (size_t)j->K;
  if (q_scratch_cap < n) {
    free(q_scratch);
    q_scratch = (float *)aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    if (!q_scratch) abort();
    q_scratch_cap = n;
  }
  j->out = q_scratch;
  q_run(j, Q_T->deq, j->N, 1, (double)j->N * (double)j->K);
  return q_scratch;
}

void gfn_qmatmul(const float *x, const uint8_t *w, float *y, long M, long K, long N, int type, int accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) memset(y, 0, sizeof(float) * (size_t)M * (size_t)N);
    return;
  }
  q_job j = {.x = x, .w = w, .y = y, .M = M, .K = K, .N = N, .type = type, .acc = accumulate};
  if (M <= Q_SMALL_M) {
    /* chunks of 16 rows of W: threads never share a cache line of y */
    q_run(&j, Q_T->fwd, N, 16, (double)M * (double)N * (double)K);
    return;
  }
  gfn_sgemm(x, q_dequantized(&j), y, M, K, N, 0, 1, accumulate);
}

void gfn_qmatmul_backward(const float *dy, const uint8_t *w, float *dx, long M, long K, long N, int type) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  q_job j = {.dy = dy, .w = w, .dx = dx, .M = M, .K = K, .N = N, .type = type};
  if (M <= Q_SMALL_M) {
    /* 2 blocks (64 floats, a whole number of cache lines) per unit: threads never share one of dx's lines */
    q_run(&j, Q_T->bwd, K / 32, 2, (double)M * (double)N * (double)K);
    return;
  }
  gfn_sgemm(dy, q_dequantized(&j), dx, M, N, K, 0, 0, 1);
}

void gfn_qdequantize(const uint8_t *w, float *out, long N, long K, int type) {
  q_job j = {.w = w, .out = out, .N = N, .K = K, .type = type};
  q_run(&j, Q_T->deq, N, 1, (double)N * (double)K);
}
