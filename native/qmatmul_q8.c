/* Integer block products for inference: y[M,N] (+)= x[M,K]·Wᵀ with W [N, K] as Q8_0 or Q4_0
 * blocks (native/qmatmul.c has the layouts) and the activation rows x quantized to Q8_0 first —
 * ggml's scheme for its CPU matmul (vec_dot_type = Q8_0; ggml-cpu quants.c
 * ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0):
 *
 *   1. each row of x, per block of 32: d = max|x|/127, id = 127/max|x|, q = rint(x·id) (round
 *      half to even) in [−127, 127] — ggml's x86 quantize_row_q8_0; the block keeps d_x = fp16(d),
 *      as ggml's block_q8_0 stores it (y.d = GGML_FP32_TO_FP16(d)) and its dot products read it back — the
 *      q were rounded against the fp32 d, so q·d_x is off by |q|·|d − d_x| ≤ 127·max(d·2⁻¹¹, 2⁻²⁵)
 *      more. Keeping d in fp32 instead gives different rounding downstream: on a random 2-layer
 *      model that alone moved log-probabilities by 0.1–0.2 from llama.cpp's (docs/interop.md);
 *   2. for each weight block, the exact integer Σ q_w·q_x (≤ 32·128·127, no overflow), then
 *      y += (d_w·d_x)·Σ in fp32.
 *
 * Step 1 is the only approximation beyond fp32 rounding: |x − q·d_x| ≤ max|x|/254 +
 * max(max|x|·2⁻¹¹, 127·2⁻²⁵) per element, so
 *   |y_int − y_fp32| ≤ Σ_b (max_b|x|/254 + max(max_b|x|·2⁻¹¹, 127·2⁻²⁵))·Σ_{k∈b}|W[n,k]|   (+ fp32 rounding)
 * where y_fp32 is the dequantized weight times the unquantized x (the training forward).
 * That is why this is for decoding only: training keeps float activations (qmatmul.c).
 *
 * Step 1 is one plain-C function shared by every path, so every path quantizes x to the same
 * bytes; the integer sums are exact, so paths differ only in the order of the fp32 sums over
 * blocks (per-lane partial sums, accumulator splits, reduction trees). The caller may pass the
 * blocks' scales as fp32 (ws), saving an fp16 conversion a block; same bits. Per path:
 *   scalar  plain C, the reference (llm.c style)
 *   avx2    _mm256_maddubs_epi16 on |w| and sign(x, w), then _mm256_madd_epi16 to int32
 *   avx512  the same two blocks at a time (needs AVX-512BW; an AVX-512F-only CPU runs avx2)
 *   neon    vmull_s8 / vmlal_high_s8 to int16 (|w·x| ≤ 128·127: two fit), vpadalq_s16
 * Each weight block is unpacked once for a tile of rows of x (avx2: 2 rows; the others
 * Q8_TILE rows), and every row of a tile gets the same arithmetic, so a
 * row's result depends neither on M nor on which rows share its call (decoding a row alone
 * equals it batched), nor on the thread count. */
#include <math.h>
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
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#define Q8_TILE 4
#define Q8_TYPE_Q8_0 0

typedef struct {
  const int8_t *qx; /* [M, K] quantized activations */
  const float *dx;  /* [M, K/32] their scales */
  const uint8_t *w;
  const float *ws; /* optional: the blocks' scales as fp32 [N, K/32] (saves an fp16 conversion a block) */
  float *y;
  long M, K, N;
  int type, acc;
} q8_job;

typedef void (*q8_range_fn)(const q8_job *j, long n0, long n1);

static inline long q8_block_bytes(int type) { return type == Q8_TYPE_Q8_0 ? 34 : 18; }

/* Step 1 (every path): x[M, K] → q[M, K] int8, d[M, K/32]. Round half to even: NEON's
 * vcvtnq, or the 1.5·2²³ trick (exact for |v| < 2²², and |v| ≤ 127 here) in a function built
 * for the baseline ISA, where there is no FMA to fuse the product into the rounding. */
