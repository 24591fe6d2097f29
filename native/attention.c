/* Causal self-attention, blocked like FlashAttention but built from the sgemm microkernel:
 * one pool task per (batch, head); inside it, query tiles of BQ rows:
 *   S = (q·scale)·Kᵀ [BQ × kv]  →  P = softmax(S) with the causal mask  →  O = P·V
 * Only a BQ × T tile of scores exists at a time (never T × T per head). Forward saves the
 * log-sum-exp per row; backward recomputes P from it:
 *   dV += Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),  dQ += dS·K·scale,  dK += dSᵀ·(Q·scale)
 * Heads are disjoint slices of the packed qkv rows, so tasks never write the same memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "pool.h"
#include "fastmath.h"

#define BQ 64

static __thread float *scratch;
static __thread size_t scratch_cap;

static float *get_scratch(size_t n) {
  if (scratch_cap < n) {
    free(scratch);
    scratch = (float *)aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    scratch_cap = scratch ? n : 0;
    if (!scratch) abort();
  }
  return scratch;
}


typedef struct {
  const float *qkv, *out, *lse_in, *dout;
  float *o, *lse, *dqkv;
  int B, T, H, D;
} att_ctx;

/* copy head h of rows (b, 0..T) from a strided [B, T, stride] array into dst [T, D], times s */
static void gather(const float *src, long stride, long off, int T, int D, float s, float *dst) {
  for (int t = 0; t < T; t++) {
    const float *r = src + t * stride + off;
    for (int d = 0; d < D; d++) dst[t * D + d] = r[d] * s;
  }
}

static void att_fwd_task(void *c, int bh, int n) {
  (void)n;
  const att_ctx *a = (const att_ctx *)c;
  int T = a->T, D = a->D, H = a->H, b = bh / H, h = bh % H;
  long C = (long)H * D, C3 = 3 * C;
  float scale = 1.0f / sqrtf((float)D);
  float *q = get_scratch((size_t)3 * T * D + (size_t)BQ * T + (size_t)BQ * D);
  float *k = q + (size_t)T * D, *v = k + (size_t)T * D, *S = v + (size_t)T * D, *O = S + (size_t)BQ * T;
  const float *base = a->qkv + (long)b * T * C3;
  gather(base, C3, h * D, T, D, scale, q);
  gather(base, C3, C + h * D, T, D, 1.0f, k);
  gather(base, C3, 2 * C + h * D, T, D, 1.0f, v);
  for (int t0 = 0; t0 < T; t0 += BQ) {
    int bq = T - t0 < BQ ? T - t0 : BQ, kv = t0 + bq;
    gfn_sgemm_serial(q + (long)t0 * D, k, S, bq, D, kv, 0, 1, 0);
    for (int i = 0; i < bq; i++) {
      float *row = S + (long)i * kv;
      int valid = t0 + i + 1;
      float mx = -INFINITY;
      for (int j = 0; j < valid; j++) mx = row[j] > mx ? row[j] : mx;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int j = 0; j < valid; j++) {
        row[j] = gfn_expf(row[j] - mx);
        sum += row[j];
      }
      float inv = 1.0f / sum;
      for (int j = 0; j < valid; j++) row[j] *= inv;
      for (int j = valid; j < kv; j++) row[j] = 0.0f;
      a->lse[((long)b * H + h) * T + t0 + i] = mx + logf(sum);
    }
    gfn_sgemm_serial(S, v, O, bq, kv, D, 0, 0, 0);
    for (int i = 0; i < bq; i++) memcpy(a->o + ((long)b * T + t0 + i) * C + h * D, O + (long)i * D, sizeof(float) * D);
  }
}

void gfn_attention_forward(const float *qkv, float *out, float *lse, int B, int T, int H, int D) {
  att_ctx a = {.qkv = qkv, .o = out, .lse = lse, .B = B, .T = T, .H = H, .D = D};
  pool_run(att_fwd_task, &a, B * H);
}

