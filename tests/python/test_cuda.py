# The GPU path (fastconv.cuda and the ops on CUDA device arrays). Tests marked `cuda` need an NVIDIA
# GPU and are skipped without one (conftest.py); the others run everywhere and pin down what a
# machine without a GPU sees: the queries answer "no devices", the CPU path is untouched, and a
# device array (here a fake DLPack object) gives a clear error instead of a crash.
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ALGOS, CONV_OPS, DTYPES, assert_close, op_geometry, reduction_length, reference_conv

import fastconv
from fastconv import _core

cuda = pytest.mark.cuda
GPU = fastconv.cuda.is_available()


class FakeDeviceArray:
    """Reports a CUDA (or other) device through the DLPack protocol but holds no memory."""

    def __init__(self, device_type=2, device_id=0, shape=(1, 1, 4, 4)):
        self.device = (device_type, device_id)
        self.shape = shape

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None, **kwargs):
        raise AssertionError("must not be exported when no GPU can take it")


# ---------------------------------------------------------------------------------------------
# Everywhere, GPU or not


def test_queries_never_crash():
    count = fastconv.cuda.device_count()
    assert isinstance(count, int) and count >= 0
    assert fastconv.cuda.is_available() == (fastconv.cuda.is_compiled() and count > 0)
    assert fastconv.cuda.is_compiled() == _core.cuda_compiled()


def test_info_cuda_fields():
    info = fastconv.info()["cuda"]
    assert set(info) == {"compiled", "available", "devices", "workspace_cap_bytes", "implementations"}
    assert isinstance(info["compiled"], bool) and isinstance(info["available"], bool)
    assert info["workspace_cap_bytes"] == 64 * 2**20
    if info["available"]:
        assert len(info["devices"]) == fastconv.cuda.device_count()
        assert all(isinstance(name, str) and name for name in info["devices"])
    else:
        assert info["devices"] == []
    if info["compiled"]:
        families = {row["algo"] for row in info["implementations"]}
        assert families == {"direct", "im2col", "reference"}
    else:
        assert info["implementations"] == [] and not info["available"]


def test_import_without_visible_devices():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": os.pathsep.join(sys.path)}
    code = (
        "import numpy as np, fastconv\n"
        "assert not fastconv.cuda.is_available() and fastconv.cuda.device_count() == 0\n"
        "y = fastconv.conv2d(np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32))\n"
        "assert isinstance(y, np.ndarray) and y.shape == (1, 3, 3, 3) and (y == 18).all()\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("allow_tf32", [False, True])
def test_allow_tf32_is_ignored_on_the_cpu(allow_tf32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 7, 7)).astype(np.float32)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    y = fastconv.conv2d(x, w, allow_tf32=allow_tf32)
    assert isinstance(y, np.ndarray)
    np.testing.assert_array_equal(y, fastconv.conv2d(x, w))
    yt = fastconv.conv_transpose2d(x, rng.standard_normal((4, 3, 3, 3)).astype(np.float32), stride=2,
                                   allow_tf32=allow_tf32)
    assert isinstance(yt, np.ndarray)


def test_float16_stays_rejected_on_the_cpu():
    with pytest.raises(TypeError, match="conv2d: input has dtype float16, expected float32 or float64"):
        fastconv.conv2d(np.ones((1, 1, 4, 4), np.float16), np.ones((1, 1, 3, 3), np.float16))


def test_allow_tf32_must_be_a_bool():
    x = np.ones((1, 1, 4, 4), np.float32)
    with pytest.raises(TypeError, match="conv2d: allow_tf32 must be a bool"):
        fastconv.conv2d(x, np.ones((1, 1, 3, 3), np.float32), allow_tf32=1)


def test_cpu_tensors_stay_on_the_cpu(torch):
    x = torch.ones(1, 2, 5, 5)
    w = torch.ones(3, 2, 3, 3)
    y = fastconv.conv2d(x, w)
    assert isinstance(y, np.ndarray) and (y == 18).all()


