# The `fastconv` command (console script and `python -m fastconv`): `info` shows the build and the
# machine as fastconv sees them, `check` is a seconds-long self-test of every algorithm against the
# float64 reference on this machine's ISA, `bench` times the layer suite (optionally against
# PyTorch) through fastconv.bench, which holds the measuring code so benchmarks/ can reuse it, and
# `animate` draws convolution arithmetic through fastconv.viz (imported only then: it needs Pillow).
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import bench

# ---------------------------------------------------------------------------------------------
# info


def _format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_format_value(item) for item in value) or "-"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _format_info(tree: Dict[str, Any], indent: int = 0) -> List[str]:
    """Nested dicts as indented sections; lists of records (e.g. GEMM microkernels) one per line."""
    pad = " " * indent
    width = max((len(str(key)) for key in tree), default=0) + 1
    lines = []
    for key, value in tree.items():
        label = f"{key}:".ljust(width)
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines += _format_info(value, indent + 2)
        elif isinstance(value, (list, tuple)) and value and all(
            isinstance(item, (list, tuple, dict)) for item in value
        ):
            lines.append(f"{pad}{key}:")
            for item in value:
                text = ", ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else _format_value(item)
                lines.append(f"{pad}  - {text}")
        else:
            lines.append(f"{pad}{label} {_format_value(value)}")
    return lines


