#!/usr/bin/env python3
"""Does love − hate work in a model? The seed's experiment, measured through the CLI on the built-in model's
fixed prompts and word lists (src/main/resources/steer4j/demo/), with the block and coefficient chosen on one
half of the prompts and the effect reported on the other.

    builtin_effect.py [--model M.pt] [--out DIR] [--coefs 4,8,16,32] [--reduce last,mean] [--pair P/N | --pairs F]
                      [--samples K]

For each reduction R of ActAdd "Love" − "Hate" (or --pair) (unit vectors at every block: `steer4j vector --reduce R
--normalize`), one `steer4j sweep` over every block and the coefficients ±c and 0 (greedy, 20 new tokens),
measured as docs/METRICS.md says (teacher-forced: the love words' summed next-token probability averaged over
the continuation, the same for the hate words, perplexity under the unsteered model). Then per setting
(R, block, c) and prompt:

  love gain = love words at +c / love words unsteered;  hate gain = hate words at −c / hate words unsteered;
  the prompt moves when both gains are ≥ 1.5.
  fluency: the steered continuations' (±c) perplexity over the unsteered one's, geometric mean over prompts
  and signs, ≤ 2; and ≥ 90 % of their words in the dictionary (Debian's wamerican, in the test resources).

The setting chosen is the one that moves the most selection prompts (even lines of prompts.txt) among those
fluent on them; ties go to the smaller coefficient. The goals are read on the report prompts (odd lines):
≥ 6 of 8 moved, fluent. Prints a table per setting and the verdict; writes DIR/effect.json.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "src", "main", "resources", "steer4j", "demo")
DICTIONARY = os.path.join(ROOT, "src", "test", "resources", "default-model", "dictionary.txt")
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
GAIN, PERPLEXITY_RATIO, DICTIONARY_SHARE, MOVED_OF_8 = 1.5, 2.0, 0.9, 6


def cli(*args):
    r = subprocess.run([os.path.join(ROOT, "scripts", "steer4j"), *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"steer4j {' '.join(args[:2])} … failed: {r.stderr.strip()}")
    return r.stdout


def dictionary():
    with open(DICTIONARY, encoding="utf-8") as f:
        return {l.strip() for l in f if l.strip() and not l.startswith("#")}


def words_in(text, known):
    found = [w.lower() for w in WORD.findall(text)]
    return sum(w in known for w in found), len(found)


def judge(cells, prompts, known):
    """Per prompt: the two gains, the perplexity ratios of ±c, and the dictionary words of the ±c texts."""
    per = []
    for p in prompts:
        base, plus, minus = cells[0.0][p], cells["+"][p], cells["-"][p]
        love = plus["concept"] / base["concept"]
        hate = minus["opposite"] / base["opposite"]
        ratios = [plus["perplexity"] / base["perplexity"], minus["perplexity"] / base["perplexity"]]
        k1, n1 = words_in(plus["text"], known)
        k2, n2 = words_in(minus["text"], known)
        per.append({"prompt": p, "love_gain": love, "hate_gain": hate, "moved": love >= GAIN and hate >= GAIN,
                    "perplexity_ratios": ratios, "known_words": k1 + k2, "words": n1 + n2})
    ratios = [r for x in per for r in x["perplexity_ratios"]]
    known_words, words = sum(x["known_words"] for x in per), sum(x["words"] for x in per)
    return {"moved": sum(x["moved"] for x in per), "of": len(per),
            "perplexity_ratio": math.exp(sum(map(math.log, ratios)) / len(ratios)),
            "dictionary_share": known_words / max(1, words), "prompts": per}


def pooled(rows):
    """One cell per (coefficient, prompt): the samples' mean scores, geometric-mean perplexity and joined texts."""
    groups = {}
    for r in rows:
        groups.setdefault((r["coefficient"], r["prompt_index"]), []).append(r)
    return {key: {"concept": sum(r["concept"] for r in g) / len(g), "opposite": sum(r["opposite"] for r in g) / len(g),
                  "perplexity": math.exp(sum(math.log(r["perplexity"]) for r in g) / len(g)),
                  "text": " ".join(r["text"] for r in g)} for key, g in groups.items()}


