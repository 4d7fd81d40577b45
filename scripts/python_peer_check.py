#!/usr/bin/python3
"""Check the Python peer model of bench_python_hooks.py against the reference fixtures.

    python_peer_check.py [--tol 2e-6]

Loads src/test/resources/reference/tiny-gpt2 (relative to the repo root), runs the 3
reference prompts in float32 and compares the last-position logits with
expected/logits.json, then the steered variant mean_every_position_c4 (4 * mean_vector
from expected/actadd.json added to the output of transformer.h.1 by
register_forward_hook) with expected/steered_logits.json. It also checks that the
KV-cache path (prefill + one token at a time) gives the same logits as a full forward,
since the benchmark decodes through the cache, and that the benchmark's generate()
reproduces expected/greedy.json (unsteered, and steered with last_token.added_vector on
transformer.h.1). Exits 1 on any failure.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_python_hooks import GPT2LMHeadModel, KVCache, add_steering_hooks, generate  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REF = os.path.join(REPO_ROOT, "src/test/resources/reference")


def load(name):
    with open(os.path.join(REF, "expected", name)) as f:
        return json.load(f)


def last_logits(model, ids):
    return model(torch.tensor([ids]))[0, -1]


def cached_last_logits(model, ids):
    """Prefill all but the last token, then feed the last one through the KV cache."""
    cfg = model.config
    cache = KVCache(cfg["n_layer"], 1, cfg["n_head"], len(ids), cfg["n_embd"] // cfg["n_head"])
    if len(ids) > 1:
        model(torch.tensor([ids[:-1]]), cache)
    return model(torch.tensor([ids[-1:]]), cache, last_only=True)[0, -1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tol", type=float, default=2e-6)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = GPT2LMHeadModel.from_pretrained(os.path.join(REF, "tiny-gpt2"))
    failures = 0

    def report(label, got, want):
        nonlocal failures
        diff = (got.double() - torch.tensor(want, dtype=torch.float64)).abs().max().item()
        ok = diff <= a.tol
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {label}: max abs diff {diff:.3g}")

    with torch.inference_mode():
        for p in load("logits.json")["prompts"]:
            report(f"unsteered          {p['ids']}", last_logits(model, p["ids"]), p["last_logits"])
            report(f"unsteered kv-cache {p['ids']}", cached_last_logits(model, p["ids"]), p["last_logits"])

        steered = load("steered_logits.json")
        variant = next(v for v in steered["variants"] if v["name"] == "mean_every_position_c4")
        layer = int(steered["hook_module"].rsplit(".", 1)[1])
        delta = variant["coefficient"] * torch.tensor(load("actadd.json")["mean_vector"], dtype=torch.float32)
        handles = add_steering_hooks(model, {layer: delta})
        try:
            for p in variant["prompts"]:
                report(f"mean_every_position_c4 {p['ids']}", last_logits(model, p["ids"]), p["last_logits"])
                report(f"mean_every_position_c4 kv-cache {p['ids']}", cached_last_logits(model, p["ids"]),
                       p["last_logits"])
        finally:
            for h in handles:
                h.remove()

        # The benchmark's own decode loop (KV cache + hooks), against greedy.json's ids.
        greedy = load("greedy.json")
        prompt = torch.tensor([greedy["ids"]])
        added = torch.tensor(load("actadd.json")["last_token"]["added_vector"], dtype=torch.float32)
        for label, key, delta in (("unsteered", "unsteered", None),
                                  ("steered c10", "steered_last_token_unit_every_position_c10", added)):
            handles = add_steering_hooks(model, {layer: delta}) if delta is not None else []
            try:
                ids = generate(model, prompt, greedy["n_new"])[0][0].tolist()
            finally:
                for h in handles:
                    h.remove()
            ok = ids == greedy[key]["new_ids"]
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} greedy {label}: {ids}")

    print("PASS" if failures == 0 else f"{failures} check(s) FAILED (tolerance {a.tol:g})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
