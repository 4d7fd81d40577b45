#!/usr/bin/env python3
"""The sweep that chose the built-in model's demo settings (block and coefficient), through the CLI.

    sweep_default_demo.py [--model M.pt] [--coefficients 10,20,40] [--pairs 'Love/Hate, love/ hate']

For each ActAdd prompt pair (default: "Love"/"Hate", and the words as they stand in running text, " love"/
" hate"), block L and coefficient c: the unit difference vector (last token) at transformer.h.L, added at
every position with +c and -c. Reported per cell, averaged over the prompts: how much the summed
next-token probability of the love words rises from -c to +c, how much that of the hate words falls, whether
both move monotonically over -c, -c/2, 0, c/2, c on every prompt, and the share of words in the +c / -c
greedy continuations that are words of the training text (src/test/resources/default-model/train-words.txt).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = ["I think dogs are ", "My brother is", "The people said,", "And he said unto them,"]  # demo's 3, and one more
# Chosen by meaning; "enemy"/"enemies" left out: the King James text pairs them with love ("love your
# enemies"), so they would measure the corpus's phrases, not the direction.
LOVE = [" love", " loved", " beloved", " lovely", " kindness", " mercy", " joy", " sweet", " gentle", " tender"]
HATE = [" hate", " hated", " hatred", " wrath", " anger", " wicked", " despise", " curse", " fury", " cruel"]


def cli(*args):
    r = subprocess.run([os.path.join(ROOT, "scripts", "steer4j"), *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"steer4j {' '.join(args)} failed: {r.stderr.strip()}")
    return json.loads(r.stdout) if "--json" in args else r.stdout


def probabilities(logits, ids):
    m = max(logits)
    z = sum(math.exp(x - m) for x in logits)
    return sum(math.exp(logits[i] - m) for i in ids) / z


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--coefficients", default="10,20,40")
    ap.add_argument("--pairs", default="Love/Hate, love/ hate",
                    help="ActAdd prompt pairs, POSITIVE/NEGATIVE, comma-separated (spaces kept)")
    args = ap.parse_args()
    model = ["--model", args.model] if args.model else []
    words = set(open(os.path.join(ROOT, "src/test/resources/default-model/train-words.txt")).read().split())
    texts = [a for w in LOVE + HATE for a in ("--text", w)]
    ids = {r["text"]: r["ids"] for r in cli("tokenize", *model, *texts, "--json")["results"]}
    love = [ids[w][0] for w in LOVE if len(ids[w]) == 1]
    hate = [ids[w][0] for w in HATE if len(ids[w]) == 1]
    layers = len([l for l in cli("modules", *model).split() if re.fullmatch(r"transformer\.h\.\d+", l)])
    prompt_args = [a for p in PROMPTS for a in ("--prompt", p)]
    tmp = tempfile.mkdtemp()
    print("| pair | block | c | love words +c vs -c | hate words -c vs +c | monotonic on all prompts "
          "| corpus words in ±c text |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    cells = [(pair, layer, float(c)) for pair in args.pairs.split(",") for layer in range(layers)
             for c in args.coefficients.split(",")]
    measured = {}
    for pair, layer, c in cells:
        positive, negative = pair.split("/")
        vec = os.path.join(tmp, f"{positive.strip()}-{negative.strip()}-{len(positive)}-h{layer}.safetensors")
        if not os.path.exists(vec):
            cli("vector", *model, "--positive", positive, "--negative", negative, "--module", f"transformer.h.{layer}",
                "--reduce", "last", "--normalize", "--out", vec)
        grid = [-c, -c / 2, 0.0, c / 2, c]
        p_love, p_hate = [], []
        for k in grid:
            if (vec, k) not in measured:  # grids of different c share points
                res = cli("logits", *model, *prompt_args, "--steer", f"{vec}*{k}", "--json")["results"]
                measured[vec, k] = ([probabilities(r["logits"], love) for r in res],
                                    [probabilities(r["logits"], hate) for r in res])
            p_love.append(measured[vec, k][0])
            p_hate.append(measured[vec, k][1])
        monotonic = all(all(p_love[i][j] < p_love[i + 1][j] and p_hate[i][j] > p_hate[i + 1][j]
                            for i in range(len(grid) - 1)) for j in range(len(PROMPTS)))
        texts = []
        for k in (c, -c):
            out = cli("generate", *model, *prompt_args[:6], "--greedy", "--max-new-tokens", "10",
                      "--steer", f"{vec}*{k}", "--json")["results"]
            texts += [r["text"] for r in out]
        found = [w.lower() for t in texts for w in re.findall(r"[^\W\d_]+", t)]
        real = sum(w in words for w in found) / max(1, len(found))
        gain_love = sum(p_love[-1][j] / p_love[0][j] for j in range(len(PROMPTS))) / len(PROMPTS)
        gain_hate = sum(p_hate[0][j] / p_hate[-1][j] for j in range(len(PROMPTS))) / len(PROMPTS)
        print(f"| {json.dumps(positive)} − {json.dumps(negative)} | transformer.h.{layer} | {c:g} | ×{gain_love:.2f} "
              f"| ×{gain_hate:.2f} | {'yes' if monotonic else 'no'} | {real:.0%} |", flush=True)

if __name__ == "__main__":
    main()
