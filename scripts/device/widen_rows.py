#!/usr/bin/env python3
"""Gives an exported archive's per-row hooks R distinct rows: seeded random unit vectors times each hook's
coefficient (from the manifest), so a GPT2-XL-shaped per-row archive travels with one row per hook.

    widen_rows.py IN.pt OUT.pt --rows 64 [--seed 0]

The hooks read their table with index_select(0, rows), so any number of rows works without recompiling.
"""
import argparse
import json

import torch

from python_way import archive_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    text = archive_file(args.src, "steer4j-export.json")
    hooks = [h for h in json.loads(text)["hooks"] if h["per_row"]]
    extra = {"steer4j-export.json": ""}
    for name in ("steer4j.json", "config.json", "vocab.json", "merges.txt"):
        extra[name] = ""
    program = torch.jit.load(args.src, _extra_files=extra)
    states = [m for n, m in program.named_modules() if n.endswith("_steer4j_hooks")]
    gen = torch.Generator().manual_seed(args.seed)
    for h in hooks:
        old = getattr(states[0], h["vector"])
        v = torch.randn(args.rows, old.shape[-1], generator=gen)
        v = (v / v.norm(dim=-1, keepdim=True)).to(old.dtype)
        for st in states:
            setattr(st, h["vector"], v.clone())
            setattr(st, h["applied"], v * h["coefficient"])
    torch.jit.save(program, args.dst, _extra_files=extra)
    print(f"wrote {args.dst}: {len(hooks)} per-row hooks x {args.rows} rows")


if __name__ == "__main__":
    main()
