#!/usr/bin/env bash
# Makes the archives gpu-evidence.sh runs, on a machine with a JDK (the GPU machine has none):
#   scripts/device/prepare-gpu-evidence.sh [--cpu-smoke] [KIT_DIR]      (default KIT_DIR: ./gpu-kit)
# A GPT2-XL-shaped program (48 x 1600, vocab 50257) with zero weights (steer4j-host fills them with seeded
# values), float32, a few MB each:
#   steered.pt  a unit random vector x4 at the output of every block (and the unhooked program beside it)
#   rows.pt     per-row vectors (unit random x4) at every block, one row each: gpu-evidence.sh widens them
#               to one distinct row per batch row (widen_rows.py), so the archive stays small
# --cpu-smoke makes the same at a tiny shape (2 x 64), portable to Debian's libtorch 1.13.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
shape=gpt2-xl layers=48 width=1600 portable=()
if [[ "${1:-}" == "--cpu-smoke" ]]; then
    shape=2x64 layers=2 width=64 portable=(--portable)
    shift
fi
kit="${1:-$root/gpu-kit}"
mkdir -p "$kit"
python="${PYTHON:-/usr/bin/python3}"

# The vectors, seeded: numpy only (no torch needed for this step).
"$python" - "$root" "$kit" "$layers" "$width" <<'PY'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/scripts")
from make_random_gpt2 import write_safetensors
kit, layers, width = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)

def unit(*shape):
    v = rng.standard_normal(shape).astype(np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)

write_safetensors(f"{kit}/blocks.safetensors", {f"transformer.h.{l}": unit(width) for l in range(layers)})
write_safetensors(f"{kit}/rows.safetensors", {f"transformer.h.{l}": unit(1, width) for l in range(layers)})
PY

# STEER4J: how to run the CLI (default: the launcher, which builds the jar on first use)
read -ra steer4j <<< "${STEER4J:-$root/scripts/steer4j}"
"${steer4j[@]}" export --shape "$shape" "${portable[@]}" --steer "$kit/blocks.safetensors*4" --out "$kit/steered.pt"
"${steer4j[@]}" export --shape "$shape" "${portable[@]}" --steer-rows "$kit/rows.safetensors*4" --out "$kit/rows.pt"
ls -la "$kit"
