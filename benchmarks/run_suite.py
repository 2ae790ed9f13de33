#!/usr/bin/env python3
# Records fastconv's benchmark results: runs the layer suite against PyTorch at 1 thread and at every
# logical CPU, and writes docs/benchmarks.md with the machine, commit and versions it ran on. A thin
# wrapper: the measuring lives in fastconv.bench, shared with `fastconv bench`, so the recorded table
# and an ad-hoc run measure the same way.
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from fastconv import bench

REPO_ROOT = Path(__file__).resolve().parents[1]

INTRO = """\
Written by `python benchmarks/run_suite.py` (see `benchmarks/README.md`); rerun it rather than edit
this file. Each time is the median of repeated calls (at least {repeat} calls and {min_time} s per
measurement). fastconv and PyTorch take turns of 50 ms of timed calls, each after 20 ms of untimed
ones, so both are measured in the steady state of back-to-back calls and neither while the other's
threads still spin. GFLOP/s counts 2 FLOPs per multiply-add by the suite's formula;
**torch/fastconv** is PyTorch's time over fastconv's, so above 1 means fastconv is faster. Inputs
are float32 with the batch listed in `python/fastconv/data/layers.json`, in NCHW and in
channels-last memory (NHWC seen as NCHW, given to torch with its channels_last weight format);
`auto` is the functional call a user makes (weights packed inside the call), `plan` a prepacked
`fastconv.Conv2d`-style object built once, `autotune` the functional call with
`fastconv.set_autotune(True)` (its one-time timing of the candidates falls in an untimed first
call), and % peak is against the FMA loop measured in this run at the same thread count. Page
faults are the process's minor faults per timed call."""


GPU_START, GPU_END = "<!-- gpu-benchmarks:start -->", "<!-- gpu-benchmarks:end -->"
GPU_PLACEHOLDER = """## GPU

Not measured yet: no GPU was available where these tables were made. `scripts/gpu_check.sh
RESULTS_DIR` on a CUDA machine runs `benchmarks/gpu_suite.py`, which replaces this section."""


def gpu_section(path: Path) -> str:
    """The GPU section (benchmarks/gpu_suite.py writes it between its markers) of the file being
    replaced, kept as it is; a placeholder when there is none yet."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if GPU_START in old and GPU_END in old:
        return old[old.index(GPU_START): old.index(GPU_END) + len(GPU_END)] + "\n"
    return f"{GPU_START}\n{GPU_PLACEHOLDER}\n{GPU_END}\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the layer suite against PyTorch at 1 thread and at all threads; write docs/benchmarks.md."
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md",
                        help="Markdown file to write (default docs/benchmarks.md)")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    parser.add_argument("--layers", metavar="PATTERN", help="only these layers (as `fastconv bench --layers`)")
    parser.add_argument("--algos", default=",".join(bench.default_algos()),
                        help=f"comma-separated algos (default {','.join(bench.default_algos())})")
    parser.add_argument("--layouts", default=",".join(bench.LAYOUTS),
                        help="comma-separated memory layouts (default nchw,channels_last)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement (default 0.5)")
    parser.add_argument("--repeat", type=int, default=5, help="minimum timed runs per measurement (default 5)")
    args = parser.parse_args(argv)

    if not bench.torch_available():
        print("run_suite.py compares against PyTorch: pip install torch (the CPU build is enough)", file=sys.stderr)
        return 1
    layers = bench.select_layers(bench.load_suite(), args.layers)
    if not layers:
        parser.error(f"--layers {args.layers!r} matches no layer")
    algos = [algo.strip() for algo in args.algos.split(",") if algo.strip()]
    unknown = sorted(set(algos) - set(bench.algo_names()))
    if unknown:
        parser.error(f"unknown algos {unknown}; choose from {', '.join(bench.algo_names())}")
    layouts = [layout.strip() for layout in args.layouts.split(",") if layout.strip()]
    if not layouts or set(layouts) - set(bench.LAYOUTS):
        parser.error(f"--layouts takes {', '.join(bench.LAYOUTS)}; got {args.layouts!r}")

    all_cpus = bench.logical_cpus()
    threads: List[int] = [1] if all_cpus == 1 else [1, all_cpus]
    env = bench.environment(threads, "float32", compare_torch=True)
    results = bench.run_suite(layers, algos=algos, threads=threads, min_time=args.min_time,
                              min_repeat=args.repeat, compare_torch=True, progress=sys.stderr,
                              layouts=layouts)
    print(bench.format_table(results, compare_torch=True))

    intro = INTRO.format(repeat=args.repeat, min_time=args.min_time)
    text = bench.markdown_report(results, env, True, title="fastconv benchmarks", intro=intro)
    bench.write_text(str(args.output), text + "\n" + gpu_section(args.output))
    print(f"wrote {args.output}", file=sys.stderr)
    if args.json:
        settings = {"algos": algos, "layouts": layouts, "min_time": args.min_time, "min_repeat": args.repeat}
        bench.write_text(str(args.json), json.dumps(bench.json_report(results, env, settings), indent=2) + "\n")
    return 1 if any(row.error for row in results) else 0


if __name__ == "__main__":
    sys.exit(main())
