#!/usr/bin/env bash
# The RAG chain behind docs/rag.md "Measured" (issue #19), from scratch, on today's code:
#   corpora → rag10 base (150 steps, the tokenizer trained here) → copy sft-r 875 → lookup sft-m 250
#   → passages sft-d 1000 → retrieved layout sft-f 500 → decay sft-g 100 → contrast sft-e 300
#   → titled contrast pairs sft-a 600 → the six-draw measurement.
# Each step is skipped when its output exists, so the script resumes after a kill: the trainers save
# on SIGINT and continue from their last checkpoint with the loader's position (stop it with
# Ctrl-C or `kill -INT <pid>`, not -9, to keep the step in progress).
#
#   bash bench/rag/chain.sh [DIR]             # default runs/rag-chain; GPTFORGE_THREADS is honoured
#   bash bench/rag/chain.sh --dry-run [DIR]   # the steps, each marked done or todo; runs nothing
#
# Everything is written under DIR (corpora in DIR/runs/, the model in DIR/runs/rag10/<stage>/),
# and every command runs from DIR, because the presets name their corpora as runs/<file>.jsonl.
# Needs a built tree (npx tsc -p .). Commands and seeds: docs/journal/rag.md, Tenth to Fifteenth
# attempts. Not bit-identical with those runs: today's generator heads every passage with its
# entry's word (the titled layout of the Fifteenth attempt) in all the passages/retrieved/contrast
# corpora, from the base's text on, where the Tenth to Fourteenth attempts trained on untitled ones;
# so the corpora that differed only by layout come out identical (rag11/rag14/rag15 retrieved-20,
# rag-/rag14-/rag15-sft-passages-20, rag14/rag15 contrast), kept apart as the presets name them.
set -euo pipefail

main() {  # the whole script is one function, so bash has read all of it before it runs (safe to edit mid-run)
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${1:-runs/rag-chain}"
mkdir -p "$DIR/runs"
DIR="$(cd "$DIR" && pwd)"
cd "$DIR"

for f in dist/src/cli/main.js dist/bench/rag-copy-corpus.js dist/bench/rag-effect.js; do
  [[ -f "$REPO/$f" ]] || { echo "chain.sh: $REPO/$f missing: build first (npx tsc -p .)" >&2; exit 2; }
done
GF=(node "$REPO/dist/src/cli/main.js")
C=(node "$REPO/dist/bench/rag-copy-corpus.js")
P="$REPO/bench/rag"
RUN=runs/rag10
T=$RUN/tokenizer.json
LOG="$DIR/chain.log"

say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }

# step NAME OUTPUT CMD...: run CMD unless OUTPUT exists; one line with its timing
step() {
  local name=$1 out=$2; shift 2
  if [[ -e "$out" ]]; then say "done  $name ($out)"; return; fi
  if ((DRY)); then say "todo  $name → $out: $*"; return; fi
  local t0=$SECONDS
  say "start $name → $out (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$@"
  [[ -e "$out" ]] || { say "FAILED $name: $out was not written"; exit 1; }
  say "end   $name: $(((SECONDS - t0) / 60)) min $(((SECONDS - t0) % 60)) s (load $(cut -d' ' -f1-3 /proc/loadavg))"
}

# corpus FILE ARGS...: one rag-copy-corpus file (written atomically by the generator)
corpus() { local out=$1; shift; step "corpus ${out#runs/}" "$out" "${C[@]}" "$@" --out "$out"; }

# sft STAGE STEPS PRESET FROM: gptforge sft into RUN/STAGE until its step STEPS exists (resumes)
sft() {
  local stage=$1 steps=$2 preset=$3 from=$4
  step "$stage ($preset, $steps steps from $from)" "$(printf '%s/%s/step-%07d' "$RUN" "$stage" "$steps")" \
    "${GF[@]}" sft --run "$RUN" --preset "$P/pretrain.$preset.json" --from "$from" --into "$stage" \
    --max-steps "$steps" --on-bad skip --quiet
}

