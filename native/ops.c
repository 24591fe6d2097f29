/* Every kernel but sgemm, llm.c style: each forward beside its backward, plain loops the
 * compiler vectorises, split over rows by the thread pool when the work is big enough.
 * Reductions across rows (bias/norm weight gradients, sums of squares) use a fixed number of
 * chunks combined in order, so results never depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "pool.h"
#include "fastmath.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GF_CLONES
#endif

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
/* bias */

typedef struct { float *out; const float *bias; const float *dout; float *dbias; long rows, cols; } bias_ctx;

GF_CLONES static void add_bias_rows(void *c, long r0, long r1) {
  bias_ctx *k = (bias_ctx *)c;
  for (long r = r0; r < r1; r++) {
    float *o = k->out + r * k->cols;
    for (long j = 0; j < k->cols; j++) o[j] += k->bias[j];
  }
}
void gfn_add_bias(float *out, const float *bias, long rows, long cols) {
  bias_ctx k = {out, bias, 0, 0, rows, cols};
  parallel_range(add_bias_rows, &k, rows, (double)rows * cols);
}

/* bias gradient: split over columns; each column sums its rows in order */
GF_CLONES static void bias_grad_cols(void *c, long j0, long j1) {
  bias_ctx *k = (bias_ctx *)c;
  for (long r = 0; r < k->rows; r++) {
    const float *d = k->dout + r * k->cols;
    for (long j = j0; j < j1; j++) k->dbias[j] += d[j];
  }
}
void gfn_bias_grad(const float *dout, float *dbias, long rows, long cols) {
  bias_ctx k = {0, 0, dout, dbias, rows, cols};
  parallel_range(bias_grad_cols, &k, cols, (double)rows * cols);
}

/* ---------------------------------------------------------------------------------------- */
/* LayerNorm */

typedef struct {
  const float *x, *w, *b, *dout, *mean, *rstd;
  float *out, *meanw, *rstdw, *dx, *dw, *db;
  float *partial; /* NCHUNK × 2 × cols for dw/db */
  long rows, cols;
  float eps;
} ln_ctx;

GF_CLONES static void ln_fwd_rows(void *c, long r0, long r1) {
  ln_ctx *k = (ln_ctx *)c;
  long C = k->cols;
  for (long r = r0; r < r1; r++) {
    const float *x = k->x + r * C;
    float *o = k->out + r * C;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < C; j++) s += x[j];
    float m = s / (float)C;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (long j = 0; j < C; j++) {
      float d = x[j] - m;
      v += d * d;
    }
    float rs = 1.0f / sqrtf(v / (float)C + k->eps);
    if (k->w && k->b) {
      for (long j = 0; j < C; j++) o[j] = (x[j] - m) * rs * k->w[j] + k->b[j];
    } else if (k->w) {
      for (long j = 0; j < C; j++) o[j] = (x[j] - m) * rs * k->w[j];
    } else {
      for (long j = 0; j < C; j++) o[j] = (x[j] - m) * rs + (k->b ? k->b[j] : 0.0f);
    }
    k->meanw[r] = m;
    k->rstdw[r] = rs;
  }
}
void gfn_layernorm_forward(const float *x, const float *w, const float *b, float *out, float *mean, float *rstd, long rows, long cols, float eps) {
  ln_ctx k = {.x = x, .w = w, .b = b, .out = out, .meanw = mean, .rstdw = rstd, .rows = rows, .cols = cols, .eps = eps};
  parallel_range(ln_fwd_rows, &k, rows, (double)rows * cols * 3);
}

