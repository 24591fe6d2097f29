/* The loop bodies of ops.c, included by it once per instruction set (like
 * attention_small.h):
 *   OPS_ATTR    the target attribute of the instance (may be empty)
 *   OPS(name)   name with the instance's suffix
 *   OPS_EXP     gfn_expf, or gfn_expf_nofma for the baseline instance (fastmath.h)
 *   OPS_GELU8   (optional) GELU by gelu_avx2.h's 8-lane intrinsics instead of the plain loop
 * Each inclusion defines the instance's ops_table OPS(ops) and #undefs both macros.
 * Plain loops: the compiler vectorises them for the instance's target. */

OPS_ATTR static void OPS(add_bias_rows)(void *c, long r0, long r1) {
  bias_ctx *k = (bias_ctx *)c;
  for (long r = r0; r < r1; r++) {
    float *o = k->out + r * k->cols;
    for (long j = 0; j < k->cols; j++) o[j] += k->bias[j];
  }
}

/* p[j] += d[j] over one row: restrict so the compiler vectorises it without an overlap check */
OPS_ATTR static inline void OPS(add_row)(float *restrict p, const float *restrict d, long n) {
  for (long j = 0; j < n; j++) p[j] += d[j];
}

/* bias gradient over a range of the NCHUNK fixed row chunks: chunk c's column sums, its rows
 * in order from zero, into partial + c·cols (combined in chunk order by gfn_bias_grad) */
OPS_ATTR static void OPS(bias_grad_chunk)(void *c, long c0, long c1) {
  bias_ctx *k = (bias_ctx *)c;
  for (long chunk = c0; chunk < c1; chunk++) {
    long r0 = k->rows * chunk / NCHUNK, r1 = k->rows * (chunk + 1) / NCHUNK;
    float *p = k->partial + chunk * k->cols;
    memset(p, 0, sizeof(float) * (size_t)k->cols);
    for (long r = r0; r < r1; r++) OPS(add_row)(p, k->dout + r * k->cols, k->cols);
  }
}

OPS_ATTR static void OPS(ln_fwd_rows)(void *c, long r0, long r1) {
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

/* layer norm backward, one row's second pass: dx += rs·(dn − a − n·bsum), and the row's share
 * of dw and db. A function of its own with restrict pointers so the compiler vectorises it:
 * written inline, it could not prove dx, pw and pb apart from the inputs and ran one element
 * at a time (~16 instructions an element on avx2). The same operations per element in the
 * same order, so the same bits. */
OPS_ATTR static inline void OPS(ln_bwd_row)(const float *restrict x, const float *restrict d, const float *restrict w, float *restrict dx, float *restrict pw, float *restrict pb, long C, float m, float rs, float a, float bsum) {
  if (w) {
    for (long j = 0; j < C; j++) {
      float n = (x[j] - m) * rs, dn = d[j] * w[j];
      pw[j] += n * d[j];
      pb[j] += d[j];
      dx[j] += rs * (dn - a - n * bsum);
    }
  } else {
    for (long j = 0; j < C; j++) {
      float n = (x[j] - m) * rs, dn = d[j] * 1.0f;
      pw[j] += n * d[j];
      pb[j] += d[j];
      dx[j] += rs * (dn - a - n * bsum);
    }
  }
}

OPS_ATTR static void OPS(ln_bwd_chunk)(void *c, long c0, long c1) {
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
      OPS(ln_bwd_row)(x, d, k->w, dx, pw, pb, C, m, rs, a, bsum);
    }
  }
}

OPS_ATTR static void OPS(rms_fwd_rows)(void *c, long r0, long r1) {
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

/* RMSNorm backward, one row's second pass (restrict pointers, as ln_bwd_row, so it vectorises;
 * the same operations per element, so the same bits) */
OPS_ATTR static inline void OPS(rms_bwd_row)(const float *restrict x, const float *restrict d, const float *restrict w, float *restrict dx, float *restrict pw, long C, float rs, float a) {
  for (long j = 0; j < C; j++) {
    float n = x[j] * rs;
    pw[j] += d[j] * n;
    dx[j] += rs * (d[j] * (w ? w[j] : 1.0f) - n * a);
  }
}

OPS_ATTR static void OPS(rms_bwd_chunk)(void *c, long c0, long c1) {
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
      OPS(rms_bwd_row)(x, d, k->w, dx, pw, C, rs, a);
    }
  }
}

/* GELU and its derivative for one element, shared by the plain GELU loops and the fused
 * bias + GELU below, so both compute the same bits */
OPS_ATTR static inline float OPS(gelu1)(float x) {
  float u = GELU_K * (x + 0.044715f * x * x * x);
  float th = 1.0f - 2.0f / (OPS_EXP(2.0f * u) + 1.0f);
  return 0.5f * x * (1.0f + th);
}
OPS_ATTR static inline float OPS(gelu_grad1)(float x) {
  float u = GELU_K * (x + 0.044715f * x * x * x);
  float th = 1.0f - 2.0f / (OPS_EXP(2.0f * u) + 1.0f);
  float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
  return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
}