def _cmd_info(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import fastconv

    info = fastconv.info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print("\n".join(_format_info(info)))
    return 0


# ---------------------------------------------------------------------------------------------
# check

CHECK_ALGOS = ("auto", "direct", "im2col")
# Relative to max(1, max|reference|). The reductions here have at most a few hundred terms, so
# float32 lands near 1e-6 and float64 near 1e-15; the bounds leave room without hiding a wrong tap.
CHECK_TOLERANCE = {"float32": 1e-4, "float64": 1e-10}


@dataclasses.dataclass
class CheckCase:
    """One small problem. `kind` is conv, conv_transpose, unfold or fold."""

    kind: str
    ndim: int
    x: np.ndarray  # float64; cast per dtype under test
    weight: Optional[np.ndarray]
    bias: Optional[np.ndarray]
    kwargs: Dict[str, Any]

    def describe(self) -> str:
        op = f"{self.kind}{self.ndim}d" if self.kind.startswith("conv") else f"{self.kind}({self.ndim}-d)"
        parts = [f"{op:<17}", f"x={tuple(self.x.shape)}"]
        if self.weight is not None:
            parts.append(f"w={tuple(self.weight.shape)}")
        parts += [f"{key}={_format_arg(value)}" for key, value in self.kwargs.items()]
        if self.bias is not None:
            parts.append("bias")
        return " ".join(parts)


def _format_arg(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(str(v) for v in value) + ")"
    return str(value)


def _random_geometry(rng: np.random.Generator, ndim: int) -> Dict[str, Tuple[int, ...]]:
    """Kernel, stride, dilation and padding per dim, kept to padding <= (extent-1)//2 so every
    forward and transposed output size is at least 1."""
    kernel = tuple(int(k) for k in rng.integers(1, 4 if ndim < 3 else 3, size=ndim))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=ndim))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=ndim))
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    padding = tuple(int(rng.integers(0, (e - 1) // 2 + 1)) for e in extent)
    return {"kernel": kernel, "stride": stride, "dilation": dilation, "padding": padding, "extent": tuple(extent)}


def _random_spatial(rng: np.random.Generator, geometry: Dict[str, Tuple[int, ...]], ndim: int) -> Tuple[int, ...]:
    # Wide enough for rows longer than a SIMD vector, small enough for a fast 3-D reference.
    span = {1: 40, 2: 14, 3: 6}[ndim]
    lows = [max(1, e - 2 * p) for e, p in zip(geometry["extent"], geometry["padding"])]
    return tuple(int(rng.integers(low, low + span)) for low in lows)


def _random_conv_case(rng: np.random.Generator, ndim: int, transposed: bool) -> CheckCase:
    geometry = _random_geometry(rng, ndim)
    groups = int(rng.choice([1, 1, 2, 3]))
    # Up to 24 output channels per group, so GEMM microkernel tiles are both filled and cut short.
    in_channels = groups * int(rng.integers(1, 9))
    out_channels = groups * int(rng.integers(1, 25))
    x = rng.standard_normal((int(rng.integers(1, 3)), in_channels) + _random_spatial(rng, geometry, ndim))
    kwargs: Dict[str, Any] = {
        "stride": geometry["stride"],
        "padding": geometry["padding"],
        "dilation": geometry["dilation"],
        "groups": groups,
    }
    if transposed:
        weight_shape = (in_channels, out_channels // groups) + geometry["kernel"]
        # torch's rule: output_padding < max(stride, dilation) in every dim.
        kwargs["output_padding"] = tuple(
            int(rng.integers(0, max(s, d))) for s, d in zip(geometry["stride"], geometry["dilation"])
        )
    else:
        weight_shape = (out_channels, in_channels // groups) + geometry["kernel"]
    bias = rng.standard_normal(out_channels) if rng.random() < 0.5 else None
    kind = "conv_transpose" if transposed else "conv"
    return CheckCase(kind, ndim, x, rng.standard_normal(weight_shape), bias, kwargs)


def _random_unfold_case(rng: np.random.Generator, ndim: int, kind: str) -> CheckCase:
    geometry = _random_geometry(rng, ndim)
    channels = int(rng.integers(1, 5))
    spatial = _random_spatial(rng, geometry, ndim)
    kwargs: Dict[str, Any] = {
        "kernel_size": geometry["kernel"],
        "dilation": geometry["dilation"],
        "padding": geometry["padding"],
        "stride": geometry["stride"],
    }
    x = rng.standard_normal((int(rng.integers(1, 3)), channels) + spatial)
    if kind == "fold":
        # fold's input is a column matrix; the case's x is the image size it folds back into.
        out = [
            (size + 2 * p - e) // s + 1
            for size, p, e, s in zip(spatial, geometry["padding"], geometry["extent"], geometry["stride"])
        ]
        kwargs = {"output_size": spatial, **kwargs}
        x = rng.standard_normal((x.shape[0], channels * math.prod(geometry["kernel"]), math.prod(out)))
    return CheckCase(kind, ndim, x, None, None, kwargs)


def check_cases(seed: int = 0) -> List[CheckCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for transposed in (False, True):
        for ndim in (1, 2, 2, 3):
            cases.append(_random_conv_case(rng, ndim, transposed))
    for kind in ("unfold", "fold"):
        for ndim in (1, 2, 3):
            cases.append(_random_unfold_case(rng, ndim, kind))
    return cases


def _identity_weight(channels: int, kernel: Tuple[int, ...]) -> np.ndarray:
    """Weight (C*prod(k), C, *k) whose row (c, taps) picks channel c at those taps: a convolution with
    it is unfold, and a transposed convolution with it is fold, so both reduce to the reference."""
    taps = math.prod(kernel)
    return np.eye(channels * taps).reshape((channels * taps, channels) + kernel)


def _case_runners(case: CheckCase, dtype: str) -> Tuple[Callable[[], np.ndarray], Dict[str, Callable[[], np.ndarray]]]:
    """(the float64 reference on the dtype's values, {label: fastconv call in that dtype})."""
    import fastconv

    x = case.x.astype(dtype)
    x_ref = x.astype(np.float64)  # same values as the tested input, so only arithmetic differs
    if case.kind in ("conv", "conv_transpose"):
        op = getattr(fastconv, f"{case.kind}{case.ndim}d")
        w, b = case.weight.astype(dtype), None if case.bias is None else case.bias.astype(dtype)
        w_ref, b_ref = w.astype(np.float64), None if b is None else b.astype(np.float64)
        reference = lambda: op(x_ref, w_ref, b_ref, algo="reference", **case.kwargs)  # noqa: E731
        tested = {algo: (lambda algo=algo: op(x, w, b, algo=algo, **case.kwargs)) for algo in CHECK_ALGOS}
        return reference, tested

    kernel = case.kwargs["kernel_size"]
    geometry = {key: case.kwargs[key] for key in ("stride", "padding", "dilation")}
    if case.kind == "unfold":
        conv = getattr(fastconv, f"conv{case.ndim}d")
        weight = _identity_weight(case.x.shape[1], kernel)

        def reference() -> np.ndarray:
            y = conv(x_ref, weight, None, algo="reference", **geometry)
            return y.reshape(y.shape[0], y.shape[1], -1)

        return reference, {"unfold": lambda: fastconv.unfold(x, **case.kwargs)}

    conv_t = getattr(fastconv, f"conv_transpose{case.ndim}d")
    output_size = case.kwargs["output_size"]
    channels = case.x.shape[1] // math.prod(kernel)
    weight = _identity_weight(channels, kernel)
    per_dim = list(zip(output_size, kernel, geometry["stride"], geometry["padding"], geometry["dilation"]))
    out = [(size + 2 * p - d * (k - 1) - 1) // s + 1 for size, k, s, p, d in per_dim]
    # The rows of the image that no window reaches come back as output_padding.
    output_padding = tuple(
        size - ((o - 1) * s - 2 * p + d * (k - 1) + 1) for (size, k, s, p, d), o in zip(per_dim, out)
    )

    def fold_reference() -> np.ndarray:
        cols = x_ref.reshape(x_ref.shape[:2] + tuple(out))
        return conv_t(cols, weight, None, output_padding=output_padding, algo="reference", **geometry)

    return fold_reference, {"fold": lambda: fastconv.fold(x, **case.kwargs)}


def _run_case(case: CheckCase, dtype: str) -> Tuple[bool, str]:
    try:
        reference_fn, tested = _case_runners(case, dtype)
        reference = reference_fn()
    except Exception as exc:
        return False, f"reference raised {type(exc).__name__}: {exc}"
    scale = max(1.0, float(np.max(np.abs(reference), initial=0.0)))
    ok = True
    notes = []
    for label, run in tested.items():
        try:
            y = run()
        except Exception as exc:
            ok = False
            notes.append(f"{label} raised {type(exc).__name__}: {exc}")
            continue
        if y.shape != reference.shape or y.dtype != np.dtype(dtype):
            ok = False
            notes.append(f"{label} gave {y.dtype}{tuple(y.shape)}, expected {dtype}{tuple(reference.shape)}")
            continue
        error = float(np.max(np.abs(y.astype(np.float64) - reference), initial=0.0)) / scale
        if not error <= CHECK_TOLERANCE[dtype]:  # NaN fails too
            ok = False
        notes.append(f"{label} {error:.1e}")
    return ok, ", ".join(notes)


def _cmd_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    cases = check_cases(args.seed)
    failures = 0
    total = 0
    for case in cases:
        for dtype in bench.DTYPES:
            ok, notes = _run_case(case, dtype)
            total += 1
            failures += not ok
            print(f"{'PASS' if ok else 'FAIL'}  {dtype:<7}  {case.describe()}  [{notes}]", flush=True)
    if failures:
        print(f"check: {failures} of {total} cases FAILED (max relative error vs algo='reference' in brackets)")
        return 1
    print(f"check: all {total} cases passed (each algo against algo='reference' in float64)")
    return 0


# ---------------------------------------------------------------------------------------------
# bench


def _comma_list(choices: Sequence[str]) -> Callable[[str], List[str]]:
    def parse(text: str) -> List[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if item not in choices]
        if not items or unknown:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(choices)}; got {text!r}"
            )
        return items

    return parse


def _thread_list(text: str) -> List[int]:
    try:
        counts = [int(item) for item in text.split(",")]
    except ValueError:
        counts = []
    if not counts or any(count < 1 for count in counts):
        raise argparse.ArgumentTypeError(f"expected thread counts >= 1 such as 1 or 1,4; got {text!r}")
    return counts


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0; got {text!r}")
    return value


def _cmd_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    layers = bench.select_layers(bench.load_suite(), args.layers)
    if not layers:
        parser.error(f"--layers {args.layers!r} matches no layer of the suite (see `fastconv bench --list`)")
    if args.list:
        for layer in layers:
            print(f"{layer.name:<18} {layer.op:<17} input={layer.input} weight={layer.weight} "
                  f"{layer.flops() / 1e9:.3f} GFLOP")
        return 0
    compare_torch = args.compare == "torch"
    if compare_torch and not bench.torch_available():
        print("fastconv bench: --compare torch needs PyTorch, which is not installed "
              "(pip install torch, the CPU build is enough)", file=sys.stderr)
        return 1

    import fastconv

    threads = args.threads or [fastconv.get_num_threads()]
    env = bench.environment(threads, args.dtype, compare_torch)
    results = bench.run_suite(
        layers,
        algos=args.algos,
        threads=threads,
        dtype=args.dtype,
        min_time=args.min_time,
        min_repeat=args.repeat,
        compare_torch=compare_torch,
        progress=sys.stderr,
        layouts=args.layouts,
    )
    print(bench.format_table(results, compare_torch))
    if args.markdown:
        bench.write_text(args.markdown, bench.markdown_report(results, env, compare_torch))
    if args.json:
        settings = {"algos": args.algos, "layouts": args.layouts, "min_time": args.min_time, "min_repeat": args.repeat}
        bench.write_text(args.json, json.dumps(bench.json_report(results, env, settings), indent=2) + "\n")
    # Error rows are printed, not raised, so one broken layer does not lose the rest of a long run;
    # the exit code still tells a script that something went wrong.
    return 1 if any(row.error for row in results) else 0


# ---------------------------------------------------------------------------------------------
# animate


def _size(text: str) -> Any:
    """5 (the same for both dimensions) or 5x7 (height x width)."""
    try:
        values = [int(item) for item in text.lower().split("x")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected a size such as 5 or 5x7; got {text!r}")
    return values[0] if len(values) == 1 else tuple(values)


def _padding(text: str) -> Any:
    return text if text in ("same", "valid") else _size(text)


def _cmd_animate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import fastconv

    try:
        from . import viz

        viz._pillow()
    except ImportError as exc:
        print(f"fastconv animate: {exc}", file=sys.stderr)
        return 1
    if args.gallery:
        for path in viz.gallery(args.gallery, cell=args.cell, duration_ms=args.duration):
            print(f"wrote {path}")
        return 0
    if args.input is None or args.kernel is None:
        parser.error("--input and --kernel are required (or use --gallery DIR)")
    if args.output is None and args.frames is None:
        parser.error("say where to write: -o OUT.gif and/or --frames DIR")
    if args.output_padding and not args.transposed:
        parser.error("--output-padding applies only with --transposed")
    layer = dict(stride=args.stride, padding=args.padding, dilation=args.dilation)
    try:
        if args.im2col:
            if args.transposed:
                parser.error("--im2col draws a direct convolution; drop --transposed")
            frames = viz.im2col_picture(args.output, args.input, args.kernel, **layer, cell=args.cell,
                                        duration_ms=args.duration)
            print(f"wrote {args.output}: {len(frames)} frames (one per output cell), {frames[0].size[0]}x{frames[0].size[1]}")
            return 0
        window = viz.animate(args.output, args.input, args.kernel, **layer, transposed=args.transposed,
                             output_padding=args.output_padding, frames_dir=args.frames, cell=args.cell,
                             duration_ms=args.duration)
    except ValueError as exc:
        parser.error(str(exc))
    sizes = lambda value: value if isinstance(value, tuple) else (value, value)  # noqa: E731
    print(fastconv.explain(sizes(args.input), sizes(args.kernel), sizes(args.stride),
                           args.padding if isinstance(args.padding, str) else sizes(args.padding),
                           sizes(args.dilation), transposed=args.transposed,
                           output_padding=sizes(args.output_padding)))
    written = [target for target in (args.output, args.frames) if target]
    print(f"wrote {' and '.join(written)}: {window.num_outputs} frames (one per output cell, row-major)")
    return 0


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastconv",
        description="fastconv: build information, a self-test, benchmarks and convolution arithmetic animations.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{info,check,bench,animate}")

    info = commands.add_parser("info", help="show version, ISAs, GEMM microkernels and threads")
    info.add_argument("--json", action="store_true", help="print the info dict as JSON")
    info.set_defaults(handler=_cmd_info, subparser=info)

    check = commands.add_parser("check", help="quick self-test of every algo against the reference")
    check.add_argument("--seed", type=int, default=0, help="seed of the random problems (default 0)")
    check.set_defaults(handler=_cmd_check, subparser=check)

    bench_parser = commands.add_parser(
        "bench", help="time the layer suite (GFLOP/s per layer and algo), optionally against PyTorch"
    )
    bench_parser.add_argument("--layers", metavar="PATTERN",
                              help="only layers whose name contains PATTERN (or matches it as a glob); "
                                   "comma-separated patterns are OR-ed")
    bench_parser.add_argument("--algos", type=_comma_list(bench.algo_names()), default=list(bench.default_algos()),
                              help="comma-separated algos, `plan` for a prepacked fastconv.ConvNd and `autotune` for "
                                   "the functional call autotuned "
                                   f"(default {','.join(bench.default_algos())}; reference is slow)")
    bench_parser.add_argument("--layouts", type=_comma_list(bench.LAYOUTS), default=list(bench.LAYOUTS),
                              help="input memory layouts: nchw and/or channels_last (NHWC memory seen as "
                                   "NCHW, as torch's channels_last); default both")
    bench_parser.add_argument("--threads", type=_thread_list, metavar="N[,N...]",
                              help="thread count(s) for fastconv and torch alike (default: fastconv's)")
    bench_parser.add_argument("--repeat", type=_positive_int, default=bench.DEFAULT_MIN_REPEAT, metavar="N",
                              help=f"minimum timed runs per measurement (default {bench.DEFAULT_MIN_REPEAT})")
    bench_parser.add_argument("--min-time", type=_non_negative_float, default=bench.DEFAULT_MIN_TIME,
                              metavar="SECONDS",
                              help=f"keep repeating until this much time is spent (default {bench.DEFAULT_MIN_TIME})")
    bench_parser.add_argument("--dtype", choices=bench.DTYPES, default="float32")
    bench_parser.add_argument("--compare", choices=["torch"],
                              help="also time torch.nn.functional on the same arrays and report torch/fastconv")
    bench_parser.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    bench_parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench_parser.add_argument("--list", action="store_true", help="list the (selected) layers and exit")
    bench_parser.set_defaults(handler=_cmd_bench, subparser=bench_parser)

    animate = commands.add_parser(
        "animate",
        help="draw a convolution's sliding window as an animated GIF (needs Pillow: pip install 'fastconv[viz]')",
        description="One frame per output cell, row-major: the input (padding dashed, a transposed layer's "
                    "inserted zeros grey) with the kernel's shadow, and the output cell being written. "
                    "Sizes are 5 or 5x7 (height x width).",
    )
    animate.add_argument("--input", type=_size, metavar="SIZE", help="input size, e.g. 5 or 5x7")
    animate.add_argument("--kernel", type=_size, metavar="SIZE", help="kernel size")
    animate.add_argument("--stride", type=_size, default=1, metavar="SIZE")
    animate.add_argument("--padding", type=_padding, default=0, metavar="SIZE",
                         help="padding per side, or same / valid (direct convolutions)")
    animate.add_argument("--dilation", type=_size, default=1, metavar="SIZE")
    animate.add_argument("--transposed", action="store_true", help="draw the transposed convolution")
    animate.add_argument("--output-padding", type=_size, default=0, metavar="SIZE",
                         help="output_padding of a transposed convolution")
    animate.add_argument("-o", "--output", metavar="OUT.gif", help="the animated GIF to write")
    animate.add_argument("--frames", metavar="DIR", help="also write each frame as DIR/frame_NNN.png")
    animate.add_argument("--im2col", action="store_true",
                         help="draw the im2col picture instead (input -> column matrix -> GEMM)")
    animate.add_argument("--gallery", metavar="DIR",
                         help="write the guide's 15 standard animations and the im2col picture into DIR")
    animate.add_argument("--cell", type=_positive_int, default=24, metavar="PIXELS", help="cell size (default 24)")
    animate.add_argument("--duration", type=_positive_int, default=500, metavar="MS",
                         help="milliseconds per frame (default 500)")
    animate.set_defaults(handler=_cmd_animate, subparser=animate)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Each command gets its own subparser, so its usage errors show that command's usage.
    return args.handler(args, args.subparser)
