#!/usr/bin/env bash
# steer4j's throughput under each threading setting, on this machine, side by side (what chose the defaults).
#
#   scripts/bench-threads.sh [ROUNDS]      (default 2; needs bench-out/tiny.pt and bench-out/gpt2-124m.pt,
#                                           which scripts/bench-compare.sh makes)
#
# Settings: steer4j's defaults; libtorch's own default (STEER4J_THREADS=native); 1 and 2 intra-op threads;
# OpenMP waiting passively; OpenBLAS at 1 thread. Prints steered tokens/s (median of the bench repeats) per
# setting and workload, and the effective settings that `bench --json` reports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-2}"
[[ -f bench-out/tiny.pt && -f bench-out/gpt2-124m.pt ]] || { echo "run scripts/bench-compare.sh first (it makes bench-out/*.pt)" >&2; exit 2; }
[[ -f target/steer4j.jar ]] || mvn -q -B -DskipTests package >&2
settings=(
  "defaults|env"
  "libtorch-native|env STEER4J_THREADS=native"
  "threads-1|env STEER4J_THREADS=1"
  "threads-2|env STEER4J_THREADS=2"
  "omp-passive|env STEER4J_THREADS=native OMP_WAIT_POLICY=PASSIVE"
  "openblas-1|env STEER4J_THREADS=native OPENBLAS_NUM_THREADS=1"
)
workloads=(
  "tiny-b1|bench-out/tiny.pt|1|5|3"
  "124m-b1|bench-out/gpt2-124m.pt|1|3|1"
  "124m-b16|bench-out/gpt2-124m.pt|16|3|1"
)
printf '%-16s' setting; for w in "${workloads[@]}"; do printf '%12s' "${w%%|*}"; done; echo
for ((r = 1; r <= rounds; r++)); do
  for s in "${settings[@]}"; do
    name="${s%%|*}"; read -r -a envs <<<"${s#*|}"
    printf '%-16s' "$name"
    for w in "${workloads[@]}"; do
      IFS='|' read -r wname model batch reps warm <<<"$w"
      tps=$("${envs[@]}" java -jar target/steer4j.jar bench --model "$model" --batch "$batch" --prompt-tokens 16 \
            --new-tokens 32 --repeats "$reps" --warmup "$warm" --json \
            | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f" % d["steered"]["tokens_per_s"]["median"]); print(json.dumps(d["settings"].get("parallel")), file=sys.stderr)' 2>>bench-out/threads-settings.log)
      printf '%12s' "$tps"
    done
    echo
  done
done
