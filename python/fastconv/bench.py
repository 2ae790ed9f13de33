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

DTYPES = ("float32", "float64")
DEFAULT_MIN_TIME = 0.2
DEFAULT_MIN_REPEAT = 3
DEFAULT_SETTLE_S = 0.02  # untimed calls at the start of each runner's turn (see measure)
DEFAULT_TURN_S = 0.05

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


LAYOUTS = ("nchw", "channels_last")


# Rows that are not a functional algo: a prepacked plan, and the autotuned functional call.
_NOT_ALGOS = ("plan", "autotune")


def algo_names() -> Tuple[str, ...]:
    """The algos fastconv accepts, then "plan": a prepacked fastconv.ConvNd (algo auto) built once per
    layer, and "autotune": the functional call with fastconv.set_autotune(True) (its one-time timing
    falls in the untimed first call)."""
    from . import _core

    return tuple(_core.algo_names()) + _NOT_ALGOS


def default_algos() -> Tuple[str, ...]:
    # "reference" is plain loops summed in double: correct but far too slow to time over the suite.
    return tuple(algo for algo in algo_names() if algo != "reference")


def to_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """The same logical (N, C, *spatial) array, stored channels-first ("nchw") or channels-last."""
    if layout == "nchw":
        return x
    # NHWC memory seen as NCHW: what torch's channels_last is and what fastconv uses without a copy.
    return np.ascontiguousarray(np.moveaxis(x, 1, -1)).transpose(0, x.ndim - 1, *range(1, x.ndim - 1))


def accepts(layer: Layer, algo: str, dtype: str = "float32") -> bool:
    """Whether some implementation of `algo` takes the layer (winograd takes only 3x3 stride-1
    forward layers and transposed ones whose pixels read at most 3 x 3 inputs): an algo that cannot
    run a layer gets no row, rather than an error row."""
    import fastconv

    if algo in _NOT_ALGOS:
        return True
    try:
        fastconv.algorithms(layer.op, layer.input, layer.weight, dtype=dtype, algo=algo, **layer.conv_kwargs())
    except ValueError:
        return False
    return True


def fastconv_runner(layer: Layer, x: np.ndarray, w: np.ndarray, algo: str) -> Callable[[], Any]:
    import fastconv

    kwargs = layer.conv_kwargs()
    if algo == "plan":
        plan_class = getattr(fastconv, _PLAN_CLASSES[layer.op])
        plan = plan_class(w, None, **kwargs)
        return lambda: plan(x)
    op = getattr(fastconv, layer.op)
    if algo == "autotune":

        def autotuned() -> Any:
            saved = fastconv.get_autotune()
            fastconv.set_autotune(True)
            try:
                return op(x, w, None, algo="auto", **kwargs)
            finally:
                fastconv.set_autotune(saved)

        return autotuned
    return lambda: op(x, w, None, algo=algo, **kwargs)


_PLAN_CLASSES = {
    "conv1d": "Conv1d", "conv2d": "Conv2d", "conv3d": "Conv3d",
    "conv_transpose1d": "ConvTranspose1d", "conv_transpose2d": "ConvTranspose2d",
    "conv_transpose3d": "ConvTranspose3d",
}


def torch_runner(layer: Layer, x: np.ndarray, w: np.ndarray) -> Callable[[], Any]:
    import torch
    import torch.nn.functional as F

    op = getattr(F, layer.op)
    kwargs = layer.conv_kwargs()
    # from_numpy shares memory, so both libraries read the very same bytes; a channels-last input
    # arrives with channels-last strides, and its weight is given the same format, as
    # model.to(memory_format=torch.channels_last) would.
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    memory_format = {4: torch.channels_last, 5: torch.channels_last_3d}.get(x.ndim)
    if memory_format is not None and tx.is_contiguous(memory_format=memory_format) and not tx.is_contiguous():
        tw = tw.contiguous(memory_format=memory_format)

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
    faults_per_call: Optional[float] = None