def fluent(j):
    return j["perplexity_ratio"] <= PERPLEXITY_RATIO and j["dictionary_share"] >= DICTIONARY_SHARE


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default="builtin-effect")
    ap.add_argument("--coefs", default="4,8,16,32")
    ap.add_argument("--reduce", default="last,mean")
    ap.add_argument("--max-new-tokens", default="20")
    ap.add_argument("--samples", type=int, default=1,
                    help="K > 1: K sampled continuations per cell (temperature 1, seeds 0…K-1) instead of one greedy one; "
                         "a prompt's scores are their means, its perplexity their geometric mean")
    ap.add_argument("--pair", default="Love/Hate", help="the ActAdd prompts, POSITIVE/NEGATIVE (spaces kept; default the seed's)")
    ap.add_argument("--pairs", default=None, metavar="FILE.jsonl",
                    help="instead of --pair: CAA's mean difference over these contrastive pairs, read at each pair's last "
                         "token (--reduce is then ignored)")
    args = ap.parse_args()
    model = ["--model", args.model] if args.model else []
    os.makedirs(args.out, exist_ok=True)
    blocks = [l for l in cli("modules", *model).split() if re.fullmatch(r"transformer\.h\.\d+", l)]
    coefs = [float(c) for c in args.coefs.split(",")]
    grid = ",".join(f"{x:g}" for x in sorted({0.0, *coefs, *(-c for c in coefs)}))
    known = dictionary()
    positive, negative = args.pair.split("/")
    tag = "" if args.pair == "Love/Hate" else "-" + "".join(ch for ch in args.pair if ch.isalnum())
    source = ["--positive", positive, "--negative", negative]
    if args.pairs:
        tag, source, args.reduce = "-caa", ["--pairs", args.pairs, "--method", "mean"], "last"
    settings = []
    for reduce in args.reduce.split(","):
        vector = os.path.join(args.out, f"love-hate{tag}-{reduce}.safetensors")
        if not os.path.exists(vector):
            cli("vector", *model, *source, *[a for b in blocks for a in ("--module", b)],
                *([] if args.pairs else ["--reduce", reduce]), "--normalize", "--out", vector)
        sweep = os.path.join(args.out, f"sweep{tag}-{reduce}" + (f"-k{args.samples}" if args.samples > 1 else ""))
        if not os.path.exists(os.path.join(sweep, "summary.json")):
            cli("sweep", *model, "--vector", vector, "--coefs", grid, "--prompts", os.path.join(DEMO, "prompts.txt"),
                "--concept-words", os.path.join(DEMO, "love-words.txt"),
                "--opposite-words", os.path.join(DEMO, "hate-words.txt"), "--max-new-tokens", args.max_new_tokens,
                *(["--samples", str(args.samples)] if args.samples > 1 else []), "--out", sweep)
        rows = [json.loads(l) for l in open(os.path.join(sweep, "cells.jsonl"), encoding="utf-8")]
        n = 1 + max(r["prompt_index"] for r in rows)
        selection, report = list(range(0, n, 2)), list(range(1, n, 2))
        for block in blocks:
            at = pooled([r for r in rows if r["module"] == block])
            for c in coefs:
                cells = {0.0: {p: at[0.0, p] for p in range(n)}, "+": {p: at[c, p] for p in range(n)},
                         "-": {p: at[-c, p] for p in range(n)}}
                settings.append({"reduce": reduce, "module": block, "coefficient": c,
                                 "selection": judge(cells, selection, known), "report": judge(cells, report, known)})
    print("| reduce | block | c | selection: moved | ppl ratio | dictionary | report: moved | ppl ratio | dictionary |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in settings:
        a, b = s["selection"], s["report"]
        print(f"| {s['reduce']} | {s['module']} | {s['coefficient']:g} | {a['moved']}/{a['of']} | {a['perplexity_ratio']:.2f} "
              f"| {a['dictionary_share']:.0%} | {b['moved']}/{b['of']} | {b['perplexity_ratio']:.2f} | {b['dictionary_share']:.0%} |")
    candidates = [s for s in settings if fluent(s["selection"])] or settings
    best = max(candidates, key=lambda s: (s["selection"]["moved"], -s["coefficient"]))
    r = best["report"]
    goals = {"moved": r["moved"] >= MOVED_OF_8 * r["of"] / 8, "perplexity": r["perplexity_ratio"] <= PERPLEXITY_RATIO,
             "dictionary": r["dictionary_share"] >= DICTIONARY_SHARE}
    print(f"\nchosen on the selection prompts: reduce {best['reduce']}, {best['module']}, c = {best['coefficient']:g} "
          f"({best['selection']['moved']}/{best['selection']['of']} moved)")
    print("held-out prompts (report half):")
    for x in r["prompts"]:
        print(f"  prompt {x['prompt']}: love words ×{x['love_gain']:.2f} at +c, hate words ×{x['hate_gain']:.2f} at −c, "
              f"perplexity ×{x['perplexity_ratios'][0]:.2f} / ×{x['perplexity_ratios'][1]:.2f}"
              f"{'' if x['moved'] else '   (not moved)'}")
    print(f"  moved {r['moved']} of {r['of']} (goal ≥ {MOVED_OF_8 * r['of'] // 8}): {'met' if goals['moved'] else 'MISSED'}")
    print(f"  perplexity ratio {r['perplexity_ratio']:.2f} (goal ≤ {PERPLEXITY_RATIO:g}): {'met' if goals['perplexity'] else 'MISSED'}")
    print(f"  dictionary words {r['dictionary_share']:.1%} (goal ≥ {DICTIONARY_SHARE:.0%}): {'met' if goals['dictionary'] else 'MISSED'}")
    with open(os.path.join(args.out, "effect.json"), "w", encoding="utf-8") as f:
        json.dump({"chosen": best, "goals": goals, "settings": settings}, f, indent=1)
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
