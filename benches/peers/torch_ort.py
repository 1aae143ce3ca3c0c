"""Times PyTorch (NCHW and channels_last) and onnxruntime on the workloads of
benches/peers, as ratios of the time to copy the same input, the two timed
in turns (see `ratio`).

    pip install torch onnx onnxruntime
    python3 benches/peers/torch_ort.py --threads 1
    python3 benches/peers/torch_ort.py --threads 2
"""

import argparse
import math
import statistics
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

WORKLOADS = [
    ("(32, 64, 112, 112) 2x2/s2", (32, 64, 112, 112), 2, 2, 0),
    ("(8, 64, 112, 112) 3x3/s2/p1", (8, 64, 112, 112), 3, 2, 1),
    ("(1, 16, 28, 28) 2x2/s2", (1, 16, 28, 28), 2, 2, 0),
]


def batch(f, calls):
    """Seconds per call of `f`, over `calls` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - start) / calls


def ratio(base, op, bases):
    """`op`'s time as a ratio of `base`'s: the median, over rounds of about
    1.5 s in all (at least 5), of the ratio within a round, where each is
    timed over calls enough for a millisecond, back to back. The load of a
    shared machine wanders over seconds and weighs on both alike. Each is
    timed after an untimed call of its own, so that it meets the caches as
    repeated calls leave them, not as the other left them. The rounds'
    times of `base` go to `bases`."""
    base()
    op()
    once = batch(base, 1) + batch(op, 1)
    calls = max(1, math.ceil(1e-3 / once))
    rounds = int(min(200, max(5, 0.75 / (once * calls))))
    ratios = []
    for _ in range(rounds):
        base()
        b = batch(base, calls)
        bases.append(b)
        op()
        ratios.append(batch(op, calls) / b)
    return statistics.median(ratios)


def data(shape):
    n, c, h, w = shape
    a, b, i, j = np.meshgrid(*(np.arange(d) for d in shape), indexing="ij")
    return ((a * 131 + b * 71 + i * 31 + j * 17) % 97).astype(np.float32) - 48.0


def torch_row(x, k, s, p, copy, copies):
    y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    delta = y * 0.5
    aten = torch.ops.aten
    ops = [
        lambda: F.max_pool2d(x, k, s, p, return_indices=True),
        lambda: F.max_pool2d(x, k, s, p),
        lambda: F.avg_pool2d(x, k, s, p),
        lambda: aten.max_pool2d_with_indices_backward(delta, x, [k, k], [s, s], [p, p], [1, 1], False, idx),
        lambda: aten.avg_pool2d_backward(delta, x, [k, k], [s, s], [p, p], False, True, None),
    ]
    return [ratio(copy, op, copies) for op in ops]


def ort_session(node, shape):
    graph = helper.make_graph(
        [node], "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT if o == "y" else TensorProto.INT64, None)
         for o in node.output],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = ARGS.threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ort_row(x, shape, k, s, p, copy, copies):
    pads = [p, p, p, p]
    with_idx = ort_session(helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[k, k], strides=[s, s], pads=pads), shape)
    no_idx = ort_session(helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=pads), shape)
    mean = ort_session(helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=pads, count_include_pad=1), shape)
    feed = {"x": x}
    return [ratio(copy, lambda: sess.run(None, feed), copies) for sess in (with_idx, no_idx, mean)]


def main():
    torch.set_num_threads(ARGS.threads)
    print(f"threads: {ARGS.threads}; torch {torch.__version__}, onnxruntime {ort.__version__}; "
          "each cell: median over rounds of the time / the time of copying the same input in the same round\n")
    print("| workload | library | copy | max fwd + indices | max fwd | mean fwd | max bwd | mean bwd |")
    print("|---|---|---|---|---|---|---|---|")
    cells = lambda ratios: " | ".join(f"{r:.2f}x" for r in ratios)
    millis = lambda times: f"{statistics.median(times) * 1e3:.3f} ms"
    for name, shape, k, s, p in WORKLOADS:
        xn = data(shape)
        x = torch.from_numpy(xn)
        copies = []
        nchw = torch_row(x, k, s, p, lambda: x.clone(), copies)
        print(f"| {name} | PyTorch NCHW | {millis(copies)} | {cells(nchw)} |")
        xl = x.contiguous(memory_format=torch.channels_last)
        copies_cl = []
        cl = torch_row(xl, k, s, p, lambda: xl.clone(memory_format=torch.channels_last), copies_cl)
        print(f"| {name} | PyTorch channels_last | {millis(copies_cl)} | {cells(cl)} |")
        ort_cells = ort_row(xn, shape, k, s, p, lambda: x.clone(), [])
        print(f"| {name} | onnxruntime | | {cells(ort_cells)} | n/a | n/a |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    ARGS = parser.parse_args()
    main()