def _minor_faults() -> int:
    try:
        import resource
    except ImportError:  # not on a POSIX system: faults are not reported
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(
    runners: Dict[str, Callable[[], Any]],
    min_time: float = DEFAULT_MIN_TIME,
    min_repeat: int = DEFAULT_MIN_REPEAT,
    settle_s: float = DEFAULT_SETTLE_S,
    turn_s: float = DEFAULT_TURN_S,
) -> Dict[str, Timing]:
    """Median wall time of each runner, repeated until it has run min_repeat times and min_time seconds.

    The runners take turns, so clock and thermal drift hits them all alike; a runner drops out of
    the rotation once it has enough samples, so a slow one does not make a fast one run for minutes.
    Each turn first calls the runner untimed for settle_s seconds (at least once, if settle_s > 0),
    then times calls for turn_s seconds (at least one). The untimed part is there because one
    library's threads outlive its calls: PyTorch's OpenMP workers spin for milliseconds after each
    parallel region (measured here: fastconv's 2-thread call right after a torch call ran 1.7x
    slower, sharing a core with a spinning worker), and a pool whose workers slept has to wake
    them. Timing starts once the previous runner's threads have gone quiet and this runner's are
    awake, i.e. in the steady state of back-to-back calls. One untimed call before everything
    absorbs first-use costs (allocation, page faults). A runner that raises is reported with its
    error instead of a time. Page faults (minor faults of the whole process, so worker threads
    count) are averaged over the timed calls: a call that maps fresh memory shows up there.
    """
    timings = {key: Timing() for key in runners}
    samples: Dict[str, List[float]] = {key: [] for key in runners}
    faults: Dict[str, int] = {key: 0 for key in runners}

    def call(key: str) -> Optional[float]:
        try:
            faults_before = _minor_faults()
            start = time.perf_counter()
            runners[key]()
            elapsed = time.perf_counter() - start
            faults[key] += _minor_faults() - faults_before
            return elapsed
        except Exception as exc:  # reported as an error row, never a crash of the whole run
            timings[key].error = f"{type(exc).__name__}: {exc}"
            return None

    def done(key: str) -> bool:
        return timings[key].error is not None or (
            len(samples[key]) >= min_repeat and sum(samples[key]) >= min_time
        )

    pending = [key for key in runners if call(key) is not None]
    faults.update({key: 0 for key in runners})  # the warm-up call's faults are first-use costs
    while pending:
        for key in pending:
            settle_until = time.perf_counter() + settle_s
            while settle_s > 0 and timings[key].error is None:
                before = faults[key]
                call(key)
                faults[key] = before  # untimed calls' faults are not the timed calls'
                if time.perf_counter() >= settle_until:
                    break
            turn_until = time.perf_counter() + turn_s
            while timings[key].error is None:
                elapsed = call(key)
                if elapsed is not None:
                    samples[key].append(elapsed)
                if done(key) or time.perf_counter() >= turn_until:
                    break
        pending = [key for key in pending if not done(key)]
    for key, timing in timings.items():
        if timing.error is None and samples[key]:
            timing.median_s = statistics.median(samples[key])
            timing.repeats = len(samples[key])
            timing.faults_per_call = faults[key] / len(samples[key])
    return timings


@dataclasses.dataclass
class Result:
    """One row: a layer timed with one algo at one thread count and memory layout, with torch's time
    of the same layer on the same memory."""

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
    layout: str = "nchw"
    faults_per_call: Optional[float] = None
    torch_faults_per_call: Optional[float] = None
    peak_gflops: Optional[float] = None  # the FMA loop's GFLOP/s at this thread count, same run

    @property
    def gflops(self) -> Optional[float]:
        return self.flops / self.seconds / 1e9 if self.seconds else None

    @property
    def torch_gflops(self) -> Optional[float]:
        return self.flops / self.torch_seconds / 1e9 if self.torch_seconds else None

    @property
    def percent_of_peak(self) -> Optional[float]:
        gflops = self.gflops
        return 100.0 * gflops / self.peak_gflops if gflops and self.peak_gflops else None

    @property
    def ratio(self) -> Optional[float]:
        """torch time / fastconv time: above 1 means fastconv is faster."""
        if self.seconds and self.torch_seconds:
            return self.torch_seconds / self.seconds
        return None

    def as_dict(self) -> Dict[str, Any]:
        row = dataclasses.asdict(self)
        row.update(gflops=self.gflops, torch_gflops=self.torch_gflops, ratio=self.ratio,
                   percent_of_peak=self.percent_of_peak)
        return row


def measure_peak(threads: int, seconds: float = 0.3) -> float:
    """GFLOP/s of a register-resident FMA loop on the active ISA at `threads` threads: the ceiling
    that % of peak is measured against, taken in the same run as the layers."""
    from . import _core

    return float(_core.fma_peak_gflops("", seconds, threads))


