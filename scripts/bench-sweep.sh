#!/usr/bin/env bash
# A sweep's generation against the same number of unsteered generations, on the engine, side by side.
#
#   scripts/bench-sweep.sh [ROUNDS]     (default 2; files in bench-out/sweep/)
#
# The README's sweep on the built-in model (love - hate at transformer.h.0-3, coefficients -20..20, the 4 prompts
# of docs/examples, 12 new tokens; 100 generations: coefficient 0 is shared across modules) against `steer4j batch`
# on 100 unsteered requests of the same prompts (each 25 times) and max_new_tokens 12. Both at steer4j's default
# --max-batch. Rounds alternate which goes first. Compared: the sweep's generate_seconds (summary.json: its engine
# job alone, not its measuring) and batch's generation seconds (--json), both without model loading.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-2}"
work=bench-out/sweep
mkdir -p "$work"
[[ -f target/steer4j.jar ]] || mvn -q -B -DskipTests package >&2
s4j() { java -jar target/steer4j.jar "$@"; }
vec="$work/love-hate.safetensors"
[[ -f "$vec" ]] || s4j vector --positive " love" --negative " hate" --module transformer.h.0 --module transformer.h.1 \
    --module transformer.h.2 --module transformer.h.3 --reduce last --normalize --out "$vec" >/dev/null
requests="$work/unsteered.jsonl"
python3 - "$requests" <<'PY'
import json, sys
prompts = [l.rstrip("\n") for l in open("docs/examples/prompts.txt") if l.strip()]
with open(sys.argv[1], "w") as f:
    for i in range(100):
        f.write(json.dumps({"id": f"u{i}", "prompt": prompts[i % len(prompts)], "max_new_tokens": 12}) + "\n")
PY
sweep() {
    rm -rf "$work/sweep-out"
    s4j sweep --vector "$vec" --modules transformer.h.0-3 --coefs -20,-10,-5,5,10,20 --prompts docs/examples/prompts.txt \
        --concept-words docs/examples/love-words.txt --opposite-words docs/examples/hate-words.txt --max-new-tokens 12 \
        --out "$work/sweep-out" >/dev/null 2>&1
    python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["timing"]; print(t["generations"], t["new_tokens"], t["generate_seconds"])' \
        "$work/sweep-out/summary.json"
}
batch() {
    rm -f "$work/batch-out.jsonl"
    s4j batch --in "$requests" --out "$work/batch-out.jsonl" --json 2>/dev/null \
        | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["requests"], s["new_tokens"], s["seconds"])'
}
echo "round first sweep_generations sweep_new_tokens sweep_s batch_requests batch_new_tokens batch_s sweep/batch"
for r in $(seq 1 "$rounds"); do
    if (( r % 2 )); then a=$(sweep); b=$(batch); first=sweep; else b=$(batch); a=$(sweep); first=batch; fi
    read -r sg st ss <<<"$a"; read -r bg bt bs <<<"$b"
    echo "$r $first $sg $st $ss $bg $bt $bs $(python3 -c "print(round($ss/$bs, 3))")"
done
