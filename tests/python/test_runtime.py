# The package surface and runtime behaviour: public names, info(), the ISA override warning, the
# thread setting, algorithms(), determinism (bitwise across runs and thread counts), concurrent calls
# from many Python threads, and the NaN-poisoning test hook itself.
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import ALGOS, CONV_OPS, op_geometry

import fastconv
from fastconv import _api, _core


@pytest.fixture
def restore_threads():
    saved = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(saved)


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """A fresh interpreter (import-time behaviour) with this one's import path and site setting."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}
    flags = ["-S"] if sys.flags.no_site else []
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, env=environment, timeout=60)


def test_public_names():
    expected = {
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "unfold", "fold",
        "conv_output_size", "conv_transpose_output_size", "info", "set_num_threads", "get_num_threads", "algorithms",
    }
    assert expected <= set(fastconv.__all__)
    for name in fastconv.__all__:
        assert hasattr(fastconv, name), name
    for name in expected:
        assert getattr(fastconv, name).__doc__, f"{name} has no docstring"
    assert fastconv.__version__ == _core.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", fastconv.__version__)


def test_import_does_not_load_the_cli():
    result = _run_python("import sys, fastconv; print('fastconv.cli' in sys.modules, 'fastconv.bench' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_info():
    info = fastconv.info()
    assert info["version"] == fastconv.__version__
    assert info["compiled_isas"] and "scalar" in info["compiled_isas"]
    assert info["active_isa"] in info["compiled_isas"]
    order = info["compiled_isas"]
    if info["detected_isa"] in order:  # never above what the CPU can run
        assert order.index(info["active_isa"]) <= order.index(info["detected_isa"])
    assert info["algos"] == list(_core.algo_names()) and "auto" in ALGOS and "reference" in ALGOS
    assert set(info["algos"]) - set(ALGOS) == {"winograd"}
    assert info["num_threads"] == fastconv.get_num_threads() >= 1
    assert isinstance(info["cuda_compiled"], bool)
    assert isinstance(info["cuda_device_count"], int) and info["cuda_device_count"] >= 0
    if not info["cuda_compiled"]:
        assert info["cuda_device_count"] == 0
    assert info["isa_override_warning"] is None or info["isa_override_warning"]
    active = info["active_gemm_ukernels"]
    assert set(active) == {"float32", "float64"}
    for row in info["gemm_ukernels"]:
        assert set(row) == {"name", "dtype", "isa", "mr", "nr", "active"}
        assert row["isa"] in info["compiled_isas"] and row["mr"] >= 1 and row["nr"] >= 1
        assert row["active"] == (active[row["dtype"]] == row["name"])
    for dtype in ("float32", "float64"):
        in_use = [row for row in info["gemm_ukernels"] if row["dtype"] == dtype and row["active"]]
        assert len(in_use) == 1
        # The microkernel in use is the best one the active ISA allows.
        assert order.index(in_use[0]["isa"]) <= order.index(info["active_isa"])
    # The convolution microkernels: exactly one active, the best the active ISA allows.
    for family in ("igemm_ukernels", "dwconv_ukernels"):
        rows = info[family]
        assert rows and rows[-1]["isa"] == "scalar"
        in_use = [row for row in rows if row["active"]]
        assert len(in_use) == 1
        allowed = [row for row in rows if order.index(row["isa"]) <= order.index(info["active_isa"])]
        assert in_use[0] == allowed[0]
    chw = info["conv_chw_ukernels"]
    assert chw and chw[-1]["isa"] == "scalar"
    for row in chw:
        assert row["usable"] == (order.index(row["isa"]) <= order.index(info["active_isa"]))
        assert row["channels"] >= 1 and row["pixels"] >= 1
    names = [row["name"] for row in info["implementations"]]
    assert names[-1] == "reference" and {"igemm", "depthwise", "direct_chw", "im2col_gemm"} <= set(names)
    assert {row["name"] for row in info["implementations"] if row["prepacks"]} >= {"igemm", "depthwise", "direct_chw"}


def test_max_isa_environment_is_honoured():
    """scripts/test.sh runs the suite under each FASTCONV_MAX_ISA; make sure the cap took effect."""
    cap = os.environ.get("FASTCONV_MAX_ISA")
    if cap not in _core.compiled_isas():
        pytest.skip("FASTCONV_MAX_ISA is not set to a compiled ISA")
    order = _core.compiled_isas()
    expected = order[min(order.index(cap), order.index(_core.detected_isa()))]
    assert fastconv.info()["active_isa"] == expected


def test_scalar_cap_in_a_subprocess():
    result = _run_python("import fastconv; print(fastconv.info()['active_isa'])", FASTCONV_MAX_ISA="scalar")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "scalar"
    assert "Warning" not in result.stderr


def test_bad_max_isa_warns_at_import():
    result = _run_python(
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import fastconv\n"
        "print(len(caught), caught[0].category.__name__ if caught else '')\n"
        "print(caught[0].message if caught else '')\n"
        "print(fastconv.info()['isa_override_warning'])",
        FASTCONV_MAX_ISA="avx9000",
    )
    assert result.returncode == 0, result.stderr
    count_and_category, message, info_warning = result.stdout.strip().splitlines()
    assert count_and_category == "1 RuntimeWarning"
    assert "FASTCONV_MAX_ISA" in message and "avx9000" in message
    assert info_warning == message


def test_threads(restore_threads):
    fastconv.set_num_threads(1)
    assert fastconv.get_num_threads() == 1 == fastconv.info()["num_threads"]
    fastconv.set_num_threads(3)
    assert fastconv.get_num_threads() == 3
    fastconv.set_num_threads(np.int64(2))
    assert fastconv.get_num_threads() == 2


def _problems():
    """One problem per op, big enough that the work is split across threads and GEMM tiles."""
    rng = np.random.default_rng(11)
    for op in CONV_OPS:
        ndim, transposed = op_geometry(op)
        spatial = {1: (67,), 2: (19, 17), 3: (7, 8, 9)}[ndim]
        kernel = (3,) * ndim
        x = rng.standard_normal((3, 12) + spatial)
        w = rng.standard_normal((12, 10) + kernel if transposed else (20, 12) + kernel)
        b = rng.standard_normal(10 if transposed else 20)
        kwargs = {"stride": 2, "padding": 1}
        yield op, x, w, b, kwargs
    x = rng.standard_normal((2, 5, 23, 21))
    yield "unfold", x, None, None, {"kernel_size": 3, "padding": 1, "stride": (1, 2)}
    yield "fold", fastconv.unfold(x, 3, padding=1, stride=(1, 2)), None, None, {
        "output_size": (23, 21), "kernel_size": 3, "padding": 1, "stride": (1, 2)}


def _all_results():
    results = {}
    for op, x, w, b, kwargs in _problems():
        function = getattr(fastconv, op)
        for dtype in (np.float32, np.float64):
            if w is None:
                results[op, dtype] = function(x.astype(dtype), **kwargs)
                continue
            for algo in ALGOS:
                results[op, dtype, algo] = function(x.astype(dtype), w.astype(dtype), b.astype(dtype), algo=algo, **kwargs)
    return results


def test_bitwise_deterministic_across_runs_and_thread_counts(restore_threads):
    fastconv.set_num_threads(1)
    single = _all_results()
    fastconv.set_num_threads(2)
    first, second = _all_results(), _all_results()
    fastconv.set_num_threads(5)  # more threads than this machine may have cores
    many = _all_results()
    for key, expected in single.items():
        for other in (first, second, many):
            assert other[key].tobytes() == expected.tobytes(), f"{key} differs"


def test_concurrent_python_threads(restore_threads):
    """8 Python threads calling conv2d at once (the GIL is released inside) get the serial answers."""
    fastconv.set_num_threads(2)
    rng = np.random.default_rng(12)
    jobs = []
    for i in range(32):
        x = rng.standard_normal((2, 6, 15 + i % 5, 13)).astype(np.float32 if i % 2 else np.float64)
        w = rng.standard_normal((9, 6, 3, 3)).astype(x.dtype)
        jobs.append((x, w, {"padding": i % 3, "stride": 1 + i % 2, "algo": ALGOS[i % len(ALGOS)]}))
    serial = [fastconv.conv2d(x, w, **kwargs) for x, w, kwargs in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            concurrent = list(pool.map(lambda job: fastconv.conv2d(job[0], job[1], **job[2]), jobs))
            for expected, result in zip(serial, concurrent):
                np.testing.assert_array_equal(result, expected)


def test_set_num_threads_while_computing(restore_threads):
    x = np.random.default_rng(13).standard_normal((4, 8, 24, 24))
    w = np.random.default_rng(14).standard_normal((16, 8, 3, 3))
    expected = fastconv.conv2d(x, w, padding=1)

    def compute(_):
        return fastconv.conv2d(x, w, padding=1)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(compute, i) for i in range(12)]
        for n in (1, 3, 2, 4, 1, 2):
            fastconv.set_num_threads(n)
        for future in futures:
            np.testing.assert_array_equal(future.result(), expected)


def test_algorithms_explains_the_choice():
    explained = fastconv.algorithms("conv2d", (1, 16, 8, 8), (32, 16, 1, 1), algo="im2col")
    assert explained["selected"] == "gemm_1x1"
    names = [row["name"] for row in explained["candidates"]]
    assert names[0] == "gemm_1x1" and "reference" in names
    for row in explained["candidates"]:
        assert set(row) == {"name", "algo", "accepted", "reason"}
        assert row["accepted"] == (row["reason"] == ""), row
    chosen = next(row for row in explained["candidates"] if row["name"] == "gemm_1x1")
    assert chosen["accepted"] and chosen["algo"] == "im2col"

    # Padding makes it a 3x3-like problem for the pointwise entry: it must decline and say why.
    padded = fastconv.algorithms("conv2d", (16, 8, 8), (32, 16, 1, 1), padding=1, algo="im2col")
    pointwise = next(row for row in padded["candidates"] if row["name"] == "gemm_1x1")
    assert not pointwise["accepted"] and "padding" in pointwise["reason"]
    assert padded["selected"] == "im2col_gemm"

    transposed = fastconv.algorithms("conv_transpose2d", (1, 8, 4, 4), (8, 4, 4, 4), stride=2, padding=1,
                                     output_padding=1, dtype=np.float64, algo="direct")
    assert transposed["selected"] == "direct_transposed"
    for algo in ALGOS:
        selected = fastconv.algorithms("conv3d", (2, 4, 5, 5, 5), (4, 1, 3, 3, 3), groups=4, padding="same", algo=algo)
        assert selected["selected"] in [row["name"] for row in selected["candidates"] if row["accepted"]]


def test_poison_hook_is_active_and_preallocates_nan(monkeypatch):
    """The session fixture turns the hook on; with it every call hands _core a NaN-filled `out` of
    the exact output shape (the test suite's guarantee that unwritten elements are caught)."""
    assert _api._POISON_OUTPUT is True
    seen = []

    def spy(function):
        def wrapper(*args, **kwargs):
            # conv and conv_transpose get every argument positionally, `out` second to last (before
            # channels_last); unfold and fold get it by keyword.
            out = kwargs["out"] if "out" in kwargs else args[-2]
            seen.append(None if out is None else (out.shape, bool(np.isnan(out).all())))
            return function(*args, **kwargs)

        return wrapper

    for name in ("conv", "conv_transpose", "unfold", "fold"):
        monkeypatch.setattr(_core, name, spy(getattr(_core, name)))
    x, w = np.ones((2, 3, 6, 6), np.float32), np.ones((4, 3, 3, 3), np.float32)
    assert fastconv.conv2d(x, w, stride=2).shape == (2, 4, 2, 2)
    assert fastconv.conv_transpose2d(x, np.ones((3, 5, 3, 3), np.float32), stride=2, output_padding=1).shape == (2, 5, 14, 14)
    columns = fastconv.unfold(x[0], 3)
    assert fastconv.fold(columns, (6, 6), 3).shape == (3, 6, 6)
    assert seen == [((2, 4, 2, 2), True), ((2, 5, 14, 14), True), ((1, 27, 16), True), ((1, 3, 6, 6), True)]

    monkeypatch.setattr(_api, "_POISON_OUTPUT", False)
    seen.clear()
    fastconv.conv2d(x, w)
    assert seen == [None]


def test_auto_keeps_igemm_on_every_igemm_tile_width():
    """igemm's AVX2 tile (16 columns) is a quarter of AVX-512's, but once its full vectors are
    stored unmasked it ties or beats GEMM + col2im on small transposed layers there too, so auto's
    choice does not depend on the tile width (the suites run this under every FASTCONV_MAX_ISA).
    The RGB stem on channels-first memory goes to padded_chw's polyphase tiles, which write NCHW
    output without igemm's transposes, under every ISA too."""
    stem = fastconv.algorithms("conv2d", (1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)["selected"]
    unet = fastconv.algorithms("conv_transpose2d", (1, 256, 28, 28), (256, 128, 2, 2), stride=2)["selected"]
    fcn = fastconv.algorithms("conv_transpose2d", (1, 64, 56, 56), (64, 64, 3, 3), stride=2, padding=1,
                              output_padding=1)["selected"]
    dcgan = fastconv.algorithms("conv_transpose2d", (1, 128, 16, 16), (128, 64, 4, 4), stride=2, padding=1)["selected"]
    assert (stem, unet, fcn, dcgan) == ("padded_chw", "igemm", "igemm", "igemm")


def test_auto_sends_strided_pointwise_channels_first_layers_to_igemm():
    """A strided 1x1 layer without padding on channels-first memory goes to igemm, which gathers
    only the pixels the stride reads (resnet_1x1_s2); with stride 1 it stays a GEMM on x as it lies,
    and with padding (zeros to read) on the im2col GEMM. The gathered form must give igemm's
    answer on every such geometry: strides along one or both axes, odd sizes, groups, a plan."""
    def selected(**kwargs):
        return fastconv.algorithms("conv2d", (1, 512, 28, 28), (256, 512, 1, 1), **kwargs)["selected"]

    assert (selected(stride=2), selected(stride=1), selected(stride=2, padding=1)) == (
        "igemm", "gemm_1x1", "im2col_gemm")
    rng = np.random.default_rng(7)
    for shape, weight, stride, groups in [((2, 16, 9, 11), (20, 16, 1, 1), (2, 3), 1),
                                          ((1, 64, 7, 6), (64, 32, 1, 1), (3, 1), 2),
                                          ((1, 16, 13, 13), (32, 16, 1, 1), 2, 1)]:
        assert fastconv.algorithms("conv2d", shape, weight, stride=stride, groups=groups)["selected"] == "igemm"
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal(weight).astype(np.float32)
        expected = fastconv.conv2d(x, w, stride=stride, groups=groups, algo="reference")
        for run in (lambda: fastconv.conv2d(x, w, stride=stride, groups=groups),
                    lambda: fastconv.Conv2d(w, None, stride=stride, groups=groups)(x)):
            np.testing.assert_allclose(run(), expected, rtol=1e-5, atol=1e-5)


def test_auto_keeps_thin_groups_on_the_direct_kernels():
    """Groups of 2-6 input channels (ResNeXt's 32 groups of 4) run 2-5x faster on the direct family's
    kernels than on the im2col GEMM that auto once chose for any layer under 8 channels per group;
    a dense layer with that few channels (and no row merge) keeps the GEMM."""
    def selected(x_shape, w_shape, **kwargs):
        return fastconv.algorithms("conv2d", x_shape, w_shape, **kwargs)["selected"]

    assert selected((1, 128, 56, 56), (128, 4, 3, 3), padding=1, groups=32) == "padded_chw"
    assert selected((1, 96, 28, 28), (192, 3, 3, 3), padding=1, groups=32) == "padded_chw"
    assert selected((1, 4, 28, 28), (64, 4, 3, 3), padding=2, dilation=(1, 2)) == "im2col_gemm"
