# Shared set-up of fastconv's Python tests: the hypothesis profiles, NaN-poisoned outputs for the
# whole session, and the helpers several test files use: independent NumPy references for the
# convolutions, the error bound every comparison applies, and the optional torch import. The test
# files import these helpers with `from conftest import ...` (pytest puts this folder on sys.path).
import math
import os
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from fastconv import _api, _core

# Sized so the whole suite runs in about a minute on 2 cores; CI runs it once per ISA, derandomized so
# a failure there reproduces, and HYPOTHESIS_PROFILE=thorough digs deeper locally.
settings.register_profile(
    "default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, print_blob=True)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

# "auto" and every family that accepts every problem; "winograd" (2-D 3x3 stride-1 forward layers
# only, anything else raises) has its own tests in test_winograd.py.
ALGOS = [algo for algo in _core.algo_names() if algo != "winograd"]
DTYPES = [np.float32, np.float64]
CONV_OPS = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]


@pytest.fixture(autouse=True, scope="session")
def poison_outputs():
    """Every output starts as NaN, so an element a kernel never writes fails the comparison."""
    saved = _api._POISON_OUTPUT
    _api._POISON_OUTPUT = True
    yield
    _api._POISON_OUTPUT = saved


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch")


def op_geometry(op: str) -> Tuple[int, bool]:
    """(spatial dims, transposed) of an op name such as "conv_transpose2d"."""
    return int(op[-2]), op.startswith("conv_transpose")


# ---------------------------------------------------------------------------------------------
# Error bounds


def tolerance(dtype, reduction: int) -> float:
    """Bound on |result - exact| relative to sum |w||x| (+ |b|) for one output element. float64: the
    1e-10 the suite promises (a wrong or missing tap is off by O(1)). float32: twice the worst-case
    error of a recursive sum of `reduction` products in single precision, at least 1e-5."""
    if np.dtype(dtype) == np.float64:
        return 1e-10
    return max(1e-5, (reduction + 2) * 2.0**-23)


def assert_close(result: np.ndarray, expected: np.ndarray, magnitude: np.ndarray, dtype, reduction: int) -> None:
    """result (of `dtype`) matches expected element-wise within tolerance * magnitude, where
    magnitude is the same op on |x|, |w| and |b| (so an element no term reaches must be exactly 0).
    NaN, i.e. an element the kernel never wrote, always fails."""
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.dtype(dtype), f"dtype {result.dtype}, expected {np.dtype(dtype)}"
    assert result.shape == expected.shape, f"shape {result.shape}, expected {expected.shape}"
    assert not np.isnan(result).any(), f"{int(np.isnan(result).sum())} output elements never written (NaN)"
    error = np.abs(result.astype(np.float64) - expected)
    bound = tolerance(dtype, reduction) * magnitude
    bad = error > bound
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{int(bad.sum())} of {result.size} elements off; first at {index}: got {result[index]!r}, "
            f"expected {expected[index]!r} (bound {bound[index]:.3g})"
        )


# ---------------------------------------------------------------------------------------------
# NumPy references: convolution written as a sum over kernel taps of strided slices, a formulation
# none of the C++ paths uses, so agreement means something even without torch.


def _tap_slices(tap: Sequence[int], dilation: Sequence[int], count: Sequence[int], stride: Sequence[int]):
    """Per spatial dim, the positions tap t touches for `count` outputs: t*d, t*d + s, ..."""
    return tuple(slice(t * d, t * d + (n - 1) * s + 1, s) for t, d, n, s in zip(tap, dilation, count, stride))