/* fused bias + GELU forward over rows: pre += bias, out = GELU(pre) */
OPS_ATTR static void OPS(bias_gelu_fwd_rows)(void *c, long r0, long r1) {
  bias_ctx *k = (bias_ctx *)c;
  for (long r = r0; r < r1; r++) {
    float *p = k->out + r * k->cols, *o = k->act + r * k->cols;
#ifdef OPS_GELU8
    gelu8_bias_forward(p, k->bias, o, 0, k->cols);
#else
    for (long j = 0; j < k->cols; j++) {
      float x = p[j] + k->bias[j];
      p[j] = x;
      o[j] = OPS(gelu1)(x);
    }
#endif
  }
}

/* fused backward over a range of the NCHUNK fixed row chunks: dpre = dout·GELU'(pre)
 * (written), and when a bias gradient is wanted chunk c's column sums of dpre, its rows in
 * order from zero, into partial + c·cols (bias_grad_chunk's order, so the same bits) */
OPS_ATTR static void OPS(bias_gelu_bwd_chunk)(void *c, long c0, long c1) {
  bias_ctx *k = (bias_ctx *)c;
  long C = k->cols;
  for (long chunk = c0; chunk < c1; chunk++) {
    long r0 = k->rows * chunk / NCHUNK, r1 = k->rows * (chunk + 1) / NCHUNK;
    float *p = k->partial ? k->partial + chunk * C : 0;
    if (p) memset(p, 0, sizeof(float) * (size_t)C);
    for (long r = r0; r < r1; r++) {
      const float *x = k->pre + r * C, *d = k->dout + r * C;
      float *g = k->dpre + r * C;
#ifdef OPS_GELU8
      gelu8_bias_backward(x, d, g, p, 0, C);
#else
      for (long j = 0; j < C; j++) g[j] = d[j] * OPS(gelu_grad1)(x[j]);
      if (p) OPS(add_row)(p, g, C);
#endif
    }
  }
}

OPS_ATTR static void OPS(gelu_fwd_r)(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
#ifdef OPS_GELU8
  gelu8_forward(k->a, k->out, i0, i1);
#else
  for (long i = i0; i < i1; i++) k->out[i] = OPS(gelu1)(k->a[i]);
#endif
}

OPS_ATTR static void OPS(rope_rows)(void *c, long r0, long r1) {
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

OPS_ATTR static void OPS(gelu_bwd_r)(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
#ifdef OPS_GELU8
  gelu8_backward(k->a, k->b, k->out, i0, i1);
#else
  for (long i = i0; i < i1; i++) k->out[i] += k->b[i] * OPS(gelu_grad1)(k->a[i]);
#endif
}

OPS_ATTR static void OPS(silu_fwd_r)(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] = k->a[i] / (1.0f + OPS_EXP(-k->a[i]));
}

OPS_ATTR static void OPS(silu_bwd_r)(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) {
    float x = k->a[i], sg = 1.0f / (1.0f + OPS_EXP(-x));
    k->out[i] += k->b[i] * sg * (1.0f + x * (1.0f - sg));
  }
}

OPS_ATTR static void OPS(add_r)(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] = k->a[i] + k->b[i];
}

OPS_ATTR static void OPS(mul_r)(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] = k->a[i] * k->b[i];
}

OPS_ATTR static void OPS(scale_r)(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] = k->a[i] * k->s;
}

OPS_ATTR static void OPS(axpy_r)(void *c, long i0, long i1) {
  pw_ctx *k = (pw_ctx *)c;
  for (long i = i0; i < i1; i++) k->out[i] += k->s * k->a[i];
}

/* Σ x² over n ≤ 4096 floats in 16 lanes: element i goes to lane i mod 16, the lanes summed in
 * order at the end. Written out (not `omp simd reduction`, which gcc 12 left scalar here: one
 * serial add chain, ~4 cycles an element) so every path sums in the same order, whatever
 * its vector width; the paths differ only in FMA contraction. */
OPS_ATTR static inline float OPS(ss_block)(const float *restrict x, long n) {
  float acc[16] = {0};
  long i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) acc[l] += x[i + l] * x[i + l];
  for (int l = 0; i < n; i++, l++) acc[l] += x[i] * x[i];
  float f = 0.0f;
  for (int l = 0; l < 16; l++) f += acc[l];
  return f;
}

OPS_ATTR static void OPS(ss_chunk)(void *c, long c0, long c1) {
  ss_ctx *k = (ss_ctx *)c;
  for (long ch = c0; ch < c1; ch++) {
    long i0 = k->n * ch / NCHUNK, i1 = k->n * (ch + 1) / NCHUNK;
    /* float lanes in blocks of 4096, accumulated in double: fast and accurate */
    double s = 0.0;
    for (long b = i0; b < i1; b += 4096) s += OPS(ss_block)(k->x + b, (b + 4096 < i1 ? b + 4096 : i1) - b);
    k->partial[ch] = s;
  }
}

