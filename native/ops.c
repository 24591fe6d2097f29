/* Every kernel but sgemm and attention, llm.c style: each forward beside its backward (the
 * loops themselves in ops_body.h, compiled once per instruction set), plain loops the
 * compiler vectorises, split over rows by the thread pool when the work is big enough.
 * Reductions across rows (bias/norm weight gradients, sums of squares) use a fixed number of
 * chunks combined in order, so results never depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "pool.h"
#include "fastmath.h"
#include "isa.h"

/* ---------------------------------------------------------------------------------------- */
/* helpers */

typedef void (*range_fn)(void *ctx, long r0, long r1);
typedef struct {
  range_fn fn;
  void *ctx;
  long rows;
} range_job;

static void range_task(void *c, int t, int n) {
  range_job *j = (range_job *)c;
  long r0 = j->rows * t / n, r1 = j->rows * (t + 1) / n;
  if (r0 < r1) j->fn(j->ctx, r0, r1);
}

/* Run fn over [0, rows) split across threads when the total work (elements touched) is big
 * enough to pay for waking them. Rows are independent, so the split cannot change results. */
static void parallel_range(range_fn fn, void *ctx, long rows, double work) {
  int n = pool_threads();
  if (work < 65536.0 || rows < 2) n = 1;
  if (n > rows) n = (int)rows;
  range_job j = {fn, ctx, rows};
  pool_run(range_task, &j, n);
}

/* Fixed chunk count for reductions over rows (independent of threads: deterministic). */
#define NCHUNK 16

/* ---------------------------------------------------------------------------------------- */
/* The loop bodies (ops_body.h) are compiled once per instruction set and picked at run time
 * from the addon-wide path (isa.h), so GPTFORGE_ISA forces them like sgemm and attention.
 * (GCC's target_clones would pick by CPU alone, which no switch can override.) */

/* bias ops; the fused bias + GELU also uses act (GELU's output), pre (its input) and dpre;
 * partial: NCHUNK × cols column sums for the bias gradient */
typedef struct { float *out; const float *bias; const float *dout; long rows, cols; float *act; const float *pre; float *dpre; float *partial; } bias_ctx;

typedef struct {
  const float *x, *w, *b, *dout, *mean, *rstd;
  float *out, *meanw, *rstdw, *dx, *dw, *db;
  float *partial; /* NCHUNK × 2 × cols for dw/db */
  long rows, cols;
  float eps;
} ln_ctx;

typedef struct { const float *a, *b; float *out; float s; } pw_ctx;

typedef struct { const float *src, *cos, *sin; float *dst; int T, H, D; float sign; } rope_ctx;

typedef struct { const float *x; long n; double partial[NCHUNK]; } ss_ctx;

typedef struct { const float *x, *out, *dout; float *o, *dx; long rows, cols; } sm_ctx;

typedef struct { const float *logits, *dloss; const int32_t *targets; float *losses, *dlogits; long rows, V; int ignore; } ce_ctx;

typedef struct { const int32_t *ids; const float *src; float *dst; long n, C; } emb_ctx;

typedef struct { float *p, *m, *v; const float *g; float lr, b1, b2, eps, wd, bc1, bc2, gs; } adam_ctx;

#define GELU_K 0.7978845608028654f

/* one row of V floats per thread for cross-entropy's backward (grown, never shrunk) */
static __thread float *ce_row;
static __thread long ce_cap;
static float *ce_scratch(long V) {
  if (ce_cap < V) {
    free(ce_row);
    ce_row = (float *)malloc(sizeof(float) * (size_t)V);
    if (!ce_row) abort();
    ce_cap = V;
  }
  return ce_row;
}

typedef struct {
  range_fn add_bias_rows;
  range_fn bias_grad_chunk;
  range_fn ln_fwd_rows;
  range_fn ln_bwd_chunk;
  range_fn rms_fwd_rows;
  range_fn rms_bwd_chunk;
  range_fn gelu_fwd_r;
  range_fn rope_rows;
  range_fn gelu_bwd_r;
  range_fn silu_fwd_r;
  range_fn silu_bwd_r;
  range_fn add_r;
  range_fn mul_r;
  range_fn scale_r;
  range_fn axpy_r;
  range_fn ss_chunk;
  range_fn sm_fwd_rows;
  range_fn sm_bwd_rows;
  range_fn ce_fwd_rows;
  range_fn ce_bwd_rows;
  range_fn ce_fused_rows;
  range_fn emb_bwd_cols;
  range_fn adam_r;
  range_fn bias_gelu_fwd_rows;
  range_fn bias_gelu_bwd_chunk;
} ops_table;