static void att_bwd_task(void *c, int bh, int n) {
  (void)n;
  const att_ctx *a = (const att_ctx *)c;
  int T = a->T, D = a->D, H = a->H, b = bh / H, h = bh % H;
  long C = (long)H * D, C3 = 3 * C;
  size_t TD = (size_t)T * D;
  float scale = 1.0f / sqrtf((float)D);
  float *q = get_scratch(8 * TD + 2 * (size_t)BQ * T);
  float *k = q + TD, *v = k + TD, *o = v + TD, *dO = o + TD, *dq = dO + TD, *dk = dq + TD, *dv = dk + TD;
  float *P = dv + TD, *dP = P + (size_t)BQ * T;
  const float *base = a->qkv + (long)b * T * C3;
  gather(base, C3, h * D, T, D, scale, q);
  gather(base, C3, C + h * D, T, D, 1.0f, k);
  gather(base, C3, 2 * C + h * D, T, D, 1.0f, v);
  gather(a->out + (long)b * T * C, C, h * D, T, D, 1.0f, o);
  gather(a->dout + (long)b * T * C, C, h * D, T, D, 1.0f, dO);
  memset(dq, 0, sizeof(float) * 3 * TD);
  const float *lse = a->lse_in + ((long)b * H + h) * T;
  for (int t0 = 0; t0 < T; t0 += BQ) {
    int bq = T - t0 < BQ ? T - t0 : BQ, kv = t0 + bq;
    gfn_sgemm_serial(q + (long)t0 * D, k, P, bq, D, kv, 0, 1, 0);
    for (int i = 0; i < bq; i++) {
      float *row = P + (long)i * kv;
      int valid = t0 + i + 1;
      float l = lse[t0 + i];
      for (int j = 0; j < valid; j++) row[j] = gfn_expf(row[j] - l);
      for (int j = valid; j < kv; j++) row[j] = 0.0f;
    }
    /* dV[0:kv] += Pᵀ · dO_t */
    gfn_sgemm_serial(P, dO + (long)t0 * D, dv, kv, bq, D, 1, 0, 1);
    /* dP = dO_t · Vᵀ */
    gfn_sgemm_serial(dO + (long)t0 * D, v, dP, bq, D, kv, 0, 1, 0);
    for (int i = 0; i < bq; i++) {
      const float *oi = o + (long)(t0 + i) * D, *gi = dO + (long)(t0 + i) * D;
      float di = 0.0f;
#pragma omp simd reduction(+ : di)
      for (int d = 0; d < D; d++) di += oi[d] * gi[d];
      float *pr = P + (long)i * kv, *dr = dP + (long)i * kv;
      for (int j = 0; j < kv; j++) dr[j] = pr[j] * (dr[j] - di);
    }
    /* dQ_t += dS · K (gradient w.r.t. the scaled q; scaled back at scatter) */
    gfn_sgemm_serial(dP, k, dq + (long)t0 * D, bq, kv, D, 0, 0, 1);
    /* dK[0:kv] += dSᵀ · (q·scale) */
    gfn_sgemm_serial(dP, q + (long)t0 * D, dk, kv, bq, D, 1, 0, 1);
  }
  float *g = a->dqkv + (long)b * T * C3;
  for (int t = 0; t < T; t++) {
    float *r = g + (long)t * C3;
    for (int d = 0; d < D; d++) {
      r[h * D + d] += dq[(long)t * D + d] * scale;
      r[C + h * D + d] += dk[(long)t * D + d];
      r[2 * C + h * D + d] += dv[(long)t * D + d];
    }
  }
}

void gfn_attention_backward(const float *qkv, const float *out, const float *lse, const float *dout, float *dqkv, int B, int T, int H, int D) {
  att_ctx a = {.qkv = qkv, .out = out, .lse_in = lse, .dout = dout, .dqkv = dqkv, .B = B, .T = T, .H = H, .D = D};
  pool_run(att_bwd_task, &a, B * H);
}

/* Decoding against a KV cache: few queries, plain loops per (b, h). */
typedef struct { const float *q, *kc, *vc; float *out; int B, Tq, pos0, Tmax, H, D; } dec_ctx;

static void dec_task(void *c, int bh, int n) {
  (void)n;
  const dec_ctx *a = (const dec_ctx *)c;
  int H = a->H, D = a->D, b = bh / H, h = bh % H;
  long C = (long)H * D;
  float scale = 1.0f / sqrtf((float)D);
  float *p = get_scratch((size_t)a->pos0 + a->Tq);
  for (int i = 0; i < a->Tq; i++) {
    const float *qi = a->q + ((long)b * a->Tq + i) * C + h * D;
    int last = a->pos0 + i;
    float mx = -INFINITY;
    for (int s = 0; s <= last; s++) {
      const float *ks = a->kc + ((long)b * a->Tmax + s) * C + h * D;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int d = 0; d < D; d++) dot += qi[d] * ks[d];
      p[s] = dot * scale;
      mx = p[s] > mx ? p[s] : mx;
    }
    float sum = 0.0f;
    for (int s = 0; s <= last; s++) {
      p[s] = gfn_expf(p[s] - mx);
      sum += p[s];
    }
    float *oi = a->out + ((long)b * a->Tq + i) * C + h * D;
    memset(oi, 0, sizeof(float) * D);
    for (int s = 0; s <= last; s++) {
      const float *vs = a->vc + ((long)b * a->Tmax + s) * C + h * D;
      float w = p[s] / sum;
      for (int d = 0; d < D; d++) oi[d] += w * vs[d];
    }
  }
}

void gfn_attention_decode(const float *q, const float *kc, const float *vc, float *out, int B, int Tq, int pos0, int Tmax, int H, int D) {
  dec_ctx a = {q, kc, vc, out, B, Tq, pos0, Tmax, H, D};
  pool_run(dec_task, &a, B * H);
}
