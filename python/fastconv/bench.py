# The benchmark machinery behind `fastconv bench` and benchmarks/run_suite.py: load the layer suite
# (python/fastconv/data/layers.json), make its inputs with a fixed seed, count its FLOPs by the
# suite's formula, time fastconv (and optionally torch.nn.functional on the same arrays) and render
# the results as a text table, Markdown or JSON. It lives in the package, not in benchmarks/, so an
# installed wheel can benchmark itself; torch is imported only when a comparison is asked for.
from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import importlib.resources
import json
import math
import os
import platform
import statistics
import subprocess
import time
import zlib
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple, Union

import numpy as np

ALGOS = ("auto", "direct", "im2col", "reference")
# "reference" is plain loops summed in double: correct but far too slow to time over the suite.
DEFAULT_ALGOS = ("auto", "direct", "im2col")
DTYPES = ("float32", "float64")
DEFAULT_MIN_TIME = 0.2
DEFAULT_MIN_REPEAT = 3

IntOrTuple = Union[int, Tuple[int, ...]]


@dataclasses.dataclass(frozen=True)
class Layer:
    """One entry of the suite, with torch.nn.functional's argument names."""

    name: str
    op: str
    input: Tuple[int, ...]
    weight: Tuple[int, ...]
    stride: IntOrTuple = 1
    padding: IntOrTuple = 0
    dilation: IntOrTuple = 1
    groups: int = 1
    output_padding: IntOrTuple = 0

    @property
    def transposed(self) -> bool:
        return self.op.startswith("conv_transpose")

    @property
    def spatial_dims(self) -> int:
        return len(self.input) - 2

    def conv_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for fastconv.<op> and torch.nn.functional.<op> alike."""
        kwargs: Dict[str, Any] = {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
        }
        if self.transposed:
            kwargs["output_padding"] = self.output_padding
        return kwargs

    def flops(self) -> int:
        """2 multiply-adds per tap, as the suite's "about" defines it."""
        n, c = self.input[0], self.input[1]
        k_dim, kernel = self.weight[0], self.weight[2:]
        if self.transposed:
            # weight (C, K/groups, *kernel): every input element scatters into K/groups channels.
            k_per_group = self.weight[1]
            return 2 * n * c * k_per_group * math.prod(kernel) * math.prod(self.input[2:])
        c_per_group = self.weight[1]
        out = [
            _conv_output_size(size, k, s, p, d)
            for size, k, s, p, d in zip(
                self.input[2:],
                kernel,
                _per_dim(self.stride, self.spatial_dims),
                _per_dim(self.padding, self.spatial_dims),
                _per_dim(self.dilation, self.spatial_dims),
            )
        ]
        return 2 * n * k_dim * c_per_group * math.prod(kernel) * math.prod(out)


def _per_dim(value: IntOrTuple, ndim: int) -> Tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * ndim


def _conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _as_arg(value: Any) -> Any:
    # JSON gives lists; torch wants ints or tuples.
    return tuple(value) if isinstance(value, list) else value


def layer_from_dict(entry: Dict[str, Any]) -> Layer:
    fields = {f.name for f in dataclasses.fields(Layer)}
    kwargs = {key: _as_arg(value) for key, value in entry.items() if key in fields}
    return Layer(**kwargs)


def load_suite() -> List[Layer]:
    """The suite embedded in the package (python/fastconv/data/layers.json)."""
    text = importlib.resources.files("fastconv").joinpath("data/layers.json").read_text("utf-8")
    return [layer_from_dict(entry) for entry in json.loads(text)["layers"]]


def select_layers(layers: Sequence[Layer], pattern: Optional[str]) -> List[Layer]:
    """Layers whose name matches any comma-separated pattern: a glob if it has *?[, else a substring."""
    if not pattern:
        return list(layers)
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]

    def matches(name: str, pat: str) -> bool:
        if any(ch in pat for ch in "*?["):
            return fnmatch.fnmatchcase(name, pat)
        return pat in name

    return [layer for layer in layers if any(matches(layer.name, pat) for pat in patterns)]


