"""Prints the last `cargo bench --bench pooling` run as ratios to the copy
of the same input measured in the same run.

    cargo bench --bench pooling && python3 benches/ratios.py
"""

import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")
OPS = ["max_forward", "max_backward", "mean_forward", "mean_backward"]


def median_ns(group, bench):
    path = os.path.join(ROOT, group, bench, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def main():
    groups = sorted(g for g in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, g, "copy")))
    if not groups:
        sys.exit("no criterion results; run `cargo bench --bench pooling` first")
    print("| workload | copy | " + " | ".join(OPS) + " |")
    print("|---|---|" + "---|" * len(OPS))
    for group in groups:
        copy = median_ns(group, "copy")
        cells = [f"{median_ns(group, op) / copy:.2f}x" for op in OPS]
        print(f"| {group} | {copy / 1e3:.0f} µs | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
