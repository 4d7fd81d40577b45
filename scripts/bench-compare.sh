#!/usr/bin/env bash
# steer4j against the Python way (eager PyTorch + register_forward_hook), side by side on this machine.
#
#   scripts/bench-compare.sh [ROUNDS]        (default 3 rounds; results in bench-out/)
#
# Makes the models it needs (the tiny reference model, and a GPT-2-small-shaped 124M model with seeded
# random weights), one steering vector file per model (ActAdd "Love" - "Hate", last token, unit norm, on
# every block, used by both tools with coefficient 4), then runs both tools back to back, alternating, on
# the same batch, prompt length and new tokens, and prints one table of ratios (medians).
# Needs Debian's python3-torch and libopenblas0-pthread (apt-get install -y python3-torch libopenblas0-pthread).
#
# OpenBLAS kernels: where the environment pins OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (this project's machines
# pin Haswell kernels on an AVX-512 CPU, for the sake of older OpenBLAS builds), both tools run with the two
# unset, so each OpenBLAS picks the kernels it detects; KEEP_OPENBLAS_ENV=1 keeps them. The kernel each tool
# ran is printed under the table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
out=bench-out
mkdir -p "$out"
py=/usr/bin/python3
"$py" -c 'import torch' 2>/dev/null || { echo "needs Debian's python3-torch: apt-get install -y python3-torch libopenblas0-pthread" >&2; exit 2; }

[[ -f target/steer4j.jar ]] || mvn -q -B -DskipTests package >&2
steer4j() { java -jar target/steer4j.jar "$@"; }
blas_env=(env)
[[ -n "${KEEP_OPENBLAS_ENV:-}" ]] || blas_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
# Debian's OpenBLAS 0.3.21 does not know newer CPUs and falls back to Prescott kernels (no AVX at all), where
# steer4j's OpenBLAS 0.3.31 picks AVX-512 ones itself: give the Python side the kernels this CPU can run.
py_env=()
if [[ "$(OPENBLAS_VERBOSE=2 "${blas_env[@]}" "$py" -c 'import torch' 2>&1 | sed -n 's/^Core: //p' | head -1)" == Prescott ]]; then
  if grep -qw avx512_bf16 /proc/cpuinfo; then py_env=(OPENBLAS_CORETYPE=Cooperlake)
  elif grep -qw avx512f /proc/cpuinfo; then py_env=(OPENBLAS_CORETYPE=SkylakeX)
  elif grep -qw avx2 /proc/cpuinfo; then py_env=(OPENBLAS_CORETYPE=Haswell); fi
fi

# models: HF folders for Python, converted .pt for steer4j
tiny_hf=src/test/resources/reference/tiny-gpt2
[[ -f "$out/gpt2-124m/model.safetensors" ]] || "$py" scripts/make_random_gpt2.py "$out/gpt2-124m" >&2
[[ -f "$out/tiny.pt" ]] || steer4j convert --hf "$tiny_hf" --out "$out/tiny.pt" >&2
[[ -f "$out/gpt2-124m.pt" ]] || steer4j convert --hf "$out/gpt2-124m" --out "$out/gpt2-124m.pt" >&2

vector() { # model.pt layers out.safetensors
    local mods=()
    for ((l = 0; l < $2; l++)); do mods+=(--module "transformer.h.$l"); done
    [[ -f "$3" ]] || steer4j vector --model "$1" --positive Love --negative Hate "${mods[@]}" --reduce last --normalize --out "$3" 2>/dev/null
}
vector "$out/tiny.pt" 3 "$out/tiny-love.safetensors"
vector "$out/gpt2-124m.pt" 12 "$out/gpt2-124m-love.safetensors"

