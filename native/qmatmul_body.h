/* The loop bodies of qmatmul.c, included by it once per instruction set (like ops_body.h):
 *   QM_ATTR   the target attribute of the instance (may be empty)
 *   QM(name)  name with the instance's suffix
 *   QVL       float lanes of the instance's vectors (16 avx512, 8 avx2, 4 scalar = SSE2)
 *   QDEQ      how a block is unpacked: 512 or 256 (intrinsics), 0 (plain C)
 *   QM_HALF   fp16 → float of a block's d: F16C's vcvtph2ps, or q_half (plain C)
 * The products are written with GCC vector extensions, so the one source is what every path
 * runs (the avx512 instance, which the development machine cannot run, is the avx2 code at a
 * wider vector). Unpacking a block is written with intrinsics per path: GCC 12 lowers the
 * generic int8 → float conversion and byte shifts one element at a time.
 * Each inclusion defines the instance's table QM(tab) and #undefs the three macros. */

typedef float QM(vf) __attribute__((vector_size(QVL * 4), aligned(4), may_alias));
typedef int32_t QM(vi) __attribute__((vector_size(QVL * 4)));
typedef int8_t QM(vb) __attribute__((vector_size(QVL), aligned(1), may_alias));
typedef uint8_t QM(vu) __attribute__((vector_size(QVL), aligned(1), may_alias));

/* vectors per block of 32 weights */
#define QNV (32 / QVL)

/* One block's 32 integer levels as QNV float vectors (weight c·QVL + l in lane l of w[c]),
 * returning the block's scale d: Q8_0 x = q·d; Q4_0 x = (q − 8)·d with weight j < 16 in the low
 * nibble of byte j and weight j ≥ 16 in the high nibble of byte j − 16. The products apply d
 * once per block (Σ q·x, then ·d) rather than once per weight. q·d is exact in fp32 (≤ 8 bits
 * times an fp16's 11), so deq_rows and the TypeScript reference dequantize to the same floats. */
QM_ATTR static inline __attribute__((always_inline)) float QM(deq)(const int type, const uint8_t *blk, QM(vf) *w) {
  const float d = QM_HALF(blk);
  const uint8_t *qs = blk + 2;
#if QDEQ == 512
  /* 16 lanes: Q8_0 two sign-extended halves; Q4_0 the low nibbles (weights 0–15), then the high ones */
  if (type == Q_TYPE_Q8_0) {
    w[0] = (QM(vf))_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qs)));
    w[1] = (QM(vf))_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qs + 16))));
  } else {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(15), e8 = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, m4), e8), hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), e8);
    w[0] = (QM(vf))_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo));
    w[1] = (QM(vf))_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi));
  }
#elif QDEQ == 256
  if (type == Q_TYPE_Q8_0) {
    for (int c = 0; c < 4; c++) w[c] = (QM(vf))_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 8 * c))));
  } else {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(15), e8 = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, m4), e8), hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), e8);
    w[0] = (QM(vf))_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    w[1] = (QM(vf))_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    w[2] = (QM(vf))_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    w[3] = (QM(vf))_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
  }
#else
  /* plain C into a small buffer, which the baseline compiler vectorises */
  float t[32] __attribute__((aligned(16)));
  if (type == Q_TYPE_Q8_0) {
    for (int j = 0; j < 32; j++) t[j] = (float)(int8_t)qs[j];
  } else {
    for (int j = 0; j < 16; j++) {
      t[j] = (float)((int)(qs[j] & 15) - 8);
      t[j + 16] = (float)((int)(qs[j] >> 4) - 8);
    }
  }
  for (int c = 0; c < QNV; c++) w[c] = *(const QM(vf) *)(t + c * QVL);
#endif
  return d;
}

/* y[m, n] (+)= Σ_k x[m, k]·W[n, k] for n in [n0, n1), M ≤ Q_SMALL_M rows (a compile-time
 * constant once inlined, so the accumulators live in registers). Each y element is reduced
 * by one thread in a fixed order: results do not depend on the thread count. */