@pytest.mark.parametrize("call", [
    lambda x, w: fastconv.conv2d(x, w),
    lambda x, w: fastconv.conv_transpose2d(x, w),
    lambda x, w: fastconv.conv1d(x, w),
])
def test_mixing_host_and_device_is_a_value_error(call):
    with pytest.raises(ValueError, match="weight is a host array but input is on CUDA device 0"):
        call(FakeDeviceArray(), np.ones((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="input is a host array but weight is on CUDA device 0"):
        call(np.ones((1, 1, 4, 4), np.float32), FakeDeviceArray())


def test_mixing_bias_placement_names_bias():
    with pytest.raises(ValueError, match="bias is a host array"):
        fastconv.conv2d(FakeDeviceArray(), FakeDeviceArray(), np.ones(1, np.float32))


def test_two_devices_is_a_value_error():
    with pytest.raises(ValueError, match="weight is on CUDA device 1 but input is on CUDA device 0"):
        fastconv.conv2d(FakeDeviceArray(device_id=0), FakeDeviceArray(device_id=1))


def test_unsupported_device_type():
    with pytest.raises(ValueError, match="conv2d: input: DLPack device type 10 is not supported"):
        fastconv.conv2d(FakeDeviceArray(device_type=10), np.ones((1, 1, 3, 3), np.float32))


@pytest.mark.skipif(GPU, reason="checks the error a machine without a GPU gives")
@pytest.mark.parametrize("call", [
    lambda a: fastconv.conv2d(a, a),
    lambda a: fastconv.conv_transpose3d(a, a),
    lambda a: fastconv.unfold(a, 2),
    lambda a: fastconv.fold(a, (4, 4), 2),
    lambda a: fastconv.Conv2d(np.ones((1, 1, 1, 1), np.float32))(a),
])
def test_device_input_without_a_gpu_is_a_clear_error(call):
    expected = "CUDA device 0, but 0 CUDA devices are available" if fastconv.cuda.is_compiled() else "built without CUDA"
    with pytest.raises(RuntimeError, match=expected):
        call(FakeDeviceArray())


@pytest.mark.skipif(not fastconv.cuda.is_compiled(), reason="fastconv built without CUDA")
# auto's choices follow the H200 record in docs/benchmarks.md (cuda/dispatch.cu says why); the last
# column is the choice for float16/bfloat16, which the tiled and depthwise kernels decline.
@pytest.mark.parametrize("op,x_shape,w_shape,kwargs,algo,expected,half_expected", [
    ("conv2d", (1, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), "auto", "cuda_im2col_gemm", "cuda_im2col_gemm"),
    ("conv2d", (1, 64, 112, 112), (64, 64, 3, 3), dict(padding=1), "auto", "cuda_implicit_gemm", "cuda_implicit_gemm"),
    ("conv2d", (2, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), "auto", "cuda_implicit_gemm", "cuda_implicit_gemm"),
    ("conv2d", (1, 64, 56, 56), (64, 1, 3, 3), dict(padding=1, groups=64), "auto", "cuda_direct_depthwise",
     "cuda_im2col_gemm"),
    ("conv2d", (2, 64, 28, 28), (32, 64, 1, 1), dict(), "auto", "cuda_direct_1x1", "cuda_direct_1x1"),
    ("conv2d", (1, 256, 28, 28), (256, 8, 3, 3), dict(padding=1, groups=32), "auto", "cuda_direct_tiled",
     "cuda_im2col_gemm"),
    ("conv2d", (1, 256, 28, 28), (256, 128, 3, 3), dict(padding=1, groups=2), "auto", "cuda_im2col_gemm",
     "cuda_im2col_gemm"),
    ("conv2d", (1, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), "direct", "cuda_direct_tiled", "cuda_implicit_gemm"),
    ("conv3d", (1, 8, 16, 32, 32), (8, 8, 7, 7, 7), dict(dilation=2), "direct", "cuda_implicit_gemm",
     "cuda_implicit_gemm"),
    ("conv1d", (1, 8, 100), (8, 8, 5), dict(), "im2col", "cuda_im2col_gemm", "cuda_im2col_gemm"),
    ("conv_transpose2d", (1, 64, 28, 28), (64, 32, 4, 4), dict(stride=2, padding=1), "auto", "cuda_gemm_col2im",
     "cuda_gemm_col2im"),
    ("conv_transpose2d", (1, 64, 28, 28), (64, 32, 4, 4), dict(stride=2, padding=1), "direct",
     "cuda_implicit_gemm_dgrad", "cuda_implicit_gemm_dgrad"),
    ("conv_transpose3d", (1, 4, 3, 3, 3), (4, 4, 3, 3, 3), dict(), "reference", "cuda_reference_transposed",
     "cuda_reference_transposed"),
])
def test_gpu_selection_needs_no_gpu(op, x_shape, w_shape, kwargs, algo, expected, half_expected):
    assert fastconv.cuda.selected_impl(op, x_shape, w_shape, algo=algo, **kwargs) == expected
    tf32 = fastconv.cuda.selected_impl(op, x_shape, w_shape, algo=algo, allow_tf32=True, **kwargs)
    gemm_shaped = "gemm" in expected or expected == "cuda_direct_1x1"
    assert tf32 == expected + (" (tf32)" if gemm_shaped else "")
    assert fastconv.cuda.selected_impl(op, x_shape, w_shape, algo=algo, allow_tf32=True, dtype="float64",
                                       **kwargs) == expected
    for half in ("float16", "bfloat16"):
        assert fastconv.cuda.selected_impl(op, x_shape, w_shape, algo=algo, dtype=half, **kwargs) == half_expected


@pytest.mark.parametrize("versioned", [False, True])
def test_dlpack_import_reads_capsules_and_rejects_host_memory(torch, versioned):
    # The capsule parsing runs without a GPU: a CPU tensor's capsule (legacy or DLPack 1.0) is read,
    # rejected for its device type, marked consumed and released through the producer's deleter.
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    capsule = tensor.__dlpack__(max_version=(1, 0)) if versioned else tensor.__dlpack__()
    assert ("dltensor_versioned" in repr(capsule)) == versioned
    with pytest.raises(ValueError, match="x has DLPack device type 1; the GPU path takes CUDA device memory"):
        _core.cuda_from_dlpack(capsule, 1, "x")
    assert "used_dltensor" in repr(capsule)
    with pytest.raises(TypeError, match="expected a DLPack capsule"):
        _core.cuda_from_dlpack(capsule, 1, "x")  # consumed capsules cannot be taken twice
    del capsule
    assert tensor.sum().item() == 15  # the tensor outlived its released capsule intact
    with pytest.raises(TypeError, match="y: expected a DLPack capsule"):
        _core.cuda_from_dlpack(object(), 1, "y")


@pytest.mark.skipif(GPU, reason="checks the error a machine without a GPU gives")
def test_asarray_without_a_gpu():
    with pytest.raises(RuntimeError, match="CUDA"):
        fastconv.cuda.asarray(np.ones(3, np.float32))
    with pytest.raises(RuntimeError, match="CUDA"):
        fastconv.cuda.device_name(0)


# ---------------------------------------------------------------------------------------------
# On a GPU: every op x algo x dtype against the NumPy reference (and torch's CUDA result)


@pytest.fixture
def torch_cuda(torch):
    """torch with CUDA, TF32 off (torch's cuDNN default is on, which would blur float32 comparisons)."""
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield torch
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved

# (op, input shape, weight shape, kwargs): strides, dilations, asymmetric padding, groups, depthwise,
# 1x1 and odd sizes so every kernel family and its tails run.
CASES = {
    "conv1d": [((2, 6, 17), (4, 3, 3), dict(stride=2, padding=1, dilation=2, groups=2)),
               ((1, 5, 9), (7, 5, 1), dict())],
    "conv2d": [((2, 8, 11, 13), (6, 8, 3, 3), dict(padding=1)),
               ((1, 6, 9, 10), (6, 2, 3, 2), dict(stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), groups=3)),
               ((2, 8, 12, 9), (16, 1, 3, 3), dict(padding=1, groups=8)),       # depthwise, multiplier 2
               ((2, 16, 7, 5), (9, 16, 1, 1), dict()),                          # 1x1
               ((1, 3, 40, 37), (20, 3, 7, 7), dict(stride=2, padding=3))],     # stem-like
    "conv3d": [((1, 4, 5, 6, 7), (6, 2, 3, 2, 3), dict(stride=(1, 2, 1), padding=1, groups=2)),
               ((2, 3, 4, 4, 4), (3, 1, 3, 3, 3), dict(padding=1, groups=3))],
    "conv_transpose1d": [((2, 4, 9), (4, 3, 4), dict(stride=3, padding=1, output_padding=2)),
                         ((1, 6, 5), (6, 2, 3), dict(stride=2, dilation=3, groups=3, output_padding=1))],
    "conv_transpose2d": [((2, 8, 6, 7), (8, 5, 3, 3), dict(stride=2, padding=1, output_padding=1)),
                         ((1, 4, 5, 5), (4, 3, 4, 4), dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=2)),
                         ((1, 6, 7, 7), (6, 4, 1, 1), dict())],
    "conv_transpose3d": [((1, 4, 3, 4, 5), (4, 3, 2, 3, 2), dict(stride=2, padding=(0, 1, 0), output_padding=(1, 0, 1))),
                         ((2, 2, 3, 3, 3), (2, 2, 3, 3, 3), dict(stride=1, padding=1, dilation=2))],
}
GPU_CASES = [(op, *case) for op in CONV_OPS for case in CASES[op]]