def run_suite(
    layers: Sequence[Layer],
    algos: Optional[Sequence[str]] = None,
    threads: Optional[Sequence[int]] = None,
    dtype: str = "float32",
    min_time: float = DEFAULT_MIN_TIME,
    min_repeat: int = DEFAULT_MIN_REPEAT,
    compare_torch: bool = False,
    progress: Optional[TextIO] = None,
    seed: int = 0,
    layouts: Sequence[str] = ("nchw",),
    measure_peaks: bool = True,
) -> List[Result]:
    """Time every layer x layout x algo at every thread count (fastconv's current count when threads
    is None). Both libraries are set to the same thread count; both counts are restored afterwards.
    """
    import fastconv

    algos = list(algos) if algos else list(default_algos())
    torch = None
    if compare_torch:
        import torch
    thread_counts = list(threads) if threads else [fastconv.get_num_threads()]
    saved_threads = fastconv.get_num_threads()
    saved_torch_threads = torch.get_num_threads() if torch else None
    total = len(layers) * len(thread_counts) * len(layouts)
    results: List[Result] = []
    try:
        step = 0
        for num_threads in thread_counts:
            fastconv.set_num_threads(num_threads)
            if torch:
                torch.set_num_threads(num_threads)
            peak = measure_peak(num_threads) if measure_peaks else None
            if progress is not None and peak is not None:
                print(f"FMA peak at {num_threads} thread(s): {peak:.1f} GFLOP/s", file=progress, flush=True)
            for layer in layers:
                for layout in layouts:
                    step += 1
                    if progress is not None:
                        print(f"[{step}/{total}] {layer.name} ({layout}, threads={num_threads}) ...",
                              file=progress, flush=True)
                    results.extend(_run_layer(layer, algos, num_threads, dtype, min_time, min_repeat,
                                              torch, seed, layout, peak))
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
    layout: str = "nchw",
    peak: Optional[float] = None,
) -> List[Result]:
    x, w = make_inputs(layer, dtype, seed)
    x = to_layout(x, layout)
    runners: Dict[str, Callable[[], Any]] = {}
    setup_errors: Dict[str, str] = {}
    algos = [algo for algo in algos if accepts(layer, algo, dtype)]
    for algo in algos:
        try:
            runners[algo] = fastconv_runner(layer, x, w, algo)
        except Exception as exc:  # e.g. a plan that rejects the layer: an error row, not a crash
            setup_errors[algo] = f"{type(exc).__name__}: {exc}"
    torch_key = "torch"  # not an algo name, so it cannot collide
    if torch is not None:
        runners[torch_key] = torch_runner(layer, x, w)
    timings = measure(runners, min_time, min_repeat)
    for algo, error in setup_errors.items():
        timings[algo] = Timing(error=error)
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
            layout=layout,
            faults_per_call=timings[algo].faults_per_call,
            torch_faults_per_call=torch_timing.faults_per_call,
            peak_gflops=peak,
        )
        for algo in algos
    ]


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
    """The commit of the code being measured: the checkout fastconv is imported from when it is one
    (an editable install or PYTHONPATH), else the commit the installed module was built from."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        # Only a checkout that tracks this very file counts: site-packages may sit inside an
        # unrelated git repository (pyenv's, for one).
        subprocess.run(["git", "ls-files", "--error-unmatch", "__init__.py"],
                       cwd=here, capture_output=True, timeout=10, check=True)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from . import _core

        built = getattr(_core, "build_commit", "unknown")
        return None if built == "unknown" else built
    return f"{commit} (with uncommitted changes)" if dirty else commit or None


def allocator() -> str:
    """The allocator both libraries ran on in this process, and any malloc tuning in the environment."""
    tuning = {key: value for key, value in os.environ.items() if key.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    preload = os.environ.get("LD_PRELOAD")
    name = f"LD_PRELOAD={preload}" if preload else f"{platform.libc_ver()[0] or 'system'} malloc"
    settings = ", ".join(f"{key}={value}" for key, value in sorted(tuning.items())) or "default settings"
    return f"{name}, {settings} (the same for fastconv and torch: one process)"


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
        "allocator": allocator(),
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
# Rendering: every measurement (layer x layout x threads x algo), and with torch a summary per
# layer that answers the questions the suite is for: what auto and a plan cost against torch on the
# same memory, how far auto is from the best algo, how close to the machine's peak, page faults.


def geometric_mean_ratios(results: Sequence[Result]) -> Dict[Tuple[int, str, str], float]:
    """Geometric mean of torch/fastconv per (threads, layout, algo), over the rows that have a ratio."""
    groups: Dict[Tuple[int, str, str], List[float]] = {}
    for row in results:
        if row.ratio is not None:
            groups.setdefault((row.threads, row.layout, row.algo), []).append(row.ratio)
    return {key: math.exp(statistics.fmean(map(math.log, ratios))) for key, ratios in groups.items()}


@dataclasses.dataclass
class Summary:
    """One layer at one thread count and layout: auto and the plan against torch, and the fastest
    functional algo, which shows how far auto's choice is from the best."""

    layer: str
    layout: str
    threads: int
    best: Optional[Result]
    auto: Optional[Result]
    plan: Optional[Result]
    autotune: Optional[Result] = None

    def _vs_best(self, row: Optional[Result]) -> Optional[float]:
        if row and self.best and row.seconds and self.best.seconds:
            return row.seconds / self.best.seconds
        return None

    @property
    def auto_vs_best(self) -> Optional[float]:
        """auto's time / the best algo's time (1.0 when auto chose the best)."""
        return self._vs_best(self.auto)

    @property
    def autotune_vs_best(self) -> Optional[float]:
        """The autotuned call's time / the best algo's time."""
        return self._vs_best(self.autotune)


