#!/usr/bin/python3
"""The batch benchmark's workload: requests with mixed prompt lengths, limits and steering.

    make_batch_workload.py OUT_DIR --vocab DIR --width D --layers L [--requests 256] [--prompt 4-64]
        [--new 8-64] [--vectors 8] [--coeff 4] [--seed 0] [--short N]

Writes, in OUT_DIR:
  requests.jsonl            steer4j request lines; request i steers with vector i mod (V+1) (V = none)
  requests-unsteered.jsonl  the same requests without steering
  workload.json             the same requests as token ids, for bench_python_batch.py
  vec0..vec{V-1}.safetensors  one seeded random unit vector per block (transformer.h.L), V files
With --short N it writes short.jsonl instead: N unsteered requests of 4-8 tokens and 1-4 new tokens
(the streaming-memory run).

Prompts are words that are single GPT-2 tokens (" the", " cat", ...), so a prompt of n words is n tokens;
the ids are computed here with GPT-2's byte-level BPE from the checkpoint's vocab.json and merges.txt.
"""
import argparse
import json
import os
import random
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_random_gpt2 import write_safetensors  # noqa: E402
from train_default_model import bytes_to_unicode  # noqa: E402


def bpe(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)]
        rank, i = min(pairs)
        if rank == 1 << 30:
            break
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]
    return parts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--vocab", required=True, help="folder with vocab.json and merges.txt")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--prompt", default="4-64")
    ap.add_argument("--new", default="8-64")
    ap.add_argument("--vectors", type=int, default=8)
    ap.add_argument("--coeff", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--short", type=int, default=0)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    vocab = json.load(open(os.path.join(a.vocab, "vocab.json"), encoding="utf-8"))
    merges = [tuple(l.split()) for l in open(os.path.join(a.vocab, "merges.txt"), encoding="utf-8").read().splitlines()[1:] if l]
    ranks = {m: i for i, m in enumerate(merges)}
    space = bytes_to_unicode()[ord(" ")]
    words = []
    for token in sorted(vocab):
        if token.startswith(space) and re.fullmatch(r"[a-z]{3,8}", token[1:]) and bpe(token, ranks) == [token]:
            words.append(token[1:])
    rng = random.Random(a.seed)

    def prompt(n):
        ws = [rng.choice(words) for _ in range(n)]
        return "".join(" " + w for w in ws), [vocab[space + w] for w in ws]

    if a.short:
        with open(os.path.join(a.out, "short.jsonl"), "w") as f:
            for i in range(a.short):
                text, _ = prompt(rng.randint(4, 8))
                f.write(json.dumps({"id": f"s{i}", "prompt": text, "max_new_tokens": rng.randint(1, 4)}) + "\n")
        return
    p_lo, p_hi = map(int, a.prompt.split("-"))
    n_lo, n_hi = map(int, a.new.split("-"))
    np_rng = np.random.default_rng(a.seed)
    names = []
    for k in range(a.vectors):
        tensors = {}
        for l in range(a.layers):
            v = np_rng.standard_normal(a.width).astype(np.float32)
            tensors[f"transformer.h.{l}"] = v / np.linalg.norm(v)
        names.append(f"vec{k}.safetensors")
        write_safetensors(os.path.join(a.out, names[-1]), tensors)
    reqs = []
    with open(os.path.join(a.out, "requests.jsonl"), "w") as steered, \
            open(os.path.join(a.out, "requests-unsteered.jsonl"), "w") as plain:
        for i in range(a.requests):
            text, ids = prompt(rng.randint(p_lo, p_hi))
            limit = rng.randint(n_lo, n_hi)
            v = i % (a.vectors + 1)
            v = -1 if v == a.vectors else v
            line = {"id": f"r{i}", "prompt": text, "max_new_tokens": limit}
            plain.write(json.dumps(line) + "\n")
            if v >= 0:
                line["steer"] = [{"file": names[v], "coef": a.coeff}]
            steered.write(json.dumps(line) + "\n")
            reqs.append({"id": f"r{i}", "ids": ids, "max_new_tokens": limit, "vector": v})
    with open(os.path.join(a.out, "workload.json"), "w") as f:
        json.dump({"coeff": a.coeff, "vectors": names, "requests": reqs}, f)


if __name__ == "__main__":
    main()
