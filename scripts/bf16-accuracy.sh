#!/usr/bin/env bash
# bfloat16 against float32 on one HF GPT-2 folder: greedy agreement over 32 new tokens and the largest next-token
# logit difference, on 16 fixed prompts. Usage: scripts/bf16-accuracy.sh HF_DIR [OUT_DIR]
# (e.g. src/test/resources/reference/tiny-gpt2, target/bench/gpt2-124m from scripts/make_random_gpt2.py)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
hf="$1"
out="${2:-$root/target/bf16-accuracy/$(basename "$hf")}"
mkdir -p "$out"
s4j() { "$root/scripts/steer4j" "$@"; }
prompts=("I think dogs are " "The capital of France is" "Once upon a time" "In the beginning" "My favourite food is"
         "The weather today is" "She opened the door and" "Scientists have found that" "The best way to learn is"
         "He said that the" "When I was young" "The meaning of life is" "Yesterday we went to" "This book is about"
         "The city at night" "Music makes me feel")
args=()
for p in "${prompts[@]}"; do args+=(--prompt "$p"); done
for t in float32 bfloat16; do
    [[ -f "$out/$t.pt" ]] || s4j convert --hf "$hf" --dtype "$t" --out "$out/$t.pt" >/dev/null
    s4j generate --model "$out/$t.pt" "${args[@]}" --max-new-tokens 32 --greedy --json > "$out/$t.generate.json"
    s4j logits --model "$out/$t.pt" "${args[@]}" --json > "$out/$t.logits.json"
done
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
g = {t: json.load(open(f"{d}/{t}.generate.json"))["results"] for t in ("float32", "bfloat16")}
l = {t: json.load(open(f"{d}/{t}.logits.json"))["results"] for t in ("float32", "bfloat16")}
same, prefix, total = 0, 0, 0
for a, b in zip(g["float32"], g["bfloat16"]):
    x, y = a["new_ids"], b["new_ids"]
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    prefix += n
    total += len(x)
    same += x == y
diff = max(max(abs(p - q) for p, q in zip(a["logits"], b["logits"])) for a, b in zip(l["float32"], l["bfloat16"]))
top1 = sum(max(range(len(a["logits"])), key=a["logits"].__getitem__) == max(range(len(b["logits"])), key=b["logits"].__getitem__)
           for a, b in zip(l["float32"], l["bfloat16"]))
spread = max(max(a["logits"]) - min(a["logits"]) for a in l["float32"])
print(json.dumps({"prompts": len(g["float32"]), "identical_continuations": same, "agreeing_tokens_before_first_divergence": prefix,
                  "tokens": total, "next_token_top1_agreement": top1, "max_abs_logit_diff": diff,
                  "float32_logit_range": spread}))
PY