void gfn_quantize_q8_rows(const float *x, int8_t *q, float *d, long M, long K) {
  const long nb = K / 32;
  for (long r = 0; r < M * nb; r++) {
    const float *xb = x + r * 32;
    int8_t *qb = q + r * 32;
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) {
      const float a = fabsf(xb[i]);
      amax = a > amax ? a : amax;
    }
    /* ggml's x86 quantize_row_q8_0 (AVX2/AVX-512/AVX): id = 127/max|x| (not 1/d: the two differ
     * in the last bit for some max|x|, and that flips a rounding now and then), d stored as fp16 */
    const float db = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    d[r] = gf_round_half(db);
#if defined(__aarch64__)
    /* FMA is baseline on AArch64: the product and the rounding stay separate instructions */
    const float32x4_t vid = vdupq_n_f32(id);
    for (int i = 0; i < 32; i += 8) {
      const int32x4_t a = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(xb + i), vid));
      const int32x4_t b = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(xb + i + 4), vid));
      const int16x8_t h = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
      vst1_s8(qb + i, vmovn_s16(h));
    }
#else
    /* compiled for the baseline ISA (no FMA to contract into) */
    for (int i = 0; i < 32; i++) {
      const float v = xb[i] * id;
      qb[i] = (int8_t)(int)((v + 12582912.0f) - 12582912.0f);
    }
#endif
  }
}

/* ---- scalar: the reference ------------------------------------------------------------ */

static inline void q8_wblock_scalar(int type, const uint8_t *blk, int8_t *wq) {
  const uint8_t *qs = blk + 2;
  if (type == Q8_TYPE_Q8_0) memcpy(wq, qs, 32);
  else
    for (int i = 0; i < 16; i++) {
      wq[i] = (int8_t)((qs[i] & 15) - 8);
      wq[i + 16] = (int8_t)((qs[i] >> 4) - 8);
    }
}

static void q8_range_scalar(const q8_job *j, long n0, long n1) {
  const long nb = j->K / 32, bs = q8_block_bytes(j->type);
  for (long n = n0; n < n1; n++) {
    const uint8_t *row = j->w + n * nb * bs;
    for (long m = 0; m < j->M; m++) {
      float sum = 0.0f;
      for (long b = 0; b < nb; b++) {
        int8_t wq[32];
        q8_wblock_scalar(j->type, row + b * bs, wq);
        const int8_t *xq = j->qx + m * j->K + b * 32;
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += (int32_t)wq[i] * (int32_t)xq[i];
        const float dw = j->ws ? j->ws[n * nb + b] : gf_half(row + b * bs);
        sum += (dw * j->dx[m * nb + b]) * (float)s;
      }
      float *yo = j->y + m * j->N + n;
      *yo = j->acc ? *yo + sum : sum;
    }
  }
}

/* ---- x86-64: avx2 and avx512 ------------------------------------------------------------ */
#if defined(__x86_64__) && defined(__GNUC__)
#define Q8_AVX2 __attribute__((target("avx2,fma,f16c")))
#define Q8_AVX512 __attribute__((target("avx512f,avx512bw,avx2,fma,f16c")))
#define Q8_HALF(p) _cvtsh_ss((unsigned short)((p)[0] | ((p)[1] << 8)))
#define Q8_INLINE static inline __attribute__((always_inline))

/* one weight block as 32 signed levels: Q8_0 as stored; Q4_0 low nibbles (weights 0–15) in the
 * low 128 bits, high nibbles (16–31) in the high ones, minus 8 */
Q8_AVX2 Q8_INLINE __m256i q8_wblock_avx2(const int type, const uint8_t *blk) {
  if (type == Q8_TYPE_Q8_0) return _mm256_loadu_si256((const __m256i *)(blk + 2));
  const __m128i raw = _mm_loadu_si128((const __m128i *)(blk + 2)), m4 = _mm_set1_epi8(15);
  const __m256i v = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), _mm_and_si128(raw, m4));
  return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

