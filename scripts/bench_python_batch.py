#!/usr/bin/python3
"""The Python way for a batch of steered requests: static batches of B, grouped by steering vector.

    bench_python_batch.py --hf DIR --workload bench-out/batch/workload.json [--batch 16] [--threads 1]
        [--unsteered] --json

What a Python user does with an eager GPT-2 and register_forward_hook: requests that share a vector go
together, B at a time (in input order), left-padded with an attention mask and position ids counted from
each row's first real token (as Hugging Face's generate does); the hooks of that group's vector add
coeff * v to the output of every block; greedy decoding with a preallocated KV cache until every row of
the batch has its tokens. Each row keeps its tokens up to its own limit or EOS; tokens_per_s counts those
tokens over the generation time (loading excluded), the same count steer4j's `batch --json` reports.
The model is bench_python_hooks.py's (checked against the reference fixtures by python_peer_check.py).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_python_hooks import GPT2LMHeadModel, KVCache, add_steering_hooks, blas_info, load_safetensors  # noqa: E402

EOS = 50256


def run_batch(model, rows, limits):
    """Greedy for one left-padded batch; returns each row's tokens (stopped at its limit or EOS)."""
    cfg = model.config
    b = len(rows)
    width = max(len(r) for r in rows)
    longest = max(limits)
    ids = torch.full((b, width), EOS, dtype=torch.long)
    pos = torch.ones((b, width), dtype=torch.long)
    pad = torch.ones((b, width + longest), dtype=torch.bool)
    for i, r in enumerate(rows):
        off = width - len(r)
        ids[i, off:] = torch.tensor(r)
        pos[i, off:] = torch.arange(len(r))
        pad[i, off:] = False
    cache = KVCache(cfg["n_layer"], b, cfg["n_head"], width + longest, cfg["n_embd"] // cfg["n_head"])
    nxt = model(ids, cache, last_only=True, position_ids=pos, key_pad=pad)[:, -1].argmax(-1, keepdim=True)
    out = [nxt]
    step_pos = torch.tensor([[len(r)] for r in rows])
    for _ in range(longest - 1):
        nxt = model(nxt, cache, last_only=True, position_ids=step_pos, key_pad=pad)[:, -1].argmax(-1, keepdim=True)
        step_pos = step_pos + 1
        out.append(nxt)
    tokens = torch.cat(out, dim=1).tolist()
    kept = []
    for i, t in enumerate(tokens):
        t = t[:limits[i]]
        if EOS in t:
            t = t[:t.index(EOS) + 1]
        kept.append(t)
    return kept


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hf", required=True)
    ap.add_argument("--workload", required=True, help="workload.json from make_batch_workload.py")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--unsteered", action="store_true", help="ignore the vectors (the same workload unsteered)")
    ap.add_argument("--json", action="store_true", help="print one JSON object (always on)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    with open(a.workload) as f:
        work = json.load(f)
    model = GPT2LMHeadModel.from_pretrained(a.hf)
    base = os.path.dirname(os.path.abspath(a.workload))
    deltas = []
    for path in work["vectors"]:
        vecs = load_safetensors(os.path.join(base, path))
        deltas.append({int(n.rsplit(".", 1)[1]): work["coeff"] * torch.from_numpy(np.array(t, dtype=np.float32))
                       for n, t in vecs.items()})
    groups = {}
    for r in work["requests"]:
        groups.setdefault(-1 if a.unsteered else r["vector"], []).append(r)
    new_tokens = 0
    outputs = {}
    with torch.inference_mode():
        t0 = time.perf_counter()
        for v, reqs in groups.items():
            handles = add_steering_hooks(model, deltas[v]) if v >= 0 else []
            try:
                for i in range(0, len(reqs), a.batch):
                    chunk = reqs[i:i + a.batch]
                    kept = run_batch(model, [r["ids"] for r in chunk], [r["max_new_tokens"] for r in chunk])
                    for r, t in zip(chunk, kept):
                        outputs[r["id"]] = t
                        new_tokens += len(t)
            finally:
                for h in handles:
                    h.remove()
        seconds = time.perf_counter() - t0
    print(json.dumps({"tool": "python-hooks-static-batches", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "blas": blas_info(), "batch": a.batch, "unsteered": a.unsteered, "requests": len(outputs),
                      "new_tokens": new_tokens, "seconds": seconds, "tokens_per_s": new_tokens / seconds,
                      "new_ids": outputs}))


if __name__ == "__main__":
    main()
