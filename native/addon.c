/* N-API glue: each exported function reads its arguments (typed arrays by pointer, no
 * copies; numbers; booleans) and calls the kernel. Argument VALUES are validated in
 * TypeScript (src/engine/backend-native.ts) before the call; here we only check types so a
 * wrong call raises a JS error instead of crashing. */
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include "kernels.h"
#include "pool.h"
#include "isa.h"

#define MAXARGS 16

typedef struct {
  napi_env env;
  napi_value argv[MAXARGS];
  size_t argc;
  int failed;
} args_t;

static int get_args(napi_env env, napi_callback_info info, args_t *a, size_t want) {
  a->env = env;
  a->argc = MAXARGS;
  a->failed = 0;
  napi_get_cb_info(env, info, &a->argc, a->argv, NULL, NULL);
  if (a->argc < want) {
    napi_throw_error(env, NULL, "gptforge native: too few arguments");
    return 0;
  }
  return 1;
}

static void *arr(args_t *a, size_t i, napi_typedarray_type want, int nullable) {
  if (a->failed) return NULL;
  napi_valuetype vt;
  napi_typeof(a->env, a->argv[i], &vt);
  if (nullable && (vt == napi_null || vt == napi_undefined)) return NULL;
  bool is_ta = false;
  napi_is_typedarray(a->env, a->argv[i], &is_ta);
  if (!is_ta) {
    a->failed = 1;
    napi_throw_type_error(a->env, NULL, "gptforge native: expected a typed array argument");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value ab;
  napi_get_typedarray_info(a->env, a->argv[i], &type, &length, &data, &ab, &offset);
  if (type != want) {
    a->failed = 1;
    napi_throw_type_error(a->env, NULL, want == napi_float32_array ? "gptforge native: expected a Float32Array" : want == napi_float64_array ? "gptforge native: expected a Float64Array" : want == napi_uint8_array ? "gptforge native: expected a Uint8Array" : "gptforge native: expected an Int32Array");
    return NULL;
  }
  return data; /* napi_get_typedarray_info already applies the byte offset */
}

static float *f32(args_t *a, size_t i) { return (float *)arr(a, i, napi_float32_array, 0); }
static float *f32n(args_t *a, size_t i) { return (float *)arr(a, i, napi_float32_array, 1); }
static double *f64(args_t *a, size_t i) { return (double *)arr(a, i, napi_float64_array, 0); }
static int32_t *i32(args_t *a, size_t i) { return (int32_t *)arr(a, i, napi_int32_array, 0); }
static uint8_t *u8(args_t *a, size_t i) { return (uint8_t *)arr(a, i, napi_uint8_array, 0); }
static double num(args_t *a, size_t i) {
  double v = 0;
  if (!a->failed && napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) {
    a->failed = 1;
    napi_throw_type_error(a->env, NULL, "gptforge native: expected a number argument");
  }
  return v;
}
static int flag(args_t *a, size_t i) {
  bool v = false;
  if (!a->failed && napi_get_value_bool(a->env, a->argv[i], &v) != napi_ok) {
    a->failed = 1;
    napi_throw_type_error(a->env, NULL, "gptforge native: expected a boolean argument");
  }
  return v ? 1 : 0;
}

#define BEGIN(n)                              \
  args_t A;                                   \
  if (!get_args(env, info, &A, n)) return NULL;
#define OK if (A.failed) return NULL;

static napi_value js_matmul(napi_env env, napi_callback_info info) {
  BEGIN(9)
  const float *a = f32(&A, 0), *b = f32(&A, 1);
  float *c = f32(&A, 2);
  long M = (long)num(&A, 3), K = (long)num(&A, 4), N = (long)num(&A, 5);
  int ta = flag(&A, 6), tb = flag(&A, 7), acc = flag(&A, 8);
  OK gfn_sgemm(a, b, c, M, K, N, ta, tb, acc);
  return NULL;
}
static napi_value js_matmul_bias(napi_env env, napi_callback_info info) {
  BEGIN(9)
  const float *a = f32(&A, 0), *b = f32(&A, 1);
  float *c = f32(&A, 2);
  long M = (long)num(&A, 3), K = (long)num(&A, 4), N = (long)num(&A, 5);
  int tb = flag(&A, 6);
  const float *bias = f32(&A, 7);
  float *act = f32n(&A, 8);
  OK gfn_sgemm_bias(a, b, c, M, K, N, tb, bias, act);
  return NULL;
}
static napi_value js_qmatmul(napi_env env, napi_callback_info info) {
  BEGIN(8)
  const float *x = f32(&A, 0);
  const uint8_t *w = u8(&A, 1);
  float *y = f32(&A, 2);
  long M = (long)num(&A, 3), K = (long)num(&A, 4), N = (long)num(&A, 5);
  int type = (int)num(&A, 6), acc = flag(&A, 7);
  OK gfn_qmatmul(x, w, y, M, K, N, type, acc);
  return NULL;
}
static napi_value js_qmatmul_q8(napi_env env, napi_callback_info info) {
  BEGIN(9)
  const float *x = f32(&A, 0);
  const uint8_t *w = u8(&A, 1);
  float *y = f32(&A, 2);
  long M = (long)num(&A, 3), K = (long)num(&A, 4), N = (long)num(&A, 5);
  int type = (int)num(&A, 6), acc = flag(&A, 7);
  const float *ws = f32n(&A, 8);
  OK gfn_qmatmul_q8(x, w, ws, y, M, K, N, type, acc);
  return NULL;
}
static napi_value js_qmatmul_bwd(napi_env env, napi_callback_info info) {
  BEGIN(7)
  const float *dy = f32(&A, 0);
  const uint8_t *w = u8(&A, 1);
  float *dx = f32(&A, 2);
  long M = (long)num(&A, 3), K = (long)num(&A, 4), N = (long)num(&A, 5);
  int type = (int)num(&A, 6);
  OK gfn_qmatmul_backward(dy, w, dx, M, K, N, type);
  return NULL;
}
static napi_value js_qdequantize(napi_env env, napi_callback_info info) {
  BEGIN(5)
  const uint8_t *w = u8(&A, 0);
  float *out = f32(&A, 1);
  long N = (long)num(&A, 2), K = (long)num(&A, 3);
  int type = (int)num(&A, 4);
  OK gfn_qdequantize(w, out, N, K, type);
  return NULL;
}
static napi_value js_add_bias(napi_env env, napi_callback_info info) {
  BEGIN(4)
  float *o = f32(&A, 0);
  const float *b = f32(&A, 1);
  long r = (long)num(&A, 2), c = (long)num(&A, 3);
  OK gfn_add_bias(o, b, r, c);
  return NULL;
}
static napi_value js_bias_grad(napi_env env, napi_callback_info info) {
  BEGIN(4)
  const float *d = f32(&A, 0);
  float *db = f32(&A, 1);
  long r = (long)num(&A, 2), c = (long)num(&A, 3);
  OK gfn_bias_grad(d, db, r, c);
  return NULL;
}
static napi_value js_ln_fwd(napi_env env, napi_callback_info info) {
  BEGIN(9)
  const float *x = f32(&A, 0), *w = f32n(&A, 1), *b = f32n(&A, 2);
  float *o = f32(&A, 3), *m = f32(&A, 4), *rs = f32(&A, 5);
  long r = (long)num(&A, 6), c = (long)num(&A, 7);
  float eps = (float)num(&A, 8);
  OK gfn_layernorm_forward(x, w, b, o, m, rs, r, c, eps);
  return NULL;
}
static napi_value js_ln_bwd(napi_env env, napi_callback_info info) {
  BEGIN(10)
  const float *d = f32(&A, 0), *x = f32(&A, 1), *w = f32n(&A, 2), *m = f32(&A, 3), *rs = f32(&A, 4);
  float *dx = f32(&A, 5), *dw = f32n(&A, 6), *db = f32n(&A, 7);
  long r = (long)num(&A, 8), c = (long)num(&A, 9);
  OK gfn_layernorm_backward(d, x, w, m, rs, dx, dw, db, r, c);
  return NULL;
}
static napi_value js_rms_fwd(napi_env env, napi_callback_info info) {
  BEGIN(7)
  const float *x = f32(&A, 0), *w = f32n(&A, 1);
  float *o = f32(&A, 2), *rs = f32(&A, 3);
  long r = (long)num(&A, 4), c = (long)num(&A, 5);
  float eps = (float)num(&A, 6);
  OK gfn_rmsnorm_forward(x, w, o, rs, r, c, eps);
  return NULL;
}
static napi_value js_rms_bwd(napi_env env, napi_callback_info info) {
  BEGIN(8)
  const float *d = f32(&A, 0), *x = f32(&A, 1), *w = f32n(&A, 2), *rs = f32(&A, 3);
  float *dx = f32(&A, 4), *dw = f32n(&A, 5);
  long r = (long)num(&A, 6), c = (long)num(&A, 7);
  OK gfn_rmsnorm_backward(d, x, w, rs, dx, dw, r, c);
  return NULL;
}
#define UNARY_FWD(js, fn)                                       \
  static napi_value js(napi_env env, napi_callback_info info) { \
    BEGIN(3)                                                    \
    const float *x = f32(&A, 0);                                \
    float *o = f32(&A, 1);                                      \
    long n = (long)num(&A, 2);                                  \
    OK fn(x, o, n);                                             \
    return NULL;                                                \
  }
#define UNARY_BWD(js, fn)                                       \
  static napi_value js(napi_env env, napi_callback_info info) { \
    BEGIN(4)                                                    \
    const float *x = f32(&A, 0), *d = f32(&A, 1);               \
    float *dx = f32(&A, 2);                                     \
    long n = (long)num(&A, 3);                                  \
    OK fn(x, d, dx, n);                                         \
    return NULL;                                                \
  }
static napi_value js_bias_gelu_fwd(napi_env env, napi_callback_info info) {
  BEGIN(5)
  float *pre = f32(&A, 0);
  const float *b = f32(&A, 1);
  float *act = f32(&A, 2);
  long r = (long)num(&A, 3), c = (long)num(&A, 4);
  OK gfn_bias_gelu_forward(pre, b, act, r, c);
  return NULL;
}
static napi_value js_bias_gelu_bwd(napi_env env, napi_callback_info info) {
  BEGIN(6)
  const float *pre = f32(&A, 0), *d = f32(&A, 1);
  float *dpre = f32(&A, 2), *db = f32n(&A, 3);
  long r = (long)num(&A, 4), c = (long)num(&A, 5);
  OK gfn_bias_gelu_backward(pre, d, dpre, db, r, c);
  return NULL;
}
UNARY_FWD(js_gelu_fwd, gfn_gelu_forward)
UNARY_BWD(js_gelu_bwd, gfn_gelu_backward)
UNARY_FWD(js_silu_fwd, gfn_silu_forward)
UNARY_BWD(js_silu_bwd, gfn_silu_backward)

static napi_value js_softmax_fwd(napi_env env, napi_callback_info info) {
  BEGIN(4)
  const float *x = f32(&A, 0);
  float *o = f32(&A, 1);
  long r = (long)num(&A, 2), c = (long)num(&A, 3);
  OK gfn_softmax_forward(x, o, r, c);
  return NULL;
}
static napi_value js_softmax_bwd(napi_env env, napi_callback_info info) {
  BEGIN(5)
  const float *o = f32(&A, 0), *d = f32(&A, 1);
  float *dx = f32(&A, 2);
  long r = (long)num(&A, 3), c = (long)num(&A, 4);
  OK gfn_softmax_backward(o, d, dx, r, c);
  return NULL;
}
static napi_value js_att_fwd(napi_env env, napi_callback_info info) {
  BEGIN(7)
  const float *qkv = f32(&A, 0);
  float *o = f32(&A, 1), *l = f32(&A, 2);
  int B = (int)num(&A, 3), T = (int)num(&A, 4), H = (int)num(&A, 5), D = (int)num(&A, 6);
  OK gfn_attention_forward(qkv, o, l, B, T, H, D);
  return NULL;
}
static napi_value js_att_bwd(napi_env env, napi_callback_info info) {
  BEGIN(10)
  const float *qkv = f32(&A, 0), *o = f32(&A, 1), *l = f32(&A, 2), *d = f32(&A, 3);
  float *dq = f32(&A, 4);
  int B = (int)num(&A, 5), T = (int)num(&A, 6), H = (int)num(&A, 7), D = (int)num(&A, 8), acc = flag(&A, 9);
  OK gfn_attention_backward(qkv, o, l, d, dq, B, T, H, D, acc);
  return NULL;
}
static napi_value js_att_dec(napi_env env, napi_callback_info info) {
  BEGIN(12)
  const float *q = f32(&A, 0), *kc = f32(&A, 1), *vc = f32(&A, 2);
  float *o = f32(&A, 3);
  int B = (int)num(&A, 4), Tq = (int)num(&A, 5), Tm = (int)num(&A, 6), H = (int)num(&A, 7), D = (int)num(&A, 8);
  const int32_t *st = i32(&A, 9), *ln = i32(&A, 10), *rw = i32(&A, 11);
  OK gfn_attention_decode(q, kc, vc, o, B, Tq, Tm, H, D, st, ln, rw);
  return NULL;
}
static napi_value js_att_dec_qkv(napi_env env, napi_callback_info info) {
  BEGIN(12)
  const float *qkv = f32(&A, 0);
  float *kc = f32(&A, 1), *vc = f32(&A, 2), *o = f32(&A, 3);
  int B = (int)num(&A, 4), Tq = (int)num(&A, 5), Tm = (int)num(&A, 6), H = (int)num(&A, 7), D = (int)num(&A, 8);
  const int32_t *st = i32(&A, 9), *ln = i32(&A, 10), *rw = i32(&A, 11);
  OK gfn_attention_decode_qkv(qkv, kc, vc, o, B, Tq, Tm, H, D, st, ln, rw);
  return NULL;
}
static napi_value js_rope(napi_env env, napi_callback_info info) {
  BEGIN(9)
  const float *src = f32(&A, 0);
  float *dst = f32(&A, 1);
  const float *c = f32(&A, 2), *s = f32(&A, 3);
  int B = (int)num(&A, 4), T = (int)num(&A, 5), H = (int)num(&A, 6), D = (int)num(&A, 7);
  float sign = (float)num(&A, 8);
  OK gfn_rope(src, dst, c, s, B, T, H, D, sign);
  return NULL;
}
static napi_value js_ce_fwd(napi_env env, napi_callback_info info) {
  BEGIN(6)
  const float *lg = f32(&A, 0);
  const int32_t *t = i32(&A, 1);
  float *l = f32(&A, 2);
  long r = (long)num(&A, 3), V = (long)num(&A, 4);
  int ig = (int)num(&A, 5);
  OK gfn_cross_entropy_forward(lg, t, l, r, V, ig);
  return NULL;
}
static napi_value js_ce_bwd(napi_env env, napi_callback_info info) {
  BEGIN(7)
  const float *lg = f32(&A, 0);
  const int32_t *t = i32(&A, 1);
  const float *dl = f32(&A, 2);
  float *dlg = f32(&A, 3);
  long r = (long)num(&A, 4), V = (long)num(&A, 5);
  int ig = (int)num(&A, 6);
  OK gfn_cross_entropy_backward(lg, t, dl, dlg, r, V, ig);
  return NULL;
}
static napi_value js_ce_fused(napi_env env, napi_callback_info info) {
  BEGIN(8)
  const float *lg = f32(&A, 0);
  const int32_t *t = i32(&A, 1);
  const float *dl = f32(&A, 2);
  float *l = f32(&A, 3), *dlg = f32(&A, 4);
  long r = (long)num(&A, 5), V = (long)num(&A, 6);
  int ig = (int)num(&A, 7);
  OK gfn_cross_entropy_fused(lg, t, dl, l, dlg, r, V, ig);
  return NULL;
}
static napi_value js_emb_fwd(napi_env env, napi_callback_info info) {
  BEGIN(5)
  const int32_t *ids = i32(&A, 0);
  const float *tb = f32(&A, 1);
  float *o = f32(&A, 2);
  long n = (long)num(&A, 3), C = (long)num(&A, 4);
  OK gfn_embedding_forward(ids, tb, o, n, C);
  return NULL;
}
static napi_value js_emb_bwd(napi_env env, napi_callback_info info) {
  BEGIN(5)
  const int32_t *ids = i32(&A, 0);
  const float *d = f32(&A, 1);
  float *dt = f32(&A, 2);
  long n = (long)num(&A, 3), C = (long)num(&A, 4);
  OK gfn_embedding_backward(ids, d, dt, n, C);
  return NULL;
}
#define BINARY(js, fn)                                          \
  static napi_value js(napi_env env, napi_callback_info info) { \
    BEGIN(4)                                                    \
    const float *a = f32(&A, 0), *b = f32(&A, 1);               \
    float *o = f32(&A, 2);                                      \
    long n = (long)num(&A, 3);                                  \
    OK fn(a, b, o, n);                                          \
    return NULL;                                                \
  }
BINARY(js_add, gfn_add)
BINARY(js_mul, gfn_mul)
static napi_value js_scale(napi_env env, napi_callback_info info) {
  BEGIN(4)
  const float *a = f32(&A, 0);
  float s = (float)num(&A, 1);
  float *o = f32(&A, 2);
  long n = (long)num(&A, 3);
  OK gfn_scale(a, s, o, n);
  return NULL;
}
static napi_value js_axpy(napi_env env, napi_callback_info info) {
  BEGIN(4)
  float s = (float)num(&A, 0);
  const float *x = f32(&A, 1);
  float *y = f32(&A, 2);
  long n = (long)num(&A, 3);
  OK gfn_axpy(s, x, y, n);
  return NULL;
}
static napi_value js_sum_squares(napi_env env, napi_callback_info info) {
  BEGIN(2)
  const float *x = f32(&A, 0);
  long n = (long)num(&A, 1);
  OK;
  napi_value r;
  napi_create_double(env, gfn_sum_squares(x, n), &r);
  return r;
}
static napi_value js_adamw(napi_env env, napi_callback_info info) {
  BEGIN(13)
  float *p = f32(&A, 0);
  const float *g = f32(&A, 1);
  float *m = f32(&A, 2), *v = f32(&A, 3);
  long n = (long)num(&A, 4);
  float lr = (float)num(&A, 5), b1 = (float)num(&A, 6), b2 = (float)num(&A, 7), eps = (float)num(&A, 8), wd = (float)num(&A, 9);
  float bc1 = (float)num(&A, 10), bc2 = (float)num(&A, 11), gs = (float)num(&A, 12);
  OK gfn_adamw(p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2, gs);
  return NULL;
}
/* tempExp(l: Float32Array, mx, T, e: Float64Array, n) → the sum of e[0..n) (native/sample.c) */
static napi_value js_temp_exp(napi_env env, napi_callback_info info) {
  BEGIN(5)
  const float *l = f32(&A, 0);
  double mx = num(&A, 1), T = num(&A, 2);
  double *e = f64(&A, 3);
  long n = (long)num(&A, 4);
  OK;
  napi_value r;
  napi_create_double(env, gfn_temp_exp(l, mx, T, e, n), &r);
  return r;
}
/* shiftExp(s: Float64Array, mx, e: Float64Array, n) → the sum of e[0..n) (native/sample.c) */
static napi_value js_shift_exp(napi_env env, napi_callback_info info) {
  BEGIN(4)
  const double *s = f64(&A, 0);
  double mx = num(&A, 1);
  double *e = f64(&A, 2);
  long n = (long)num(&A, 3);
  OK;
  napi_value r;
  napi_create_double(env, gfn_shift_exp(s, mx, e, n), &r);
  return r;
}
/* walkCdf(e: Float64Array, sum, n, u) → the token (native/sample.c) */
static napi_value js_walk_cdf(napi_env env, napi_callback_info info) {
  BEGIN(4)
  const double *e = f64(&A, 0);
  double sum = num(&A, 1);
  long n = (long)num(&A, 2);
  double u = num(&A, 3);
  OK;
  napi_value r;
  napi_create_double(env, (double)gfn_walk_cdf(e, sum, n, u), &r);
  return r;
}
static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  BEGIN(1)
  int n = (int)num(&A, 0);
  OK pool_set_threads(n);
  return NULL;
}
static napi_value js_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, pool_threads(), &r);
  return r;
}
static napi_value js_peak(napi_env env, napi_callback_info info) {
  BEGIN(1)
  long iters = (long)num(&A, 0);
  OK;
  napi_value r;
  napi_create_double(env, gfn_peak_gflops(iters), &r);
  return r;
}
static napi_value js_isa(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  const char *s = gfn_isa_name(gfn_isa());
  napi_create_string_utf8(env, s, strlen(s), &r);
  return r;
}
/* every instruction-set name the addon knows, with whether this CPU and build support it:
 * [{name, supported}], in order scalar, avx2, avx512, neon */
