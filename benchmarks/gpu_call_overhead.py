#!/usr/bin/env python3
# Where a small layer's time goes on the GPU: the host time of one call (Python, DLPack, the
# binding, the launches) against the device time of its kernels, for fastconv and for torch, and a
# cProfile of fastconv's calls. On layers whose kernels take tens of microseconds the host side can
# bound the throughput of back-to-back calls, which is what gpu_suite.py measures.
#
# usage: python3 benchmarks/gpu_call_overhead.py [--layers PATTERN] [--calls N]
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import fastconv
from fastconv import bench


def host_and_device_ms(torch, call, calls):
    for _ in range(10):
        call()
    torch.cuda.synchronize()
    begin = time.perf_counter()
    for _ in range(calls):
        call()
    host = (time.perf_counter() - begin) / calls
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        call()
    end.record()
    end.synchronize()
    return host * 1e3, start.elapsed_time(end) / calls


def main() -> int:
    import torch
    import torch.nn.functional as F

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", default="depthwise_3x3,grouped_3x3,resnet_1x1_56,dcgan_up_16")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    print(f"{'layer':16s} {'fastconv host ms':>17s} {'device ms':>10s} {'torch host ms':>14s} {'device ms':>10s}")
    calls = []
    for layer in bench.select_layers(bench.load_suite(), args.layers):
        x, w = bench.make_inputs(layer, "float32")
        tx, tw = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
        dx, dw = fastconv.cuda.asarray(tx), fastconv.cuda.asarray(tw)
        kwargs = layer.conv_kwargs()
        ours = lambda: getattr(fastconv, layer.op)(dx, dw, None, **kwargs)  # noqa: E731
        theirs = lambda: getattr(F, layer.op)(tx, tw, None, **kwargs)  # noqa: E731
        with torch.no_grad():
            ours_host, ours_device = host_and_device_ms(torch, ours, args.calls)
            theirs_host, theirs_device = host_and_device_ms(torch, theirs, args.calls)
        print(f"{layer.name:16s} {ours_host:17.4f} {ours_device:10.4f} {theirs_host:14.4f} {theirs_device:10.4f}")
        calls.append(ours)
    profile = cProfile.Profile()
    profile.enable()
    for call in calls:
        for _ in range(args.calls):
            call()
    profile.disable()
    torch.cuda.synchronize()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(15)
    print(text.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
