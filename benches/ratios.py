"""Prints the last `cargo bench --bench pooling` run as ratios: each op that
allocates its output against `x.to_owned()`, each `_into` op against
`out.assign(&x)`, both measured in the same run and group; the NCHW ops,
then the channels-last (`nhwc_`) ones.

    cargo bench --bench pooling && python3 benches/ratios.py
"""

import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")
OPS = ["max_forward", "max_forward_no_indices", "mean_forward", "max_backward", "mean_backward"]


def median_ns(group, bench):
    path = os.path.join(ROOT, group, bench, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def table(rows, prefix):
    print("| workload | threads | copy | copy_into | " + " | ".join(prefix + op for op in OPS) + " |")
    print("|---|---|---|---|" + "---|" * len(OPS))
    for group, name, threads in rows:
        copy = median_ns(group, "copy")
        copy_into = median_ns(group, "copy_into")
        cells = []
        for op in OPS:
            alloc = median_ns(group, prefix + op) / copy
            into = median_ns(group, prefix + op + "_into") / copy_into
            cells.append(f"{alloc:.2f}x / {into:.2f}x")
        print(f"| {name} | {threads} | {copy / 1e3:.0f} µs | {copy_into / 1e3:.0f} µs | "
              + " | ".join(cells) + " |")


def main():
    # criterion names a group `workload/tN`'s directory `workload_tN`
    rows = []
    for group in sorted(os.listdir(ROOT)):
        name, _, threads = group.rpartition("_t")
        if name and os.path.isdir(os.path.join(ROOT, group, "copy_into")):
            rows.append((group, name, threads))
    if not rows:
        sys.exit("no criterion results; run `cargo bench --bench pooling` first")
    table(rows, "")
    nhwc = [row for row in rows if os.path.isdir(os.path.join(ROOT, row[0], "nhwc_max_forward"))]
    if nhwc:
        print("\nChannels last (NHWC), the same data and copies:\n")
        table(nhwc, "nhwc_")
    print("\nEach cell: allocating call / copy, then `_into` call / `copy_into`.")


if __name__ == "__main__":
    main()
