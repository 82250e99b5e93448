"""One engine of `npm run bench:model`, in its own process so its peak RSS (VmHWM) is its own.

    /usr/bin/python3 scripts/bench_model_worker.py opencv|torch MODEL.onnx --runs 50 --batch 8 --threads N [--fallback LOGITS_ONLY.onnx]

Prints one JSON line: load time, batch-1 latency (median, p95), batch throughput, VmHWM.
OpenCV DNN reads the ONNX file itself; PyTorch eager rebuilds torchvision's AlexNet with the
export's in-graph Grad-CAM (scripts/train/models.py) and loads the weights from the ONNX
initializers, so all engines compute the same logits and CAM from the same numbers.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np


def vmhwm_kib() -> int:
    match = re.search(r"^VmHWM:\s+(\d+) kB$", Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1)) if match else -1


def bench_input(batch: int, seed: int = 1) -> np.ndarray:
    # the same xorshift input as src/tools/bench/bench.ts (values in [-2, 2))
    size = batch * 3 * 224 * 224
    out = np.empty(size, dtype=np.float32)
    state = seed
    one = 3 * 224 * 224
    values = np.empty(one, dtype=np.float32)
    for i in range(one):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        values[i] = (state / 4294967296.0) * 4 - 2
    for b in range(batch):
        out[b * one:(b + 1) * one] = values
    return out.reshape(batch, 3, 224, 224)


def timed(run, runs: int, warmup: int):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("engine", choices=["opencv", "torch"])
    p.add_argument("model")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batch-runs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fallback", help="logits-only ONNX for an engine that cannot import the CAM subgraph")
    args = p.parse_args()
    x1 = bench_input(1)
    xb = bench_input(args.batch)
    note = ""

    if args.engine == "opencv":
        import cv2

        cv2.setNumThreads(args.threads)
        version = f"OpenCV {cv2.__version__}"
        started = time.perf_counter()
        try:
            net = cv2.dnn.readNetFromONNX(args.model)
            net.setInput(x1)
            net.forward(net.getUnconnectedOutLayersNames())
        except cv2.error as error:  # noqa: F841
            if not args.fallback:
                raise
            text = str(error)
            first = (re.search(r"error: \(-?\d+:[^)]*\) (.*)", text) or re.search(r"(.+)", text)).group(1).strip()[:160]
            note = f"logits only: OpenCV cannot import the in-graph CAM ({first})"
            started = time.perf_counter()
            net = cv2.dnn.readNetFromONNX(args.fallback)
        load_ms = (time.perf_counter() - started) * 1000
        names = net.getUnconnectedOutLayersNames()

        def run1():
            net.setInput(x1)
            net.forward(names)

        def runb():
            net.setInput(xb)
            net.forward(names)
    else:
        import onnx
        import torch
        from onnx import numpy_helper

        sys.path.insert(0, str(Path(__file__).resolve().parent / "train"))
        import models  # noqa: E402

        torch.set_num_threads(args.threads)
        version = f"PyTorch {torch.__version__} eager"
        started = time.perf_counter()
        graph = onnx.load(args.model)
        inits = {t.name: t for t in graph.graph.initializer}
        # the export's Conv and Gemm nodes, in order, are AlexNet's convolutions and linear layers
        # (any BatchNorm already folded into the convolutions by the export)
        net = models.build_model("alexnet")
        convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
        linears = [m for m in net.classifier if isinstance(m, torch.nn.Linear)]
        layers = {"Conv": iter(convs), "Gemm": iter(linears)}
        loaded = 0
        with torch.no_grad():
            for node in graph.graph.node:
                if node.op_type not in layers:
                    continue
                layer = next(layers[node.op_type])
                layer.weight.copy_(torch.from_numpy(numpy_helper.to_array(inits[node.input[1]]).copy()))
                layer.bias.copy_(torch.from_numpy(numpy_helper.to_array(inits[node.input[2]]).copy()))
                loaded += 1
        if loaded != len(convs) + len(linears):
            raise SystemExit(f"expected {len(convs) + len(linears)} Conv/Gemm layers in the ONNX graph, found {loaded}")
        del graph, inits
        wrapper = models.cam_wrapper("alexnet", net).eval()
        load_ms = (time.perf_counter() - started) * 1000
        t1 = torch.from_numpy(x1)
        tb = torch.from_numpy(xb)

        def run1():
            with torch.no_grad():
                wrapper(t1)

        def runb():
            with torch.no_grad():
                wrapper(tb)

    times = timed(run1, args.runs, args.warmup)
    batch_times = timed(runb, args.batch_runs, 1)
    print(json.dumps({
        "engine": version,
        "note": note,
        "loadMs": load_ms,
        "medianMs": float(np.percentile(times, 50)),
        "p95Ms": float(np.percentile(times, 95)),
        "runs": len(times),
        "batch": args.batch,
        "throughput": args.batch / (float(np.median(batch_times)) / 1000),
        "vmhwmKiB": vmhwm_kib(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