#if defined(__x86_64__) && defined(__GNUC__)
#include "gelu_avx2.h"
#define OPS_ATTR __attribute__((target("avx512f,avx2,fma")))
#define OPS(name) name##_avx512
#define OPS_EXP gfn_expf
#include "ops_body.h"
#define OPS_ATTR __attribute__((target("avx2,fma")))
#define OPS(name) name##_avx2
#define OPS_EXP gfn_expf
#define OPS_GELU8 1
#include "ops_body.h"
#endif
#if defined(__aarch64__)
/* AArch64: NEON is the baseline, so this instance needs no target attribute; it differs from
 * the scalar one by the FMA-based exp (the scalar instance keeps the one without FMA) */
#define OPS_ATTR
#define OPS(name) name##_neon
#define OPS_EXP gfn_expf
#include "ops_body.h"
#endif
#define OPS_ATTR
#define OPS(name) name##_scalar
#define OPS_EXP gfn_expf_nofma
#include "ops_body.h"

static const ops_table *OPS_T_cur;
/* the table of the current path; called by gfn_isa_set to pick again */
void gfn_ops_isa_changed(void) { OPS_T_cur = 0; }
static const ops_table *ops_choose(void) {
  switch (gfn_isa()) {
#if defined(__x86_64__) && defined(__GNUC__)
    case GF_ISA_AVX512: return OPS_T_cur = &ops_avx512;
    case GF_ISA_AVX2: return OPS_T_cur = &ops_avx2;
#endif
#if defined(__aarch64__)
    case GF_ISA_NEON: return OPS_T_cur = &ops_neon;
#endif
    default: return OPS_T_cur = &ops_scalar;
  }
}
#define OPS_T (OPS_T_cur ? OPS_T_cur : ops_choose())

/* ---------------------------------------------------------------------------------------- */
/* bias */

void gfn_add_bias(float *out, const float *bias, long rows, long cols) {
  bias_ctx k = {.out = out, .bias = bias, .rows = rows, .cols = cols};
  parallel_range(OPS_T->add_bias_rows, &k, rows, (double)rows * cols);
}

/* NCHUNK × cols floats for the bias gradient's per-chunk column sums */
static float *bias_partial(long cols) {
  float *p = (float *)malloc(sizeof(float) * NCHUNK * (size_t)(cols > 0 ? cols : 1));
  if (!p) abort();
  return p;
}
/* dbias += the chunks' column sums, chunk by chunk in order (the layer-norm weights' order) */
static void bias_combine(float *dbias, const float *partial, long cols) {
  for (long chunk = 0; chunk < NCHUNK; chunk++) {
    const float *p = partial + chunk * cols;
    for (long j = 0; j < cols; j++) dbias[j] += p[j];
  }
}

/* bias gradient dbias[c] += Σ_r dout[r,c]: split over NCHUNK fixed row chunks, each summing
 * its rows in order from zero, then the chunks added in order. Split by rows, each thread
 * streams its own contiguous half of dout; split by columns (before), both threads streamed
 * every row and two threads ran slower than one (0.80× in engine17's per-op timings). The
 * chunks are fixed, so the bits do not depend on the thread count. */
void gfn_bias_grad(const float *dout, float *dbias, long rows, long cols) {
  bias_ctx k = {.dout = dout, .rows = rows, .cols = cols, .partial = bias_partial(cols)};
  parallel_range(OPS_T->bias_grad_chunk, &k, NCHUNK, (double)rows * cols);
  bias_combine(dbias, k.partial, cols);
  free(k.partial);
}

/* The MLP's first linear and its GELU fused (llm.c's matmul + gelu pair, one pass fewer
 * each way): forward pre[r,c] += bias[c] and act = GELU(pre) in one pass over the product;
 * backward dpre = dout·GELU'(pre), written (no zero-filled buffer to add to), with
 * dbias[c] += Σ_r dpre[r,c] from the same registers (no second pass over dpre). Split over
 * row chunks like gfn_bias_grad, summed in its order: the same bits as
 * gfn_add_bias + gfn_gelu_forward and gfn_gelu_backward into zeros + gfn_bias_grad, on every
 * path and at any thread count. dbias may be NULL (no bias gradient wanted). */
void gfn_bias_gelu_forward(float *pre, const float *bias, float *act, long rows, long cols) {
  bias_ctx k = {.out = pre, .bias = bias, .rows = rows, .cols = cols, .act = act};
  parallel_range(OPS_T->bias_gelu_fwd_rows, &k, rows, (double)rows * cols * 8);
}
/* One tile of sgemm's epilogue (gfn_sgemm_bias): each row through the row functions above,
 * so the bits are theirs. */