def _inputs(x_shape, w_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)


def _bias(op, w_shape, kwargs, dtype, seed=1):
    _, transposed = op_geometry(op)
    channels = w_shape[1] * kwargs.get("groups", 1) if transposed else w_shape[0]
    return np.random.default_rng(seed).standard_normal(channels).astype(dtype)


def _check(op, y, x, w, b, kwargs, dtype, tf32=False):
    expected = reference_conv(op, x, w, b, kwargs)
    magnitude = reference_conv(op, x, w, b, kwargs, absolute=True)
    reduction = reduction_length(op, w, kwargs.get("groups", 1))
    if tf32:
        bound = (reduction + 2) * 2.0**-10 * magnitude
        assert np.all(np.abs(y.astype(np.float64) - expected) <= bound)
    else:
        assert_close(y, expected, magnitude, dtype, reduction)


@cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("op,x_shape,w_shape,kwargs", GPU_CASES)
def test_gpu_matches_reference(op, x_shape, w_shape, kwargs, algo, dtype):
    x, w = _inputs(x_shape, w_shape, dtype)
    b = _bias(op, w_shape, kwargs, dtype)
    dx, dw, db = (fastconv.cuda.asarray(a) for a in (x, w, b))
    y = getattr(fastconv, op)(dx, dw, db, algo=algo, **kwargs)
    assert isinstance(y, fastconv.cuda.DeviceArray)
    assert y.dtype == np.dtype(dtype) and y.device == 0
    _check(op, y.to_numpy(), x, w, b, kwargs, dtype)
    # Bitwise deterministic run to run.
    again = getattr(fastconv, op)(dx, dw, db, algo=algo, **kwargs)
    np.testing.assert_array_equal(again.get(), y.get())


