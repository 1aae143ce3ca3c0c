"""Times PyTorch (NCHW and channels_last) and onnxruntime on the workloads of
benches/peers, as ratios of the time to copy the same input measured in the
same run.

    pip install torch onnx onnxruntime
    python3 benches/peers/torch_ort.py --threads 1
    python3 benches/peers/torch_ort.py --threads 2
"""

import argparse
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


def timed(f):
    """Median seconds of `f` over about a second of runs (at least 5)."""
    f()
    start = time.perf_counter()
    f()
    once = time.perf_counter() - start
    runs = int(min(200, max(5, 1.0 / max(once, 1e-6))))
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def data(shape):
    n, c, h, w = shape
    a, b, i, j = np.meshgrid(*(np.arange(d) for d in shape), indexing="ij")
    return ((a * 131 + b * 71 + i * 31 + j * 17) % 97).astype(np.float32) - 48.0


def torch_row(x, k, s, p):
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
    return [timed(op) for op in ops]


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


def ort_row(x, shape, k, s, p):
    pads = [p, p, p, p]
    with_idx = ort_session(helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[k, k], strides=[s, s], pads=pads), shape)
    no_idx = ort_session(helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=pads), shape)
    mean = ort_session(helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=pads, count_include_pad=1), shape)
    feed = {"x": x}
    return [timed(lambda: sess.run(None, feed)) for sess in (with_idx, no_idx, mean)]


def main():
    torch.set_num_threads(ARGS.threads)
    print(f"threads: {ARGS.threads}; torch {torch.__version__}, onnxruntime {ort.__version__}; "
          "each cell: median time / median time of copying the same input\n")
    print("| workload | library | copy | max fwd + indices | max fwd | mean fwd | max bwd | mean bwd |")
    print("|---|---|---|---|---|---|---|---|")
    for name, shape, k, s, p in WORKLOADS:
        xn = data(shape)
        x = torch.from_numpy(xn)
        copy = timed(lambda: x.clone())
        cell = lambda t: f"{t / copy:.2f}x"
        print(f"| {name} | PyTorch NCHW | {copy * 1e3:.3f} ms | " + " | ".join(map(cell, torch_row(x, k, s, p))) + " |")
        xl = x.contiguous(memory_format=torch.channels_last)
        copy_cl = timed(lambda: xl.clone(memory_format=torch.channels_last))
        cells = [f"{t / copy_cl:.2f}x" for t in torch_row(xl, k, s, p)]
        print(f"| {name} | PyTorch channels_last | {copy_cl * 1e3:.3f} ms | " + " | ".join(cells) + " |")
        cells = [cell(t) for t in ort_row(xn, shape, k, s, p)]
        print(f"| {name} | onnxruntime | | " + " | ".join(cells) + " | n/a | n/a |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    ARGS = parser.parse_args()
    main()
