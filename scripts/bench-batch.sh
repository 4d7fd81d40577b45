#!/usr/bin/env bash
# The batch job against static batching and the Python way, on one workload, side by side on this machine.
#
#   scripts/bench-batch.sh [ROUNDS]     (default 2; JSON per run in bench-out/batch/)
#
# Workload (scripts/make_batch_workload.py): 256 requests on the 124M-shaped model (seeded random weights,
# as in bench-compare.sh), prompts of 4-64 tokens, max_new_tokens 8-64, request i steered by vector
# i mod 9 (8 unit random vectors on every block, coefficient 4; the 9th: none), greedy. Each round runs,
# alternating the order:
#   - steer4j batch (continuous batching with chunked prefill, --max-batch B: the defaults)
#   - steer4j batch --token-budget 0 (continuous batching, each admitted group of prompts prefilled apart)
#   - steer4j batch --static-batches (consecutive static batches of B, in input order)
#   - steer4j batch on the same requests unsteered (the steering overhead)
#   - the Python way: bench_python_batch.py, static batches of B grouped by vector, register_forward_hook
# tokens/s = new tokens / generation seconds (model loading excluded, on both sides). Then, wall clock
# of whole runs (JVM start and model load included): steer4j batch against the same job on Apache Spark in
# local mode (dev.steer4j.spark.BatchJob, local[2], plain java on Maven's class path). Last, a streaming
# run: 100k short unsteered requests on the tiny model, resident memory sampled every second.
# Needs Debian's python3-torch and libopenblas0-pthread; B = $MAX_BATCH (default: steer4j's default, 32).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-2}"
out=bench-out
work="$out/batch"
mkdir -p "$work"
py=/usr/bin/python3
b="${MAX_BATCH:-32}"
"$py" -c 'import torch' 2>/dev/null || { echo "needs Debian's python3-torch: apt-get install -y python3-torch libopenblas0-pthread" >&2; exit 2; }
[[ -f target/steer4j.jar ]] || mvn -q -B -DskipTests package >&2
blas_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
steer4j() { "${blas_env[@]}" java -jar target/steer4j.jar "$@"; }
# Debian's OpenBLAS 0.3.21 does not know newer CPUs and falls back to Prescott kernels (no AVX at all), where
# steer4j's OpenBLAS 0.3.31 picks AVX-512 ones itself: give the Python side the kernels this CPU can run.
py_env=()
if [[ "$(OPENBLAS_VERBOSE=2 "${blas_env[@]}" "$py" -c 'import torch' 2>&1 | sed -n 's/^Core: //p' | head -1)" == Prescott ]]; then
  if grep -qw avx512_bf16 /proc/cpuinfo; then py_env=(OPENBLAS_CORETYPE=Cooperlake)
  elif grep -qw avx512f /proc/cpuinfo; then py_env=(OPENBLAS_CORETYPE=SkylakeX)
  elif grep -qw avx2 /proc/cpuinfo; then py_env=(OPENBLAS_CORETYPE=Haswell); fi
fi
[[ -f "$out/gpt2-124m/model.safetensors" ]] || "$py" scripts/make_random_gpt2.py "$out/gpt2-124m" >&2
[[ -f "$out/gpt2-124m.pt" ]] || steer4j convert --hf "$out/gpt2-124m" --out "$out/gpt2-124m.pt" >&2
[[ -f "$out/tiny.pt" ]] || steer4j convert --hf src/test/resources/reference/tiny-gpt2 --out "$out/tiny.pt" >&2
[[ -f "$work/workload.json" ]] || "$py" scripts/make_batch_workload.py "$work" --vocab "$out/gpt2-124m" --width 768 --layers 12
[[ -s "$work/short.jsonl" ]] || "$py" scripts/make_batch_workload.py "$work" --vocab "$out/gpt2-124m" --width 768 --layers 12 --short 100000

job() { # name in [flags]
    local name="$1" in="$2"; shift 2
    rm -f "$work/$name.out.jsonl"
    steer4j batch --model "$out/gpt2-124m.pt" --in "$in" --out "$work/$name.out.jsonl" --max-batch "$b" --json "$@" \
        > "$work/$name.$r.json" 2> "$work/$name.$r.err"
}
for ((r = 1; r <= rounds; r++)); do
  runs=(continuous apart static unsteered python)
  (( r % 2 )) || runs=(python unsteered static apart continuous)
  for run in "${runs[@]}"; do
    echo "round $r: $run" >&2
    case $run in
      continuous) job continuous "$work/requests.jsonl" ;;
      apart) job apart "$work/requests.jsonl" --token-budget 0 ;;
      static) job static "$work/requests.jsonl" --static-batches ;;
      unsteered) job unsteered "$work/requests-unsteered.jsonl" ;;
      python) "${blas_env[@]}" "${py_env[@]}" "$py" scripts/bench_python_batch.py --hf "$out/gpt2-124m" --workload "$work/workload.json" \
                  --batch "$b" --threads 1 --json > "$work/python.$r.json" ;;
    esac
  done
