/* The instruction set every kernel runs on, chosen once for the whole addon so sgemm,
 * attention and the row kernels never mix paths. Default: the best the CPU supports;
 * GPTFORGE_ISA (read in src/engine/backend-native.ts, which calls gfn_isa_set before any
 * kernel) forces one, so tests and benchmarks can run every path a machine supports. */
#ifndef GPTFORGE_ISA_H
#define GPTFORGE_ISA_H

typedef enum { GF_ISA_SCALAR = 0, GF_ISA_AVX2 = 1, GF_ISA_AVX512 = 2, GF_ISA_NEON = 3, GF_ISA_COUNT = 4 } gf_isa;

/* "scalar", "avx2", "avx512", "neon" */
const char *gfn_isa_name(gf_isa isa);
/* 1 when this build has kernels for isa and this CPU can run them */
int gfn_isa_supported(gf_isa isa);
/* the best supported path */
gf_isa gfn_isa_best(void);
/* the current path (the best supported one until gfn_isa_set is called) */
gf_isa gfn_isa(void);
/* switch every kernel to isa; returns 0, or -1 (nothing changed) when it is not supported.
 * Call between kernels only, never while one runs. */
int gfn_isa_set(gf_isa isa);

#endif