# name hf pt vec batch prompt new repeats warmup (tiny runs last ~20 ms: more of both, so the JVM's JIT settles)
configs=(
  "tiny-b1 $tiny_hf $out/tiny.pt $out/tiny-love.safetensors 1 16 32 15 5"
  "tiny-b16 $tiny_hf $out/tiny.pt $out/tiny-love.safetensors 16 16 32 15 5"
  "124m-b1 $out/gpt2-124m $out/gpt2-124m.pt $out/gpt2-124m-love.safetensors 1 16 32 3 2"
  "124m-b16 $out/gpt2-124m $out/gpt2-124m.pt $out/gpt2-124m-love.safetensors 16 16 32 3 2"
)
# steer4j: its own defaults (it sets libtorch's threads itself, runtime/Threads.java; STEER4J_THREADS overrides);
# Python: torch at 1 thread with OpenBLAS's own threads, its best measured setting (benchmarking.md)
java_threads=()
[[ -n "${STEER4J_THREADS:-}" ]] && java_threads=(--threads "$STEER4J_THREADS")
threads_py="${PY_THREADS:-1}"
for ((r = 1; r <= rounds; r++)); do
  for c in "${configs[@]}"; do
    read -r name hf pt vec b p n reps warm <<<"$c"
    echo "round $r: $name" >&2
    # alternate which tool goes first
    if (( r % 2 )); then order="java py"; else order="py java"; fi
    for tool in $order; do
      if [[ $tool == java ]]; then
        # OPENBLAS_VERBOSE=2 makes OpenBLAS name the kernels it chose ("Core: ...") on stderr
        "${blas_env[@]}" OPENBLAS_VERBOSE=2 java -jar target/steer4j.jar bench --model "$pt" --batch "$b" \
            --prompt-tokens "$p" --new-tokens "$n" --repeats "$reps" --warmup "$warm" \
            "${java_threads[@]}" --steer "$vec*4" --json > "$out/$name.java.$r.json" 2> "$out/$name.java.$r.err"
      else
        "${blas_env[@]}" "${py_env[@]}" "$py" scripts/bench_python_hooks.py --hf "$hf" --batch "$b" --prompt-tokens "$p" --new-tokens "$n" \
            --repeats "$reps" --warmup "$warm" --threads "$threads_py" --vector-file "$vec" --coeff 4 --json > "$out/$name.py.$r.json"
      fi
    done
  done
  # per-request steering: 16 distinct vectors and coefficients across a batch of 16 against one for all rows
  for k in 1 16; do
    echo "round $r: 124m-b16 --distinct $k" >&2
    "${blas_env[@]}" java -jar target/steer4j.jar bench --model "$out/gpt2-124m.pt" --batch 16 --prompt-tokens 16 \
        --new-tokens 32 --repeats 3 --warmup 2 "${java_threads[@]}" --distinct "$k" --json > "$out/124m-b16-d$k.java.$r.json"
  done
done

"$py" - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name, tool):
    return [json.load(open(f"{out}/{name}.{tool}.{r}.json")) for r in range(1, rounds + 1)]
def med(runs, side):
    return statistics.median(x[side]["tokens_per_s"]["median"] for x in runs)
rows = []
print(f"{'config':10} {'steer4j unst':>13} {'steer4j st':>11} {'st/unst':>8} {'paired':>7} {'python unst':>12} {'python st':>10} {'py st/unst':>10} {'steer4j/py (st)':>16}")
tps = {}
for name in ["tiny-b1", "tiny-b16", "124m-b1", "124m-b16"]:
    j, p = load(name, "java"), load(name, "py")
    ju, js, pu, ps = med(j, "unsteered"), med(j, "steered"), med(p, "unsteered"), med(p, "steered")
    tps[name] = js
    # steer4j's median of per-repeat steered/unsteered ratios (steadier than a ratio of medians), over rounds
    paired = statistics.median(x["steered_over_unsteered_paired"]["median"] for x in j)
    print(f"{name:10} {ju:13.1f} {js:11.1f} {js/ju:8.3f} {paired:7.3f} {pu:12.1f} {ps:10.1f} {ps/pu:10.3f} {js/ps:16.2f}")
print(f"124m batch16/batch1 (steer4j, steered): {tps['124m-b16']/tps['124m-b1']:.2f}x")
d1, d16 = med(load("124m-b16-d1", "java"), "steered"), med(load("124m-b16-d16", "java"), "steered")
print(f"124m batch 16, per-request steering: --distinct 16 {d16:.1f} / --distinct 1 {d1:.1f} tokens/s = {d16/d1:.3f}")
par = load("124m-b16", "java")[0]["settings"]["parallel"]
print(f"steer4j threading: {par['policy']}, intra-op {par['intra_op_threads']}, {par['blas']}, cores {par['cores']}")
rss = max(x["peak_rss_mb"] for x in load("124m-b16", "java"))
print(f"steer4j peak RSS, 124m batch 16: {rss:.0f} MB")
cores = {l.split("Core:", 1)[1].strip() for l in open(f"{out}/124m-b16.java.1.err") if "Core:" in l}
print(f"OpenBLAS kernels: steer4j {', '.join(sorted(cores)) or 'not reported'}; "
      f"python {load('124m-b16', 'py')[0]['blas'].get('openblas_core')}")
PY