def summarize(results: Sequence[Result]) -> List[Summary]:
    keyed: Dict[Tuple[str, str, int], Dict[str, Result]] = {}
    for row in results:
        keyed.setdefault((row.layer, row.layout, row.threads), {})[row.algo] = row
    summaries = []
    for (layer, layout, threads), rows in keyed.items():
        functional = [row for algo, row in rows.items() if algo not in (*_NOT_ALGOS, "reference") and row.seconds]
        best = min(functional, key=lambda row: row.seconds) if functional else None
        summaries.append(
            Summary(layer, layout, threads, best, rows.get("auto"), rows.get("plan"), rows.get("autotune")))
    return summaries


def _ms(row: Optional[Result], torch: bool = False) -> str:
    if row is None:
        return "-"
    if (row.torch_error if torch else row.error) is not None:
        return "ERROR"
    seconds = row.torch_seconds if torch else row.seconds
    return f"{seconds * 1e3:.3f}" if seconds else "-"


def _number(value: Optional[float], fmt: str, suffix: str = "") -> str:
    return format(value, fmt) + suffix if value is not None else "-"


_SUMMARY_COLUMNS = ["layer", "layout", "threads", "best algo", "best ms", "auto ms", "auto/best",
                    "autotune/best",
                    "auto GFLOP/s", "% peak", "plan ms", "plan % peak", "torch ms", "torch % peak",
                    "torch/auto", "torch/plan", "faults/call auto", "faults/call torch"]
_SUMMARY_TEXT = ("layer", "layout", "best algo")


def _summary_cells(row: Summary) -> List[str]:
    auto, plan, best = row.auto, row.plan, row.best
    any_row = auto or plan or best
    torch_peak = None
    if any_row and any_row.torch_gflops and any_row.peak_gflops:
        torch_peak = 100.0 * any_row.torch_gflops / any_row.peak_gflops
    return [
        row.layer, row.layout, str(row.threads), best.algo if best else "-", _ms(best), _ms(auto),
        _number(row.auto_vs_best, ".2f"),
        _number(row.autotune_vs_best, ".2f"),
        _number(auto.gflops if auto else None, ".1f"),
        _number(auto.percent_of_peak if auto else None, ".0f", "%"),
        _ms(plan),
        _number(plan.percent_of_peak if plan else None, ".0f", "%"),
        _ms(any_row, torch=True),
        _number(torch_peak, ".0f", "%"),
        _number(auto.ratio if auto else None, ".2f", "x"),
        _number(plan.ratio if plan else None, ".2f", "x"),
        _number(auto.faults_per_call if auto else None, ".0f"),
        _number(any_row.torch_faults_per_call if any_row else None, ".0f"),
    ]


_TEXT_COLUMNS = ("layer", "op", "layout", "algo")


def _columns(compare_torch: bool) -> List[str]:
    columns = ["layer", "op", "layout", "threads", "algo", "ms", "GFLOP/s", "% peak", "faults/call"]
    if compare_torch:
        columns += ["torch ms", "torch GFLOP/s", "torch/fastconv"]
    return columns


def _cells(row: Result, compare_torch: bool) -> List[str]:
    cells = [row.layer, row.op, row.layout, str(row.threads), row.algo, _ms(row)]
    failed = row.error is not None
    cells += ["-"] * 3 if failed else [
        _number(row.gflops, ".1f"), _number(row.percent_of_peak, ".0f", "%"), _number(row.faults_per_call, ".0f")]
    if compare_torch:
        cells += [_ms(row, torch=True), _number(row.torch_gflops, ".1f"), _number(row.ratio, ".2f", "x")]
    return cells


