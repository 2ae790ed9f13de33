# Channels-last (torch's channels_last / NHWC) inputs: an array whose memory is (N, spatial..., C),
# e.g. x_nhwc.transpose(0, 3, 1, 2), is computed on without a copy and the result comes back in the
# same memory format, as torch does. Every op x algo x dtype is checked against the float64 reference
# on ordinary memory, and the batched 2-D case against torch's channels_last results.
import numpy as np
import pytest
from conftest import ALGOS, CONV_OPS, DTYPES, assert_close, maybe, op_geometry, torch_conv
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import conv_cases

import fastconv


def channels_last(a: np.ndarray) -> np.ndarray:
    """The same values with channels-last memory: (N, C, *S) viewed over (N, *S, C) storage."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


def is_channels_last(a: np.ndarray) -> bool:
    return np.moveaxis(a, 1, -1).flags.c_contiguous


@pytest.mark.parametrize("op", CONV_OPS)
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@settings(max_examples=15)
@given(data=st.data())
def test_channels_last_matches_reference(op, algo, dtype, data):
    case = data.draw(conv_cases(op))
    ndim, _ = op_geometry(op)
    x = case.x.astype(dtype)
    if x.ndim != ndim + 2 or x.shape[1] == 1:
        x = x.reshape((1,) * (ndim + 2 - x.ndim) + x.shape)  # batched, so the layout is visible
    x = channels_last(x)
    y = getattr(fastconv, op)(x, case.w.astype(dtype), maybe(case.b, dtype), algo=algo, **case.kwargs)
    cast = lambda a: None if a is None else a.astype(dtype).astype(np.float64)  # noqa: E731
    expected = getattr(fastconv, op)(
        np.ascontiguousarray(cast(x)), cast(case.w), cast(case.b), algo="reference", **case.kwargs
    )
    magnitude = getattr(fastconv, op)(
        np.abs(np.ascontiguousarray(x, np.float64)), np.abs(case.w), None if case.b is None else np.abs(case.b),
        algo="reference", **case.kwargs,
    )
    assert_close(y, expected, magnitude, dtype, case.reduction())
    if not x.flags.c_contiguous and y.shape[1] > 1 and np.prod(y.shape[2:]) > 1:  # else both layouts agree
        assert is_channels_last(y), "the result must come back in the input's memory format"


@pytest.mark.parametrize("op, x_shape, w_shape, kwargs", [
    ("conv2d", (2, 16, 9, 11), (24, 16, 3, 3), {"padding": 1}),
    ("conv2d", (1, 32, 8, 8), (32, 1, 3, 3), {"padding": 1, "groups": 32}),
    # a depthwise output of 1 MB, which the kernels write with non-temporal stores
    ("conv2d", (1, 64, 64, 64), (64, 1, 3, 3), {"padding": 1, "groups": 64}),
    ("conv2d", (1, 12, 10, 10), (20, 12, 1, 1), {"stride": 2}),
    ("conv_transpose2d", (1, 16, 5, 6), (16, 8, 4, 4), {"stride": 2, "padding": 1}),
    ("conv3d", (1, 8, 4, 5, 6), (8, 8, 3, 3, 3), {"padding": 1}),
    # Thin groups, several to a vector on the group-bundle kernels (AVX2: pairs of 4 channels,
    # quads of 2; AVX-512: quads of 4, pairs of 8), and group counts that leave no whole bundle.
    ("conv2d", (1, 32, 9, 10), (32, 4, 3, 3), {"padding": 1, "groups": 8}),
    ("conv2d", (2, 16, 7, 6), (16, 2, 3, 3), {"padding": (0, 1), "stride": (1, 2), "groups": 8}),
    ("conv2d", (1, 12, 7, 7), (12, 4, 3, 3), {"padding": 1, "dilation": 2, "groups": 3}),
    ("conv2d", (1, 12, 6, 8), (12, 2, 3, 3), {"padding": 1, "groups": 6}),
    # Groups of 6 fill no bundle: auto runs them channels-first behind copies on AVX2.
    ("conv2d", (2, 24, 7, 8), (24, 6, 3, 3), {"padding": 1, "stride": (2, 1), "groups": 4}),
])
@pytest.mark.parametrize("algo", ALGOS)
def test_channels_last_matches_torch_channels_last(torch, op, x_shape, w_shape, kwargs, algo):
    rng = np.random.default_rng(7)
    x = channels_last(rng.standard_normal(x_shape).astype(np.float32))
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1) if "transpose" in op else w_shape[0]).astype(np.float32)
    y = getattr(fastconv, op)(x, w, b, algo=algo, **kwargs)
    expected = torch_conv(torch, op, x, w, b, kwargs)
    magnitude = torch_conv(torch, op, np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                           np.abs(b).astype(np.float64), kwargs)
    assert_close(y, expected, magnitude, np.float32, int(np.prod(w_shape[1:])) * 4)
    assert is_channels_last(y)


def test_channels_last_detection_ignores_ambiguous_layouts():
    """One channel, or ordinary C-contiguous memory, is channels-first; a transposed-but-not-NHWC
    view is copied to channels-first (the result is then channels-first too)."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 3, 3))
    x = rng.standard_normal((2, 3, 6, 7))
    odd_view = np.ascontiguousarray(x.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)  # (N, H, C, W) memory
    for layout in (x, odd_view):
        y = fastconv.conv2d(layout, w, padding=1)
        assert y.flags.c_contiguous
        np.testing.assert_allclose(y, fastconv.conv2d(x, w, padding=1, algo="reference"), rtol=1e-12, atol=1e-12)
    nhwc = channels_last(x)
    assert not nhwc.flags.c_contiguous and is_channels_last(nhwc)
    assert is_channels_last(fastconv.conv2d(nhwc, w, padding=1))


def test_fresh_outputs_start_on_a_cache_line(monkeypatch):
    """Outputs are allocated 64-byte aligned (as torch's are), so 512-bit stores never straddle two
    lines and large ones can be streamed: the 1 MB depthwise output below is written with
    non-temporal stores and must still equal the reference. The array owns its memory for as long
    as it lives. (The suite's poisoned `out` arrays come from NumPy, unaligned, so switched off.)"""
    monkeypatch.setattr(fastconv._api, "_POISON_OUTPUT", False)
    rng = np.random.default_rng(3)
    x = channels_last(rng.standard_normal((1, 64, 64, 64)).astype(np.float32))
    w = rng.standard_normal((64, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    outputs = [fastconv.conv2d(x, w, b, padding=1, groups=64) for _ in range(3)]
    outputs.append(fastconv.conv_transpose2d(x[:, :, :5, :5], w, stride=2, groups=64))
    outputs.append(fastconv.unfold(x[:, :3], 3))
    for y in outputs:
        assert y.ctypes.data % 64 == 0 and y.flags.writeable
    expected = fastconv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), padding=1, groups=64,
                               algo="reference")
    magnitude = fastconv.conv2d(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                                np.abs(b).astype(np.float64), padding=1, groups=64, algo="reference")
    assert_close(outputs[0], expected, magnitude, np.float32, 9)
    kept = outputs[0].copy()
    del outputs[1:]
    assert np.array_equal(outputs[0], kept)