/* Weight row n against rows [m0, m0 + MT) of x, MT ≤ 2; MT and type are constants once
 * inlined. Two accumulators per output taking alternate blocks (the FMA latency), summed, then
 * reduced as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)): an output's bits depend neither on M nor on
 * the other rows. One weight row at a time, not several interleaved: with 2 or 4 row streams
 * at once, W streamed from DRAM (a model larger than the caches) ran 2–3× slower (measured:
 * 48 GPT-2-sized matrices, M = 1: 4 rows 14.0 ms, 2 rows 12.4 ms, 1 row 4.8 ms; in cache 1 row
 * is 10% slower than 4). */
Q8_AVX2 Q8_INLINE void q8_row_avx2(const q8_job *j, long n, long m0, const int type, const int MT, const int WS) {
  const long nb = j->K / 32, bs = q8_block_bytes(type), K = j->K, N = j->N;
  const uint8_t *row = j->w + n * nb * bs;
  const float *ws = WS ? j->ws + n * nb : 0;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[2][2];
  for (int m = 0; m < MT; m++) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
#define Q8_BLOCK(bb, s)                                                                                \
  {                                                                                                    \
    const uint8_t *blk = row + (bb) * bs;                                                              \
    const __m256i wq = q8_wblock_avx2(type, blk), aw = _mm256_sign_epi8(wq, wq);                       \
    const __m256 dw = WS ? _mm256_broadcast_ss(ws + (bb)) : _mm256_set1_ps(Q8_HALF(blk));              \
    for (int m = 0; m < MT; m++) {                                                                     \
      const __m256i xq = _mm256_loadu_si256((const __m256i *)(j->qx + (m0 + m) * K + (bb) * 32));      \
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xq, wq)), ones);   \
      const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(j->dx + (m0 + m) * nb + (bb)));           \
      acc[m][s] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[m][s]);                                \
    }                                                                                                  \
  }
  long b = 0;
  for (; b + 1 < nb; b += 2) {
    Q8_BLOCK(b, 0)
    Q8_BLOCK(b + 1, 1)
  }
  if (b < nb) Q8_BLOCK(b, 0)
#undef Q8_BLOCK
  for (int m = 0; m < MT; m++) {
    const __m256 v = _mm256_add_ps(acc[m][0], acc[m][1]);
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    /* lanes (l0+l4, l1+l5, l2+l6, l3+l7) → ((l0+l4)+(l1+l5)) + ((l2+l6)+(l3+l7)) */
    const __m128 t = _mm_add_ps(s, _mm_shuffle_ps(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
    const float sum = _mm_cvtss_f32(_mm_add_ss(t, _mm_movehl_ps(t, t)));
    float *yo = j->y + (m0 + m) * N + n;
    *yo = j->acc ? *yo + sum : sum;
  }
}

/* Short rows (K ≤ 480 for Q8_0, ≤ 896 for Q4_0: 4 rows within ~2 KB, one memory stream): 4
 * weight rows n0…n0+3 (past the last row: the last row again, not stored) against rows
 * [m0, m0 + MT) of x, MT ≤ 2; one accumulator per output (4·MT independent FMA chains), and the
 * four outputs of a row reduced together by one hadd tree, which sums each output's 8 lanes as
 * ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)) whatever the other three hold: an output's bits depend on
 * neither M nor its neighbours. The per-row reduction, a large share of a short row's work, is
 * shared by four rows (K = 256, M = 1: 1.6–1.8× faster than one row at a time). */
Q8_AVX2 Q8_INLINE void q8_quad_avx2(const q8_job *j, long n0, long m0, const int type, const int MT, const int WS) {
  const long nb = j->K / 32, bs = q8_block_bytes(type), K = j->K, N = j->N;
  const uint8_t *row[4];
  const float *ws[4];
  for (int g = 0; g < 4; g++) {
    const long n = n0 + g < N ? n0 + g : N - 1;
    row[g] = j->w + n * nb * bs;
    ws[g] = WS ? j->ws + n * nb : 0;
  }
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[2][4];
  for (int m = 0; m < MT; m++)
    for (int g = 0; g < 4; g++) acc[m][g] = _mm256_setzero_ps();
  for (long b = 0; b < nb; b++) {
    __m256i xq[2];
    __m256 dx[2];
    for (int m = 0; m < MT; m++) {
      xq[m] = _mm256_loadu_si256((const __m256i *)(j->qx + (m0 + m) * K + b * 32));
      dx[m] = _mm256_broadcast_ss(j->dx + (m0 + m) * nb + b);
    }
    for (int g = 0; g < 4; g++) {
      const uint8_t *blk = row[g] + b * bs;
      const __m256i wq = q8_wblock_avx2(type, blk), aw = _mm256_sign_epi8(wq, wq);
      const __m256 dw = WS ? _mm256_broadcast_ss(ws[g] + b) : _mm256_set1_ps(Q8_HALF(blk));
      for (int m = 0; m < MT; m++) {
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xq[m], wq)), ones);
        acc[m][g] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx[m]), _mm256_cvtepi32_ps(p), acc[m][g]);
      }
    }
  }
  for (int m = 0; m < MT; m++) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(acc[m][0], acc[m][1]), _mm256_hadd_ps(acc[m][2], acc[m][3]));
    /* lanes 0–3: outputs 0–3, their first four lanes; 4–7: their last four */
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    float out[4];
    _mm_storeu_ps(out, s);
    float *yo = j->y + (m0 + m) * N + n0;
    for (int g = 0; g < 4 && n0 + g < N; g++) yo[g] = j->acc ? yo[g] + out[g] : out[g];
  }
}

