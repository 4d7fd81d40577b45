#!/usr/bin/python3
"""Python peer benchmark: eager PyTorch GPT-2 steered with register_forward_hook.

    bench_python_hooks.py --hf DIR --batch B --prompt-tokens P --new-tokens N
        [--layers all|L,L,...] [--repeats R] [--warmup 1] [--threads 1] [--seed 0]
        [--coeff 4] [--vector-file FILE.safetensors] --json

This is "the Python way users know": plain torch modules named like Hugging Face's
GPT2LMHeadModel (model.transformer.h[i], ...), a hook on each steered block that
returns output + delta, greedy decoding with a KV cache. `transformers` is not
installable here, so the model is written out in plain torch; python_peer_check.py
checks it against the reference fixtures at 2e-6.

Run it with the system python (/usr/bin/python3, Debian python3-torch 1.13.1) and
libopenblas0-pthread installed; see docs in /work/shared/notes/benchmarking.md.

Definitions (all times wall clock, per generate() call of B sequences):
  prefill_ms           the first forward over the B x P prompt + argmax of token 1
                       (includes allocating the KV cache)
  decode_ms_per_token  time of the N-1 following single-token steps / (N-1)
  tokens_per_s         B*N / (prefill + decode time)
KV cache: preallocated per layer ([B, heads, P+N, head_dim], written in place),
not torch.cat. Logits are computed for the last position only (as HF generate
does with logits_to_keep=1), since greedy decoding needs nothing else.
"""
import argparse
import ctypes
import json
import math
import os
import re
import resource
import statistics
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn


# --------------------------------------------------------------------------- model

