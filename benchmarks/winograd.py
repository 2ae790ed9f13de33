"""Speed of Winograd against the direct (igemm) path and torch on the suite's 3x3 stride-1 layers.

    OPENBLAS_NUM_THREADS=1 python benchmarks/winograd.py [--rounds 9] [--threads 1]

One thread for everyone. Each round times every variant once, in turn, so that load from other
processes hits all of them alike; the table shows medians over rounds, as GFLOP/s of the direct
algorithm (2 N K P Q C/groups 9 / time) so the paths compare on the same scale. "plan" is
fastconv.Conv2d (filters transformed once); the functional call transforms them on every call.
docs/winograd.md keeps a copy of the output.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

import fastconv
from fastconv import _core


def layers():
    data = json.loads((Path(fastconv.__file__).parent / "data" / "layers.json").read_text())
    for layer in data["layers"]:
        w = layer["weight"]
        if (layer["op"] == "conv2d" and w[2:] == [3, 3] and layer["stride"] == 1 and layer["dilation"] == 1
                and w[1] > 1):
            yield layer


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    fastconv.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"{'layer':15} {'memory':6} {'direct':>7} {'winograd':>8} {'plan':>7} {'torch':>7}  auto")
    for layer in layers():
        x = rng.uniform(-1, 1, layer["input"]).astype(np.float32)
        w = rng.uniform(-1, 1, layer["weight"]).astype(np.float32)
        n, c, h, wd = layer["input"]
        k, groups, pad = layer["weight"][0], layer["groups"], layer["padding"]
        flops = 2.0 * n * k * h * wd * (c // groups) * 9  # padding 1 keeps the size
        for memory in ("NCHW", "NHWC"):
            xm = x if memory == "NCHW" else x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)
            tx = torch.from_numpy(x)
            if memory == "NHWC":
                tx = tx.contiguous(memory_format=torch.channels_last)
            tw = torch.from_numpy(w)
            plan = fastconv.Conv2d(w, padding=pad, groups=groups, algo="winograd")
            variants = {
                "direct": lambda: fastconv.conv2d(xm, w, padding=pad, groups=groups, algo="direct"),
                "winograd": lambda: fastconv.conv2d(xm, w, padding=pad, groups=groups, algo="winograd"),
                "plan": lambda: plan(xm),
                "torch": lambda: torch.nn.functional.conv2d(tx, tw, padding=pad, groups=groups),
            }
            for fn in variants.values():
                fn()
            times = {name: [] for name in variants}
            for _ in range(args.rounds):
                for name, fn in variants.items():
                    times[name].append(timed(fn))
            gflops = {name: flops / statistics.median(t) / 1e9 for name, t in times.items()}
            chosen, _ = _core.explain_selection(False, "float32", list(x.shape), list(w.shape), [1, 1], [1, 1],
                                                [pad, pad], [pad, pad], [], groups, "auto", memory == "NHWC")
            print(f"{layer['name']:15} {memory:6} {gflops['direct']:7.1f} {gflops['winograd']:8.1f} "
                  f"{gflops['plan']:7.1f} {gflops['torch']:7.1f}  {chosen}", flush=True)


if __name__ == "__main__":
    main()