@cuda
@pytest.mark.parametrize("algo", ["auto", "direct", "im2col"])
@pytest.mark.parametrize("op,x_shape,w_shape,kwargs", GPU_CASES)
def test_gpu_tf32(op, x_shape, w_shape, kwargs, algo):
    x, w = _inputs(x_shape, w_shape, np.float32)
    y = getattr(fastconv, op)(fastconv.cuda.asarray(x), fastconv.cuda.asarray(w), algo=algo, allow_tf32=True, **kwargs)
    _check(op, y.to_numpy(), x, w, None, kwargs, np.float32, tf32=True)


@cuda
@pytest.mark.parametrize("op,x_shape,w_shape,kwargs", GPU_CASES)
def test_gpu_matches_torch_cuda(torch_cuda, op, x_shape, w_shape, kwargs):
    torch = torch_cuda
    import torch.nn.functional as F

    x, w = _inputs(x_shape, w_shape, np.float64)
    b = _bias(op, w_shape, kwargs, np.float64)
    tx, tw, tb = (torch.from_numpy(a).cuda() for a in (x, w, b))
    y = getattr(fastconv, op)(tx, tw, tb, **kwargs)
    padding = kwargs.get("padding", 0)
    if isinstance(padding, tuple) and any(isinstance(p, tuple) for p in padding):
        expected = reference_conv(op, x, w, b, kwargs)
    else:
        expected = getattr(F, op)(tx, tw, tb, **kwargs).cpu().numpy()
    result = torch.from_dlpack(y)
    assert result.is_cuda and result.dtype == torch.float64
    np.testing.assert_allclose(result.cpu().numpy(), expected, rtol=1e-10, atol=1e-10)


