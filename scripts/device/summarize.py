#!/usr/bin/env python3
"""gpu-evidence.sh's outputs into one JSON (gpu-evidence.json) and one Markdown table (gpu-evidence.md).

    summarize.py OUT_DIR MODE
"""
import json
import os
import platform
import subprocess
import sys


def device_name(mode):
    if mode != "gpu":
        return platform.processor() or platform.machine()
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown GPU"


def main():
    out, mode = sys.argv[1], sys.argv[2]
    with open(os.path.join(out, "runs.jsonl")) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(out, "python.json")) as f:
        python = json.load(f)["runs"]
    with open(os.path.join(out, "check-host.json")) as f:
        host_ids = json.load(f)["new_ids"]
    with open(os.path.join(out, "check-python.json")) as f:
        check = json.load(f)
    py = {(r["dtype"], r["batch"]): r for r in python}

    rows = []
    for r in runs:
        s = r["settings"]
        steered = r["steered"]["tokens_per_s"]["median"]
        peer = py.get((s["dtype"], s["batch"]))
        rows.append({
            "archive": r["archive"], "dtype": s["dtype"], "batch": s["batch"], "cuda_graph": s["cuda_graph"],
            "unsteered_tokens_per_s": r["unsteered"]["tokens_per_s"]["median"], "steered_tokens_per_s": steered,
            "steered_ms_per_token": r["steered"]["decode_ms_per_token"]["median"],
            "steered_over_unsteered": r["steered_over_unsteered_paired"]["median"],
            "roofline_fraction": r.get("roofline_fraction"),
            "steered_roofline_fraction": r.get("steered_roofline_fraction"),
            "peak_allocated_mb": (r.get("device_memory_mb") or {}).get("peak_allocated_mb"),
            "python_steered_tokens_per_s": peer["steered_tokens_per_s"] if peer else None,
            "over_python": steered / peer["steered_tokens_per_s"] if peer and r["archive"] == "steered" else None,
            "replay_follows_steering_change": r.get("cuda_graph_replay_follows_steering_change"),
        })
    summary = {
        "mode": mode, "device": device_name(mode), "rows": rows, "python_way": python,
        "python_way_kind": check["python_way"],
        "correctness": {"host_new_ids": host_ids, "python_new_ids": check["new_ids"],
                        "equal": host_ids == check["new_ids"]},
        "host_runs": runs,
    }
    with open(os.path.join(out, "gpu-evidence.json"), "w") as f:
        json.dump(summary, f, indent=1)

    def fmt(v, spec):
        return "–" if v is None else format(v, spec)

    lines = [f"Device: {summary['device']} ({mode}). Steered greedy tokens, host vs {check['python_way']}, "
             f"float32: {'equal' if summary['correctness']['equal'] else 'DIFFERENT'}.", "",
             "| steering | dtype | batch | CUDA graph | tokens/s unsteered | tokens/s steered | ms/token steered "
             "| steered/unsteered | roofline (unsteered) | peak MB | Python way steered tokens/s | ×Python |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            "every block" if r["archive"] == "steered" else "distinct per row", r["dtype"], r["batch"],
            ("yes" + ("" if r["replay_follows_steering_change"] else " (stale steering!)")) if r["cuda_graph"] else "no",
            fmt(r["unsteered_tokens_per_s"], ".0f"), fmt(r["steered_tokens_per_s"], ".0f"),
            fmt(r["steered_ms_per_token"], ".3f"), fmt(r["steered_over_unsteered"], ".3f"),
            fmt(r["roofline_fraction"], ".3f"), fmt(r["peak_allocated_mb"], ".0f"),
            fmt(r["python_steered_tokens_per_s"], ".0f"), fmt(r["over_python"], ".2f")))
    with open(os.path.join(out, "gpu-evidence.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
