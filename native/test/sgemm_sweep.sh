#!/bin/bash
# sgemm blocking sweep on one kernel path (ISA=avx2, the default, or ISA=avx512): this tree's
# sgemm with its default blocking (twice: "new" and "base", so new/base is the noise floor of
# identical code), up to three builds of the same source with another KC / MC (-DGFN_AVX2_KC /
# -DGFN_AVX2_MC, or GFN_AVX512_KC / _MC; see choose_isa in native/sgemm.c) and OpenBLAS, all timed in turn in one process by native/test/sgemm_ab.c
# (best by thread CPU time at 1 thread, process CPU time at 2). Prints the harness's lines,
# then a table of ratios per cell (best-of ratios, and the median of the per-round ratios). Nothing in the addon changes: the -D flags exist only here.
#
#   native/test/sgemm_sweep.sh                       # defaults below
#   ROUNDS=9 REPS=2 THREADS="1 2" LAYOUTS=NN,NT,TN SHAPES="384x4096x1536 768x768x3072" \
#     VARIANTS="320:144 256:288 320:288" OUT=/tmp/sgemm-sweep native/test/sgemm_sweep.sh
#   ISA=avx512 VARIANTS="512:168 384:112" native/test/sgemm_sweep.sh
#
# VARIANTS: up to three KC:MC pairs (MC a multiple of the path's MR: 6 on avx2, 14 on avx512). Needs gcc, binutils (objcopy) and
# libopenblas0-pthread (NOOB=1 leaves OpenBLAS out). Changing KC changes the bits (C is
# stored between k blocks); MC does not.
set -euo pipefail
# The table: per cell, ours (default) / OpenBLAS, then each variant against the default and
# against OpenBLAS, and new/base (identical code: the noise floor). Ratios > 1: faster.
# `sgemm_sweep.sh --table FILE` prints it again from a run's lines (a cut-short run's too).
table() {
  local names=() first n
  first=$(grep -m1 'GFLOP/s' "$1" || true)
  for n in $(grep -o '| [^ |]*/base cpu' <<<"$first" | sed 's/^| //; s/\/base cpu$//'); do names+=("$n"); done
  echo
  printf '%-16s %-3s %-3s %9s %9s %9s' cell lay thr "dflt/ob" "new/base" "med n/b"
  for n in "${names[@]}"; do printf ' %15s %15s %15s' "$n/dflt" "$n/ob" "med $n/dflt"; done
  echo
  # best-of ratios before "| median/round", the medians of the per-round ratios after it
  awk '
/GFLOP\/s/ {
  shape = $1; lay = $2; thr = $3
  split($0, part, /\| median\/round/)
  nf = split(part[1], f, " ")
  mnf = split(part[2], m, " ")
  nb = bo = mnb = "-"
  for (i = 1; i <= nf; i++) {
    if (f[i] == "new/base") nb = f[i + 4]
    if (f[i] == "base/openblas") bo = f[i + 2]
  }
  for (i = 1; i <= mnf; i++) if (m[i] == "new/base") mnb = m[i + 1]
  printf "%-16s %-3s %-3s %9s %9s %9s", shape, lay, thr, bo, nb, mnb
  for (i = 1; i <= nf; i++)
    if (f[i] ~ /\/base$/ && f[i] != "new/base") {
      v = f[i]; mv = "-"
      for (x = 1; x <= mnf; x++) if (m[x] == v) mv = m[x + 1]
      printf " %15s %15s %15s", f[i + 2], f[i + 5], mv
    }
  printf "\n"
}' "$1"
}
if [ "${1:-}" = --table ]; then
  table "$2"
  exit 0
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/sgemm-sweep}
ROUNDS=${ROUNDS:-7}
REPS=${REPS:-2}
THREADS=${THREADS:-"1 2"}
LAYOUTS=${LAYOUTS:-NN,NT,TN}
SHAPES=${SHAPES:-"1024x1024x1024 4096x384x1536 4096x1536x384 768x768x3072 384x4096x1536"}
VARIANTS=${VARIANTS:-"320:144 256:288 320:288"}
ISA=${ISA:-avx2}
case $ISA in
  avx2) DEF=GFN_AVX2 DEFAULT_BLOCKING="KC 256, MC 144, NC 1536" ;;
  avx512) DEF=GFN_AVX512 DEFAULT_BLOCKING="KC 512, MC 84, NC 1536" ;;
  *) echo "ISA: avx2 or avx512" >&2; exit 2 ;;
esac
CF="-std=gnu11 -O3 -fno-math-errno -fno-trapping-math -fopenmp-simd -funroll-loops -I$ROOT/native"
SYMS="gfn_sgemm gfn_sgemm_serial gfn_sgemm_bias gfn_sgemm_isa gfn_sgemm_isa_changed gfn_peak_gflops"
mkdir -p "$OUT"

# one renamed object per build: $1 prefix, then extra gcc flags
build() {
  local prefix=$1
  shift
  gcc $CF "$@" -c "$ROOT/native/sgemm.c" -o "$OUT/$prefix.tmp.o"
  objcopy $(for s in $SYMS; do echo "--redefine-sym $s=${prefix}_${s#gfn_}"; done) "$OUT/$prefix.tmp.o" "$OUT/$prefix.o"
}

pids=()
build base &
pids+=($!)
objs=("$OUT/base.o")
names=()
v=0
for kv in $VARIANTS; do
  v=$((v + 1))
  [ $v -le 3 ] || { echo "at most three VARIANTS" >&2; exit 2; }
  kc=${kv%%:*} mc=${kv##*:}
  build "v$v" -D"$DEF"_KC="$kc" -D"$DEF"_MC="$mc" &
  pids+=($!)
  objs+=("$OUT/v$v.o")
  names+=("kc${kc}mc${mc}")
done
for p in "${pids[@]}"; do wait "$p"; done # each build's status (set -e)
gcc $CF -o "$OUT/sgemm_ab" "$ROOT/native/test/sgemm_ab.c" "$ROOT/native/sgemm.c" "$ROOT/native/pool.c" \
  "$ROOT/native/isa.c" "$ROOT/native/ops.c" "$ROOT/native/attention.c" "$ROOT/native/qmatmul.c" "${objs[@]}" -ldl -lm -lpthread

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $ISA path, variants: ${names[*]} (default blocking: $DEFAULT_BLOCKING); rounds $ROUNDS × reps $REPS"
: >"$OUT/lines.txt"
for t in $THREADS; do
  # shellcheck disable=SC2086
  VARIANTS="${names[*]}" GPTFORGE_ISA="$ISA" "$OUT/sgemm_ab" "$t" "$ROUNDS" "$REPS" "$LAYOUTS" $SHAPES | tee -a "$OUT/lines.txt"
done
echo "# load after $(cut -d' ' -f1-3 /proc/loadavg)"

table "$OUT/lines.txt"
