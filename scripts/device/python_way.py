#!/usr/bin/env python3
"""The Python way, on the same weights and steering as an exported steer4j archive.

    python_way.py --archive steered.pt [--device cuda] [--dtypes float16,bfloat16] [--batches 1,16,64]
                  [--prompt-tokens 16] [--new-tokens 64] [--fill-random 1] [--repeats 3]
    python_way.py --archive steered.pt --check --ids 40,892,... --new-tokens 16   # float32 greedy new ids

Hugging Face `transformers` GPT2LMHeadModel with a `register_forward_hook` per steered block (eager, KV cache,
`generate(do_sample=False)`), as a Python user steers GPT-2; where `transformers` is not installed (Debian's
python3-torch here) the plain-torch GPT-2 of scripts/bench_python_hooks.py stands in, and the JSON says so.
Weights are the seeded values of native/host/fill.h (so steer4j-host --fill-random with the same seed runs the
same model); the vectors and coefficients are read from the archive's hook state and manifest.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
import zipfile

import torch

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def archive_file(path, name):
    """An extra file of a TorchScript archive (config.json, steer4j-export.json), read from the zip."""
    with zipfile.ZipFile(path) as z:
        for entry in z.namelist():
            if entry.endswith("/extra/" + name):
                return z.read(entry).decode("utf-8")
    raise SystemExit(f"error: {path} has no {name}: not an archive written by `steer4j export`")


# ---------------------------------------------------------------------------- native/host/fill.h, in torch

M64 = 1 << 64


def s64(c):
    c %= M64
    return c - M64 if c >= 1 << 63 else c


GOLDEN, C1, C2 = s64(0x9E3779B97F4A7C15), s64(0xBF58476D1CE4E5B9), s64(0x94D049BB133111EB)


def lsr(x, k):
    """Logical right shift of int64 tensors holding uint64 bit patterns."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def splitmix64(x):
    x = x + GOLDEN
    x = (x ^ lsr(x, 30)) * C1
    x = (x ^ lsr(x, 27)) * C2
    return x ^ lsr(x, 31)


def fnv1a64(name):
    h = 0xcbf29ce484222325
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x100000001b3) % M64
    return h


def seeded(name, shape, seed, device, chunk=1 << 24):
    ln = len(shape) == 1 and name.endswith(".weight")
    mean, scale = (1.0, 0.1 * math.sqrt(3)) if ln else (0.0, 0.02 * math.sqrt(3))
    key = s64(fnv1a64(name) ^ ((seed * 0x9E3779B97F4A7C15) % M64))
    n = math.prod(shape)
    out = torch.empty(n, dtype=torch.float32, device=device)
    for start in range(0, n, chunk):
        i = torch.arange(start, min(n, start + chunk), dtype=torch.int64, device=device)
        u = lsr(splitmix64(i + key), 11).to(torch.float64) * 2.0 ** -53
        out[start:start + len(i)] = (mean + scale * (2 * u - 1)).to(torch.float32)
    return out.view(shape)


# ---------------------------------------------------------------------------- the model and its hooks

def build(config, device, dtype, seed):
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
        cfg = GPT2Config(n_layer=config["n_layer"], n_head=config["n_head"], n_embd=config["n_embd"],
                         n_positions=config["n_positions"], vocab_size=config["vocab_size"],
                         n_inner=config.get("n_inner"), layer_norm_epsilon=config["layer_norm_epsilon"],
                         activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        with torch.device(device):
            model = GPT2LMHeadModel(cfg)
        kind = "transformers GPT2LMHeadModel"
    except ImportError:
        sys.path.insert(0, SCRIPTS)
        import bench_python_hooks as peer
        if str(device) != "cpu":
            raise SystemExit("error: transformers is not installed; the plain-torch stand-in runs on CPU only")
        model = peer.GPT2LMHeadModel(config)
        kind = "plain-torch GPT-2 (scripts/bench_python_hooks.py; transformers not installed)"
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied lm_head.weight is transformer.wte.weight: listed once
            p.copy_(seeded(name, tuple(p.shape), seed, device))
    return model.to(dtype).eval(), kind


def hook_deltas(archive, device, dtype):
    """(block index, delta [d] or [R, d]) per exported hook: coefficient x vector, as the archive steers."""
    manifest = json.loads(archive_file(archive, "steer4j-export.json"))
    program = torch.jit.load(archive, map_location="cpu")
    state = next(m for n, m in program.named_modules() if n.endswith("_steer4j_hooks")) if manifest["hooks"] else None
    out = []
    for h in manifest["hooks"]:
        if h["op"] != "add" or h["positions"] != "all" or not h["module"].startswith("transformer.h."):
            raise SystemExit(f"error: the Python way here runs block-output adds at every position, not {h}")
        vec = getattr(state, h["vector"]).to(device=device, dtype=dtype) * h["coefficient"]
        out.append((int(h["module"].split(".")[2]), vec, h["per_row"]))
    return out


def add_hooks(model, deltas, batch):
    def make(delta, per_row):
        d = delta[:batch].unsqueeze(1) if per_row else delta

        def hook(module, inputs, output):
            if isinstance(output, tuple):
                return (output[0] + d,) + tuple(output[1:])
            return output + d
        return hook
    return [model.transformer.h[i].register_forward_hook(make(v, per_row)) for i, v, per_row in deltas]


def greedy(model, ids, new_tokens):
    """Exactly new_tokens greedy tokens with a KV cache: [B, new_tokens]."""
    if hasattr(model, "generate"):
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, use_cache=True, pad_token_id=50256)
        return out[:, ids.shape[1]:]
    sys.path.insert(0, SCRIPTS)
    import bench_python_hooks as peer
    return peer.generate(model, ids, new_tokens)[0]


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtypes", default="float32")
    ap.add_argument("--batches", default="1")
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--fill-random", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="float32 greedy new ids of --ids, steered, as JSON")
    ap.add_argument("--ids", default=None)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    config = json.loads(archive_file(args.archive, "config.json"))
    device = torch.device(args.device)

    if args.check:
        model, kind = build(config, device, torch.float32, args.fill_random)
        add_hooks(model, hook_deltas(args.archive, device, torch.float32), 1)
        ids = torch.tensor([[int(x) for x in args.ids.split(",")]], device=device)
        with torch.no_grad():
            new = greedy(model, ids, args.new_tokens)
        print(json.dumps({"python_way": kind, "new_ids": new[0].tolist()}))
        return

    results = []
    for dtype_name in args.dtypes.split(","):
        dtype = getattr(torch, dtype_name)
        model, kind = build(config, device, dtype, args.fill_random)
        deltas = hook_deltas(args.archive, device, dtype)
        for batch in (int(b) for b in args.batches.split(",")):
            ids = torch.randint(0, 50000, (batch, args.prompt_tokens), device=device)
            row = {"python_way": kind, "dtype": dtype_name, "batch": batch, "prompt_tokens": args.prompt_tokens,
                   "new_tokens": args.new_tokens, "torch": torch.__version__}
            for side in ("unsteered", "steered"):
                handles = add_hooks(model, deltas, batch) if side == "steered" else []
                times = []
                with torch.no_grad():
                    for r in range(args.repeats + 1):  # the first is warm-up
                        sync(device)
                        t0 = time.perf_counter()
                        greedy(model, ids, args.new_tokens)
                        sync(device)
                        if r:
                            times.append(time.perf_counter() - t0)
                for h in handles:
                    h.remove()
                row[side + "_tokens_per_s"] = batch * args.new_tokens / statistics.median(times)
            results.append(row)
        del model
    print(json.dumps({"runs": results}))


if __name__ == "__main__":
    main()
