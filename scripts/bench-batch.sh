#!/usr/bin/env bash
# The batch job against static batching and the Python way, on one workload, side by side on this machine.
#
#   scripts/bench-batch.sh [ROUNDS]     (default 2; JSON per run in bench-out/batch/)
#
# Workload (scripts/make_batch_workload.py): 256 requests on the 124M-shaped model (seeded random weights,
# as in bench-compare.sh), prompts of 4-64 tokens, max_new_tokens 8-64, request i steered by vector
# i mod 9 (8 unit random vectors on every block, coefficient 4; the 9th: none), greedy. Each round runs,
# alternating the order:
#   - steer4j batch (continuous batching, --max-batch B)
#   - steer4j batch --static-batches (consecutive static batches of B, in input order)
#   - steer4j batch on the same requests unsteered (the steering overhead)
#   - the Python way: bench_python_batch.py, static batches of B grouped by vector, register_forward_hook
# tokens/s = new tokens / generation seconds (model loading excluded, on both sides). Then a streaming
# run: 100k short unsteered requests on the tiny model, resident memory sampled every second.
# Needs Debian's python3-torch and libopenblas0-pthread; B = $MAX_BATCH (default: steer4j's default, 16).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-2}"
out=bench-out
work="$out/batch"
mkdir -p "$work"
py=/usr/bin/python3
b="${MAX_BATCH:-16}"
"$py" -c 'import torch' 2>/dev/null || { echo "needs Debian's python3-torch: apt-get install -y python3-torch libopenblas0-pthread" >&2; exit 2; }
[[ -f target/steer4j.jar ]] || mvn -q -B -DskipTests package >&2
blas_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
steer4j() { "${blas_env[@]}" java -jar target/steer4j.jar "$@"; }
[[ -f "$out/gpt2-124m/model.safetensors" ]] || "$py" scripts/make_random_gpt2.py "$out/gpt2-124m" >&2
[[ -f "$out/gpt2-124m.pt" ]] || steer4j convert --hf "$out/gpt2-124m" --out "$out/gpt2-124m.pt" >&2
[[ -f "$out/tiny.pt" ]] || steer4j convert --hf src/test/resources/reference/tiny-gpt2 --out "$out/tiny.pt" >&2
[[ -f "$work/workload.json" ]] || "$py" scripts/make_batch_workload.py "$work" --vocab "$out/gpt2-124m" --width 768 --layers 12
[[ -f "$work/short.jsonl" ]] || "$py" scripts/make_batch_workload.py "$work" --vocab "$out/gpt2-124m" --width 768 --layers 12 --short 100000

job() { # name in [flags]
    local name="$1" in="$2"; shift 2
    rm -f "$work/$name.out.jsonl"
    steer4j batch --model "$out/gpt2-124m.pt" --in "$in" --out "$work/$name.out.jsonl" --max-batch "$b" --json "$@" \
        > "$work/$name.$r.json" 2> "$work/$name.$r.err"
}
for ((r = 1; r <= rounds; r++)); do
  runs=(continuous static unsteered python)
  (( r % 2 )) || runs=(python unsteered static continuous)
  for run in "${runs[@]}"; do
    echo "round $r: $run" >&2
    case $run in
      continuous) job continuous "$work/requests.jsonl" ;;
      static) job static "$work/requests.jsonl" --static-batches ;;
      unsteered) job unsteered "$work/requests-unsteered.jsonl" ;;
      python) "${blas_env[@]}" "$py" scripts/bench_python_batch.py --hf "$out/gpt2-124m" --workload "$work/workload.json" \
                  --batch "$b" --threads 1 --json > "$work/python.$r.json" ;;
    esac
  done
done

# streaming: 100k short requests on the tiny model, RSS every second
rm -f "$work/short.out.jsonl"
steer4j batch --model "$out/tiny.pt" --in "$work/short.jsonl" --out "$work/short.out.jsonl" --max-batch "$b" --json \
    > "$work/short.json" 2> "$work/short.err" &
pid=$!
: > "$work/short.rss"
while kill -0 "$pid" 2>/dev/null; do
  child=$(pgrep -P "$pid" java || echo "$pid")
  awk '/VmRSS/ {print $2}' "/proc/$child/status" 2>/dev/null >> "$work/short.rss" || true
  sleep 1
done
wait "$pid" || true

"$py" - "$work" "$rounds" "$b" <<'PY'
import json, statistics, sys
work, rounds, b = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def runs(name):
    return [json.load(open(f"{work}/{name}.{r}.json")) for r in range(1, rounds + 1)]
med = {n: statistics.median(x["tokens_per_s"] for x in runs(n)) for n in ("continuous", "static", "unsteered", "python")}
print(f"batch benchmark, 124M-shaped, 256 requests, B = {b}, {rounds} rounds (median new tokens/s)")
for n, v in med.items():
    print(f"  {n:11} {v:8.1f}")
print(f"continuous / static batches (steer4j):  {med['continuous'] / med['static']:.2f}x   (goal >= 1.5)")
print(f"continuous / the Python way:            {med['continuous'] / med['python']:.2f}x   (goal >= 2)")
print(f"steering overhead (1 - steered/unsteered): {100 * (1 - med['continuous'] / med['unsteered']):.1f} %   (goal <= 3 %)")
py = runs("python")[0]["new_ids"]
got = {}
for line in open(f"{work}/continuous.out.jsonl"):
    rec = json.loads(line)
    got[rec["id"]] = rec.get("new_ids")
same = sum(1 for k, v in py.items() if got.get(k) == v)
print(f"requests with identical tokens, steer4j vs Python: {same}/{len(py)}")
rss = [int(x) / 1024 for x in open(f"{work}/short.rss").read().split()]
short = json.load(open(f"{work}/short.json"))
if len(rss) > 12:
    print(f"streaming {short['requests']} short requests (tiny): RSS {rss[10]:.0f} MB at 10 s, {max(rss[-5:]):.0f} MB at the end"
          f" ({len(rss)} s), peak {max(rss):.0f} MB; {short['tokens_per_s']:.0f} tokens/s")
PY