def numpy_conv(x, w, b, stride, pad_before, pad_after, dilation, groups):
    """Forward convolution of batched x (N, C, *in) in float64."""
    ndim = x.ndim - 2
    x = np.pad(np.asarray(x, np.float64), [(0, 0), (0, 0)] + list(zip(pad_before, pad_after)))
    batch, channels = x.shape[:2]
    out_channels, kernel = w.shape[0], w.shape[2:]
    out = [(x.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(ndim)]
    grouped_w = np.asarray(w, np.float64).reshape((groups, out_channels // groups, channels // groups) + kernel)
    y = np.zeros((batch, groups, out_channels // groups) + tuple(out))
    for tap in np.ndindex(*kernel):
        patch = x[(slice(None), slice(None)) + _tap_slices(tap, dilation, out, stride)]
        patch = patch.reshape((batch, groups, channels // groups) + tuple(out))
        y += np.einsum("ngc...,gkc->ngk...", patch, grouped_w[(Ellipsis,) + tap])
    y = y.reshape((batch, out_channels) + tuple(out))
    if b is not None:
        y += np.asarray(b, np.float64).reshape((1, -1) + (1,) * ndim)
    return y


def numpy_conv_transpose(x, w, b, stride, pad_before, pad_after, output_padding, dilation, groups):
    """Transposed convolution of batched x (N, C_in, *in), weight (C_in, C_out/groups, *kernel), as a
    scatter: input element i adds w * x[i] at i*stride + tap*dilation of the unpadded output, which
    is then cropped by the padding (output_padding extends its end)."""
    ndim = x.ndim - 2
    batch, in_channels = x.shape[:2]
    per_group, kernel, in_size = w.shape[1], w.shape[2:], x.shape[2:]
    full = [(n - 1) * s + d * (k - 1) + 1 + p for n, s, d, k, p in zip(in_size, stride, dilation, kernel, output_padding)]
    grouped_x = np.asarray(x, np.float64).reshape((batch, groups, in_channels // groups) + in_size)
    grouped_w = np.asarray(w, np.float64).reshape((groups, in_channels // groups, per_group) + kernel)
    y = np.zeros((batch, groups, per_group) + tuple(full))
    for tap in np.ndindex(*kernel):
        contribution = np.einsum("ngc...,gco->ngo...", grouped_x, grouped_w[(Ellipsis,) + tap])
        y[(slice(None), slice(None), slice(None)) + _tap_slices(tap, dilation, in_size, stride)] += contribution
    crop = tuple(slice(before, size - after) for before, after, size in zip(pad_before, pad_after, full))
    y = y.reshape((batch, groups * per_group) + tuple(full))[(slice(None), slice(None)) + crop]
    if b is not None:
        y = y + np.asarray(b, np.float64).reshape((1, -1) + (1,) * ndim)
    return y


def numpy_unfold(x, kernel, dilation, pad_before, pad_after, stride):
    """im2col of batched x (N, C, *in): (N, C * prod(kernel), L), rows (c, taps row-major)."""
    x = np.pad(np.asarray(x, np.float64), [(0, 0), (0, 0)] + list(zip(pad_before, pad_after)))
    batch, channels = x.shape[:2]
    out = [(x.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(len(kernel))]
    columns = np.empty((batch, channels, math.prod(kernel), math.prod(out)))
    for t, tap in enumerate(np.ndindex(*kernel)):
        patch = x[(slice(None), slice(None)) + _tap_slices(tap, dilation, out, stride)]
        columns[:, :, t] = patch.reshape(batch, channels, math.prod(out))
    return columns.reshape(batch, channels * math.prod(kernel), math.prod(out))


def numpy_fold(columns, output_size, kernel, dilation, pad_before, pad_after, stride):
    """col2im, the adjoint of numpy_unfold: every column entry added where unfold read it."""
    batch, rows, _ = columns.shape
    channels = rows // math.prod(kernel)
    padded = [n + before + after for n, before, after in zip(output_size, pad_before, pad_after)]
    out = [(p - d * (k - 1) - 1) // s + 1 for p, d, k, s in zip(padded, dilation, kernel, stride)]
    x = np.zeros((batch, channels) + tuple(padded))
    grouped = np.asarray(columns, np.float64).reshape((batch, channels, math.prod(kernel)) + tuple(out))
    for t, tap in enumerate(np.ndindex(*kernel)):
        x[(slice(None), slice(None)) + _tap_slices(tap, dilation, out, stride)] += grouped[:, :, t]
    crop = tuple(slice(before, before + n) for before, n in zip(pad_before, output_size))
    return x[(slice(None), slice(None)) + crop]


def same_padding(in_size: int, kernel: int, stride: int, dilation: int) -> Tuple[int, int]:
    """The documented "same" rule, written out independently of fastconv._api."""
    out = math.ceil(in_size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - in_size, 0)
    return total // 2, total - total // 2


def padding_pairs(padding, in_size: Sequence[int], kernel: Sequence[int], stride, dilation) -> Tuple[list, list]:
    """Any padding argument the API takes as explicit (pad_before, pad_after) lists."""
    ndim = len(kernel)
    per_dim = lambda value: list(value) if isinstance(value, (tuple, list)) else [value] * ndim  # noqa: E731
    if padding == "valid":
        pairs = [(0, 0)] * ndim
    elif padding == "same":
        pairs = [same_padding(*dims) for dims in zip(in_size, kernel, per_dim(stride), per_dim(dilation))]
    else:
        pairs = [tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in per_dim(padding)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def batched(x: np.ndarray, ndim: int) -> np.ndarray:
    return x if x.ndim == ndim + 2 else x[np.newaxis]


def reference_conv(op: str, x, w, b, kwargs: dict, absolute: bool = False) -> np.ndarray:
    """The NumPy reference of `op` with the API's keyword arguments, shaped as fastconv returns it
    (unbatched in, unbatched out). absolute=True gives the error magnitude sum |w||x| + |b|."""
    ndim, transposed = op_geometry(op)
    if absolute:
        x, w, b = np.abs(x), np.abs(w), None if b is None else np.abs(b)
    xb = batched(np.asarray(x, np.float64), ndim)
    stride, dilation = kwargs.get("stride", 1), kwargs.get("dilation", 1)
    per_dim = lambda value: list(value) if isinstance(value, (tuple, list)) else [value] * ndim  # noqa: E731
    before, after = padding_pairs(kwargs.get("padding", 0), xb.shape[2:], w.shape[2:], stride, dilation)
    groups = kwargs.get("groups", 1)
    if transposed:
        y = numpy_conv_transpose(xb, w, b, per_dim(stride), before, after,
                                 per_dim(kwargs.get("output_padding", 0)), per_dim(dilation), groups)
    else:
        y = numpy_conv(xb, w, b, per_dim(stride), before, after, per_dim(dilation), groups)
    return y if x.ndim == ndim + 2 else y[0]


def reduction_length(op: str, w: np.ndarray, groups: int) -> int:
    """Most products summed into one output element."""
    _, transposed = op_geometry(op)
    per_group = w.shape[0] // groups if transposed else w.shape[1]
    return per_group * math.prod(w.shape[2:])


def torch_conv(torch, op: str, x, w, b, kwargs: dict) -> np.ndarray:
    """torch.nn.functional's `op` in float64 on the same values. Padding torch lacks (asymmetric pairs,
    "same" at stride > 1) becomes explicit zeros around the input (forward) or a crop of the output
    computed without padding (transposed), which is what those paddings mean."""
    import torch.nn.functional as F

    ndim, transposed = op_geometry(op)
    kwargs = dict(kwargs)
    padding = kwargs.pop("padding", 0)
    stride, dilation = kwargs.get("stride", 1), kwargs.get("dilation", 1)
    in_size = np.shape(x)[-ndim:]
    native = (
        isinstance(padding, int)
        or (isinstance(padding, tuple) and all(isinstance(p, int) for p in padding))
        or padding == "valid"
        or (padding == "same" and all(s == 1 for s in (stride if isinstance(stride, tuple) else (stride,))))
    )
    as_tensor = lambda a: None if a is None else torch.from_numpy(np.array(a, dtype=np.float64))  # noqa: E731
    x64 = np.array(x, dtype=np.float64)
    function = getattr(F, op)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note that "same" with an even kernel copies the input
        if native:
            return function(as_tensor(x64), as_tensor(w), as_tensor(b), padding=padding, **kwargs).numpy()
        before, after = padding_pairs(padding, in_size, np.shape(w)[2:], stride, dilation)
        if not transposed:
            lead = [(0, 0)] * (x64.ndim - ndim)
            padded = np.pad(x64, lead + list(zip(before, after)))
            return function(as_tensor(padded), as_tensor(w), as_tensor(b), padding=0, **kwargs).numpy()
        full = function(as_tensor(x64), as_tensor(w), as_tensor(b), padding=0, **kwargs).numpy()
        crop = tuple(slice(lo, size - hi) for lo, hi, size in zip(before, after, full.shape[-ndim:]))
        return full[(Ellipsis,) + crop]


def maybe(value: Optional[np.ndarray], dtype) -> Optional[np.ndarray]:
    return None if value is None else value.astype(dtype)


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` need an NVIDIA GPU: skipped where fastconv.cuda.is_available() is false."""
    import fastconv.cuda

    if fastconv.cuda.is_available():
        return
    reason = "needs an NVIDIA GPU (fastconv.cuda.is_available() is False)"
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
