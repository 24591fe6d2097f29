/* The native kernel table: the same semantics as src/engine/kernels.ts (which documents
 * each one). Sizes are element counts; backward kernels accumulate (+=). */
#ifndef GPTFORGE_KERNELS_H
#define GPTFORGE_KERNELS_H
#include <stdint.h>

void gfn_sgemm(const float *A, const float *B, float *C, long M, long K, long N, int transA, int transB, int accumulate);
/* C = A·B + bias, act = GELU(C) when act is not NULL (a linear layer's forward; epilogue per tile) */
void gfn_sgemm_bias(const float *A, const float *B, float *C, long M, long K, long N, int transB, const float *bias, float *act);
void gfn_sgemm_serial(const float *A, const float *B, float *C, long M, long K, long N, int transA, int transB, int accumulate);
const char *gfn_sgemm_isa(void);
double gfn_peak_gflops(long iters);

void gfn_add_bias(float *out, const float *bias, long rows, long cols);
void gfn_bias_grad(const float *dout, float *dbias, long rows, long cols);
/* c[r, j] += bias[j] over rows × cols at row stride ldc (and act = GELU(c), stride ldact, when
 * act is not NULL), on the calling thread: gfn_add_bias's / gfn_bias_gelu_forward's row code */
void gfn_bias_tile(float *c, long ldc, const float *bias, float *act, long ldact, long rows, long cols);
void gfn_bias_gelu_forward(float *pre, const float *bias, float *act, long rows, long cols);
void gfn_bias_gelu_backward(const float *pre, const float *dout, float *dpre, float *dbias, long rows, long cols);
void gfn_layernorm_forward(const float *x, const float *w, const float *b, float *out, float *mean, float *rstd, long rows, long cols, float eps);
void gfn_layernorm_backward(const float *dout, const float *x, const float *w, const float *mean, const float *rstd, float *dx, float *dw, float *db, long rows, long cols);
void gfn_rmsnorm_forward(const float *x, const float *w, float *out, float *rstd, long rows, long cols, float eps);
void gfn_rmsnorm_backward(const float *dout, const float *x, const float *w, const float *rstd, float *dx, float *dw, long rows, long cols);
void gfn_gelu_forward(const float *x, float *out, long n);
void gfn_gelu_backward(const float *x, const float *dout, float *dx, long n);
void gfn_silu_forward(const float *x, float *out, long n);
void gfn_silu_backward(const float *x, const float *dout, float *dx, long n);
void gfn_softmax_forward(const float *x, float *out, long rows, long cols);
void gfn_softmax_backward(const float *out, const float *dout, float *dx, long rows, long cols);
void gfn_attention_forward(const float *qkv, float *out, float *lse, int B, int T, int H, int D);
/* accumulate: dqkv += the gradient; 0: dqkv is written (its old contents are never read) */
void gfn_attention_backward(const float *qkv, const float *out, const float *lse, const float *dout, float *dqkv, int B, int T, int H, int D, int accumulate);
/* starts[b]: row b's first valid cache position (left padding before it); a query with no key gets zeros */
void gfn_attention_decode(const float *q, const float *kc, const float *vc, float *out, int B, int Tq, int Tmax, int H, int D, const int32_t *starts, const int32_t *lens, const int32_t *rows);
void gfn_attention_decode_qkv(const float *qkv, float *kc, float *vc, float *out, int B, int Tq, int Tmax, int H, int D, const int32_t *starts, const int32_t *lens, const int32_t *rows);
void gfn_cross_entropy_forward(const float *logits, const int32_t *targets, float *losses, long rows, long V, int ignore);
void gfn_cross_entropy_backward(const float *logits, const int32_t *targets, const float *dloss, float *dlogits, long rows, long V, int ignore);
/* forward and backward in one sweep: losses written, dlogits written (not accumulated) */
void gfn_cross_entropy_fused(const float *logits, const int32_t *targets, const float *dloss, float *losses, float *dlogits, long rows, long V, int ignore);
void gfn_rope(const float *src, float *dst, const float *cos, const float *sin, int B, int T, int H, int D, float sign);
void gfn_embedding_forward(const int32_t *ids, const float *table, float *out, long n, long C);
void gfn_embedding_backward(const int32_t *ids, const float *dout, float *dtable, long n, long C);
void gfn_add(const float *a, const float *b, float *out, long n);
void gfn_mul(const float *a, const float *b, float *out, long n);
void gfn_scale(const float *a, float s, float *out, long n);
void gfn_axpy(float s, const float *x, float *y, long n);
double gfn_sum_squares(const float *x, long n);
void gfn_adamw(float *p, const float *g, float *m, float *v, long n, float lr, float b1, float b2, float eps, float wd, float bc1, float bc2, float gscale);

/* W [N, K] as ggml blocks, type 0 = Q8_0, 1 = Q4_0, K a multiple of 32 (native/qmatmul.c) */
void gfn_qmatmul(const float *x, const uint8_t *w, float *y, long M, long K, long N, int type, int accumulate);
void gfn_qmatmul_backward(const float *dy, const uint8_t *w, float *dx, long M, long K, long N, int type);
void gfn_qdequantize(const uint8_t *w, float *out, long N, long K, int type);
/* inference only: x quantized to Q8_0 rows first, then integer block dot products (native/qmatmul_q8.c);
 * ws: NULL, or the blocks' scales as fp32 [N, K/32] */
void gfn_qmatmul_q8(const float *x, const uint8_t *w, const float *ws, float *y, long M, long K, long N, int type, int accumulate);
void gfn_quantize_q8_rows(const float *x, int8_t *q, float *d, long M, long K);

/* the sampler's tempered exponentials (native/sample.c): e[i] = exp(((double)l[i] − mx) / T) with
 * V8's Math.exp (fdlibm), bit-identical to the JavaScript; returns their left-to-right sum */
double gfn_temp_exp(const float *l, double mx, double T, double *e, long n);
/* the same over float64 scores: e[i] = exp(s[i] − mx) (drawToken's softmax); returns the sum */
double gfn_shift_exp(const double *s, double mx, double *e, long n);
double gfn_v8_exp(double x);
/* the inverse CDF walk of e[i] / sum at u (src/infer/processors.ts walkCdf) */
long gfn_walk_cdf(const double *e, double sum, long n, double u);

#endif