def _errors(results: Sequence[Result]) -> List[str]:
    lines = []
    torch_reported = set()  # torch's error is shared by every algo row of the layer: say it once
    for row in results:
        if row.error:
            lines.append(f"{row.layer} ({row.algo}, {row.layout}, threads={row.threads}): {row.error}")
        key = (row.layer, row.layout, row.threads)
        if row.torch_error and key not in torch_reported:
            torch_reported.add(key)
            lines.append(f"{row.layer} (torch, {row.layout}, threads={row.threads}): {row.torch_error}")
    return lines


def _geomean_lines(results: Sequence[Result]) -> List[str]:
    below: Dict[Tuple[int, str, str], List[str]] = {}
    for row in results:
        if row.ratio is not None and row.ratio < 0.9:
            below.setdefault((row.threads, row.layout, row.algo), []).append(row.layer)
    lines = []
    for (threads, layout, algo), value in sorted(geometric_mean_ratios(results).items()):
        slow = below.get((threads, layout, algo))
        detail = f"; below 0.9x: {', '.join(slow)}" if slow else "; no layer below 0.9x"
        lines.append(f"geometric mean of torch/fastconv, {algo}, {layout}, threads={threads}: {value:.2f}x{detail}")
    return lines


def _peak_lines(results: Sequence[Result]) -> List[str]:
    peaks = sorted({(row.threads, row.peak_gflops) for row in results if row.peak_gflops})
    return [f"measured FMA peak at {threads} thread(s): {peak:.1f} GFLOP/s" for threads, peak in peaks]


def _aligned(columns: Sequence[str], rows: Sequence[Sequence[str]], text_columns: Sequence[str]) -> List[str]:
    widths = [max(len(text) for text in column) for column in zip(columns, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if name in text_columns else cell.rjust(width)
            for name, cell, width in zip(columns, cells, widths)
        ).rstrip()

    return [line(columns), line(["-" * width for width in widths])] + [line(cells) for cells in rows]


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]], text_columns: Sequence[str]) -> List[str]:
    lines = ["| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join(" --- " if name in text_columns else " ---: " for name in columns) + "|")
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def format_table(results: Sequence[Result], compare_torch: bool) -> str:
    """Aligned columns for a terminal: every measurement, then (with torch) the per-layer summary,
    any errors, the measured peaks and the geometric means."""
    lines = _aligned(_columns(compare_torch), [_cells(row, compare_torch) for row in results], _TEXT_COLUMNS)
    if compare_torch:
        summary = [_summary_cells(row) for row in summarize(results)]
        lines += ["", "summary:"] + _aligned(_SUMMARY_COLUMNS, summary, _SUMMARY_TEXT)
    errors = _errors(results)
    if errors:
        lines += ["", "errors:"] + [f"  {error}" for error in errors]
    lines += [""] + _peak_lines(results)
    if compare_torch:
        lines += _geomean_lines(results)
    return "\n".join(lines)


def markdown_report(
    results: Sequence[Result],
    env: Dict[str, str],
    compare_torch: bool,
    title: str = "fastconv benchmark",
    intro: str = "",
) -> str:
    """A self-describing Markdown page: what it was measured on, the summary, then every measurement."""
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro.strip(), ""]
    lines += [f"- **{key}**: {value}" for key, value in env.items()]
    lines += [f"- {text}" for text in _peak_lines(results)]
    if compare_torch:
        lines += ["", "## Geometric means", ""] + [f"- {text}" for text in _geomean_lines(results)]
        lines += ["", "## Per layer", ""]
        lines += _markdown_table(_SUMMARY_COLUMNS, [_summary_cells(row) for row in summarize(results)], _SUMMARY_TEXT)
    lines += ["", "## Every measurement", ""]
    lines += _markdown_table(_columns(compare_torch), [_cells(row, compare_torch) for row in results], _TEXT_COLUMNS)
    errors = _errors(results)
    if errors:
        lines += ["", "## Errors", ""] + [f"- {error}" for error in errors]
    return "\n".join(lines) + "\n"


def json_report(results: Sequence[Result], env: Dict[str, str], settings: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "environment": env,
        "settings": settings,
        "results": [row.as_dict() for row in results],
        "geometric_mean_ratio": [
            {"threads": threads, "layout": layout, "algo": algo, "ratio": value}
            for (threads, layout, algo), value in sorted(geometric_mean_ratios(results).items())
        ],
    }


def write_text(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


__all__ = [
    "LAYOUTS",
    "Layer",
    "Result",
    "Summary",
    "Timing",
    "accepts",
    "algo_names",
    "default_algos",
    "environment",
    "format_table",
    "geometric_mean_ratios",
    "json_report",
    "load_suite",
    "make_inputs",
    "markdown_report",
    "measure",
    "measure_peak",
    "run_suite",
    "select_layers",
    "summarize",
    "to_layout",
    "torch_available",
]
