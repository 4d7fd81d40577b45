#!/usr/bin/env bash
# One prepared device run: GPT2-XL-shaped steered decoding through steer4j-host, side by side with the
# Python way on the same weights, into one JSON and one Markdown table.
#   scripts/device/gpu-evidence.sh               on the GPU machine (kit made beforehand by
#                                                prepare-gpu-evidence.sh and carried as gpu-kit/)
#   scripts/device/gpu-evidence.sh --cpu-smoke   here: the same steps at a tiny shape on the CPU
# Writes under $OUT when set, else ./gpu-evidence/. Needs cmake, a C++17 compiler, python3 with torch
# (transformers on the GPU machine), and on the GPU machine PyTorch with CUDA (its libtorch builds the host).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/gpu-evidence}"
mkdir -p "$out"
log="$out/log.txt"
: > "$log"
say() { echo "gpu-evidence: $*" | tee -a "$log" >&2; }

if [[ "${1:-}" == "--cpu-smoke" ]]; then
    mode=cpu-smoke device=cpu dtypes="float32" batches="1 2" prompt=4 new=8 graphs="eager" repeats=2
    python="${PYTHON:-/usr/bin/python3}" kit="${KIT:-$root/build/gpu-kit-smoke}"
    [[ -f "$kit/steered.pt" && -f "$kit/rows.pt" ]] || PYTHON="$python" scripts/device/prepare-gpu-evidence.sh --cpu-smoke "$kit" >>"$log" 2>&1
else
    mode=gpu device=cuda dtypes="float16 bfloat16" batches="1 16 64" prompt=16 new=64 graphs="eager graph" repeats=3
    python="${PYTHON:-python3}" kit="${KIT:-$root/gpu-kit}"
    [[ -f "$kit/steered.pt" && -f "$kit/rows.pt" ]] || { say "no $kit/steered.pt: run prepare-gpu-evidence.sh first (needs a JDK)"; exit 2; }
fi
build="${HOST_BUILD:-$root/build/native-$mode}"
host="$build/steer4j-host"

say "building steer4j-host ($mode)"
start=$SECONDS
cmake -S native -B "$build" -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$python" \
    -DSTEER4J_PYTHON="$python" >>"$log" 2>&1
cmake --build "$build" -j "$(nproc)" >>"$log" 2>&1
say "built in $((SECONDS - start)) s"

# distinct vectors per row: the kit's per-row archive widened to one row per batch row of the largest batch
work="$build/evidence"
mkdir -p "$work"
cp "$kit/steered.pt" "$work/steered.pt"
widest=0
for b in $batches; do (( b > widest )) && widest=$b; done
"$python" scripts/device/widen_rows.py "$kit/rows.pt" "$work/rows.pt" --rows "$widest" >>"$log" 2>&1

runs="$out/runs.jsonl"
: > "$runs"
for dtype in $dtypes; do
    for batch in $batches; do
        for archive in steered rows; do
            for graph in $graphs; do
                flags=()
                [[ "$graph" == graph ]] && flags=(--cuda-graph)
                say "host $archive $dtype batch $batch $graph"
                "$host" bench --model "$work/$archive.pt" --device "$device" --dtype "$dtype" --fill-random 1 \
                    --batch "$batch" --prompt-tokens "$prompt" --new-tokens "$new" --repeats "$repeats" --warmup 1 \
                    --bandwidth-gbps 4800 "${flags[@]}" --json \
                    | "$python" -c 'import json,sys; r=json.load(sys.stdin); r["archive"]=sys.argv[1]; print(json.dumps(r))' \
                        "$archive" >> "$runs"
            done
        done
    done
done

say "the Python way"
"$python" scripts/device/python_way.py --archive "$kit/steered.pt" --device "$device" --dtypes "${dtypes// /,}" \
    --batches "${batches// /,}" --prompt-tokens "$prompt" --new-tokens "$new" --fill-random 1 --repeats "$repeats" \
    > "$out/python.json" 2>>"$log"

say "correctness: steered greedy tokens, float32, host vs the Python way"
ids="40,892,6844,389,220,464,3139,286"
"$host" generate --model "$kit/steered.pt" --device "$device" --dtype float32 --fill-random 1 --ids "$ids" \
    --max-new-tokens 16 --json > "$out/check-host.json"
"$python" scripts/device/python_way.py --archive "$kit/steered.pt" --device "$device" --check --ids "$ids" \
    --new-tokens 16 --fill-random 1 > "$out/check-python.json" 2>>"$log"

"$python" scripts/device/summarize.py "$out" "$mode"
say "wrote $out/gpu-evidence.json and $out/gpu-evidence.md in $SECONDS s"
