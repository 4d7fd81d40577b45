#!/usr/bin/python3
"""Write a Hugging Face GPT-2 checkpoint folder with seeded random weights.

    make_random_gpt2.py OUT_DIR [--layers 12 --width 768 --heads 12 --positions 1024 --seed 0]
                                [--tokenizer DIR]

The default shape is GPT-2 small (124M parameters). Timing does not depend on the
weight values, so a random model stands in for the real one (which cannot be
downloaded here). Init follows the reference fixtures: matrices/embeddings and every
bias 0.02*N(0,1), LayerNorm weights 1 + 0.1*N(0,1). Needs only numpy.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB_SIZE = 50257


def tensor_specs(layers, width, positions):
    """(name, shape, kind) in HF module order, so a given seed always gives the same weights."""
    d = width
    specs = [("transformer.wte.weight", (VOCAB_SIZE, d), "matrix"),
             ("transformer.wpe.weight", (positions, d), "matrix")]
    for i in range(layers):
        p = f"transformer.h.{i}."
        specs += [
            (p + "ln_1.weight", (d,), "ln_weight"), (p + "ln_1.bias", (d,), "bias"),
            (p + "attn.c_attn.weight", (d, 3 * d), "matrix"), (p + "attn.c_attn.bias", (3 * d,), "bias"),
            (p + "attn.c_proj.weight", (d, d), "matrix"), (p + "attn.c_proj.bias", (d,), "bias"),
            (p + "ln_2.weight", (d,), "ln_weight"), (p + "ln_2.bias", (d,), "bias"),
            (p + "mlp.c_fc.weight", (d, 4 * d), "matrix"), (p + "mlp.c_fc.bias", (4 * d,), "bias"),
            (p + "mlp.c_proj.weight", (4 * d, d), "matrix"), (p + "mlp.c_proj.bias", (d,), "bias"),
        ]
    specs += [("transformer.ln_f.weight", (d,), "ln_weight"), ("transformer.ln_f.bias", (d,), "bias")]
    return specs


def make_tensor(rng, shape, kind):
    # float32 draws directly: float64 draws + casting would double time and memory for 124M.
    x = rng.standard_normal(shape, dtype=np.float32)
    if kind == "ln_weight":
        x *= np.float32(0.1)
        x += np.float32(1.0)
    else:
        x *= np.float32(0.02)
    return x


SAFETENSORS_DTYPES = {np.dtype(np.float32): ("F32", "<f4"), np.dtype(np.float16): ("F16", "<f2")}


def write_safetensors(path, tensors):
    """tensors: dict name -> float32 or float16 array. Data laid out in name-sorted order; the file appears
    whole or not at all (written beside it, then renamed)."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    names = sorted(tensors)
    for name in names:
        n = tensors[name].nbytes
        header[name] = {"dtype": SAFETENSORS_DTYPES[tensors[name].dtype][0], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + n]}
        offset += n
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)  # pad so the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name in names:
            f.write(np.ascontiguousarray(tensors[name], dtype=SAFETENSORS_DTYPES[tensors[name].dtype][1]).data)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--positions", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", default=os.path.join(REPO_ROOT, "src/test/resources/reference/tokenizer"),
                    help="folder holding vocab.json and merges.txt (default: the repo's reference tokenizer)")
    a = ap.parse_args(argv)
    if a.width % a.heads:
        ap.error("--width must be a multiple of --heads")

    os.makedirs(a.out_dir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    tensors = {name: make_tensor(rng, shape, kind)
               for name, shape, kind in tensor_specs(a.layers, a.width, a.positions)}
    write_safetensors(os.path.join(a.out_dir, "model.safetensors"), tensors)

    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": VOCAB_SIZE,
        "n_positions": a.positions,
        "n_ctx": a.positions,
        "n_embd": a.width,
        "n_layer": a.layers,
        "n_head": a.heads,
        "n_inner": None,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "resid_pdrop": 0.1,
        "embd_pdrop": 0.1,
        "attn_pdrop": 0.1,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": True,
        "use_cache": True,
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "torch_dtype": "float32",
    }
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    for fname in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(a.tokenizer, fname), os.path.join(a.out_dir, fname))
    tok_config = {"tokenizer_class": "GPT2Tokenizer", "model_max_length": a.positions,
                  "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                  "unk_token": "<|endoftext|>", "add_prefix_space": False}
    with open(os.path.join(a.out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tok_config, f, indent=2)
        f.write("\n")

    n_params = sum(t.size for t in tensors.values())
    print(f"wrote {a.out_dir}: {len(tensors)} tensors, {n_params:,} parameters", file=sys.stderr)


if __name__ == "__main__":
    main()