Q8_AVX2 static void q8_range_avx2(const q8_job *j, long n0, long n1) {
  /* n0 is a multiple of 16 (q8_task's chunks), so 4-row groups never straddle two threads */
  const int quad = (j->K / 32) * q8_block_bytes(j->type) <= 512;
#define Q8_ROWS(FN, STEP, WS)                                        \
  for (long n = n0; n < n1; n += STEP)                               \
    for (long m0 = 0; m0 < j->M; m0 += 2) {                          \
      const int two = j->M - m0 >= 2;                                \
      if (j->type == Q8_TYPE_Q8_0) {                                 \
        if (two) FN(j, n, m0, Q8_TYPE_Q8_0, 2, WS);                  \
        else FN(j, n, m0, Q8_TYPE_Q8_0, 1, WS);                      \
      } else {                                                       \
        if (two) FN(j, n, m0, 1, 2, WS);                             \
        else FN(j, n, m0, 1, 1, WS);                                 \
      }                                                              \
    }
  if (quad) {
    if (j->ws) { Q8_ROWS(q8_quad_avx2, 4, 1) }
    else { Q8_ROWS(q8_quad_avx2, 4, 0) }
  } else {
    if (j->ws) { Q8_ROWS(q8_row_avx2, 1, 1) }
    else { Q8_ROWS(q8_row_avx2, 1, 0) }
  }
#undef Q8_ROWS
}

#define Q8_TILES(rowfn, type)                                   \
  for (long n = n0; n < n1; n++)                                \
    for (long m0 = 0; m0 < j->M; m0 += Q8_TILE) {               \
      switch (j->M - m0 < Q8_TILE ? j->M - m0 : Q8_TILE) {      \
        case 1: rowfn(j, n, m0, type, 1); break;                \
        case 2: rowfn(j, n, m0, type, 2); break;                \
        case 3: rowfn(j, n, m0, type, 3); break;                \
        default: rowfn(j, n, m0, type, 4); break;               \
      }                                                         \
    }

/* AVX-512: blocks b and b+1 side by side in one 512-bit vector (lanes 0–7 block b, 8–15 block
 * b+1); an odd last block pairs with zero weights. AVX-512 has no vpsignb: x is negated under
 * the mask of w's sign bits. (Compiled here, not run: the development machine is AVX2.) */