void gfn_bias_tile(float *c, long ldc, const float *bias, float *act, long ldact, long rows, long cols) {
  const ops_table *t = OPS_T;
  bias_ctx k = {.bias = bias, .rows = 1, .cols = cols};
  if (act) {
    for (long r = 0; r < rows; r++) {
      k.out = c + r * ldc;
      k.act = act + r * ldact;
      t->bias_gelu_fwd_rows(&k, 0, 1);
    }
  } else {
    for (long r = 0; r < rows; r++) {
      k.out = c + r * ldc;
      t->add_bias_rows(&k, 0, 1);
    }
  }
}
void gfn_bias_gelu_backward(const float *pre, const float *dout, float *dpre, float *dbias, long rows, long cols) {
  bias_ctx k = {.dout = dout, .rows = rows, .cols = cols, .pre = pre, .dpre = dpre, .partial = dbias ? bias_partial(cols) : 0};
  parallel_range(OPS_T->bias_gelu_bwd_chunk, &k, NCHUNK, (double)rows * cols * 8);
  if (dbias) {
    bias_combine(dbias, k.partial, cols);
    free(k.partial);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* LayerNorm */

void gfn_layernorm_forward(const float *x, const float *w, const float *b, float *out, float *mean, float *rstd, long rows, long cols, float eps) {
  ln_ctx k = {.x = x, .w = w, .b = b, .out = out, .meanw = mean, .rstdw = rstd, .rows = rows, .cols = cols, .eps = eps};
  parallel_range(OPS_T->ln_fwd_rows, &k, rows, (double)rows * cols * 3);
}

/* dnorm = dout·w; dx += rstd·(dnorm − mean(dnorm) − norm·mean(dnorm·norm)) */
void gfn_layernorm_backward(const float *dout, const float *x, const float *w, const float *mean, const float *rstd, float *dx, float *dw, float *db, long rows, long cols) {
  float *partial = (float *)malloc(sizeof(float) * NCHUNK * 2 * cols);
  if (!partial) abort();
  ln_ctx k = {.x = x, .w = w, .dout = dout, .mean = mean, .rstd = rstd, .dx = dx, .partial = partial, .rows = rows, .cols = cols};
  parallel_range(OPS_T->ln_bwd_chunk, &k, NCHUNK, (double)rows * cols * 4);
  for (long chunk = 0; chunk < NCHUNK; chunk++) {
    const float *pw = partial + chunk * 2 * cols, *pb = pw + cols;
    if (dw) for (long j = 0; j < cols; j++) dw[j] += pw[j];
    if (db) for (long j = 0; j < cols; j++) db[j] += pb[j];
  }
  free(partial);
}

/* RMSNorm */
void gfn_rmsnorm_forward(const float *x, const float *w, float *out, float *rstd, long rows, long cols, float eps) {
  ln_ctx k = {.x = x, .w = w, .out = out, .rstdw = rstd, .rows = rows, .cols = cols, .eps = eps};
  parallel_range(OPS_T->rms_fwd_rows, &k, rows, (double)rows * cols * 2);
}
void gfn_rmsnorm_backward(const float *dout, const float *x, const float *w, const float *rstd, float *dx, float *dw, long rows, long cols) {
  float *partial = (float *)malloc(sizeof(float) * NCHUNK * 2 * cols);
  if (!partial) abort();
  ln_ctx k = {.x = x, .w = w, .dout = dout, .rstd = rstd, .dx = dx, .partial = partial, .rows = rows, .cols = cols};
  parallel_range(OPS_T->rms_bwd_chunk, &k, NCHUNK, (double)rows * cols * 3);
  if (dw)
    for (long chunk = 0; chunk < NCHUNK; chunk++)
      for (long j = 0; j < cols; j++) dw[j] += partial[chunk * 2 * cols + j];
  free(partial);
}

/* ---------------------------------------------------------------------------------------- */
/* pointwise: GELU (tanh approximation), SiLU, add, mul, scale, axpy */

/* ---------------------------------------------------------------------------------------- */
/* rotary position embedding: forward rotates by +θ, backward by −θ (the rotation's transpose) */

void gfn_rope(const float *src, float *dst, const float *cos, const float *sin, int B, int T, int H, int D, float sign) {
  rope_ctx k = {src, cos, sin, dst, T, H, D, sign};
  long rows = (long)B * T;
  parallel_range(OPS_T->rope_rows, &k, rows, (double)rows * 3 * H * D * 2);
}

void gfn_gelu_forward(const float *x, float *out, long n) {
  pw_ctx k = {x, 0, out, 0};
  parallel_range(OPS_T->gelu_fwd_r, &k, n, (double)n * 8);
}
/* pw_ctx: a = x, b = dout, out = dx (+=) */
void gfn_gelu_backward(const float *x, const float *dout, float *dx, long n) {
  pw_ctx k = {x, dout, dx, 0};
  parallel_range(OPS_T->gelu_bwd_r, &k, n, (double)n * 8);
}
void gfn_silu_forward(const float *x, float *out, long n) {
  pw_ctx k = {x, 0, out, 0};
  parallel_range(OPS_T->silu_fwd_r, &k, n, (double)n * 8);
}
void gfn_silu_backward(const float *x, const float *dout, float *dx, long n) {
  pw_ctx k = {x, dout, dx, 0};
  parallel_range(OPS_T->silu_bwd_r, &k, n, (double)n * 8);
}
void gfn_add(const float *a, const float *b, float *out, long n) {
  pw_ctx k = {a, b, out, 0};
  parallel_range(OPS_T->add_r, &k, n, (double)n);
}
void gfn_mul(const float *a, const float *b, float *out, long n) {
  pw_ctx k = {a, b, out, 0};
  parallel_range(OPS_T->mul_r, &k, n, (double)n);
}
void gfn_scale(const float *a, float s, float *out, long n) {
  pw_ctx k = {a, 0, out, s};
  parallel_range(OPS_T->scale_r, &k, n, (double)n);
}
void gfn_axpy(float s, const float *x, float *y, long n) {
  pw_ctx k = {x, 0, y, s};
  parallel_range(OPS_T->axpy_r, &k, n, (double)n);
}

double gfn_sum_squares(const float *x, long n) {
  ss_ctx k;
  k.x = x;
  k.n = n;
  parallel_range(OPS_T->ss_chunk, &k, NCHUNK, (double)n);
  double s = 0.0;
  for (int i = 0; i < NCHUNK; i++) s += k.partial[i];
  return s;
}

/* ---------------------------------------------------------------------------------------- */
/* softmax */

void gfn_softmax_forward(const float *x, float *out, long rows, long cols) {
  sm_ctx k = {.x = x, .o = out, .rows = rows, .cols = cols};
  parallel_range(OPS_T->sm_fwd_rows, &k, rows, (double)rows * cols * 4);
}
void gfn_softmax_backward(const float *out, const float *dout, float *dx, long rows, long cols) {
  sm_ctx k = {.out = out, .dout = dout, .dx = dx, .rows = rows, .cols = cols};
  parallel_range(OPS_T->sm_bwd_rows, &k, rows, (double)rows * cols * 3);
}

/* ---------------------------------------------------------------------------------------- */
/* cross-entropy, fused log-softmax */

void gfn_cross_entropy_forward(const float *logits, const int32_t *targets, float *losses, long rows, long V, int ignore) {
  ce_ctx k = {.logits = logits, .targets = targets, .losses = losses, .rows = rows, .V = V, .ignore = ignore};
  parallel_range(OPS_T->ce_fwd_rows, &k, rows, (double)rows * V * 3);
}
void gfn_cross_entropy_backward(const float *logits, const int32_t *targets, const float *dloss, float *dlogits, long rows, long V, int ignore) {
  ce_ctx k = {.logits = logits, .targets = targets, .dloss = dloss, .dlogits = dlogits, .rows = rows, .V = V, .ignore = ignore};
  parallel_range(OPS_T->ce_bwd_rows, &k, rows, (double)rows * V * 4);
}
void gfn_cross_entropy_fused(const float *logits, const int32_t *targets, const float *dloss, float *losses, float *dlogits, long rows, long V, int ignore) {
  ce_ctx k = {.logits = logits, .targets = targets, .dloss = dloss, .losses = losses, .dlogits = dlogits, .rows = rows, .V = V, .ignore = ignore};
  parallel_range(OPS_T->ce_fused_rows, &k, rows, (double)rows * V * 4);
}

/* ---------------------------------------------------------------------------------------- */
/* embedding: forward over rows; backward over columns (ids repeat, so rows would race) */

static void emb_fwd_rows(void *c, long r0, long r1) {
  emb_ctx *k = (emb_ctx *)c;
  for (long i = r0; i < r1; i++) memcpy(k->dst + i * k->C, k->src + (long)k->ids[i] * k->C, sizeof(float) * k->C);
}
void gfn_embedding_forward(const int32_t *ids, const float *table, float *out, long n, long C) {
  emb_ctx k = {ids, table, out, n, C};
  parallel_range(emb_fwd_rows, &k, n, (double)n * C);
}
void gfn_embedding_backward(const int32_t *ids, const float *dout, float *dtable, long n, long C) {
  emb_ctx k = {ids, dout, dtable, n, C};
  parallel_range(OPS_T->emb_bwd_cols, &k, C, (double)n * C);
}

/* ---------------------------------------------------------------------------------------- */
/* AdamW, fused: one pass over p, g, m, v */

void gfn_adamw(float *p, const float *g, float *m, float *v, long n, float lr, float b1, float b2, float eps, float wd, float bc1, float bc2, float gscale) {
  adam_ctx k = {p, m, v, g, lr, b1, b2, eps, wd, bc1, bc2, gscale};
  parallel_range(OPS_T->adam_r, &k, n, (double)n * 4);
}