/* dnorm = dout·w; dx += rstd·(dnorm − mean(dnorm) − norm·mean(dnorm·norm)) */
GF_CLONES static void ln_bwd_chunk(void *c, long c0, long c1) {
  ln_ctx *k = (ln_ctx *)c;
  long C = k->cols;
  for (long chunk = c0; chunk < c1; chunk++) {
    long r0 = k->rows * chunk / NCHUNK, r1 = k->rows * (chunk + 1) / NCHUNK;
    float *pw = k->partial + chunk * 2 * C, *pb = pw + C;
    memset(pw, 0, sizeof(float) * 2 * C);
    for (long r = r0; r < r1; r++) {
      const float *x = k->x + r * C, *d = k->dout + r * C;
      float *dx = k->dx + r * C;
      float m = k->mean[r], rs = k->rstd[r];
      float a = 0.0f, bsum = 0.0f;
      if (k->w) {
#pragma omp simd reduction(+ : a, bsum)
        for (long j = 0; j < C; j++) {
          float n = (x[j] - m) * rs, dn = d[j] * k->w[j];
          a += dn;
          bsum += dn * n;
        }
      } else {
#pragma omp simd reduction(+ : a, bsum)
        for (long j = 0; j < C; j++) {
          float n = (x[j] - m) * rs;
          a += d[j];
          bsum += d[j] * n;
        }
      }
      a /= (float)C;
      bsum /= (float)C;
      for (long j = 0; j < C; j++) {
        float n = (x[j] - m) * rs, dn = d[j] * (k->w ? k->w[j] : 1.0f);
        pw[j] += n * d[j];
        pb[j] += d[j];
        dx[j] += rs * (dn - a - n * bsum);
      }
    }
  }
}
void gfn_layernorm_backward(const float *dout, const float *x, const float *w, const float *mean, const float *rstd, float *dx, float *dw, float *db, long rows, long cols) {
  float *partial = (float *)malloc(sizeof(float) * NCHUNK * 2 * cols);
  if (!partial) abort();
  ln_ctx k = {.x = x, .w = w, .dout = dout, .mean = mean, .rstd = rstd, .dx = dx, .partial = partial, .rows = rows, .cols = cols};
  parallel_range(ln_bwd_chunk, &k, NCHUNK, (double)rows * cols * 4);
  for (long chunk = 0; chunk < NCHUNK; chunk++) {
    const float *pw = partial + chunk * 2 * cols, *pb = pw + cols;
    if (dw) for (long j = 0; j < cols; j++) dw[j] += pw[j];
    if (db) for (long j = 0; j < cols; j++) db[j] += pb[j];
  }
  free(partial);
}

/* RMSNorm */
GF_CLONES static void rms_fwd_rows(void *c, long r0, long r1) {
  ln_ctx *k = (ln_ctx *)c;
  long C = k->cols;
  for (long r = r0; r < r1; r++) {
    const float *x = k->x + r * C;
    float *o = k->out + r * C;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < C; j++) s += x[j] * x[j];
    float rs = 1.0f / sqrtf(s / (float)C + k->eps);
    for (long j = 0; j < C; j++) o[j] = x[j] * rs * (k->w ? k->w[j] : 1.0f);
    k->rstdw[r] = rs;
  }
}
void gfn_rmsnorm_forward(const float *x, const float *w, float *out, float *rstd, long rows, long cols, float eps) {
  ln_ctx k = {.x = x, .w = w, .out = out, .rstdw = rstd, .rows = rows, .cols = cols, .eps = eps};
  parallel_range(rms_fwd_rows, &k, rows, (double)rows * cols * 2);
}
GF_CLONES static void rms_bwd_chunk(void *c, long c0, long c1) {
  ln_ctx *k = (ln_ctx *)c;
  long C = k->cols;
  for (long chunk = c0; chunk < c1; chunk++) {
    long r0 = k->rows * chunk / NCHUNK, r1 = k->rows * (chunk + 1) / NCHUNK;
    float *pw = k->partial + chunk * 2 * C;
    memset(pw, 0, sizeof(float) * C);
    for (long r = r0; r < r1; r++) {
      const float *x = k->x + r * C, *d = k->dout + r * C;
      float *dx = k->dx + r * C;
      float rs = k->rstd[r];
      float a = 0.0f;
#pragma omp simd reduction(+ : a)
      for (long j = 0; j < C; j++) a += d[j] * (k->w ? k->w[j] : 1.0f) * x[j] * rs;
      a /= (float)C;
      for (long j = 0; j < C; j++) {
        float n = x[j] * rs;
        pw[j] += d[j] * n;
        dx[j] += rs * (d[j] * (k->w ? k->w[j] : 1.0f) - n * a);
      }
    }
  }
}
void gfn_rmsnorm_backward(const float *dout, const float *x, const float *w, const float *rstd, float *dx, float *dw, long rows, long cols) {
  float *partial = (float *)malloc(sizeof(float) * NCHUNK * 2 * cols);
  if (!partial) abort();
  ln_ctx k = {.x = x, .w = w, .dout = dout, .rstd = rstd, .dx = dx, .partial = partial, .rows = rows, .cols = cols};
  parallel_range(rms_bwd_chunk, &k, NCHUNK, (double)rows * cols * 3);
  if (dw)
    for (long chunk = 0; chunk < NCHUNK; chunk++)
      for (long j = 0; j < cols; j++) dw[j] += partial[chunk * 2 * cols + j];
  free(partial);
}