trap 'rc=$?; ((rc == 0)) || say "stopped (exit $rc): run the script again to resume"' EXIT
say "chain.sh in $DIR, GPTFORGE_THREADS=${GPTFORGE_THREADS:-unset}, GPTFORGE_ISA=${GPTFORGE_ISA:-unset (the best)}, $(nproc) cores"

# 1. base corpora (Tenth attempt) and the base: 150 steps of text, the tokenizer trained here
corpus runs/rag-passages-quote.jsonl --examples 20000
corpus runs/rag-lookup.jsonl --kind lookup --examples 20000 --seed 101 --questions 3
corpus runs/rag-repeat-4-12.jsonl --kind repeat --min-words 4 --max-words 12 --examples 30000 --seed 91
step "base (rag10, 150 steps)" $RUN/base/step-0000150 \
  "${GF[@]}" pretrain --preset "$P/pretrain.rag10.json" --run $RUN --quiet

# 2. SFT corpora; the MQAR and retrieved ones need the base's tokenizer
corpus runs/rag8r-sft-repeat.jsonl --kind repeat --format chat --min-words 4 --max-words 24 --examples 100000 --seed 291
corpus runs/rag10-sft-mqar.jsonl --kind mqar --format chat --tokenizer $T --pairs 8 --queries 8 --examples 60000 --seed 301
corpus runs/rag-sft-passages-10.jsonl --kind passages --format chat --no-answer 10 --examples 20000 --seed 211
corpus runs/rag-sft-passages-20.jsonl --kind passages --format chat --no-answer 20 --examples 20000 --seed 211
corpus runs/rag11-sft-retrieved-20.jsonl --kind retrieved --format chat --tokenizer $T --no-answer 20 --examples 20000 --seed 411
corpus runs/rag14-sft-contrast.jsonl --kind retrieved --format chat --contrast --tokenizer $T --no-answer 50 --examples 20000 --seed 414
corpus runs/rag14-sft-retrieved-20.jsonl --kind retrieved --format chat --tokenizer $T --no-answer 20 --examples 20000 --seed 411
corpus runs/rag14-sft-passages-20.jsonl --kind passages --format chat --no-answer 20 --examples 20000 --seed 211
corpus runs/rag15-sft-contrast.jsonl --kind retrieved --format chat --contrast --tokenizer $T --no-answer 50 --examples 20000 --seed 414
corpus runs/rag15-sft-retrieved-20.jsonl --kind retrieved --format chat --tokenizer $T --no-answer 20 --examples 20000 --seed 411
corpus runs/rag15-sft-passages-20.jsonl --kind passages --format chat --no-answer 20 --examples 20000 --seed 211

# 3. the SFT chain, each stage from the previous one's last checkpoint
sft sft-r 875 rag10r base                          # copy: 4–24-word repeats, lr 1e-3
sft sft-m 250 rag10m $RUN/sft-r/step-0000875       # lookup: one-token MQAR + repeats
sft sft-d 1000 rag10d $RUN/sft-m/step-0000250      # passages (10% refusals) 4 : MQAR 1 : repeats 1
sft sft-f 500 rag11f $RUN/sft-d/step-0001000       # retrieved layout 2 : passages-20 2 : MQAR 1 : repeats 1
sft sft-g 100 rag13g $RUN/sft-f/step-0000500       # the same, lr cosine 1e-3 → 1e-4
sft sft-e 300 rag14e $RUN/sft-g/step-0000100       # contrast 2 : retrieved 1 : passages 1 : MQAR 1 : repeats 1, 5e-4 → 5e-5
sft sft-a 600 rag15a $RUN/sft-e/step-0000300       # the same titled, contrast pairs in one batch, 5e-4 → 5e-5

