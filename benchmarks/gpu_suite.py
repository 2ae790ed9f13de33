#!/usr/bin/env python3
# The GPU benchmark: every layer of python/fastconv/data/layers.json, fastconv's CUDA kernels against
# torch/cuDNN on the same device, timed with CUDA events, first with TF32 off on both sides (float32
# arithmetic throughout), then with TF32 on on both sides. Each layer's result is also checked
# against torch's. Writes RESULTS_DIR/gpu_benchmarks.md and .json and, with --update-docs FILE,
# replaces the GPU section of FILE (docs/benchmarks.md) between its markers.
#
# Timing: inputs are made once on the device (fastconv reads torch's tensors zero-copy, converted to
# DeviceArray up front so DLPack's per-call Python overhead is not measured), both sides run on
# torch's current stream, cudnn.benchmark picks cuDNN's best algorithm, and each measurement is the
# median over batches of back-to-back calls (at least --repeat batches and --min-time seconds).
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import fastconv
from fastconv import bench

REPO_ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- gpu-benchmarks:start -->", "<!-- gpu-benchmarks:end -->"
TARGETS = "geomean >= 0.8x cuDNN, no layer below 0.3x, depthwise and transposed layers >= 1.0x (TF32 off)"


def time_gpu(torch: Any, fn: Callable[[], Any], min_time: float, repeat: int) -> float:
    """Median seconds per call over batches of calls timed with CUDA events."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    once = max(start.elapsed_time(end) / 1e3, 1e-6)
    calls = max(1, min(1000, int(0.02 / once)))
    samples: List[float] = []
    began = time.perf_counter()
    while len(samples) < repeat or time.perf_counter() - began < min_time:
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / calls)
    return statistics.median(samples)


def is_depthwise(layer: bench.Layer) -> bool:
    return not layer.transposed and layer.groups > 1 and layer.weight[1] == 1


def run(args: argparse.Namespace) -> Dict[str, Any]:
    import torch
    import torch.nn.functional as F

    torch.backends.cudnn.benchmark = True
    layers = bench.select_layers(bench.load_suite(), args.layers)
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    rows: List[Dict[str, Any]] = []
    for tf32 in (False, True):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for layer in layers:
            x, w = bench.make_inputs(layer, "float32")
            tx, tw = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
            dx, dw = fastconv.cuda.asarray(tx), fastconv.cuda.asarray(tw)
            kwargs = layer.conv_kwargs()
            torch_op, fastconv_op = getattr(F, layer.op), getattr(fastconv, layer.op)
            with torch.no_grad():
                expected = torch_op(tx, tw, None, **kwargs)
                torch_time = time_gpu(torch, lambda: torch_op(tx, tw, None, **kwargs), args.min_time, args.repeat)
            for algo in algos:
                row: Dict[str, Any] = {"layer": layer.name, "op": layer.op, "algo": algo, "tf32": tf32,
                                       "gflop": layer.flops() / 1e9, "torch_s": torch_time,
                                       "depthwise": is_depthwise(layer), "transposed": layer.transposed}
                try:
                    row["impl"] = fastconv.cuda.selected_impl(layer.op, layer.input, layer.weight, algo=algo,
                                                              allow_tf32=tf32, **kwargs)
                    call = lambda: fastconv_op(dx, dw, None, algo=algo, allow_tf32=tf32, **kwargs)  # noqa: E731
                    got = torch.from_dlpack(call())
                    scale = expected.abs().max().item() or 1.0
                    row["max_rel_error"] = (got - expected).abs().max().item() / scale
                    row["fastconv_s"] = time_gpu(torch, call, args.min_time, args.repeat)
                    row["ratio"] = torch_time / row["fastconv_s"]
                except Exception as exc:  # a failure is a row of the table, not the end of the run
                    row["error"] = f"{type(exc).__name__}: {exc}"
                rows.append(row)
                print(f"{layer.name:24s} {algo:7s} tf32={int(tf32)} "
                      + (f"{row['fastconv_s'] * 1e3:8.3f} ms  cuDNN {torch_time * 1e3:8.3f} ms  x{row['ratio']:.2f}"
                         f"  err {row['max_rel_error']:.1e}  {row['impl']}" if "ratio" in row else row["error"]),
                      file=sys.stderr, flush=True)
    return {"environment": environment(torch), "rows": rows}


def environment(torch: Any) -> Dict[str, str]:
    return {
        "gpu": torch.cuda.get_device_name(),
        "fastconv devices": ", ".join(fastconv.info()["cuda"]["devices"]),
        "commit": bench.git_commit() or "unknown",
        "torch": torch.__version__,
        "cuDNN": str(torch.backends.cudnn.version()),
        "CUDA (torch)": str(torch.version.cuda),
        "python": platform.python_version(),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }


def summary(rows: List[Dict[str, Any]], algo: str, tf32: bool) -> List[str]:
    chosen = [r for r in rows if r["algo"] == algo and r["tf32"] == tf32 and "ratio" in r]
    if not chosen:
        return [f"- {algo}: no results"]
    ratios = [r["ratio"] for r in chosen]
    geomean = math.exp(statistics.fmean(map(math.log, ratios)))
    worst = min(chosen, key=lambda r: r["ratio"])
    special = [r for r in chosen if r["depthwise"] or r["transposed"]]
    special_min = min((r["ratio"] for r in special), default=None)
    lines = [f"- {algo}: geomean **{geomean:.2f}x** cuDNN, lowest {worst['ratio']:.2f}x ({worst['layer']})"
             + (f", depthwise/transposed lowest {special_min:.2f}x" if special_min is not None else "")]
    if not tf32:
        met = geomean >= 0.8 and worst["ratio"] >= 0.3 and (special_min is None or special_min >= 1.0)
        lines[0] += f" -- targets ({TARGETS}): **{'met' if met else 'not met'}**"
    return lines


def markdown(result: Dict[str, Any]) -> str:
    env, rows = result["environment"], result["rows"]
    out = [START, "## GPU", "",
           "Written by `scripts/gpu_check.sh` (`benchmarks/gpu_suite.py`); rerun it rather than edit this "
           "section. float32, NCHW, the layers of `python/fastconv/data/layers.json`; times are medians "
           "of CUDA-event timings on one stream; **cuDNN/fastconv** above 1 means fastconv is faster; "
           "*error* is the largest |fastconv - torch| over the largest |torch|.", ""]
    out += [f"- {key}: {value}" for key, value in env.items()]
    for tf32 in (False, True):
        out += ["", f"### TF32 {'on' if tf32 else 'off'} (both sides)", ""]
        algos = sorted({r["algo"] for r in rows}, key=lambda a: ["auto", "direct", "im2col", "reference"].index(a))
        for algo in algos:
            out += summary(rows, algo, tf32)
        out += ["", "| layer | op | algo | implementation | GFLOP | fastconv ms | cuDNN ms | cuDNN/fastconv | GFLOP/s | error |",
                "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            if r["tf32"] != tf32:
                continue
            if "ratio" not in r:
                out.append(f"| {r['layer']} | {r['op']} | {r['algo']} | {r.get('impl', '')} | {r['gflop']:.3f} | "
                           f"failed: {r['error']} | {r['torch_s'] * 1e3:.3f} | | | |")
                continue
            out.append(f"| {r['layer']} | {r['op']} | {r['algo']} | {r['impl']} | {r['gflop']:.3f} | "
                       f"{r['fastconv_s'] * 1e3:.3f} | {r['torch_s'] * 1e3:.3f} | {r['ratio']:.2f} | "
                       f"{r['gflop'] / r['fastconv_s']:.0f} | {r['max_rel_error']:.1e} |")
    out.append(END)
    return "\n".join(out) + "\n"


def update_docs(path: Path, section: str) -> None:
    text = path.read_text("utf-8") if path.exists() else "# fastconv benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + section.rstrip("\n") + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, "utf-8")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="fastconv CUDA kernels vs torch/cuDNN over the layer suite")
    parser.add_argument("--output-dir", type=Path, required=True, help="folder for gpu_benchmarks.md and .json")
    parser.add_argument("--update-docs", type=Path, help="also write the GPU section of this markdown file")
    parser.add_argument("--layers", help="only these layers (as `fastconv bench --layers`)")
    parser.add_argument("--algos", default="auto,direct,im2col", help="comma-separated algos (default auto,direct,im2col)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per measurement (default 0.3)")
    parser.add_argument("--repeat", type=int, default=5, help="minimum timed batches per measurement (default 5)")
    args = parser.parse_args(argv)
    if not fastconv.cuda.is_available():
        print("gpu_suite.py needs a CUDA GPU and fastconv built with CUDA", file=sys.stderr)
        return 1
    result = run(args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    section = markdown(result)
    (args.output_dir / "gpu_benchmarks.md").write_text(section, "utf-8")
    (args.output_dir / "gpu_benchmarks.json").write_text(json.dumps(result, indent=1), "utf-8")
    if args.update_docs:
        update_docs(args.update_docs, section)
    print(section)
    return 0 if all("ratio" in r for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