/* ---------------------------------------------------------------------------------------- */
/* pointwise: GELU (tanh approximation), SiLU, add, mul, scale, axpy */

typedef struct { const float *a, *b; float *out; float s; } pw_ctx;
#define GELU_K 0.7978845608028654f

GF_CLONES static void gelu_fwd_r(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) {
    float x = k->a[i];
    float u = GELU_K * (x + 0.044715f * x * x * x);
    float th = 1.0f - 2.0f / (gfn_expf(2.0f * u) + 1.0f);
    k->out[i] = 0.5f * x * (1.0f + th);
  }
}
/* ---------------------------------------------------------------------------------------- */
/* rotary position embedding: forward rotates by +θ, backward by −θ (the rotation's transpose) */

typedef struct { const float *src, *cos, *sin; float *dst; int T, H, D; float sign; } rope_ctx;

GF_CLONES static void rope_rows(void *c, long r0, long r1) {
  const rope_ctx *k = (const rope_ctx *)c;
  long C = (long)k->H * k->D, C3 = 3 * C;
  int half = k->D / 2;
  for (long r = r0; r < r1; r++) {
    int t = (int)(r % k->T);
    const float *cs = k->cos + (long)t * half, *sn = k->sin + (long)t * half;
    const float *x = k->src + r * C3;
    float *y = k->dst + r * C3;
    for (int part = 0; part < 2; part++) {
      for (int h = 0; h < k->H; h++) {
        long o = part * C + (long)h * k->D;
        for (int i = 0; i < half; i++) {
          float s = sn[i] * k->sign, x0 = x[o + 2 * i], x1 = x[o + 2 * i + 1];
          y[o + 2 * i] += x0 * cs[i] - x1 * s;
          y[o + 2 * i + 1] += x0 * s + x1 * cs[i];
        }
      }
    }
    for (long j = 2 * C; j < C3; j++) y[j] += x[j]; /* v passes through */
  }
}
void gfn_rope(const float *src, float *dst, const float *cos, const float *sin, int B, int T, int H, int D, float sign) {
  rope_ctx k = {src, cos, sin, dst, T, H, D, sign};
  long rows = (long)B * T;
  parallel_range(rope_rows, &k, rows, (double)rows * 3 * H * D * 2);
}

void gfn_gelu_forward(const float *x, float *out, long n) {
  pw_ctx k = {x, 0, out, 0};
  parallel_range(gelu_fwd_r, &k, n, (double)n * 8);
}
/* pw_ctx: a = x, b = dout, out = dx (+=) */
GF_CLONES static void gelu_bwd_r(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) {
    float x = k->a[i];
    float u = GELU_K * (x + 0.044715f * x * x * x);
    float th = 1.0f - 2.0f / (gfn_expf(2.0f * u) + 1.0f);
    float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    k->out[i] += k->b[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
  }
}
void gfn_gelu_backward(const float *x, const float *dout, float *dx, long n) {
  pw_ctx k = {x, dout, dx, 0};
  parallel_range(gelu_bwd_r, &k, n, (double)n * 8);
}
GF_CLONES static void silu_fwd_r(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] = k->a[i] / (1.0f + gfn_expf(-k->a[i]));
}
void gfn_silu_forward(const float *x, float *out, long n) {
  pw_ctx k = {x, 0, out, 0};
  parallel_range(silu_fwd_r, &k, n, (double)n * 8);
}
GF_CLONES static void silu_bwd_r(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) {
    float x = k->a[i], sg = 1.0f / (1.0f + gfn_expf(-x));
    k->out[i] += k->b[i] * sg * (1.0f + x * (1.0f - sg));
  }
}
void gfn_silu_backward(const float *x, const float *dout, float *dx, long n) {
  pw_ctx k = {x, dout, dx, 0};
  parallel_range(silu_bwd_r, &k, n, (double)n * 8);
}
GF_CLONES static void add_r(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] = k->a[i] + k->b[i];
}
void gfn_add(const float *a, const float *b, float *out, long n) {
  pw_ctx k = {a, b, out, 0};
  parallel_range(add_r, &k, n, (double)n);
}
GF_CLONES static void mul_r(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] = k->a[i] * k->b[i];
}
void gfn_mul(const float *a, const float *b, float *out, long n) {
  pw_ctx k = {a, b, out, 0};
  parallel_range(mul_r, &k, n, (double)n);
}
GF_CLONES static void scale_r(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] = k->a[i] * k->s;
}
void gfn_scale(const float *a, float s, float *out, long n) {
  pw_ctx k = {a, 0, out, s};
  parallel_range(scale_r, &k, n, (double)n);
}
GF_CLONES static void axpy_r(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] += k->s * k->a[i];
}
void gfn_axpy(float s, const float *x, float *y, long n) {
  pw_ctx k = {x, 0, y, s};
  parallel_range(axpy_r, &k, n, (double)n);
}