OPS_ATTR static void OPS(sm_fwd_rows)(void *c, long r0, long r1) {
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
      o[j] = OPS_EXP(x[j] - mx);
      s += o[j];
    }
    float inv = 1.0f / s;
    for (long j = 0; j < C; j++) o[j] *= inv;
  }
}

OPS_ATTR static void OPS(sm_bwd_rows)(void *c, long r0, long r1) {
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

/* a logits row's largest value, and whether it holds a NaN (the loss is then NaN) */
OPS_ATTR static inline float OPS(ce_row_max)(const float *x, long V, int *nan) {
  float mx = -INFINITY;
  int n = 0;
  for (long j = 0; j < V; j++) {
    mx = x[j] > mx ? x[j] : mx;
    n |= x[j] != x[j];
  }
  *nan = n;
  return mx;
}

OPS_ATTR static void OPS(ce_fwd_rows)(void *c, long r0, long r1) {
  ce_ctx *k = (ce_ctx *)c;
  long V = k->V;
  for (long r = r0; r < r1; r++) {
    int t = k->targets[r];
    if (t == k->ignore) {
      k->losses[r] = 0.0f;
      continue;
    }
    const float *x = k->logits + r * V;
    int nan = 0;
    float mx = OPS(ce_row_max)(x, V, &nan);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < V; j++) s += OPS_EXP(x[j] - mx);
    k->losses[r] = nan ? NAN : mx + logf(s) - x[t];
  }
}

OPS_ATTR static void OPS(ce_bwd_rows)(void *c, long r0, long r1) {
  ce_ctx *k = (ce_ctx *)c;
  long V = k->V;
  for (long r = r0; r < r1; r++) {
    int t = k->targets[r];
    if (t == k->ignore) continue;
    const float *x = k->logits + r * V;
    float *dx = k->dlogits + r * V;
    float mx = -INFINITY;
    for (long j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    /* each exp once: kept in a row of scratch between the sum and the gradient */
    float *e = ce_scratch(V), s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < V; j++) {
      e[j] = OPS_EXP(x[j] - mx);
      s += e[j];
    }
    float g = k->dloss[r], inv = 1.0f / s;
    for (long j = 0; j < V; j++) dx[j] += g * e[j] * inv;
    dx[t] -= g;
  }
}

/* ce_fwd_rows and ce_bwd_rows of the same rows in one sweep, dlogits written (as the backward
 * adds to zeros; zeros on ignored rows): the exponentials go into dlogits' row and are scaled
 * there. The separate kernels read the row four times and need dlogits zeroed first; here
 * it is read once into the row that is written (linearCrossEntropy over a 4096 vocabulary). */
OPS_ATTR static void OPS(ce_fused_rows)(void *c, long r0, long r1) {
  ce_ctx *k = (ce_ctx *)c;
  long V = k->V;
  for (long r = r0; r < r1; r++) {
    int t = k->targets[r];
    float *dx = k->dlogits + r * V;
    if (t == k->ignore) {
      k->losses[r] = 0.0f;
      memset(dx, 0, sizeof(float) * (size_t)V);
      continue;
    }
    const float *x = k->logits + r * V;
    int nan = 0;
    float mx = OPS(ce_row_max)(x, V, &nan);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (long j = 0; j < V; j++) {
      dx[j] = OPS_EXP(x[j] - mx);
      s += dx[j];
    }
    k->losses[r] = nan ? NAN : mx + logf(s) - x[t];
    float g = k->dloss[r], inv = 1.0f / s;
    for (long j = 0; j < V; j++) dx[j] = g * dx[j] * inv;
    dx[t] -= g;
  }
}

OPS_ATTR static void OPS(emb_bwd_cols)(void *c, long j0, long j1) {
  emb_ctx *k = (emb_ctx *)c;
  for (long i = 0; i < k->n; i++) {
    const float *d = k->src + i * k->C;
    float *t = k->dst + (long)k->ids[i] * k->C;
    for (long j = j0; j < j1; j++) t[j] += d[j];
  }
}

OPS_ATTR static void OPS(adam_r)(void *c, long i0, long i1) {
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

static const ops_table OPS(ops) = {
    OPS(add_bias_rows),
    OPS(bias_grad_chunk),
    OPS(ln_fwd_rows),
    OPS(ln_bwd_chunk),
    OPS(rms_fwd_rows),
    OPS(rms_bwd_chunk),
    OPS(gelu_fwd_r),
    OPS(rope_rows),
    OPS(gelu_bwd_r),
    OPS(silu_fwd_r),
    OPS(silu_bwd_r),
    OPS(add_r),
    OPS(mul_r),
    OPS(scale_r),
    OPS(axpy_r),
    OPS(ss_chunk),
    OPS(sm_fwd_rows),
    OPS(sm_bwd_rows),
    OPS(ce_fwd_rows),
    OPS(ce_bwd_rows),
    OPS(ce_fused_rows),
    OPS(emb_bwd_cols),
    OPS(adam_r),
    OPS(bias_gelu_fwd_rows),
    OPS(bias_gelu_bwd_chunk),
};

#undef OPS_ATTR
#undef OPS
#undef OPS_EXP
#undef OPS_GELU8