QM_ATTR static inline __attribute__((always_inline)) void QM(fwd)(const q_job *j, long n0, long n1, const int type, const int M) {
  const long nb = j->K / 32, bs = q_block_bytes(type), K = j->K, N = j->N;
  enum { SPLIT_MAX = 4 };
  /* independent accumulator chains: one per row, and for one or two rows several taking
   * alternate blocks, so the FMA latency never sets the pace */
  const int split = M == 1 ? 4 : M == 2 ? 2 : 1;
  for (long n = n0; n < n1; n++) {
    const uint8_t *row = j->w + n * nb * bs;
    QM(vf) acc[Q_SMALL_M][SPLIT_MAX];
    for (int m = 0; m < M; m++)
      for (int s = 0; s < split; s++) acc[m][s] = (QM(vf)){0};
    /* blocks in groups of `split` (a constant once inlined), so each accumulator is a register */
#define QM_BLOCK(bb, s)                                                                   \
  {                                                                                       \
    QM(vf) w[QNV];                                                                        \
    const float d = QM(deq)(type, row + (bb) * bs, w);                                    \
    for (int m = 0; m < M; m++) {                                                         \
      const float *xm = j->x + m * K + (bb) * 32;                                         \
      QM(vf) p = w[0] * *(const QM(vf) *)xm;                                              \
      for (int c = 1; c < QNV; c++) p += w[c] * *(const QM(vf) *)(xm + c * QVL);          \
      acc[m][s] += p * d;                                                                 \
    }                                                                                     \
  }
    long b = 0;
    for (; b + split <= nb; b += split)
      for (int s = 0; s < split; s++) QM_BLOCK(b + s, s)
    for (; b < nb; b++) QM_BLOCK(b, 0)
#undef QM_BLOCK
    for (int m = 0; m < M; m++) {
      QM(vf) t = acc[m][0];
      for (int s = 1; s < split; s++) t += acc[m][s];
      float sum = 0.0f;
      for (int l = 0; l < QVL; l++) sum += t[l];
      float *yo = j->y + m * N + n;
      *yo = j->acc ? *yo + sum : sum;
    }
  }
}

/* dx[m, k] += Σ_n dy[m, n]·W[n, k] for the blocks of k in [b0, b1): each thread owns whole
 * blocks of dx's columns and walks every row of W in order of n (a fixed reduction order). */
QM_ATTR static inline __attribute__((always_inline)) void QM(bwd)(const q_job *j, long b0, long b1, const int type, const int M) {
  const long nb = j->K / 32, bs = q_block_bytes(type), K = j->K, N = j->N;
  for (long n = 0; n < N; n++) {
    const uint8_t *row = j->w + n * nb * bs;
    float g[Q_SMALL_M];
    for (int m = 0; m < M; m++) g[m] = j->dy[m * N + n];
    for (long b = b0; b < b1; b++) {
      QM(vf) w[QNV];
      const float d = QM(deq)(type, row + b * bs, w);
      for (int m = 0; m < M; m++) {
        float *dxm = j->dx + m * K + b * 32;
        const float gd = g[m] * d;
        for (int c = 0; c < QNV; c++) *(QM(vf) *)(dxm + c * QVL) += w[c] * gd;
      }
    }
  }
}

/* out[r, :] = dequantized row r, for r in [r0, r1) (the large-M path multiplies that with sgemm) */
QM_ATTR static inline __attribute__((always_inline)) void QM(deq_rows)(const q_job *j, long r0, long r1, const int type) {
  const long nb = j->K / 32, bs = q_block_bytes(type);
  for (long r = r0; r < r1; r++)
    for (long b = 0; b < nb; b++) {
      QM(vf) w[QNV];
      const float d = QM(deq)(type, j->w + (r * nb + b) * bs, w);
      for (int c = 0; c < QNV; c++) *(QM(vf) *)(j->out + r * j->K + b * 32 + c * QVL) = w[c] * d;
    }
}

#define QM_DISPATCH_M(call, type)          \
  switch (j->M) {                          \
    case 1: call(type, 1); break;          \
    case 2: call(type, 2); break;          \
    case 3: call(type, 3); break;          \
    case 4: call(type, 4); break;          \
    case 5: call(type, 5); break;          \
    case 6: call(type, 6); break;          \
    case 7: call(type, 7); break;          \
    default: call(type, 8); break;         \
  }

QM_ATTR static void QM(fwd_range)(const q_job *j, long n0, long n1) {
#define CALL(t, m) QM(fwd)(j, n0, n1, t, m)
  if (j->type == Q_TYPE_Q8_0) { QM_DISPATCH_M(CALL, Q_TYPE_Q8_0) }
  else { QM_DISPATCH_M(CALL, Q_TYPE_Q4_0) }
#undef CALL
}

QM_ATTR static void QM(bwd_range)(const q_job *j, long b0, long b1) {
#define CALL(t, m) QM(bwd)(j, b0, b1, t, m)
  if (j->type == Q_TYPE_Q8_0) { QM_DISPATCH_M(CALL, Q_TYPE_Q8_0) }
  else { QM_DISPATCH_M(CALL, Q_TYPE_Q4_0) }
#undef CALL
}

QM_ATTR static void QM(deq_range)(const q_job *j, long r0, long r1) {
  if (j->type == Q_TYPE_Q8_0) QM(deq_rows)(j, r0, r1, Q_TYPE_Q8_0);
  else QM(deq_rows)(j, r0, r1, Q_TYPE_Q4_0);
}

#undef QM_DISPATCH_M
#undef QNV

static const q_table QM(tab) = {QM(fwd_range), QM(bwd_range), QM(deq_range)};

#undef QM_ATTR
#undef QM
#undef QVL
#undef QDEQ
#undef QM_HALF