typedef struct { const float *x; long n; double partial[NCHUNK]; } ss_ctx;
GF_CLONES static void ss_chunk(void *c, long c0, long c1) {
  ss_ctx *k = (ss_ctx *)c;
  for (long ch = c0; ch < c1; ch++) {
    long i0 = k->n * ch / NCHUNK, i1 = k->n * (ch + 1) / NCHUNK;
    /* float lanes in blocks of 4096, accumulated in double: fast and accurate */
    double s = 0.0;
    for (long b = i0; b < i1; b += 4096) {
      long e = b + 4096 < i1 ? b + 4096 : i1;
      float f = 0.0f;
#pragma omp simd reduction(+ : f)
      for (long i = b; i < e; i++) f += k->x[i] * k->x[i];
      s += f;
    }
    k->partial[ch] = s;
  }
}
double gfn_sum_squares(const float *x, long n) {
  ss_ctx k;
  k.x = x;
  k.n = n;
  parallel_range(ss_chunk, &k, NCHUNK, (double)n);
  double s = 0.0;
  for (int i = 0; i < NCHUNK; i++) s += k.partial[i];
  return s;
}

/* ---------------------------------------------------------------------------------------- */
/* softmax */

typedef struct { const float *x, *out, *dout; float *o, *dx; long rows, cols; } sm_ctx;
GF_CLONES static void sm_fwd_rows(void *c, long r0, long r1) {
  sm_ctx *k = (sm_ctx *)c;
  long C = k->cols;
  for (long r = r0; r < r1; r++) {
    const float *x = k->x + r * C;
    float *o = k->o + r * C;
    float mx = -INFINITY;
    for (long j = 0; j < C; j++) mx = x[j] > mx ? x[j] : mx;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < C; j++) {
      o[j] = gfn_expf(x[j] - mx);
      s += o[j];
    }
    float inv = 1.0f / s;
    for (long j = 0; j < C; j++) o[j] *= inv;
  }
}
void gfn_softmax_forward(const float *x, float *out, long rows, long cols) {
  sm_ctx k = {.x = x, .o = out, .rows = rows, .cols = cols};
  parallel_range(sm_fwd_rows, &k, rows, (double)rows * cols * 4);
}
GF_CLONES static void sm_bwd_rows(void *c, long r0, long r1) {
  sm_ctx *k = (sm_ctx *)c;
  long C = k->cols;
  for (long r = r0; r < r1; r++) {
    const float *o = k->out + r * C, *d = k->dout + r * C;
    float *dx = k->dx + r * C;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (long j = 0; j < C; j++) dot += o[j] * d[j];
    for (long j = 0; j < C; j++) dx[j] += o[j] * (d[j] - dot);
  }
}
void gfn_softmax_backward(const float *out, const float *dout, float *dx, long rows, long cols) {
  sm_ctx k = {.out = out, .dout = dout, .dx = dx, .rows = rows, .cols = cols};
  parallel_range(sm_bwd_rows, &k, rows, (double)rows * cols * 3);
}

/* ---------------------------------------------------------------------------------------- */
/* cross-entropy, fused log-softmax */