# capture NAME OUT CMD...: a measurement step; CMD's stdout kept in OUT (written whole, so a kill leaves none)
capture() {
  local name=$1 out=$2; shift 2
  step "$name" "$out" bash -c 'out=$1; shift; "$@" > "$out.tmp" && mv "$out.tmp" "$out"' _ "$out" "$@"
}
# effect NAME CHECKPOINT ARGS...: one rag-effect run over 300 held-out questions, its JSON in effect/NAME.json
effect() {
  capture "effect $1" "effect/$1.json" node "$REPO/dist/bench/rag-effect.js" --run "$2" \
    --per-family 100 --family 0 --lookup 0 --json "${@:3}"
}
mkdir -p effect probe

# 4. the stage boundaries' probes (the journal's: copy at sft-r's end, lookup at sft-m's, the model's own
#    effect at the later stages' ends; draw 2024, rag-effect's default)
capture "probe copy (sft-r 875)" probe/sft-r-875.txt node "$REPO/dist/bench/rag-repeat-probe.js" --run $RUN/sft-r/step-0000875
capture "probe lookup (sft-m 250)" probe/sft-m-250.txt node "$REPO/dist/bench/rag-phase-probe.js" --run $RUN/sft-m/step-0000250 -n 60
effect model-d1000 $RUN/sft-d/step-0001000
effect model-f500 $RUN/sft-f/step-0000500
effect model-g100 $RUN/sft-g/step-0000100
effect model-e300 $RUN/sft-e/step-0000300

# 5. the measurement (docs/rag.md "Measured"): the final checkpoint on six held-out draws (2024 is
#    rag-effect's default), the system's configuration (cutoff 0.74 + extractive, only the cutoff refuses)
#    and the model deciding (no flags)
FINAL=$RUN/sft-a/step-0000600
SYSTEM=(--min-score 0.74 --extractive --refusal-by-cutoff)
for s in 2024 7 11 13 17 23; do
  effect "system-a600-seed$s" $FINAL --seed "$s" "${SYSTEM[@]}"
  effect "model-a600-seed$s" $FINAL --seed "$s"
done
((DRY)) && exit 0
table | tee -a "$LOG"
}

# table: the effect JSONs under effect/ as one markdown table, in the order they were measured (counts summed
# over the three families; the system rows pooled)
table() {
  node --input-type=module -e '
    import { readFileSync, readdirSync, statSync } from "node:fs";
    const pct = (c, t) => `${(100 * c / t).toFixed(1)}% (${c}/${t})`;
    const pooled = new Map(); // the draws of one configuration (NAME-seedN) summed
    console.log("| run | with retrieval | strict → \"don\u0027t say\" | s |\n| --- | ---: | ---: | ---: |");
    const files = readdirSync("effect").filter((f) => f.endsWith(".json"));
    for (const f of files.sort((a, b) => statSync(`effect/${a}`).mtimeMs - statSync(`effect/${b}`).mtimeMs)) {
      const j = JSON.parse(readFileSync(`effect/${f}`, "utf8"));
      const sum = (k) => j.rows.reduce((a, r) => ({ c: a.c + r[k].correct, t: a.t + r[k].total }), { c: 0, t: 0 });
      const w = sum("withRetrieval"), s = sum("removedStrict"), name = f.replace(".json", "");
      console.log(`| ${name} | ${pct(w.c, w.t)} | ${pct(s.c, s.t)} | ${j.seconds.toFixed(0)} |`);
      const key = name.replace(/-seed\d+$/, ""), p = pooled.get(key) ?? { n: 0, w: 0, s: 0, t: 0 };
      if (key !== name) pooled.set(key, { n: p.n + 1, w: p.w + w.c, s: p.s + s.c, t: p.t + w.t });
    }
    for (const [k, p] of pooled) if (p.n > 1) console.log(`| **${k}, ${p.n} draws pooled** | **${pct(p.w, p.t)}** | **${pct(p.s, p.t)}** | |`);'
}

main "$@"