Q8_AVX512 Q8_INLINE void q8_row_avx512(const q8_job *j, long n, long m0, const int type, const int MT) {
  const long nb = j->K / 32, bs = q8_block_bytes(type), K = j->K;
  const uint8_t *row = j->w + n * nb * bs;
  const __m512i ones = _mm512_set1_epi16(1), zero = _mm512_setzero_si512();
  __m512 acc[Q8_TILE];
  for (int m = 0; m < MT; m++) acc[m] = _mm512_setzero_ps();
  for (long b = 0; b < nb; b += 2) {
    const int two = b + 1 < nb;
    const uint8_t *b0 = row + b * bs, *b1 = row + (b + 1) * bs;
    const __m256i w0 = q8_wblock_avx2(type, b0), w1 = two ? q8_wblock_avx2(type, b1) : _mm256_setzero_si256();
    const __m512i wq = _mm512_inserti64x4(_mm512_castsi256_si512(w0), w1, 1);
    const __m512i aw = _mm512_abs_epi8(wq);
    const __mmask64 neg = _mm512_movepi8_mask(wq);
    const float d0 = j->ws ? j->ws[n * nb + b] : Q8_HALF(b0), d1 = !two ? 0.0f : j->ws ? j->ws[n * nb + b + 1] : Q8_HALF(b1);
    const __m512 dw = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(d0), _mm512_set1_ps(d1));
    for (int m = 0; m < MT; m++) {
      const int8_t *xb = j->qx + (m0 + m) * K + b * 32;
      const float *db = j->dx + (m0 + m) * nb + b;
      /* the odd last block: only its own 32 bytes are read */
      const __m512i xq = two ? _mm512_loadu_si512((const void *)xb) : _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xb));
      const __m512i sx = _mm512_mask_sub_epi8(xq, neg, zero, xq);
      const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(aw, sx), ones);
      const __m512 dxv = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(db[0]), _mm512_set1_ps(two ? db[1] : 0.0f));
      acc[m] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dxv), _mm512_cvtepi32_ps(p), acc[m]);
    }
  }
  for (int m = 0; m < MT; m++) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc[m]), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[m]), 1)));
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    const float sum = _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
    float *yo = j->y + (m0 + m) * j->N + n;
    *yo = j->acc ? *yo + sum : sum;
  }
}

Q8_AVX512 static void q8_range_avx512(const q8_job *j, long n0, long n1) {
  if (j->type == Q8_TYPE_Q8_0) { Q8_TILES(q8_row_avx512, Q8_TYPE_Q8_0) }
  else { Q8_TILES(q8_row_avx512, 1) }
}
#endif

/* ---- AArch64: neon ---------------------------------------------------------------------- */
#if defined(__aarch64__)
#define Q8_INLINE static inline __attribute__((always_inline))

/* the 32 levels of a block as two int8x16: weights 0–15, 16–31 */
Q8_INLINE void q8_wblock_neon(const int type, const uint8_t *blk, int8x16_t *w0, int8x16_t *w1) {
  if (type == Q8_TYPE_Q8_0) {
    *w0 = vld1q_s8((const int8_t *)(blk + 2));
    *w1 = vld1q_s8((const int8_t *)(blk + 18));
  } else {
    const uint8x16_t raw = vld1q_u8(blk + 2);
    const int8x16_t e8 = vdupq_n_s8(8);
    *w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(15))), e8);
    *w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), e8);
  }
}

Q8_INLINE void q8_row_neon(const q8_job *j, long n, long m0, const int type, const int MT) {
  const long nb = j->K / 32, bs = q8_block_bytes(type), K = j->K;
  const uint8_t *row = j->w + n * nb * bs;
  float32x4_t acc[Q8_TILE][2];
  for (int m = 0; m < MT; m++) acc[m][0] = acc[m][1] = vdupq_n_f32(0.0f);
#define Q8_BLOCK(bb, s)                                                                  \
  {                                                                                      \
    const uint8_t *blk = row + (bb) * bs;                                                \
    int8x16_t w0, w1;                                                                    \
    q8_wblock_neon(type, blk, &w0, &w1);                                                 \
    const float dw = j->ws ? j->ws[n * nb + (bb)] : gf_half(blk);                       \
    for (int m = 0; m < MT; m++) {                                                       \
      const int8_t *xb = j->qx + (m0 + m) * K + (bb) * 32;                               \
      const int8x16_t x0 = vld1q_s8(xb), x1 = vld1q_s8(xb + 16);                         \
      const int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), w0, x0); \
      const int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), w1, x1); \
      const int32x4_t p = vpadalq_s16(vpaddlq_s16(p0), p1);                              \
      acc[m][s] = vfmaq_n_f32(acc[m][s], vcvtq_f32_s32(p), dw * j->dx[(m0 + m) * nb + (bb)]); \
    }                                                                                    \
  }
  long b = 0;
  for (; b + 1 < nb; b += 2) {
    Q8_BLOCK(b, 0)
    Q8_BLOCK(b + 1, 1)
  }
  if (b < nb) Q8_BLOCK(b, 0)
