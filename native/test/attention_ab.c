/* Attention A/B harness: this tree's gfn_attention_forward/backward and a base tree's (its
 * symbols renamed base_*) alternated in one process, one thread, best thread CPU time per side
 * over `rounds`, and whether both give the same bits (o, lse, dqkv). On a machine shared with
 * other work this is steadier than timing the two builds in turn (identical code read 0.98 /
 * 1.00 forward / backward at B 16, engine15, load 11–19; at B 2 the spread is wider).
 * Build (BASE: a commit; the base's attention.c includes its own attention_small.h, so take
 * its whole native/):
 *
 *   CF="-std=gnu11 -O3 -fno-math-errno -fno-trapping-math -fopenmp-simd -funroll-loops -pthread"
 *   rm -rf /tmp/attb && mkdir /tmp/attb && git archive BASE native | tar -x -C /tmp/attb
 *   gcc $CF -I/tmp/attb/native -c /tmp/attb/native/attention.c -o /tmp/attb/a.o
 *   objcopy $(for s in forward backward decode decode_qkv isa_changed; do \
 *     echo --redefine-sym gfn_attention_$s=base_attention_$s; done) /tmp/attb/a.o /tmp/attb/base.o
 *   gcc $CF -Inative -o /tmp/attention_ab native/test/attention_ab.c native/pool.c native/isa.c \
 *     native/sgemm.c native/ops.c native/attention.c native/qmatmul.c native/qmatmul_q8.c /tmp/attb/base.o -lm
 *   /tmp/attention_ab 16 256 6 64 15      # B T H D rounds: one layer of nanoGPT's GPU config
 *
 * GPTFORGE_ISA picks the path for both sides, as in the addon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../kernels.h"
#include "../pool.h"

void base_attention_forward(const float *qkv, float *out, float *lse, int B, int T, int H, int D);
void base_attention_backward(const float *qkv, const float *out, const float *lse, const float *dout, float *dqkv, int B, int T, int H, int D, int accumulate);

static double cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *rnd(long n) {
  float *p = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) & ~(size_t)63);
  for (long i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  return p;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s B T H D ROUNDS\n", argv[0]);
    return 2;
  }
  int B = atoi(argv[1]), T = atoi(argv[2]), H = atoi(argv[3]), D = atoi(argv[4]), rounds = atoi(argv[5]);
  pool_init(1);
  long nq = (long)B * T * 3 * H * D, no = (long)B * T * H * D, nl = (long)B * H * T;
  float *qkv = rnd(nq), *dout = rnd(no);
  float *o[2] = {rnd(no), rnd(no)}, *lse[2] = {rnd(nl), rnd(nl)}, *dq[2] = {rnd(nq), rnd(nq)};
  double best[2][2] = {{1e30, 1e30}, {1e30, 1e30}}; /* [side: new, base][forward, backward] */
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < 2; i++) {
      int s = (i + r) & 1; /* who goes first alternates */
      double t0 = cpu();
      if (s == 0) gfn_attention_forward(qkv, o[0], lse[0], B, T, H, D);
      else base_attention_forward(qkv, o[1], lse[1], B, T, H, D);
      double t1 = cpu();
      if (s == 0) gfn_attention_backward(qkv, o[0], lse[0], dout, dq[0], B, T, H, D, 0);
      else base_attention_backward(qkv, o[1], lse[1], dout, dq[1], B, T, H, D, 0);
      double t2 = cpu();
      if (t1 - t0 < best[s][0]) best[s][0] = t1 - t0;
      if (t2 - t1 < best[s][1]) best[s][1] = t2 - t1;
    }
  int same = !memcmp(o[0], o[1], sizeof(float) * (size_t)no) && !memcmp(lse[0], lse[1], sizeof(float) * (size_t)nl) &&
             !memcmp(dq[0], dq[1], sizeof(float) * (size_t)nq);
  printf("B %d T %d H %d D %d, best of %d, thread CPU ms: forward new %.2f base %.2f (base/new %.3f) | backward new %.2f base %.2f (base/new %.3f) | %s\n",
         B, T, H, D, rounds, best[0][0] * 1e3, best[1][0] * 1e3, best[1][0] / best[0][0], best[0][1] * 1e3, best[1][1] * 1e3,
         best[1][1] / best[0][1], same ? "same bits" : "BITS DIFFER");
  return 0;
}