def make_inputs(layer: Layer, dtype: str = "float32", seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Input and weight for a layer: the same arrays for a given seed and layer, whatever the run order."""
    rng = np.random.default_rng([seed, zlib.crc32(layer.name.encode())])
    x = rng.standard_normal(layer.input).astype(dtype)
    # Scaled so outputs stay O(1) whatever the reduction size.
    fan_in = math.prod(layer.weight[1:])
    w = (rng.standard_normal(layer.weight) / math.sqrt(fan_in)).astype(dtype)
    return x, w


def fastconv_runner(layer: Layer, x: np.ndarray, w: np.ndarray, algo: str) -> Callable[[], Any]:
    import fastconv

    op = getattr(fastconv, layer.op)
    kwargs = layer.conv_kwargs()
    return lambda: op(x, w, None, algo=algo, **kwargs)


def torch_runner(layer: Layer, x: np.ndarray, w: np.ndarray) -> Callable[[], Any]:
    import torch
    import torch.nn.functional as F

    op = getattr(F, layer.op)
    kwargs = layer.conv_kwargs()
    # from_numpy shares memory, so both libraries read the very same bytes.
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)

    def run() -> Any:
        with torch.no_grad():
            return op(tx, tw, None, **kwargs)

    return run


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@dataclasses.dataclass
class Timing:
    median_s: Optional[float] = None
    repeats: int = 0
    error: Optional[str] = None


def measure(
    runners: Dict[str, Callable[[], Any]],
    min_time: float = DEFAULT_MIN_TIME,
    min_repeat: int = DEFAULT_MIN_REPEAT,
) -> Dict[str, Timing]:
    """Median wall time of each runner, repeated until it has run min_repeat times and min_time seconds.

    The runners take turns, one call each per round, so clock and thermal drift hits them all alike;
    a runner drops out of the rotation once it has enough samples, so a slow one does not make a fast
    one run for minutes. One untimed call first absorbs first-use costs (allocation, page faults).
    A runner that raises is reported with its error instead of a time.
    """
    timings = {key: Timing() for key in runners}
    samples: Dict[str, List[float]] = {key: [] for key in runners}

    def call(key: str) -> Optional[float]:
        try:
            start = time.perf_counter()
            runners[key]()
            return time.perf_counter() - start
        except Exception as exc:  # reported as an error row, never a crash of the whole run
            timings[key].error = f"{type(exc).__name__}: {exc}"
            return None

    pending = [key for key in runners if call(key) is not None]
    while pending:
        for key in pending:
            elapsed = call(key)
            if elapsed is not None:
                samples[key].append(elapsed)
        pending = [
            key
            for key in pending
            if timings[key].error is None
            and (len(samples[key]) < min_repeat or sum(samples[key]) < min_time)
        ]
    for key, timing in timings.items():
        if timing.error is None and samples[key]:
            timing.median_s = statistics.median(samples[key])
            timing.repeats = len(samples[key])
    return timings


@dataclasses.dataclass
class Result:
    """One row: a layer timed with one algo at one thread count (torch's time of the same layer)."""

    layer: str
    op: str
    dtype: str
    threads: int
    algo: str
    flops: int
    seconds: Optional[float]
    repeats: int
    error: Optional[str] = None
    torch_seconds: Optional[float] = None
    torch_error: Optional[str] = None

    @property
    def gflops(self) -> Optional[float]:
        return self.flops / self.seconds / 1e9 if self.seconds else None

    @property
    def torch_gflops(self) -> Optional[float]:
        return self.flops / self.torch_seconds / 1e9 if self.torch_seconds else None

    @property
    def ratio(self) -> Optional[float]:
        """torch time / fastconv time: above 1 means fastconv is faster."""
        if self.seconds and self.torch_seconds:
            return self.torch_seconds / self.seconds
        return None

    def as_dict(self) -> Dict[str, Any]:
        row = dataclasses.asdict(self)
        row.update(gflops=self.gflops, torch_gflops=self.torch_gflops, ratio=self.ratio)
        return row


def run_suite(
    layers: Sequence[Layer],
    algos: Sequence[str] = DEFAULT_ALGOS,
    threads: Optional[Sequence[int]] = None,
    dtype: str = "float32",
    min_time: float = DEFAULT_MIN_TIME,
    min_repeat: int = DEFAULT_MIN_REPEAT,
    compare_torch: bool = False,
    progress: Optional[TextIO] = None,
    seed: int = 0,
) -> List[Result]:
    """Time every layer x algo at every thread count (fastconv's current count when threads is None).

    Both libraries are set to the same thread count; both counts are restored afterwards.
    """
    import fastconv

    torch = None
    if compare_torch:
        import torch
    thread_counts = list(threads) if threads else [fastconv.get_num_threads()]
    saved_threads = fastconv.get_num_threads()
    saved_torch_threads = torch.get_num_threads() if torch else None
    total = len(layers) * len(thread_counts)
    results: List[Result] = []
    try:
        step = 0
        for num_threads in thread_counts:
            fastconv.set_num_threads(num_threads)
            if torch:
                torch.set_num_threads(num_threads)
            for layer in layers:
                step += 1
                if progress is not None:
                    suffix = f" (threads={num_threads})" if len(thread_counts) > 1 else ""
                    print(f"[{step}/{total}] {layer.name}{suffix} ...", file=progress, flush=True)
                results.extend(
                    _run_layer(layer, algos, num_threads, dtype, min_time, min_repeat, torch, seed)
                )
    finally:
        fastconv.set_num_threads(saved_threads)
        if torch:
            torch.set_num_threads(saved_torch_threads)
    return results


def _run_layer(
    layer: Layer,
    algos: Sequence[str],
    num_threads: int,
    dtype: str,
    min_time: float,
    min_repeat: int,
    torch: Any,
    seed: int,
) -> List[Result]:
    x, w = make_inputs(layer, dtype, seed)
    runners = {algo: fastconv_runner(layer, x, w, algo) for algo in algos}
    torch_key = "torch"  # not an algo name, so it cannot collide
    if torch is not None:
        runners[torch_key] = torch_runner(layer, x, w)
    timings = measure(runners, min_time, min_repeat)
    torch_timing = timings.get(torch_key, Timing())
    return [
        Result(
            layer=layer.name,
            op=layer.op,
            dtype=dtype,
            threads=num_threads,
            algo=algo,
            flops=layer.flops(),
            seconds=timings[algo].median_s,
            repeats=timings[algo].repeats,
            error=timings[algo].error,
            torch_seconds=torch_timing.median_s,
            torch_error=torch_timing.error,
        )
        for algo in algos
    ]


def geometric_mean_ratios(results: Sequence[Result]) -> Dict[Tuple[int, str], float]:
    """Geometric mean of torch/fastconv per (threads, algo), over the rows that have a ratio."""
    groups: Dict[Tuple[int, str], List[float]] = {}
    for row in results:
        if row.ratio is not None:
            groups.setdefault((row.threads, row.algo), []).append(row.ratio)
    return {key: math.exp(statistics.fmean(map(math.log, ratios))) for key, ratios in groups.items()}


# ---------------------------------------------------------------------------------------------
# The environment a result was measured in, so a recorded table can be judged later.


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def logical_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def git_commit() -> Optional[str]:
    """Short commit of the checkout fastconv was imported from (an editable install), if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit} (with uncommitted changes)" if dirty else commit or None


def active_isa() -> str:
    import fastconv

    return str(fastconv.info()["active_isa"])


def environment(threads: Sequence[int], dtype: str, compare_torch: bool) -> Dict[str, str]:
    import fastconv

    env = {
        "machine": f"{cpu_model()} ({logical_cpus()} logical CPUs), {platform.system()} {platform.release()}",
        "fastconv": getattr(fastconv, "__version__", "unknown"),
        "commit": git_commit() or "unknown",
        "isa": active_isa(),
        "threads": ", ".join(str(t) for t in threads),
        "dtype": dtype,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }
    if hasattr(os, "getloadavg"):
        # Other work on the machine skews timings, multi-threaded ones most (a team of threads waits
        # for its slowest member), so record how busy it was; call this before measuring.
        env["load average"] = f"{os.getloadavg()[0]:.2f} (1 min, before the run)"
    if compare_torch:
        import torch

        env["torch"] = torch.__version__
    return env


# ---------------------------------------------------------------------------------------------
# Rendering.


_TEXT_COLUMNS = ("layer", "op", "algo")


def _columns(compare_torch: bool) -> List[str]:
    columns = ["layer", "op", "threads", "algo", "ms", "GFLOP/s"]
    if compare_torch:
        columns += ["torch ms", "torch GFLOP/s", "torch/fastconv"]
    return columns


def _cells(row: Result, compare_torch: bool) -> List[str]:
    def number(value: Optional[float], fmt: str) -> str:
        return format(value, fmt) if value is not None else "-"

    cells = [row.layer, row.op, str(row.threads), row.algo]
    if row.error is not None:
        cells += ["ERROR", "-"]
    else:
        cells += [number(row.seconds * 1e3 if row.seconds else None, ".3f"), number(row.gflops, ".1f")]
    if compare_torch:
        if row.torch_error is not None:
            cells += ["ERROR", "-", "-"]
        else:
            torch_ms = row.torch_seconds * 1e3 if row.torch_seconds else None
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
            cells += [number(torch_ms, ".3f"), number(row.torch_gflops, ".1f"), ratio]
    return cells


def _errors(results: Sequence[Result]) -> List[str]:
    lines = []
    torch_reported = set()  # torch's error is shared by every algo row of the layer: say it once
    for row in results:
        if row.error:
            lines.append(f"{row.layer} ({row.algo}, threads={row.threads}): {row.error}")
        if row.torch_error and (row.layer, row.threads) not in torch_reported:
            torch_reported.add((row.layer, row.threads))
            lines.append(f"{row.layer} (torch, threads={row.threads}): {row.torch_error}")
    return lines


def _geomean_lines(results: Sequence[Result]) -> List[str]:
    return [
        f"geometric mean of torch/fastconv, {algo}, threads={threads}: {value:.2f}x"
        for (threads, algo), value in sorted(geometric_mean_ratios(results).items())
    ]


def format_table(results: Sequence[Result], compare_torch: bool) -> str:
    """Plain aligned columns for a terminal, then any errors and the geometric means."""
    columns = _columns(compare_torch)
    rows = [_cells(row, compare_torch) for row in results]
    widths = [max(len(text) for text in column) for column in zip(columns, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if name in _TEXT_COLUMNS else cell.rjust(width)
            for name, cell, width in zip(columns, cells, widths)
        ).rstrip()

    lines = [line(columns), line(["-" * width for width in widths])]
    lines += [line(cells) for cells in rows]
    errors = _errors(results)
    if errors:
        lines += ["", "errors:"] + [f"  {error}" for error in errors]
    if compare_torch:
        lines += [""] + _geomean_lines(results)
    return "\n".join(lines)


def markdown_report(
    results: Sequence[Result],
    env: Dict[str, str],
    compare_torch: bool,
    title: str = "fastconv benchmark",
    intro: str = "",
) -> str:
    """A self-describing Markdown page: what it was measured on, then the table."""
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro.strip(), ""]
    lines += [f"- **{key}**: {value}" for key, value in env.items()]
    lines.append("")
    columns = _columns(compare_torch)
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join(" --- " if name in _TEXT_COLUMNS else " ---: " for name in columns) + "|")
    lines += ["| " + " | ".join(_cells(row, compare_torch)) + " |" for row in results]
    errors = _errors(results)
    if errors:
        lines += ["", "Errors:", ""] + [f"- {error}" for error in errors]
    if compare_torch:
        lines += [""] + [f"- {text}" for text in _geomean_lines(results)]
    return "\n".join(lines) + "\n"


def json_report(results: Sequence[Result], env: Dict[str, str], settings: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "environment": env,
        "settings": settings,
        "results": [row.as_dict() for row in results],
        "geometric_mean_ratio": [
            {"threads": threads, "algo": algo, "ratio": value}
            for (threads, algo), value in sorted(geometric_mean_ratios(results).items())
        ],
    }


def write_text(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


__all__ = [
    "ALGOS",
    "DEFAULT_ALGOS",
    "Layer",
    "Result",
    "Timing",
    "environment",
    "format_table",
    "geometric_mean_ratios",
    "json_report",
    "load_suite",
    "make_inputs",
    "markdown_report",
    "measure",
    "run_suite",
    "select_layers",
    "torch_available",
]
