# Memory: the extra memory one call takes (its peak RSS above inputs and output) stays within the
# per-algo bound docs/reliability.md states, measured on the shared suite's largest layers, each in
# a fresh process so the per-thread workspace starts empty; and 10^4 calls (every op, plans,
# failing calls) leave RSS flat, i.e. nothing leaks per call. Linux only (/proc/self/statm).
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm"),
    # Under AddressSanitizer (scripts/sanitize.sh) freed memory waits in ASan's quarantine, so RSS
    # says nothing; LeakSanitizer checks leaks there instead.
    pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="RSS is meaningless under ASan"),
]
MIB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# Runs one layer once with one algo in a fresh interpreter and prints the bytes of its peak RSS
# above the RSS before the call, less the output it returns.
PROBE = """
import importlib.resources, json, sys
import numpy as np, fastconv
name, algo, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
fastconv.set_num_threads(threads)
suite = json.loads(importlib.resources.files("fastconv").joinpath("data/layers.json").read_text())
layer = next(l for l in suite["layers"] if l["name"] == name)
x = np.ones(layer["input"], np.float32)
w = np.ones(layer["weight"], np.float32)
kwargs = {k: layer[k] for k in ("stride", "padding", "dilation", "groups", "output_padding") if k in layer}
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * %d
# A tiny call first starts the thread pool, a one-time cost of the process, not of the call.
fastconv.conv1d(np.ones((1, 1, 4), np.float32), np.ones((1, 1, 1), np.float32))
before = rss()
y = getattr(fastconv, layer["op"])(x, w, algo=algo, **kwargs)
# VmHWM, this process's own peak RSS (ru_maxrss would include the forking parent's RSS).
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
print(max(peak - before - y.nbytes, 0))
""" % PAGE

LAYERS = ["vgg_3x3_224", "conv3d_video", "batch8_up"]  # the suite's largest activations
# reference allocates nothing by construction (plain loops) and would take ~30 s on these layers.
ALGOS = ["auto", "direct", "im2col", "winograd"]
THREADS = 2


def suite_layer(name):
    import importlib.resources

    suite = json.loads(importlib.resources.files("fastconv").joinpath("data/layers.json").read_text())
    return next(layer for layer in suite["layers"] if layer["name"] == name)


def family(layer, algo):
    """The algo family a call with `algo` runs: auto's choice made explicit."""
    if algo != "auto":
        return algo
    kwargs = {k: layer[k] for k in ("stride", "padding", "dilation", "groups", "output_padding") if k in layer}
    selected = fastconv.algorithms(layer["op"], layer["input"], layer["weight"], **kwargs)["selected"]
    families = {row["name"]: row["algo"] for row in fastconv.info()["implementations"]}
    return families[selected.split(" ")[0]]


def bound(layer, algo, threads):
    """The documented bound on a call's extra memory (docs/reliability.md), in bytes."""
    x = 4 * math.prod(layer["input"])
    w = 4 * math.prod(layer["weight"])
    transposed = layer["op"].startswith("conv_transpose")
    algo = family(layer, algo)
    if algo == "winograd":
        # The 3x3 weights of the forward form (a transposed layer's sub-pixel form: 9 taps for each
        # of stride^2 classes), their transform U (36 values per 9 in F(4x4)), the channels-first
        # copies of x and y, and per thread V and M blocks within 2 MiB or as large as U.
        classes = math.prod(layer["stride"] if isinstance(layer["stride"], list) else [layer["stride"]] * 2)
        forward_w = w * 9 * classes // math.prod(layer["weight"][2:]) if transposed else w
        u = 4 * forward_w
        size = tuple(layer["input"][2:]), tuple(layer["weight"][2:]), layer.get("stride", 1), layer.get("padding", 0)
        out = (fastconv.conv_transpose_output_size(*size, layer.get("output_padding", 0), layer.get("dilation", 1))
               if transposed else fastconv.conv_output_size(*size, layer.get("dilation", 1)))
        out_channels = layer["weight"][1] if transposed else layer["weight"][0]
        x_and_y = x + 4 * layer["input"][0] * out_channels * math.prod(out)
        return x_and_y + forward_w + u + threads * (u + 2 * MIB) + MIB
    # Output pixels of the forward view (the transposed op's input pixels) times kernel taps: the
    # size of igemm's indirection table, 8 bytes per entry.
    pixels = math.prod(layer["input"][2:]) if transposed else math.prod(
        fastconv.conv_output_size(tuple(layer["input"][2:]), tuple(layer["weight"][2:]), layer.get("stride", 1),
                                  layer.get("padding", 0), layer.get("dilation", 1)))
    y = 4 * layer["input"][0] * pixels * (layer["weight"][1] if transposed else layer["weight"][0])
    taps = math.prod(layer["weight"][2:])
    per_thread = 4 * MIB
    if algo == "im2col":
        return 2 * w + per_thread * threads
    # direct / auto: igemm's channels-last copies of x and y, packed weights, indirection table.
    return x + y + 2 * w + 16 * layer["input"][0] * pixels * taps + per_thread * threads