@cuda
def test_torch_zero_copy_both_ways(torch_cuda):
    torch = torch_cuda
    x = torch.randn(2, 4, 9, 9, device="cuda")
    w = torch.randn(8, 4, 3, 3, device="cuda")
    dx = fastconv.cuda.asarray(x)
    assert dx.data_ptr == x.data_ptr() and dx.shape == (2, 4, 9, 9)
    y = fastconv.conv2d(x, w, padding=1)
    t = torch.from_dlpack(y)
    assert t.data_ptr() == y.data_ptr and t.shape == (2, 8, 9, 9)
    assert y.__dlpack_device__() == (2, x.device.index or 0)
    interface = y.__cuda_array_interface__
    assert interface["version"] == 3 and interface["typestr"] == "<f4" and interface["data"][0] == y.data_ptr
    assert interface["shape"] == (2, 8, 9, 9) and interface["strides"] is None and interface["stream"] != 0
    torch.testing.assert_close(t, torch.nn.functional.conv2d(x, w, padding=1), rtol=1e-4, atol=1e-4)


@cuda
def test_torch_parameters_are_read_without_grad(torch_cuda):
    torch = torch_cuda
    layer = torch.nn.Conv2d(3, 5, 3, padding=1).cuda()
    x = torch.randn(2, 3, 8, 8, device="cuda")
    y = torch.from_dlpack(fastconv.conv2d(x, layer.weight, layer.bias, padding=1))
    torch.testing.assert_close(y, layer(x).detach(), rtol=1e-4, atol=1e-4)


@cuda
def test_strided_torch_inputs(torch_cuda):
    torch = torch_cuda
    x = torch.randn(2, 6, 10, 11, device="cuda", dtype=torch.float64).to(memory_format=torch.channels_last)
    w = torch.randn(11, 5, 6, 3, device="cuda", dtype=torch.float64).permute(0, 2, 1, 3)  # (11, 6, 5, 3) view
    y = torch.from_dlpack(fastconv.conv2d(x, w, stride=(1, 2)))
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, w, stride=(1, 2)), rtol=1e-10, atol=1e-10)
    sliced = x[:, ::2]
    y = torch.from_dlpack(fastconv.conv2d(sliced, w[:, :3].contiguous()))
    torch.testing.assert_close(y, torch.nn.functional.conv2d(sliced, w[:, :3]), rtol=1e-10, atol=1e-10)


@cuda
def test_torch_streams(torch_cuda):
    torch = torch_cuda
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        x = torch.randn(4, 16, 32, 32, device="cuda")
        w = torch.randn(16, 16, 3, 3, device="cuda")
        y = fastconv.conv2d(x, w, padding=1)
        assert y.stream == stream.cuda_stream
        result = torch.from_dlpack(y) * 1.0
        expected = torch.nn.functional.conv2d(x, w, padding=1)
    stream.synchronize()
    torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-4)
    # Consumed on another stream: the export makes that stream wait for the result.
    other = torch.cuda.Stream()
    with torch.cuda.stream(other):
        consumed = torch.from_dlpack(y).clone()
    other.synchronize()
    torch.testing.assert_close(consumed, expected, rtol=1e-4, atol=1e-4)


@cuda
def test_cupy_zero_copy():
    cupy = pytest.importorskip("cupy")
    x = cupy.random.standard_normal((1, 3, 8, 8), dtype=cupy.float32)
    w = cupy.random.standard_normal((4, 3, 3, 3), dtype=cupy.float32)
    y = fastconv.conv2d(x, w, padding=1)
    c = cupy.asarray(y)
    assert c.data.ptr == y.data_ptr
    expected = fastconv.conv2d(cupy.asnumpy(x), cupy.asnumpy(w), padding=1)
    np.testing.assert_allclose(cupy.asnumpy(c), expected, rtol=1e-4, atol=1e-4)
    via_dlpack = cupy.from_dlpack(y)
    assert via_dlpack.data.ptr == y.data_ptr


@cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_unfold_fold(dtype):
    rng = np.random.default_rng(3)
    for kernel, kwargs, shape in [((3, 2), dict(stride=(2, 1), padding=1, dilation=(1, 2)), (2, 3, 9, 8)),
                                  ((2,), dict(stride=3, padding=(1,)), (2, 4, 13)),
                                  ((2, 2, 2), dict(padding=1), (1, 2, 4, 3, 5))]:
        x = rng.standard_normal(shape).astype(dtype)
        columns = fastconv.unfold(fastconv.cuda.asarray(x), kernel, **kwargs)
        expected = fastconv.unfold(x, kernel, **kwargs)
        np.testing.assert_array_equal(columns.to_numpy(), expected)
        folded = fastconv.fold(columns, shape[2:], kernel, **kwargs)
        np.testing.assert_allclose(folded.to_numpy(), fastconv.fold(expected, shape[2:], kernel, **kwargs),
                                   rtol=1e-12 if dtype == np.float64 else 1e-5, atol=1e-12 if dtype == np.float64 else 1e-5)
    # Unbatched in, unbatched out.
    assert fastconv.unfold(fastconv.cuda.asarray(x[0]), (2, 2, 2)).ndim == 2


@cuda
@pytest.mark.parametrize("algo", ["im2col", "auto"])
def test_workspace_cap_is_respected_on_large_layers(algo):
    # 64 channels x 3x3 taps x 256x256 pixels of float32 is 151 MiB of columns: the im2col paths
    # must tile over output rows and still produce the exact result.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 64, 256, 256)).astype(np.float32)
    w = rng.standard_normal((8, 64, 3, 3)).astype(np.float32)
    y = fastconv.conv2d(fastconv.cuda.asarray(x), fastconv.cuda.asarray(w), padding=1, algo=algo).to_numpy()
    reference = fastconv.conv2d(fastconv.cuda.asarray(x), fastconv.cuda.asarray(w), padding=1, algo="reference")
    np.testing.assert_allclose(y, reference.to_numpy(), rtol=1e-4, atol=1e-3)
    # The transposed GEMM + col2im path: 64 x 9 rows of columns per y pixel, chunked the same way.
    yt = fastconv.cuda.asarray(rng.standard_normal((1, 8, 256, 256)).astype(np.float32))
    wt = fastconv.cuda.asarray(rng.standard_normal((8, 64, 3, 3)).astype(np.float32))
    z = fastconv.conv_transpose2d(yt, wt, padding=1, algo=algo)
    assert z.shape == (1, 64, 256, 256)
    z_reference = fastconv.conv_transpose2d(yt, wt, padding=1, algo="reference")
    np.testing.assert_allclose(z.to_numpy(), z_reference.to_numpy(), rtol=1e-4, atol=1e-3)


@cuda
def test_unbatched_and_plans_on_the_gpu():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 10, 10)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = fastconv.conv2d(fastconv.cuda.asarray(x), fastconv.cuda.asarray(w))
    assert y.shape == (4, 8, 8)
    np.testing.assert_allclose(y.get(), fastconv.conv2d(x, w), rtol=1e-4, atol=1e-4)
    plan = fastconv.Conv2d(w)
    np.testing.assert_allclose(plan(fastconv.cuda.asarray(x[None])).get(), fastconv.conv2d(x[None], w),
                               rtol=1e-4, atol=1e-4)


@cuda
def test_gpu_errors():
    x = fastconv.cuda.asarray(np.ones((1, 2, 4, 4), np.float32))
    w64 = fastconv.cuda.asarray(np.ones((1, 2, 3, 3), np.float64))
    with pytest.raises(TypeError, match="conv2d: weight has dtype float64 but the input is float32"):
        fastconv.conv2d(x, w64)
    with pytest.raises(ValueError, match="conv2d: "):
        fastconv.conv2d(x, fastconv.cuda.asarray(np.ones((1, 3, 3, 3), np.float32)))
    with pytest.raises(ValueError, match="bias must have shape"):
        fastconv.conv2d(x, fastconv.cuda.asarray(np.ones((1, 2, 3, 3), np.float32)),
                        fastconv.cuda.asarray(np.ones(2, np.float32)))
    # Out of device memory is MemoryError, with CUDA's message.
    huge_w = fastconv.cuda.asarray(np.ones((1, 64, 1, 1), np.float64))
    small = fastconv.cuda.asarray(np.ones((1, 1, 2, 2), np.float64))
    with pytest.raises(MemoryError, match="out of memory"):
        fastconv.conv_transpose2d(small, huge_w, stride=200000)


