#!/usr/bin/env bash
# Where a batch job's CPU time goes, op by op: Linux perf samples of a running `steer4j batch`, sorted into
# gemm, attention, layer norm, elementwise, indexing and masks, sampling, the TorchScript interpreter and
# dispatch, the JVM and JNI, and the rest.
#
#   scripts/op-breakdown.sh [MODEL.pt] [SECONDS]     (default bench-out/gpt2-124m.pt, 12 s per run)
#
# Runs, each sampled for SECONDS once generation is under way (after the model load, before the end):
#   decode B    B = 1, 16, 32: prompts of 1 token, 200 new tokens each: nothing but decode steps
#   prefill B   B = 1, 16, 32: prompts of 64 tokens, 1 new token each: nothing but prompts going in
# with steer4j's defaults (chunked prefill: at B = 16 and 32 one step carries several prompts, up to 256 tokens).
# Needs Debian's linux-perf; run as root or with kernel.perf_event_paranoid <= 1. Shares are of CPU samples on all
# threads (OpenBLAS runs a second one), not of wall time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
model="${1:-bench-out/gpt2-124m.pt}"
seconds="${2:-12}"
work=bench-out/ops
mkdir -p "$work"
command -v perf >/dev/null || { echo "needs perf: apt-get install -y linux-perf" >&2; exit 2; }
[[ -f target/steer4j.jar ]] || mvn -q -B -DskipTests package >&2

requests() { # file count prompt-words new-tokens
  python3 - "$@" <<'PY'
import json, sys
path, n, words, new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": str(i), "prompt": "The" + " the" * (words - 1), "max_new_tokens": new}) + "\n")
PY
}

sample() { # name batch requests-file
  local name="$1" b="$2" in="$3"
  rm -f "$work/$name.out.jsonl"
  java -jar target/steer4j.jar batch --model "$model" --in "$in" --out "$work/$name.out.jsonl" --max-batch "$b" \
      > /dev/null 2> "$work/$name.err" &
  local pid=$!
  # under way: the first results are written (the model is loaded, its first steps compiled)
  for _ in $(seq 600); do [[ -s "$work/$name.out.jsonl" ]] && break; sleep 0.1; done
  perf record -F 499 -p "$pid" -o "$work/$name.perf" -- sleep "$seconds" 2> /dev/null > /dev/null
  kill "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  perf report -i "$work/$name.perf" --no-children --sort dso,sym --stdio 2> /dev/null > "$work/$name.txt"
  echo "$name $(wc -l < "$work/$name.out.jsonl")" >> "$work/done.txt"
}

: > "$work/done.txt"
for b in 1 16 32; do
  requests "$work/decode.jsonl" $((b * 4)) 1 200
  sample "decode-b$b" "$b" "$work/decode.jsonl"
  requests "$work/prefill.jsonl" 4000 64 1
  sample "prefill-b$b" "$b" "$work/prefill.jsonl"
done

python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
# first match wins
CATEGORIES = [
    # OpenBLAS's small-matrix kernels (it takes them for small products only): in a perf call graph of a 124M
    # step they came only from the fused attention's per-head products (a query row or a short chunk × its keys)
    ("attention", r"sgemm_small_kernel|flash_attention|softmax|scaled_dot|_efficient_attention|baddbmm|\bbmm"),
    # OpenBLAS: its compute kernels, its packing of each operand into its block layout (every call: the weights
    # are packed again at every step), and the rest of it (symbols it does not export: mostly its second thread
    # waiting for work)
    ("gemm kernel", r"sgemm_kernel|sbgemm_kernel|gemv_[nt]|sgemv"),
    ("gemm packing", r"gemm_i[tn]copy|gemm_o[tn]copy"),
    ("OpenBLAS other", r"libopenblas"),
    ("gemm (libtorch)", r"gemm|gemv|dnnl|mkldnn|addmm"),
    ("layer norm", r"LayerNorm|layer_norm|RowwiseMoments"),
    ("elementwise", r"add_kernel|mul_kernel|div_|tanh|gelu|Sleef|pow_|sqrt|where_kernel|VectorizedLoop2d.*(add|mul|sub)"),
    ("indexing and masks", r"index|copy_kernel|direct_copy|\bcat\b|cat_serial|cat_contig|fill_kernel|masked|embedding|select|slice|arange|eq_kernel|ne_kernel|lt_kernel|ge_kernel|logical"),
    ("sampling", r"argmax|argmin|isfinite|aminmax|topk|sort|multinomial|and_kernel"),
    ("interpreter and dispatch", r"torch::jit|c10::|at::_ops|IValue|at::Tensor|TensorIterator|Dispatcher|intrusive_ptr|SmallVector|std::_Sp_counted|variant"),
    ("JVM and JNI", r"libjvm|libjni|\[unknown\]|perf-\d+\.map|libjava|libnio|libzip"),
    ("kernel and memory", r"\[kernel|malloc|free|memset|memcpy|mmap|munmap|libc\.so|libgomp|_int_free|_int_malloc"),
]
def categorize(path):
    totals = {c: 0.0 for c, _ in CATEGORIES}
    totals["other"] = 0.0
    for line in open(path, errors="replace"):
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
        text = dso + " " + sym
        for c, rx in CATEGORIES:
            if re.search(rx, text):
                totals[c] += pct
                break
        else:
            totals["other"] += pct
    return totals
runs = [l.split()[0] for l in open(f"{work}/done.txt")]
cats = [c for c, _ in CATEGORIES] + ["other"]
print("| run | " + " | ".join(cats) + " |")
print("| --- |" + " ---: |" * len(cats))
for r in runs:
    t = categorize(f"{work}/{r}.txt")
    print(f"| {r} | " + " | ".join(f"{t[c]:.1f} %" for c in cats) + " |")
PY
