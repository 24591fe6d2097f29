#!/bin/bash
# A/B of the GPU-config training step (6 × 384, T 256, B 16), base against a branch (two built checkouts),
# alternated (ABBA) on an idle machine. Usage:
#   bash bench/engine-ab.sh BASE_TREE BRANCH_TREE
# Env: ROUNDS (default 4: each round runs base and branch once, order alternating), STEPS (timed
# steps a run, default 5, after 2 warm-up steps), THREADS (default "2 1"), FULL=1 to end with the
# figure of record on the branch (node dist/bench/engine.js --skip-sgemm --config=gpu, ~4 min,
# PyTorch included). Each tree runs its own dist/ and build/ (build both first: npx tsc -p . and
# node-gyp rebuild). Prints per run the best and median step, then per thread count the
# branch/base ratios of the medians of best and median step times (< 1: the branch is faster).
set -euo pipefail
BASE=${1:?usage: bench/engine-ab.sh BASE_TREE BRANCH_TREE (two built checkouts)}
BRANCH=${2:?usage: bench/engine-ab.sh BASE_TREE BRANCH_TREE}
BASE=$(realpath "$BASE"); BRANCH=$(realpath "$BRANCH")
ROUNDS=${ROUNDS:-4}
STEPS=${STEPS:-5}
THREADS=${THREADS:-"2 1"}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d /tmp/engine-ab.XXXX)
echo "base $BASE ($(git -C "$BASE" rev-parse --short HEAD)), branch $BRANCH ($(git -C "$BRANCH" rev-parse --short HEAD))"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags: $(grep -m1 -o 'avx512f\|avx2' /proc/cpuinfo | head -1); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $THREADS; do
  for r in $(seq 1 "$ROUNDS"); do
    if (( r % 2 )); then order="base branch"; else order="branch base"; fi
    for side in $order; do
      root=$BASE; [[ $side == branch ]] && root=$BRANCH
      line=$(cd /tmp && flock /tmp/gptforge-heavy.lock node "$HERE/engine-ab-step.mjs" "$root" "$t" "$STEPS")
      echo "$side $t $line" >> "$OUT/runs"
      node -e 'const [s,t,...j]=process.argv.slice(1);const r=JSON.parse(j.join(" "));const a=[...r.ms].sort((x,y)=>x-y);console.log(`${t}T round '"$r"' ${s.padEnd(6)} best ${a[0].toFixed(0)} ms, median ${a[a.length>>1].toFixed(0)} ms a step (load ${require("fs").readFileSync("/proc/loadavg","utf8").split(" ")[0]})`)' "$side" "$t" "$line"
    done
  done
done
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const by = {};
for (const l of lines) { const [side, t, ...j] = l.split(" "); const r = JSON.parse(j.join(" ")); const a = [...r.ms].sort((x, y) => x - y);
  ((by[t] ??= { base: { best: [], med: [] }, branch: { best: [], med: [] } })[side].best.push(a[0])); by[t][side].med.push(a[a.length >> 1]); }
for (const [t, s] of Object.entries(by)) {
  const rb = med(s.branch.best) / med(s.base.best), rm = med(s.branch.med) / med(s.base.med);
  console.log(`${t} thread(s): best step base ${med(s.base.best).toFixed(0)} ms, branch ${med(s.branch.best).toFixed(0)} ms: branch/base ${rb.toFixed(3)}; median step base ${med(s.base.med).toFixed(0)}, branch ${med(s.branch.med).toFixed(0)}: ${rm.toFixed(3)}`);
}' "$OUT/runs"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); raw runs in $OUT/runs"
if [[ ${FULL:-0} == 1 ]]; then
  (cd "$BRANCH" && flock /tmp/gptforge-heavy.lock node dist/bench/engine.js --skip-sgemm --config=gpu)
fi
