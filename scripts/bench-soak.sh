#!/usr/bin/env bash
# Soak benchmark (BENCHMARKS.md, "Memory over long runs"): scripts/bench-soak.sh [CALLS=10000] [CYCLES=50]
# Makes the 124M-shaped random model once (scripts/make_random_gpt2.py, converted to .pt) under target/bench.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out=target/bench
mkdir -p "$out"
[[ -f "$out/gpt2-124m/model.safetensors" ]] || /usr/bin/python3 scripts/make_random_gpt2.py "$out/gpt2-124m" >&2
[[ -f "$out/gpt2-124m.pt" ]] || scripts/steer4j convert --hf "$out/gpt2-124m" --out "$out/gpt2-124m.pt" >&2
mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/test-classpath.txt \
    -Dmdep.includeScope=test >&2
grep -m1 "model name" /proc/cpuinfo
exec java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" dev.steer4j.bench.SoakBenchmark \
    "$out/gpt2-124m.pt" "${1:-10000}" "${2:-50}"
