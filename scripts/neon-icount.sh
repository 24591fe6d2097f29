#!/usr/bin/env bash
# Instruction counts of the NEON kernels against the scalar path on an emulated AArch64 CPU
# (qemu-user with the counting plugin native/test/icount.c). We have no ARM64 machine: these
# counts, repeatable to the instruction, stand in for timings until one is available. They
# weigh every instruction alike (a 4-lane FMA counts as one), so they understate nothing
# about work done per instruction and say nothing of latency or memory stalls.
#   needs: apt-get install gcc-aarch64-linux-gnu qemu-user      usage: scripts/neon-icount.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for c in aarch64-linux-gnu-gcc qemu-aarch64 cc; do
  command -v "$c" >/dev/null || { echo "needs $c (apt-get install gcc-aarch64-linux-gnu qemu-user)"; exit 2; }
done
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
cc -shared -fPIC -O2 -o "$dir/icount.so" native/test/icount.c
aarch64-linux-gnu-gcc -std=gnu11 -O3 -fno-math-errno -fno-trapping-math -fopenmp-simd -funroll-loops -pthread -static \
  -o "$dir/xc" native/test/crosscheck.c native/pool.c native/isa.c native/sgemm.c native/ops.c native/attention.c native/qmatmul.c native/qmatmul_q8.c native/sample.c -lm
count() { qemu-aarch64 -plugin "$dir/icount.so" "$dir/xc" bench "$@" 2>&1 >/dev/null | sed -n 's/^insns //p'; }
per_call() { # path kernel args… → instructions per call (3 calls minus the no-call baseline)
  local p=$1; shift
  echo $(( ( $(count "$p" "$@" 3) - $(count "$p" "$@" 0) ) / 3 ))
}
printf '%-34s %14s %14s %8s\n' "kernel (one thread)" "scalar insns" "neon insns" "ratio"
while read -r label args; do
  s=$(per_call scalar $args); n=$(per_call neon $args)
  printf '%-34s %14d %14d %7.2fx\n' "$label" "$s" "$n" "$(echo "$s / $n" | bc -l)"
done <<'ROWS'
sgemm-qkv-64x256x768 sgemm 64 256 768
sgemm-mlp-64x1024x256 sgemm 64 1024 256
sgemm-lmhead-64x256x4096 sgemm 64 256 4096
sgemm-decode-1x256x768 sgemm 1 256 768
layernorm-64x256 layernorm 64 256
cross-entropy-fwd+bwd-16x4096 xent 16 4096
attention-fwd+bwd-B1-T64-H4-D64 attention 1 64 4 64
attention-fwd+bwd-B1-T256-H4-D64 attention 1 256 4 64
adamw-262144 adamw 262144
ROWS
echo "(AArch64 under $(qemu-aarch64 --version | head -1); compiled by $(aarch64-linux-gnu-gcc --version | head -1))"