static napi_value js_isas(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value arr;
  napi_create_array_with_length(env, GF_ISA_COUNT, &arr);
  for (int i = 0; i < GF_ISA_COUNT; i++) {
    napi_value o, name, sup;
    napi_create_object(env, &o);
    napi_create_string_utf8(env, gfn_isa_name((gf_isa)i), NAPI_AUTO_LENGTH, &name);
    napi_get_boolean(env, gfn_isa_supported((gf_isa)i) != 0, &sup);
    napi_set_named_property(env, o, "name", name);
    napi_set_named_property(env, o, "supported", sup);
    napi_set_element(env, arr, (uint32_t)i, o);
  }
  return arr;
}
/* setIsa(name): switch every kernel to that path; false when this CPU or build lacks it */
static napi_value js_set_isa(napi_env env, napi_callback_info info) {
  BEGIN(1)
  char name[16] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, A.argv[0], name, sizeof(name), &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "gptforge native: setIsa expects a string");
    return NULL;
  }
  int ok = 0;
  for (int i = 0; i < GF_ISA_COUNT; i++)
    if (strcmp(name, gfn_isa_name((gf_isa)i)) == 0) ok = gfn_isa_set((gf_isa)i) == 0;
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  pool_init(0);
  napi_property_descriptor props[] = {
#define P(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}
      P("matmul", js_matmul), P("matmulBias", js_matmul_bias), P("qmatmul", js_qmatmul), P("qmatmulQ8", js_qmatmul_q8), P("qmatmulBackward", js_qmatmul_bwd), P("qdequantize", js_qdequantize), P("addBias", js_add_bias), P("biasGrad", js_bias_grad),
      P("layerNormForward", js_ln_fwd), P("layerNormBackward", js_ln_bwd),
      P("rmsNormForward", js_rms_fwd), P("rmsNormBackward", js_rms_bwd),
      P("geluForward", js_gelu_fwd), P("geluBackward", js_gelu_bwd), P("biasGeluForward", js_bias_gelu_fwd), P("biasGeluBackward", js_bias_gelu_bwd),
      P("siluForward", js_silu_fwd), P("siluBackward", js_silu_bwd),
      P("softmaxForward", js_softmax_fwd), P("softmaxBackward", js_softmax_bwd),
      P("attentionForward", js_att_fwd), P("attentionBackward", js_att_bwd), P("attentionDecode", js_att_dec), P("attentionDecodeQkv", js_att_dec_qkv),
      P("crossEntropyForward", js_ce_fwd), P("crossEntropyBackward", js_ce_bwd),
      P("crossEntropyFused", js_ce_fused),
      P("rope", js_rope), P("embeddingForward", js_emb_fwd), P("embeddingBackward", js_emb_bwd),
      P("add", js_add), P("mul", js_mul), P("scale", js_scale), P("axpy", js_axpy),
      P("sumSquares", js_sum_squares), P("adamw", js_adamw), P("tempExp", js_temp_exp), P("shiftExp", js_shift_exp), P("walkCdf", js_walk_cdf),
      P("setThreads", js_set_threads), P("threads", js_threads), P("isa", js_isa), P("isas", js_isas), P("setIsa", js_set_isa), P("peakGflops", js_peak),
#undef P
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