#undef Q8_BLOCK
  for (int m = 0; m < MT; m++) {
    const float sum = vaddvq_f32(vaddq_f32(acc[m][0], acc[m][1]));
    float *yo = j->y + (m0 + m) * j->N + n;
    *yo = j->acc ? *yo + sum : sum;
  }
}

#define Q8_TILES_NEON(type)                                     \
  for (long n = n0; n < n1; n++)                                \
    for (long m0 = 0; m0 < j->M; m0 += Q8_TILE) {               \
      switch (j->M - m0 < Q8_TILE ? j->M - m0 : Q8_TILE) {      \
        case 1: q8_row_neon(j, n, m0, type, 1); break;          \
        case 2: q8_row_neon(j, n, m0, type, 2); break;          \
        case 3: q8_row_neon(j, n, m0, type, 3); break;          \
        default: q8_row_neon(j, n, m0, type, 4); break;         \
      }                                                         \
    }

static void q8_range_neon(const q8_job *j, long n0, long n1) {
  if (j->type == Q8_TYPE_Q8_0) { Q8_TILES_NEON(Q8_TYPE_Q8_0) }
  else { Q8_TILES_NEON(1) }
}
#endif

static q8_range_fn q8_choose(void) {
  switch (gfn_isa()) {
#if defined(__x86_64__) && defined(__GNUC__)
    case GF_ISA_AVX512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512bw") ? q8_range_avx512 : q8_range_avx2;
    case GF_ISA_AVX2: return q8_range_avx2;
#endif
#if defined(__aarch64__)
    case GF_ISA_NEON: return q8_range_neon;
#endif
    default: return q8_range_scalar;
  }
}

typedef struct {
  const q8_job *j;
  q8_range_fn fn;
  long chunk;
} q8_split;

static void q8_task(void *c, int t, int n) {
  const q8_split *s = (const q8_split *)c;
  (void)n;
  const long r0 = t * s->chunk, r1 = r0 + s->chunk < s->j->N ? r0 + s->chunk : s->j->N;
  if (r0 < r1) s->fn(s->j, r0, r1);
}

/* The quantized activations of the call in progress (JS calls the kernels from one thread). */
static int8_t *q8_xbuf;
static float *q8_dbuf;
static size_t q8_cap;

void gfn_qmatmul_q8(const float *x, const uint8_t *w, const float *ws, float *y, long M, long K, long N, int type, int accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) memset(y, 0, sizeof(float) * (size_t)M * (size_t)N);
    return;
  }
  const size_t n = (size_t)M * (size_t)K;
  if (q8_cap < n) {
    free(q8_xbuf);
    free(q8_dbuf);
    q8_xbuf = (int8_t *)aligned_alloc(64, (n + 63) & ~(size_t)63);
    q8_dbuf = (float *)malloc(sizeof(float) * (n / 32));
    if (!q8_xbuf || !q8_dbuf) abort();
    q8_cap = n;
  }
  gfn_quantize_q8_rows(x, q8_xbuf, q8_dbuf, M, K);
  const q8_job j = {.qx = q8_xbuf, .dx = q8_dbuf, .w = w, .ws = ws, .y = y, .M = M, .K = K, .N = N, .type = type, .acc = accumulate};
  const q8_range_fn fn = q8_choose();
  const int threads = pool_threads();
  const int ntasks = threads > 1 && (double)M * (double)N * (double)K > 2e5 ? threads : 1;
  /* chunks of 16 rows of W: threads never share a cache line of y */
  const long chunk = ((N + ntasks - 1) / ntasks + 15) / 16 * 16;
  if (ntasks == 1) fn(&j, 0, N);
  else {
    q8_split s = {&j, fn, chunk};
    pool_run(q8_task, &s, ntasks);
  }
}