def load_safetensors(path):
    """Read a safetensors file with numpy/json only (no safetensors package here).
    Tensors are views into one writable buffer, so the weights are held once (peak RSS)."""
    dtypes = {"F32": np.float32, "F64": np.float64, "F16": np.float16}
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = bytearray(os.path.getsize(path) - 8 - hlen)
        f.readinto(data)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dt = np.dtype(dtypes[info["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(data, dtype=dt, count=(end - start) // dt.itemsize, offset=start)
        t = torch.from_numpy(arr.reshape(info["shape"]))
        out[name] = t if t.dtype == torch.float32 else t.float()
    return out


class Conv1D(nn.Module):
    """HF GPT-2's Conv1D: weight stored [in, out], y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.empty(n_out))

    def forward(self, x):
        shape = x.shape[:-1] + (self.weight.shape[1],)
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(shape)


def gelu_new(x):
    # HF's NewGELUActivation, written out the same way (not F.gelu(approximate="tanh")).
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class KVCache:
    """Preallocated per-layer K/V buffers; `length` = positions already filled."""

    def __init__(self, n_layer, batch, n_head, max_len, head_dim, dtype=torch.float32):
        self.k = [torch.empty(batch, n_head, max_len, head_dim, dtype=dtype) for _ in range(n_layer)]
        self.v = [torch.empty(batch, n_head, max_len, head_dim, dtype=dtype) for _ in range(n_layer)]
        self.length = 0


class GPT2Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg["n_head"]
        self.n_embd = cfg["n_embd"]
        self.head_dim = self.n_embd // self.n_head
        self.c_attn = Conv1D(self.n_embd, 3 * self.n_embd)
        self.c_proj = Conv1D(self.n_embd, self.n_embd)

    def forward(self, x, cache=None, layer=0, key_pad=None):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # columns are [q | k | v]
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        past = 0
        if cache is not None:
            past = cache.length
            cache.k[layer][:, :, past:past + t] = k
            cache.v[layer][:, :, past:past + t] = v
            k = cache.k[layer][:, :, :past + t]
            v = cache.v[layer][:, :, :past + t]
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if t > 1:  # a single new query may see every cached key: no mask needed
            causal = torch.ones(t, past + t, dtype=torch.bool).tril(diagonal=past)
            scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
        if key_pad is not None:  # [B, past + t] True at left pads, as HF's attention_mask == 0
            scores = scores.masked_fill(key_pad[:, None, None, :past + t], torch.finfo(scores.dtype).min)
        attn = torch.softmax(scores, dim=-1)
        y = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, d)
        return self.c_proj(y)


class GPT2MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["n_embd"]
        inner = cfg.get("n_inner") or 4 * d
        self.c_fc = Conv1D(d, inner)
        self.c_proj = Conv1D(inner, d)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class GPT2Block(nn.Module):
    """Returns the full residual stream (a tensor, so a hook can return output + delta).
    HF's block returns a tuple; users' hooks there do (output[0] + delta,) + output[1:],
    which costs the same add."""

    def __init__(self, cfg, index):
        super().__init__()
        eps = cfg["layer_norm_epsilon"]
        self.index = index
        self.ln_1 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.attn = GPT2Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.mlp = GPT2MLP(cfg)

    def forward(self, x, cache=None, key_pad=None):
        x = x + self.attn(self.ln_1(x), cache, self.index, key_pad)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        # _weight=empty skips the random init: the checkpoint replaces it, and untouched
        # memory keeps peak RSS at one copy of the weights.
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"],
                                _weight=torch.empty(cfg["vocab_size"], cfg["n_embd"]))
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"],
                                _weight=torch.empty(cfg["n_positions"], cfg["n_embd"]))
        self.h = nn.ModuleList(GPT2Block(cfg, i) for i in range(cfg["n_layer"]))
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])

    def forward(self, input_ids, cache=None, position_ids=None, key_pad=None):
        past = cache.length if cache is not None else 0
        pos = position_ids if position_ids is not None else torch.arange(past, past + input_ids.shape[1]).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        for block in self.h:
            x = block(x, cache, key_pad)
        if cache is not None:
            cache.length += input_ids.shape[1]
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.transformer = GPT2Model(cfg)

    def forward(self, input_ids, cache=None, last_only=False, position_ids=None, key_pad=None):
        h = self.transformer(input_ids, cache, position_ids, key_pad)
        if last_only:
            h = h[:, -1:]
        return torch.nn.functional.linear(h, self.transformer.wte.weight)  # lm_head tied to wte

    @classmethod
    def from_pretrained(cls, folder):
        with open(os.path.join(folder, "config.json")) as f:
            cfg = json.load(f)
        model = cls(cfg)
        sd = load_safetensors(os.path.join(folder, "model.safetensors"))
        # Accept hub-style names (no "transformer." prefix) and drop old mask buffers.
        sd = {(k if k.startswith("transformer.") else "transformer." + k): v for k, v in sd.items()
              if not k.endswith((".attn.bias", ".attn.masked_bias")) and k != "lm_head.weight"}
        expected = dict(model.named_parameters())
        if set(sd) != set(expected):
            raise ValueError(f"checkpoint names differ: missing {sorted(set(expected) - set(sd))}, "
                             f"unexpected {sorted(set(sd) - set(expected))}")
        for name, t in sd.items():
            if t.shape != expected[name].shape:
                raise ValueError(f"{name}: shape {tuple(t.shape)}, expected {tuple(expected[name].shape)}")
            # Adopt the loaded tensor instead of copying (load_state_dict would hold the weights twice).
            mod_name, _, attr = name.rpartition(".")
            setattr(model.get_submodule(mod_name), attr, nn.Parameter(t, requires_grad=False))
        return model.eval()


# --------------------------------------------------------------------------- generation

def generate(model, input_ids, new_tokens):
    """Greedy, exactly new_tokens tokens, no EOS stop. Returns (ids [B,N], prefill_s, decode_s)."""
    cfg = model.config
    b, p = input_ids.shape
    t0 = time.perf_counter()
    cache = KVCache(cfg["n_layer"], b, cfg["n_head"], p + new_tokens, cfg["n_embd"] // cfg["n_head"])
    nxt = model(input_ids, cache, last_only=True)[:, -1].argmax(-1, keepdim=True)
    t1 = time.perf_counter()
    out = [nxt]
    for _ in range(new_tokens - 1):
        nxt = model(nxt, cache, last_only=True)[:, -1].argmax(-1, keepdim=True)
        out.append(nxt)
    t2 = time.perf_counter()
    return torch.cat(out, dim=1), t1 - t0, t2 - t1


def add_steering_hooks(model, deltas):
    """The usual recipe: a forward hook per block that returns output + delta (deltas: layer -> tensor)."""
    def make_hook(delta):
        def hook(module, inputs, output):
            return output + delta
        return hook
    return [model.transformer.h[l].register_forward_hook(make_hook(d)) for l, d in deltas.items()]


# --------------------------------------------------------------------------- environment info

def blas_info():
    """Which BLAS is really loaded (from /proc/self/maps), plus the alternatives setting."""
    info = {}
    try:
        q = subprocess.run(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"],
                           capture_output=True, text=True).stdout
        info["alternative"] = next((l.split(": ", 1)[1] for l in q.splitlines() if l.startswith("Value:")), None)
    except OSError:
        info["alternative"] = None
    loaded = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in os.path.basename(path).lower():
                loaded.add(path)
    info["loaded"] = sorted(loaded)
    info["openblas_threads"] = None
    info["openblas_core"] = None
    for path in loaded:
        try:
            lib = ctypes.CDLL(path)
            info["openblas_threads"] = lib.openblas_get_num_threads()
            lib.openblas_get_corename.restype = ctypes.c_char_p
            info["openblas_core"] = lib.openblas_get_corename().decode()
            break
        except (OSError, AttributeError):
            pass
    # torch's build flags: only the BLAS/LAPACK/MKL entries matter here.
    info["torch_build"] = re.findall(r"\b(?:BLAS_INFO|LAPACK_INFO|USE_MKL\w*|USE_OPENMP)=[^,\s]+",
                                     torch.__config__.show())
    return info


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def summarize(runs, b, n):
    return {
        "prefill_ms": stats([r[0] * 1e3 for r in runs]),
        "decode_ms_per_token": stats([r[1] * 1e3 / (n - 1) for r in runs]) if n > 1 else None,
        "tokens_per_s": stats([b * n / (r[0] + r[1]) for r in runs]),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hf", required=True, help="HF GPT-2 checkpoint folder (config.json + model.safetensors)")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--prompt-tokens", type=int, required=True)
    ap.add_argument("--new-tokens", type=int, required=True)
    ap.add_argument("--layers", default="all", help="'all' or comma-separated block indices to steer")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--coeff", type=float, default=4.0, help="delta = coeff * vector (random unit vector by default)")
    ap.add_argument("--vector-file", help="safetensors file of vectors named transformer.h.L (steer4j's format)")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object (always on)")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    load_start = os.getloadavg()  # other jobs on the same cores skew timings: record it
    wall0 = time.perf_counter()
    model = GPT2LMHeadModel.from_pretrained(a.hf)
    cfg = model.config
    if a.prompt_tokens + a.new_tokens - 1 > cfg["n_positions"]:
        ap.error(f"prompt + new tokens exceed n_positions={cfg['n_positions']}")
    layers = list(range(cfg["n_layer"])) if a.layers == "all" else [int(x) for x in a.layers.split(",")]

    g = torch.Generator().manual_seed(a.seed)
    prompts = torch.randint(0, cfg["vocab_size"], (a.batch, a.prompt_tokens), generator=g)
    if a.vector_file:
        # steer4j's vector file (one tensor per module, named transformer.h.L): the same vectors both tools use
        vecs = load_safetensors(a.vector_file)
        deltas = {int(name.rsplit(".", 1)[1]): a.coeff * torch.from_numpy(np.array(t, dtype=np.float32))
                  for name, t in vecs.items() if re.fullmatch(r"transformer\.h\.\d+", name)}
        if not deltas:
            ap.error(f"{a.vector_file} holds no transformer.h.L vectors")
    else:
        v = torch.randn(cfg["n_embd"], generator=g)
        deltas = {l: a.coeff * v / v.norm() for l in layers}  # created once, reused by every hook call

    def run(steered):
        handles = add_steering_hooks(model, deltas) if steered else []
        try:
            return generate(model, prompts, a.new_tokens)
        finally:
            for h in handles:
                h.remove()

    res = {False: [], True: []}
    ids = {}
    with torch.inference_mode():
        for _ in range(a.warmup):
            run(False)
            run(True)
        for _ in range(a.repeats):  # interleaved so drift hits both sides alike
            for steered in (False, True):
                out, tp, td = run(steered)
                res[steered].append((tp, td))
                ids[steered] = out

    un = summarize(res[False], a.batch, a.new_tokens)
    st = summarize(res[True], a.batch, a.new_tokens)
    result = {
        "tool": "python-hooks",
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "blas": blas_info(),
        "settings": {
            "hf": a.hf, "batch": a.batch, "prompt_tokens": a.prompt_tokens, "new_tokens": a.new_tokens,
            "layers": a.layers, "repeats": a.repeats, "warmup": a.warmup, "seed": a.seed, "coeff": a.coeff, "vector_file": a.vector_file,
            "dtype": "float32", "device": "cpu", "kv_cache": "preallocated", "logits": "last position only",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        "unsteered": un,
        "steered": st,
        "steered_over_unsteered": st["tokens_per_s"]["median"] / un["tokens_per_s"]["median"],
        "runs_ms": {k: [[round(tp * 1e3, 3), round(td * 1e3, 3)] for tp, td in res[s]]
                    for k, s in (("unsteered", False), ("steered", True))},  # [prefill, decode total]
        "loadavg_1m": {"start": load_start[0], "end": os.getloadavg()[0]},
        "steering_changed_tokens": bool((ids[False] != ids[True]).any()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "wall_s": time.perf_counter() - wall0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
