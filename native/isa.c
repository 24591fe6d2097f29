/* See isa.h. The kernels' own files read gfn_isa() when they pick their function pointers;
 * gfn_isa_set bumps a generation counter so they re-pick after a switch. */
#include "isa.h"
#include "kernels.h"

static const char *const NAMES[GF_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};
static int current = -1;

const char *gfn_isa_name(gf_isa isa) { return isa >= 0 && isa < GF_ISA_COUNT ? NAMES[isa] : "?"; }

int gfn_isa_supported(gf_isa isa) {
  switch (isa) {
    case GF_ISA_SCALAR: return 1;
#if defined(__x86_64__) && defined(__GNUC__)
    case GF_ISA_AVX2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GF_ISA_AVX512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
    case GF_ISA_NEON: return 1; /* Advanced SIMD is part of the AArch64 baseline */
#endif
    default: return 0;
  }
}

gf_isa gfn_isa_best(void) {
  if (gfn_isa_supported(GF_ISA_AVX512)) return GF_ISA_AVX512;
  if (gfn_isa_supported(GF_ISA_AVX2)) return GF_ISA_AVX2;
  if (gfn_isa_supported(GF_ISA_NEON)) return GF_ISA_NEON;
  return GF_ISA_SCALAR;
}

gf_isa gfn_isa(void) {
  if (current < 0) current = gfn_isa_best();
  return (gf_isa)current;
}

void gfn_sgemm_isa_changed(void);
void gfn_attention_isa_changed(void);
void gfn_ops_isa_changed(void);
void gfn_qmatmul_isa_changed(void);

int gfn_isa_set(gf_isa isa) {
  if (isa < 0 || isa >= GF_ISA_COUNT || !gfn_isa_supported(isa)) return -1;
  current = isa;
  gfn_sgemm_isa_changed();
  gfn_attention_isa_changed();
  gfn_ops_isa_changed();
  gfn_qmatmul_isa_changed();
  return 0;
}