def test_peak_extra_memory_per_call_is_bounded():
    jobs = [(name, algo) for name in LAYERS for algo in ALGOS]

    def probe(job):
        out = subprocess.run([sys.executable, "-c", PROBE, job[0], job[1], str(THREADS)], capture_output=True,
                             text=True, timeout=300, check=True)
        return int(out.stdout.strip())

    with ThreadPoolExecutor(2) as pool:
        extras = dict(zip(jobs, pool.map(probe, jobs)))
    for (name, algo), extra in extras.items():
        limit = bound(suite_layer(name), algo, THREADS)
        assert extra <= limit, f"{name} {algo}: {extra / MIB:.1f} MiB extra, bound {limit / MIB:.1f} MiB"
    # The figures docs/reliability.md quotes (visible with -s).
    print({f"{name}/{algo}": f"{extra / MIB:.1f} MiB" for (name, algo), extra in extras.items()})


def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def test_ten_thousand_calls_do_not_leak():
    rng = np.random.default_rng(0)
    x2 = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    w2 = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    x1 = rng.standard_normal((2, 3, 16))
    w1 = rng.standard_normal((3, 2, 3))
    layer = fastconv.Conv2d(w2, np.ones(8, np.float32), padding=1)
    calls = [
        lambda: fastconv.conv2d(x2, w2, padding=1),
        lambda: fastconv.conv2d(x2, w2, padding=1, algo="im2col"),
        lambda: fastconv.conv2d(np.moveaxis(np.moveaxis(x2, 1, -1).copy(), -1, 1), w2, stride=2),
        lambda: fastconv.conv_transpose1d(x1, w1, stride=2),
        lambda: fastconv.conv_transpose1d(x1, w1, algo="direct"),
        lambda: layer(x2),
        lambda: fastconv.fold(fastconv.unfold(x2, 3), (8, 8), 3),
        lambda: fastconv.conv2d(x2[:, :, ::2], w2, padding=1),
    ]

    def failing():
        try:
            fastconv.conv2d(x2, w2, groups=3)
        except ValueError:
            pass

    calls.append(failing)

    def run(count):
        for i in range(count):
            calls[i % len(calls)]()

    run(2000)  # warm-up: workspaces and allocator pools reach their steady size
    before = rss()
    run(10_000)
    growth = rss() - before
    # Even 100 bytes leaked per call would add ~1 MiB here.
    assert growth < MIB, f"RSS grew by {growth / 1024:.0f} KiB over 10^4 calls"
    print(f"RSS growth over 10^4 calls: {growth / 1024:.0f} KiB")  # the figure docs/reliability.md quotes


def minor_faults():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_outputs_of_calls_in_a_loop_reuse_mapped_pages():
    # An 8 MiB output (batch8_up's): from the heap, each fresh one used to land past the previous
    # one and fault in its 2,048 pages every few calls.
    fastconv.release_memory()
    x = np.ones((8, 128, 32, 32), np.float32)
    w = np.ones((128, 64, 4, 4), np.float32)
    call = lambda: fastconv.conv_transpose2d(x, w, stride=2, padding=1)  # noqa: E731
    first = call()
    address = first.ctypes.data
    del first
    reused = call()
    assert reused.ctypes.data == address, "a dropped output's block was not reused"
    del reused
    before = minor_faults()
    for _ in range(10):
        call()
    faults = (minor_faults() - before) / 10
    assert faults < 64, f"{faults:.0f} page faults per call in a loop (an 8 MiB output is 2,048 pages)"


def test_output_cache_never_hands_out_live_memory_and_stays_bounded():
    fastconv.release_memory()
    x = np.ones((1, 16, 128, 128), np.float32)
    w = np.ones((16, 16, 1, 1), np.float32)
    kept = [fastconv.conv2d(x, w) for _ in range(4)]  # 1 MiB each, all alive at once
    addresses = {y.ctypes.data for y in kept}
    assert len(addresses) == len(kept)
    for y in kept:
        np.testing.assert_array_equal(y, np.full_like(y, 16.0))
    del kept, y
    assert fastconv.info()["output_cache"] == {"blocks": 4, "bytes": 4 * MIB}
    # More outputs of different sizes than the cache holds: it keeps at most 8 blocks and 256 MiB.
    for width in range(64, 64 + 16 * 12, 16):
        fastconv.conv2d(np.ones((1, 16, 128, width), np.float32), w)
    usage = fastconv.info()["output_cache"]
    assert 0 < usage["blocks"] <= 8 and usage["bytes"] <= 256 * MIB
    # Outputs under 256 KiB never enter it; release_memory empties it.
    fastconv.release_memory()
    fastconv.conv2d(np.ones((1, 16, 8, 8), np.float32), w)
    assert fastconv.info()["output_cache"] == {"blocks": 0, "bytes": 0}