done

# whole runs, wall clock: steer4j batch, then the same job on Spark local[2]
[[ -f "$out/classpath.txt" ]] || mvn -q -B dependency:build-classpath -Dmdep.outputFile="$out/classpath.txt" >&2
opens=$(sed -n 's:.*<spark.java.opens>\(.*\)</spark.java.opens>.*:\1:p' pom.xml)
rm -f "$work/wall-batch.out.jsonl"; rm -rf "$work/wall-spark.out.jsonl"
t0=$(date +%s.%N)
steer4j batch --model "$out/gpt2-124m.pt" --in "$work/requests.jsonl" --out "$work/wall-batch.out.jsonl" --max-batch "$b" --json \
    > "$work/wall-batch.json" 2>/dev/null
t1=$(date +%s.%N)
"${blas_env[@]}" java $opens -Dspark.master='local[2]' -cp "target/classes:$(cat "$out/classpath.txt")" dev.steer4j.spark.BatchJob \
    --model "$out/gpt2-124m.pt" --in "$work/requests.jsonl" --out "$work/wall-spark.out.jsonl" --max-batch "$b" \
    > /dev/null 2> "$work/wall-spark.err" || true # exit 2 would mean bad rows: the summary counts them
t2=$(date +%s.%N)
echo "$t0 $t1 $t2" > "$work/wall.txt"

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
med = {n: statistics.median(x["tokens_per_s"] for x in runs(n)) for n in ("continuous", "apart", "static", "unsteered", "python")}
print(f"batch benchmark, 124M-shaped, 256 requests, B = {b}, {rounds} rounds (median new tokens/s)")
for n, v in med.items():
    e = runs(n)[-1].get("engine", {})
    extra = f"   {e['achieved_gflops']:.1f} GFLOP/s, prefill {e['prefill_seconds']:.1f} s" if "achieved_gflops" in e else ""
    print(f"  {n:11} {v:8.1f}{extra}")
print(f"continuous / static batches (steer4j):  {med['continuous'] / med['static']:.2f}x   (goal >= 1.5)")
print(f"chunked prefill / prefills apart:       {med['continuous'] / med['apart']:.2f}x")
print(f"continuous / the Python way:            {med['continuous'] / med['python']:.2f}x   (goal >= 2)")
print(f"steering overhead (1 - steered/unsteered): {100 * (1 - med['continuous'] / med['unsteered']):.1f} %   (goal <= 3 %)")
py = runs("python")[0]["new_ids"]
def tokens(name):
    return {r["id"]: r.get("new_ids") for r in map(json.loads, open(f"{work}/{name}.out.jsonl"))}
got, apart = tokens("continuous"), tokens("apart")
same = sum(1 for k, v in py.items() if got.get(k) == v)
print(f"requests with identical tokens, steer4j vs Python: {same}/{len(py)};"
      f" chunked vs prefills apart: {sum(1 for k, v in apart.items() if got.get(k) == v)}/{len(apart)}")
t0, t1, t2 = map(float, open(f"{work}/wall.txt").read().split())
gen = json.load(open(f"{work}/wall-batch.json"))["seconds"]
rows = sum(1 for _ in __import__("glob").glob(f"{work}/wall-spark.out.jsonl/part-*") for _ in open(_))
print(f"whole runs: steer4j batch {t1 - t0:.1f} s (generation {gen:.1f} s); Spark local[2] {t2 - t1:.1f} s"
      f" ({rows} rows); Spark's extra {t2 - t1 - (t1 - t0):.1f} s")
rss = [int(x) / 1024 for x in open(f"{work}/short.rss").read().split()]
short = json.load(open(f"{work}/short.json"))
if len(rss) > 12:
    print(f"streaming {short['requests']} short requests (tiny): RSS {rss[10]:.0f} MB at 10 s, {max(rss[-5:]):.0f} MB at the end"
          f" ({len(rss)} s), peak {max(rss):.0f} MB; {short['tokens_per_s']:.0f} tokens/s")
PY
