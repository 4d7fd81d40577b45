#!/usr/bin/env bash
# steer4j serve under load against steer4j batch on the same requests, on this machine.
#
#   scripts/bench-serve.sh [CONCURRENCY]     (default 64; JSON in bench-out/serve/)
#
# Workload: the batch benchmark's (scripts/make_batch_workload.py, as scripts/bench-batch.sh makes it): 256
# requests on the 124M-shaped model (seeded random weights), prompts of 4-64 tokens, max_new_tokens 8-64,
# request i steered by vector i mod 9 (8 unit random vectors on every block, coefficient 4; the 9th: none),
# greedy. Runs, both with --max-batch B (default 16):
#   - steer4j batch --json: tokens/s = new tokens / generation seconds (model loading excluded)
#   - steer4j serve --vectors (the workload's folder), then scripts/bench_serve_client.mjs: CONCURRENCY clients
#     over loopback, every other request streamed, each naming its vector; tokens/s = new tokens / wall seconds
#     of the load (server start excluded), p50 / p99 latency per request (sent to last byte)
# Then checks every served text against batch's for the same id (greedy: they must be equal) and prints the
# ratio of the two throughputs. Needs node (fetch) and Debian's python3-torch and python3-regex (the workload script imports them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
concurrency="${1:-64}"
b="${MAX_BATCH:-16}"
port="${PORT:-18080}"
out=bench-out
work="$out/serve"
batchwork="$out/batch"
mkdir -p "$work" "$batchwork"
[[ -f target/steer4j.jar ]] || mvn -q -B -DskipTests package >&2
steer4j() { java -jar target/steer4j.jar "$@"; }
[[ -f "$out/gpt2-124m/model.safetensors" ]] || /usr/bin/python3 scripts/make_random_gpt2.py "$out/gpt2-124m" >&2
[[ -f "$out/gpt2-124m.pt" ]] || steer4j convert --hf "$out/gpt2-124m" --out "$out/gpt2-124m.pt" >&2
[[ -f "$batchwork/requests.jsonl" ]] || /usr/bin/python3 scripts/make_batch_workload.py "$batchwork" --vocab "$out/gpt2-124m" --width 768 --layers 12

echo "steer4j batch, --max-batch $b" >&2
rm -f "$work/batch.out.jsonl"
steer4j batch --model "$out/gpt2-124m.pt" --in "$batchwork/requests.jsonl" --out "$work/batch.out.jsonl" --max-batch "$b" --json \
    > "$work/batch.json" 2> "$work/batch.err"

echo "steer4j serve, --max-batch $b, $concurrency clients" >&2
# java itself in the background (not through a shell function), so that $! is its pid and SIGTERM reaches it
java -jar target/steer4j.jar serve --model "$out/gpt2-124m.pt" --vectors "$batchwork" --port "$port" --max-batch "$b" \
    --max-queue 1024 2> "$work/serve.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do grep -q ready "$work/serve.err" && break; sleep 0.2; done
grep -q ready "$work/serve.err" || { cat "$work/serve.err" >&2; exit 1; }
node scripts/bench_serve_client.mjs "http://127.0.0.1:$port" "$batchwork/requests.jsonl" "$concurrency" > "$work/serve.json"
kill -TERM "$pid"; wait "$pid" # steer4j serve exits 0 on SIGTERM

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
batch = json.load(open(f"{work}/batch.json"))
serve = json.load(open(f"{work}/serve.json"))
texts = {}
for line in open(f"{work}/batch.out.jsonl"):
    r = json.loads(line)
    texts[str(r["id"])] = r.get("text")
differ = [i for i, t in serve["texts"].items() if texts.get(i) != t]
print(f"batch: {batch['new_tokens']} new tokens in {batch['seconds']:.1f} s = {batch['tokens_per_s']:.1f} tokens/s")
print(f"serve: {serve['requests']} requests, {serve['concurrency']} clients: {serve['new_tokens']} new tokens in "
      f"{serve['seconds']:.1f} s = {serve['tokens_per_s']:.1f} tokens/s; latency p50 {serve['p50_ms']:.0f} ms, "
      f"p99 {serve['p99_ms']:.0f} ms")
print(f"serve / batch throughput: {serve['tokens_per_s'] / batch['tokens_per_s']:.2f}; "
      f"texts equal to batch's: {serve['requests'] - len(differ)}/{serve['requests']}")
sys.exit(1 if differ else 0)
PY