@cuda
def test_unsupported_device_dtypes_are_type_errors(torch_cuda):
    torch = torch_cuda
    x = torch.ones(1, 1, 4, 4, device="cuda", dtype=torch.int32)
    with pytest.raises(TypeError, match="input has dtype int32, expected float32, float64, float16 or bfloat16"):
        fastconv.conv2d(x, x[:, :, :3, :3])
    with pytest.raises(TypeError, match="weight has dtype float16 but the input is float32"):
        fastconv.conv2d(x.float(), x[:, :, :3, :3].half())


@cuda
@pytest.mark.parametrize("allow_tf32", [False, True])
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
@pytest.mark.parametrize("op,x_shape,w_shape,kwargs", [GPU_CASES[i] for i in (0, 3, 4, 5, 8, 10, 12)])
def test_gpu_half_precision(torch_cuda, op, x_shape, w_shape, kwargs, algo, half, allow_tf32):
    torch = torch_cuda
    # float16/bfloat16 storage, float32 accumulation (tensor cores with allow_tf32, which hold
    # half-precision values exactly): the float64 result of the same (rounded) values, within the
    # rounding of the output to half precision plus float32 accumulation.
    torch_dtype = getattr(torch, half)
    x, w = _inputs(x_shape, w_shape, np.float32)
    b = _bias(op, w_shape, kwargs, np.float32)
    tx, tw, tb = (torch.from_numpy(a).to("cuda", torch_dtype) for a in (x, w, b))
    y = getattr(fastconv, op)(tx, tw, tb, algo=algo, allow_tf32=allow_tf32, **kwargs)
    result = torch.from_dlpack(y)
    assert result.dtype == torch_dtype and result.shape == tuple(y.shape)
    xs, ws, bs = (t.double().cpu().numpy() for t in (tx, tw, tb))
    expected = reference_conv(op, xs, ws, bs, kwargs)
    magnitude = reference_conv(op, xs, ws, bs, kwargs, absolute=True)
    reduction = reduction_length(op, ws, kwargs.get("groups", 1))
    unit = 2.0**-11 if half == "float16" else 2.0**-8
    bound = 2 * unit * np.abs(expected) + (reduction + 2) * 2.0**-23 * magnitude + 1e-30
    got = result.double().cpu().numpy()
    assert np.all(np.abs(got - expected) <= bound)
    if half == "float16":
        np.testing.assert_array_equal(y.to_numpy(), result.cpu().numpy())
    else:
        np.testing.assert_array_equal(y.to_numpy(), result.float().cpu().numpy())  # widened exactly


@cuda
def test_two_gpus():
    if fastconv.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    x = fastconv.cuda.asarray(np.ones((1, 1, 4, 4), np.float32), device=0)
    w = fastconv.cuda.asarray(np.ones((1, 1, 3, 3), np.float32), device=1)
    with pytest.raises(ValueError, match="weight is on CUDA device 1 but input is on CUDA device 0"):
        fastconv.conv2d(x, w)
    y = fastconv.conv2d(fastconv.cuda.asarray(np.ones((1, 1, 4, 4), np.float32), device=1), w)
    assert y.device == 1 and (y.get() == 9).all()


@cuda
def test_device_array_surface():
    a = fastconv.cuda.asarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    assert a.shape == (2, 3) and a.ndim == 2 and a.size == 6 and a.nbytes == 48 and len(a) == 2
    assert a.dtype == np.float64 and "DeviceArray" in repr(a)
    np.testing.assert_array_equal(a.reshape((3, 2)).get(), np.arange(6.0).reshape(3, 2))
    with pytest.raises(ValueError):
        a.reshape((4, 2))
    assert math.prod(a.shape) == 6
