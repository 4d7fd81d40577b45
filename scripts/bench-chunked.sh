#!/usr/bin/env bash
# Chunked prefill against the engine's separate prefills and against static batches, side by side.
#
#   scripts/bench-chunked.sh [ROUNDS] [BUDGET]     (defaults 2 and 256; JSON per run in bench-out/batch/)
#
# The workload of scripts/bench-batch.sh (256 requests, 124M-shaped seeded random weights, prompts of 4-64
# tokens, 8-64 new tokens, 9 steering groups, greedy), B = $MAX_BATCH (default 32). Each round runs, alternating
# the order: steer4j batch (continuous, prefills apart: the default), steer4j batch --token-budget BUDGET
# (chunked prefill), steer4j batch --static-batches. tokens/s = new tokens / generation seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-2}"
budget="${2:-256}"
out=bench-out
work="$out/batch"
mkdir -p "$work"
py=/usr/bin/python3
b="${MAX_BATCH:-32}"
[[ -f target/steer4j.jar ]] || mvn -q -B -DskipTests package >&2
steer4j() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE java -jar target/steer4j.jar "$@"; }
[[ -f "$out/gpt2-124m/model.safetensors" ]] || "$py" scripts/make_random_gpt2.py "$out/gpt2-124m" >&2
[[ -f "$out/gpt2-124m.pt" ]] || steer4j convert --hf "$out/gpt2-124m" --out "$out/gpt2-124m.pt" >&2
[[ -f "$work/workload.json" ]] || "$py" scripts/make_batch_workload.py "$work" --vocab "$out/gpt2-124m" --width 768 --layers 12

job() { # name [flags]
    local name="$1"; shift
    rm -f "$work/$name.out.jsonl"
    steer4j batch --model "$out/gpt2-124m.pt" --in "$work/requests.jsonl" --out "$work/$name.out.jsonl" --max-batch "$b" \
        --json "$@" > "$work/$name.$r.json" 2> "$work/$name.$r.err"
}
for ((r = 1; r <= rounds; r++)); do
  runs=(continuous chunked static)
  (( r % 2 )) || runs=(static chunked continuous)
  for run in "${runs[@]}"; do
    echo "round $r: $run" >&2
    case $run in
      continuous) job continuous ;;
      chunked) job chunked --token-budget "$budget" ;;
      static) job static --static-batches ;;
    esac
  done
done

"$py" - "$work" "$rounds" "$b" "$budget" <<'PY'
import json, statistics, sys
work, rounds, b, budget = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = {n: [json.load(open(f"{work}/{n}.{r}.json")) for r in range(1, rounds + 1)] for n in ("continuous", "chunked", "static")}
med = {n: statistics.median(x["tokens_per_s"] for x in v) for n, v in runs.items()}
print(f"chunked prefill benchmark, 124M-shaped, 256 requests, B = {b}, budget {budget}, {rounds} rounds (median new tokens/s)")
for n, v in med.items():
    e = runs[n][-1].get("engine", {})
    extra = f"   achieved {e['achieved_gflops']:.1f} GFLOP/s" if "achieved_gflops" in e else ""
    print(f"  {n:11} {v:8.1f}{extra}")
print(f"chunked / continuous:        {med['chunked'] / med['continuous']:.2f}x")
print(f"chunked / static batches:    {med['chunked'] / med['static']:.2f}x   (goal >= 1.5)")
print(f"continuous / static batches: {med['continuous'] / med['static']:.2f}x")
def tokens(name):
    return {r["id"]: r.get("new_ids") for r in map(json.loads, open(f"{work}/{name}.out.jsonl"))}
a, c = tokens("continuous"), tokens("chunked")
print(f"requests with identical tokens, chunked vs continuous: {sum(1 for k, v in a.items() if c.get(k) == v)}/{len(a)}")
PY