typedef struct { const float *logits, *dloss; const int32_t *targets; float *losses, *dlogits; long rows, V; int ignore; } ce_ctx;
GF_CLONES static void ce_fwd_rows(void *c, long r0, long r1) {
  ce_ctx *k = (ce_ctx *)c;
  long V = k->V;
  for (long r = r0; r < r1; r++) {
    int t = k->targets[r];
    if (t == k->ignore) {
      k->losses[r] = 0.0f;
      continue;
    }
    const float *x = k->logits + r * V;
    float mx = -INFINITY;
    int nan = 0;
    for (long j = 0; j < V; j++) {
      mx = x[j] > mx ? x[j] : mx;
      nan |= x[j] != x[j];
    }
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < V; j++) s += gfn_expf(x[j] - mx);
    k->losses[r] = nan ? NAN : mx + logf(s) - x[t];
  }
}
void gfn_cross_entropy_forward(const float *logits, const int32_t *targets, float *losses, long rows, long V, int ignore) {
  ce_ctx k = {.logits = logits, .targets = targets, .losses = losses, .rows = rows, .V = V, .ignore = ignore};
  parallel_range(ce_fwd_rows, &k, rows, (double)rows * V * 3);
}
GF_CLONES static void ce_bwd_rows(void *c, long r0, long r1) {
  ce_ctx *k = (ce_ctx *)c;
  long V = k->V;
  for (long r = r0; r < r1; r++) {
    int t = k->targets[r];
    if (t == k->ignore) continue;
    const float *x = k->logits + r * V;
    float *dx = k->dlogits + r * V;
    float mx = -INFINITY;
    for (long j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < V; j++) s += gfn_expf(x[j] - mx);
    float g = k->dloss[r], inv = 1.0f / s;
    for (long j = 0; j < V; j++) dx[j] += g * gfn_expf(x[j] - mx) * inv;
    dx[t] -= g;
  }
}
void gfn_cross_entropy_backward(const float *logits, const int32_t *targets, const float *dloss, float *dlogits, long rows, long V, int ignore) {
  ce_ctx k = {.logits = logits, .targets = targets, .dloss = dloss, .dlogits = dlogits, .rows = rows, .V = V, .ignore = ignore};
  parallel_range(ce_bwd_rows, &k, rows, (double)rows * V * 4);
}

/* ---------------------------------------------------------------------------------------- */
/* embedding: forward over rows; backward over columns (ids repeat, so rows would race) */

typedef struct { const int32_t *ids; const float *src; float *dst; long n, C; } emb_ctx;
static void emb_fwd_rows(void *c, long r0, long r1) {
  emb_ctx *k = (emb_ctx *)c;
  for (long i = r0; i < r1; i++) memcpy(k->dst + i * k->C, k->src + (long)k->ids[i] * k->C, sizeof(float) * k->C);
}
void gfn_embedding_forward(const int32_t *ids, const float *table, float *out, long n, long C) {
  emb_ctx k = {ids, table, out, n, C};
  parallel_range(emb_fwd_rows, &k, n, (double)n * C);
}
GF_CLONES static void emb_bwd_cols(void *c, long j0, long j1) {
  emb_ctx *k = (emb_ctx *)c;
  for (long i = 0; i < k->n; i++) {
    const float *d = k->src + i * k->C;
    float *t = k->dst + (long)k->ids[i] * k->C;
    for (long j = j0; j < j1; j++) t[j] += d[j];
  }
}
void gfn_embedding_backward(const int32_t *ids, const float *dout, float *dtable, long n, long C) {
  emb_ctx k = {ids, dout, dtable, n, C};
  parallel_range(emb_bwd_cols, &k, C, (double)n * C);
}

/* ---------------------------------------------------------------------------------------- */
/* AdamW, fused: one pass over p, g, m, v */

typedef struct { float *p, *m, *v; const float *g; float lr, b1, b2, eps, wd, bc1, bc2, gs; } adam_ctx;
GF_CLONES static void adam_r(void *c, long i0, long i1) {
  adam_ctx *k = (adam_ctx *)c;
  float lr = k->lr, b1 = k->b1, b2 = k->b2, eps = k->eps, wd = k->wd, ib1 = 1.0f / k->bc1, ib2 = 1.0f / k->bc2, gs = k->gs;
  for (long i = i0; i < i1; i++) {
    float g = k->g[i] * gs;
    float m = b1 * k->m[i] + (1.0f - b1) * g;
    float v = b2 * k->v[i] + (1.0f - b2) * g * g;
    k->m[i] = m;
    k->v[i] = v;
    k->p[i] -= lr * ((m * ib1) / (sqrtf(v * ib2) + eps) + wd * k->p[i]);
  }
}
void gfn_adamw(float *p, const float *g, float *m, float *v, long n, float lr, float b1, float b2, float eps, float wd, float bc1, float bc2, float gscale) {
  adam_ctx k = {p, m, v, g, lr, b1, b2, eps, wd, bc1, bc2, gscale};
  parallel_range(adam_r, &k, n, (double)n * 4);
}
