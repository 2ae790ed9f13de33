"""Speed of Winograd against the direct (igemm) path and torch on the suite's layers it runs.

    OPENBLAS_NUM_THREADS=1 python benchmarks/winograd.py [--rounds 9] [--threads 1]

The layers are the shared suite's forward layers that algo="winograd" accepts: 3x3 stride-1 2-D
layers, dilated ones and 3-D ones with 3x3 height x width kernels (the transposed ones it runs on
their sub-pixel form have winograd rows in the suite benchmark, run_suite.py). One thread for everyone by default.
Each round times every variant once, in turn, so that load from other processes hits all of them
alike; the table shows medians over rounds, as GFLOP/s of the direct algorithm (the suite's FLOP
count) so the paths compare on the same scale. "plan" is the prepacked op (fastconv.Conv2d,
Conv3d); the functional call transforms the filters on every call. docs/winograd.md keeps a copy
of the output.
"""
from __future__ import annotations

import argparse
import statistics
import time

import fastconv
from fastconv import _api, _core, bench

PLANS = {"conv2d": fastconv.Conv2d, "conv3d": fastconv.Conv3d}


def layers():
    for layer in bench.load_suite():
        if layer.op in PLANS and layer.weight[1] > 1 and bench.accepts(layer, "winograd"):  # not depthwise
            yield layer


def auto_choice(layer, x_shape, w_shape, channels_last: bool) -> str:
    """What algo="auto" runs for a functional call on this memory layout."""
    kwargs = layer.conv_kwargs()
    g = _api._conv_geometry("winograd.py", len(x_shape) - 2, False, tuple(x_shape), tuple(w_shape),
                            kwargs["stride"], kwargs["padding"], kwargs["dilation"], kwargs["groups"], 0)
    chosen, _ = _core.explain_selection(False, "float32", list(x_shape), list(w_shape), g["stride"], g["dilation"],
                                        g["pad_before"], g["pad_after"], [], g["groups"], "auto", channels_last)
    return chosen


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
    print(f"{'layer':15} {'memory':13} {'direct':>7} {'winograd':>8} {'plan':>7} {'torch':>7}  auto")
    for layer in layers():
        x, w = bench.make_inputs(layer, "float32")
        kwargs = layer.conv_kwargs()
        op, torch_op = getattr(fastconv, layer.op), getattr(torch.nn.functional, layer.op)
        for memory in ("nchw", "channels_last"):
            xm = bench.to_layout(x, memory)
            tx = torch.from_numpy(x)
            if memory == "channels_last":
                tx = tx.contiguous(memory_format=torch.channels_last if x.ndim == 4 else torch.channels_last_3d)
            tw = torch.from_numpy(w)
            plan = PLANS[layer.op](w, **kwargs, algo="winograd")
            variants = {
                "direct": lambda: op(xm, w, **kwargs, algo="direct"),
                "winograd": lambda: op(xm, w, **kwargs, algo="winograd"),
                "plan": lambda: plan(xm),
                "torch": lambda: torch_op(tx, tw, **kwargs),
            }
            for fn in variants.values():
                fn()
            times = {name: [] for name in variants}
            for _ in range(args.rounds):
                for name, fn in variants.items():
                    times[name].append(timed(fn))
            gflops = {name: layer.flops() / statistics.median(t) / 1e9 for name, t in times.items()}
            chosen = auto_choice(layer, x.shape, w.shape, memory == "channels_last")
            print(f"{layer.name:15} {memory:13} {gflops['direct']:7.1f} {gflops['winograd']:8.1f} "
                  f"{gflops['plan']:7.1f} {gflops['torch']:7.1f}  {chosen}", flush=True)


if __name__ == "__main__":
    main()
