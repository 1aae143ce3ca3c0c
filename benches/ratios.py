"""Prints the last `cargo bench --bench pooling` run as ratios: each op that
allocates its output against `x.to_owned()`, each `_into` op against
`out.assign(&x)`, both measured in the same run and group.

    cargo bench --bench pooling && python3 benches/ratios.py
"""

import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")
OPS = ["max_forward", "max_forward_no_indices", "mean_forward", "max_backward", "mean_backward"]


def median_ns(group, thread, bench):
    path = os.path.join(ROOT, group, thread, bench, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def main():
    rows = []
    for group in sorted(os.listdir(ROOT)):
        for thread in sorted(os.listdir(os.path.join(ROOT, group))):
            if os.path.isdir(os.path.join(ROOT, group, thread, "copy_into")):
                rows.append((group, thread))
    if not rows:
        sys.exit("no criterion results; run `cargo bench --bench pooling` first")
    print("| workload | threads | copy | copy_into | " + " | ".join(OPS) + " |")
    print("|---|---|---|---|" + "---|" * len(OPS))
    for group, thread in rows:
        copy = median_ns(group, thread, "copy")
        copy_into = median_ns(group, thread, "copy_into")
        cells = []
        for op in OPS:
            alloc = median_ns(group, thread, op) / copy
            into = median_ns(group, thread, op + "_into") / copy_into
            cells.append(f"{alloc:.2f}x / {into:.2f}x")
        print(f"| {group} | {thread[1:]} | {copy / 1e3:.0f} µs | {copy_into / 1e3:.0f} µs | "
              + " | ".join(cells) + " |")
    print("\nEach cell: allocating call / copy, then `_into` call / `copy_into`.")


if __name__ == "__main__":
    main()
