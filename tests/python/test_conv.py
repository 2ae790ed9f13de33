# Correctness of conv1d/2d/3d and conv_transpose1d/2d/3d: every op x algo x dtype against the float64
# reference (algo="reference") and against torch.nn.functional on hypothesis-generated geometries, the
# reference itself against an independent NumPy formulation, a table of named edge cases, and memory
# layouts (strided, read-only, Fortran, lists) that must give bitwise the same result.
import dataclasses
import zlib
from typing import Any, Dict, Optional

import numpy as np
import pytest
from conftest import (
    ALGOS,
    CONV_OPS,
    DTYPES,
    assert_close,
    maybe,
    op_geometry,
    reduction_length,
    reference_conv,
    torch_conv,
)
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv


@dataclasses.dataclass
class Case:
    op: str
    x: np.ndarray  # float64; cast to the dtype under test
    w: np.ndarray
    b: Optional[np.ndarray]
    kwargs: Dict[str, Any]

    def run(self, dtype, algo: str) -> np.ndarray:
        return getattr(fastconv, self.op)(
            self.x.astype(dtype), self.w.astype(dtype), maybe(self.b, dtype), algo=algo, **self.kwargs
        )

    def reference(self, dtype) -> np.ndarray:
        """fastconv's float64 reference on exactly the values the dtype under test sees."""
        cast = lambda a: None if a is None else a.astype(dtype).astype(np.float64)  # noqa: E731
        return getattr(fastconv, self.op)(cast(self.x), cast(self.w), cast(self.b), algo="reference", **self.kwargs)

    def magnitude(self) -> np.ndarray:
        return reference_conv(self.op, self.x, self.w, self.b, self.kwargs, absolute=True)

    def reduction(self) -> int:
        return reduction_length(self.op, self.w, self.kwargs.get("groups", 1))


# ---------------------------------------------------------------------------------------------
# Hypothesis strategies

MAX_KERNEL = {1: 7, 2: 7, 3: 4}
# Extra input extent beyond the smallest valid one: long rows in 1-D (longer than a SIMD vector),
# small volumes in 3-D so the NumPy reference stays fast.
SPAN = {1: 30, 2: 9, 3: 4}


def _per_dim(draw, ndim: int, low: int, high: int):
    return tuple(draw(st.integers(low, high)) for _ in range(ndim))


@st.composite
def channels_and_groups(draw, ndim: int):
    """(input channels, output channels, groups) incl. depthwise, odd counts and, in 1-D and 2-D,
    output channel counts that fill and cut short GEMM microkernel tiles."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    if draw(st.booleans()) and groups > 1:  # depthwise, with a channel multiplier
        return groups, groups * draw(st.integers(1, 2)), groups
    per_group_out = draw(st.sampled_from([1, 2, 3, 5, 8, 13, 17] if ndim < 3 else [1, 2, 3]))
    return groups * draw(st.integers(1, 3)), groups * per_group_out, groups


@st.composite
def conv_cases(draw, op: str) -> Case:
    ndim, transposed = op_geometry(op)
    kernel = _per_dim(draw, ndim, 1, MAX_KERNEL[ndim])
    stride = _per_dim(draw, ndim, 1, 3)
    dilation = _per_dim(draw, ndim, 1, 3)
    c_in, c_out, groups = draw(channels_and_groups(ndim))
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]

    forms = ["int", "tuple", "pairs"] + ([] if transposed else ["same", "valid"])
    form = draw(st.sampled_from(forms))
    pairs = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(ndim)]
    if form == "int":
        pairs = [(pairs[0][0],) * 2] * ndim
        padding: Any = pairs[0][0]
    elif form == "tuple":
        pairs = [(before, before) for before, _ in pairs]
        padding = tuple(before for before, _ in pairs)
    elif form == "pairs":
        padding = tuple(pairs)
    else:
        padding = form
        pairs = [(0, 0)] * ndim  # "same" never needs a minimum size; "valid" has no padding

    kwargs: Dict[str, Any] = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    if transposed:
        in_size = _per_dim(draw, ndim, 1, SPAN[ndim] // 2 + 2)
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        for n, s, e, p, (before, after) in zip(in_size, stride, extent, output_padding, pairs):
            assume((n - 1) * s + e + p - before - after >= 1)
        kwargs["output_padding"] = output_padding
        w_shape = (c_in, c_out // groups) + kernel
    else:
        # The smallest input with a non-empty output; "same" pads any input enough.
        lows = [1 if form == "same" else max(1, e - before - after) for e, (before, after) in zip(extent, pairs)]
        in_size = tuple(draw(st.integers(low, low + SPAN[ndim])) for low in lows)
        w_shape = (c_out, c_in // groups) + kernel
    batch = draw(st.sampled_from([None, 0, 1, 2]))  # None: unbatched
    x_shape = ((c_in,) if batch is None else (batch, c_in)) + in_size
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bias = rng.standard_normal(c_out) if draw(st.booleans()) else None
    return Case(op, rng.standard_normal(x_shape), rng.standard_normal(w_shape), bias, kwargs)


# ---------------------------------------------------------------------------------------------
# Generated cases

op_algo_dtype = pytest.mark.parametrize(
    "op, algo, dtype",
    [(op, algo, dtype) for op in CONV_OPS for algo in ALGOS for dtype in DTYPES],
    ids=lambda value: getattr(value, "__name__", str(value)),
)


@op_algo_dtype
@given(data=st.data())
def test_matches_reference(op, algo, dtype, data):
    case = data.draw(conv_cases(op))
    assert_close(case.run(dtype, algo), case.reference(dtype), case.magnitude(), dtype, case.reduction())


@op_algo_dtype
@given(data=st.data())
def test_matches_torch(torch, op, algo, dtype, data):
    case = data.draw(conv_cases(op))
    cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
    expected = torch_conv(torch, op, cast(case.x), cast(case.w), cast(case.b), case.kwargs)
    assert_close(case.run(dtype, algo), expected, case.magnitude(), dtype, case.reduction())


@pytest.mark.cuda
@op_algo_dtype
@given(data=st.data())
def test_gpu_matches_reference(op, algo, dtype, data):
    """The CUDA kernels on the same generated geometries (batch 0, unbatched, depthwise, dilation,
    asymmetric padding): the result comes back as a DeviceArray and matches the float64 reference."""
    case = data.draw(conv_cases(op))
    on_gpu = lambda a: None if a is None else fastconv.cuda.asarray(a.astype(dtype))  # noqa: E731
    y = getattr(fastconv, op)(on_gpu(case.x), on_gpu(case.w), on_gpu(case.b), algo=algo, **case.kwargs)
    assert isinstance(y, fastconv.cuda.DeviceArray)
    assert_close(y.to_numpy(), case.reference(dtype), case.magnitude(), dtype, case.reduction())


@pytest.mark.parametrize("op", CONV_OPS)
@given(data=st.data())
def test_reference_matches_numpy(op, data):
    """The C++ reference against a NumPy formulation of the same op: the ground truth the other
    tests lean on stays checked where torch is not installed, asymmetric padding included."""
    case = data.draw(conv_cases(op))
    expected = reference_conv(op, case.x, case.w, case.b, case.kwargs)
    assert_close(case.run(np.float64, "reference"), expected, case.magnitude(), np.float64, case.reduction())


# ---------------------------------------------------------------------------------------------
# Named edge cases


def _edge(name, op, x_shape, w_shape, bias=True, **kwargs):
    return pytest.param(op, x_shape, w_shape, bias, kwargs, id=name)


EDGE_CASES = [
    _edge("kernel_larger_than_input_padded", "conv2d", (1, 2, 3, 3), (3, 2, 5, 5), padding=2),
    _edge("kernel_larger_than_input_minimal_padding", "conv2d", (2, 2, 3, 4), (3, 2, 5, 5), padding=1),
    _edge("stride_greater_than_kernel", "conv2d", (1, 3, 11, 11), (4, 3, 2, 2), stride=4),
    _edge("stride_greater_than_kernel_1d", "conv1d", (2, 2, 20), (3, 2, 1), stride=3),
    _edge("dilated_extent_equals_input", "conv1d", (1, 2, 5), (2, 2, 3), dilation=2),
    _edge("dilated_extent_exceeds_input_padded", "conv2d", (1, 2, 4, 4), (2, 2, 3, 3), dilation=3, padding=2),
    _edge("groups", "conv2d", (2, 6, 7, 7), (8, 3, 3, 3), groups=2),
    _edge("groups_3_odd", "conv2d", (1, 9, 5, 6), (15, 3, 3, 2), groups=3),
    _edge("depthwise", "conv2d", (1, 5, 8, 8), (5, 1, 3, 3), groups=5, padding=1),
    _edge("depthwise_multiplier", "conv2d", (2, 4, 6, 6), (8, 1, 3, 3), groups=4, stride=2),
    _edge("asymmetric_5x9", "conv2d", (1, 3, 5, 9), (4, 3, 3, 2), padding=(1, 0)),
    _edge("batch_0", "conv2d", (0, 3, 6, 6), (4, 3, 3, 3)),
    _edge("batch_1", "conv2d", (1, 3, 6, 6), (4, 3, 3, 3), padding=1),
    _edge("odd_channels", "conv2d", (2, 7, 6, 6), (5, 7, 3, 3)),
    _edge("pointwise_1x1", "conv2d", (2, 16, 5, 5), (24, 16, 1, 1)),
    _edge("pointwise_1x1_strided", "conv2d", (1, 4, 7, 7), (6, 4, 1, 1), stride=2),
    _edge("one_channel", "conv2d", (1, 1, 9, 9), (4, 1, 3, 3)),
    _edge("one_channel_in_and_out", "conv1d", (3, 1, 17), (1, 1, 4)),
    _edge("gemm_tiles", "conv2d", (1, 20, 6, 6), (33, 20, 3, 3), padding=1),
    _edge("same_even_kernel", "conv2d", (1, 2, 6, 7), (3, 2, 4, 2), padding="same"),
    _edge("same_strided", "conv2d", (1, 2, 7, 8), (3, 2, 3, 3), padding="same", stride=2),
    _edge("same_dilated", "conv1d", (1, 2, 10), (2, 2, 3), padding="same", dilation=3),
    _edge("valid", "conv3d", (1, 2, 4, 5, 6), (3, 2, 2, 3, 2), padding="valid"),
    _edge("asymmetric_pairs", "conv2d", (1, 2, 5, 5), (3, 2, 3, 3), padding=((0, 2), (3, 1))),
    _edge("unbatched", "conv2d", (3, 6, 6), (4, 3, 3, 3), padding=1),
    _edge("unbatched_1d", "conv1d", (2, 9), (3, 2, 3)),
    _edge("long_1d_same", "conv1d", (1, 3, 50), (4, 3, 7), padding="same"),
    _edge("conv3d", "conv3d", (2, 3, 4, 5, 4), (4, 3, 3, 3, 2), padding=1, stride=(1, 2, 1)),
    _edge("no_bias", "conv2d", (1, 2, 5, 5), (3, 2, 3, 3), bias=False),
    _edge("transpose_dcgan", "conv_transpose2d", (1, 8, 4, 4), (8, 4, 4, 4), stride=2, padding=1),
    _edge("transpose_output_padding", "conv_transpose2d", (2, 3, 5, 4), (3, 2, 3, 3), stride=2, padding=1,
          output_padding=1),
    _edge("transpose_gaps_only_bias", "conv_transpose1d", (1, 2, 4), (2, 3, 1), stride=3),
    _edge("transpose_dilation_gt_stride", "conv_transpose2d", (1, 2, 4, 4), (2, 3, 2, 3), dilation=3,
          output_padding=2),
    _edge("transpose_groups", "conv_transpose2d", (1, 6, 3, 3), (6, 2, 3, 3), groups=3, stride=2),
    _edge("transpose_depthwise", "conv_transpose1d", (2, 4, 7), (4, 1, 3), groups=4, padding=1),
    _edge("transpose_padding_eats_border", "conv_transpose2d", (1, 2, 3, 3), (2, 2, 3, 3), padding=2),
    _edge("transpose_batch_0", "conv_transpose2d", (0, 3, 4, 4), (3, 2, 3, 3), stride=2),
    _edge("transpose_unbatched", "conv_transpose3d", (2, 3, 2, 3), (2, 3, 2, 2, 2), stride=2),
    _edge("transpose_asymmetric_pairs", "conv_transpose2d", (1, 2, 4, 3), (2, 3, 3, 3), stride=2,
          padding=((0, 2), (1, 0))),
    _edge("transpose_gemm_tiles", "conv_transpose2d", (1, 20, 5, 5), (20, 17, 3, 3), stride=2),
]


def _edge_case(op, x_shape, w_shape, bias, kwargs) -> Case:
    rng = np.random.default_rng(zlib.crc32(repr((op, x_shape, w_shape, kwargs)).encode()))
    _, transposed = op_geometry(op)
    out_channels = w_shape[1] * kwargs.get("groups", 1) if transposed else w_shape[0]
    b = rng.standard_normal(out_channels) if bias else None
    return Case(op, rng.standard_normal(x_shape), rng.standard_normal(w_shape), b, kwargs)


@pytest.mark.parametrize("op, x_shape, w_shape, bias, kwargs", EDGE_CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("algo", ALGOS)
def test_edge_case_matches_reference(op, x_shape, w_shape, bias, kwargs, dtype, algo):
    case = _edge_case(op, x_shape, w_shape, bias, kwargs)
    assert_close(case.run(dtype, algo), case.reference(dtype), case.magnitude(), dtype, case.reduction())


@pytest.mark.parametrize("op, x_shape, w_shape, bias, kwargs", EDGE_CASES)
def test_edge_case_matches_torch(torch, op, x_shape, w_shape, bias, kwargs):
    case = _edge_case(op, x_shape, w_shape, bias, kwargs)
    expected = torch_conv(torch, op, case.x, case.w, case.b, case.kwargs)
    for algo in ALGOS:
        assert_close(case.run(np.float64, algo), expected, case.magnitude(), np.float64, case.reduction())


@pytest.mark.parametrize("x_shape, w_shape", [
    # 295 KB of weights in 16-column blocks over 384 tiles: igemm's tasks take every column block and
    # run them block by block over their chunk of tiles (weights beyond half an L2).
    ((1, 128, 48, 48), (64, 128, 3, 3)),
    # Few channels (width-merged) and an odd output channel count: on channels-first memory each
    # task stages its chunk channels-last and transposes it into the output.
    ((1, 5, 40, 41), (19, 5, 3, 3)),
], ids=["large_weights", "staged_odd_channels"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_igemm_task_orders_match_torch_at_every_thread_count(torch, x_shape, w_shape, layout):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(x_shape).astype(np.float32)
    if layout == "channels_last":
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    expected = torch_conv(torch, "conv2d", x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                          {"padding": 1})
    magnitude = torch_conv(torch, "conv2d", np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                           np.abs(b).astype(np.float64), {"padding": 1})
    saved = fastconv.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            fastconv.set_num_threads(threads)
            results.append(fastconv.conv2d(x, w, b, padding=1, algo="direct"))
    finally:
        fastconv.set_num_threads(saved)
    assert_close(results[0], expected, magnitude, np.float32, int(np.prod(w_shape[1:])))
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


@pytest.mark.parametrize("op, x_shape, w_shape, kwargs, algo, layout", [
    # igemm on channels-first memory, forward: each chunk is staged and streamed into the output.
    ("conv2d", (1, 8, 112, 112), (23, 8, 3, 3), {"padding": 1}, "direct", "nchw"),
    # ... with planes (130 x 131) that leave the lines unaligned, or 64 KB apart: the cached fallback.
    ("conv2d", (1, 8, 130, 131), (19, 8, 3, 3), {"padding": 1}, "direct", "nchw"),
    ("conv2d", (1, 8, 128, 128), (19, 8, 3, 3), {"padding": 1}, "direct", "nchw"),
    # padded_chw (few input channels, stride 2 through its polyphase planes): rows streamed from
    # the staged block, 112 wide, or 131 wide with unaligned starts (a scalar head, then streamed).
    ("conv2d", (1, 3, 224, 224), (23, 3, 7, 7), {"padding": 3, "stride": 2}, "direct", "nchw"),
    ("conv2d", (1, 5, 130, 131), (19, 5, 3, 3), {"padding": 1}, "direct", "nchw"),
    # igemm, transposed: computed channels-last, then streamed by transpose_images (planes of
    # 112 x 112; 128 x 128 ones, 64 KB apart, are transposed with cached stores).
    ("conv_transpose2d", (2, 16, 56, 56), (16, 17, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1},
     "direct", "nchw"),
    ("conv_transpose2d", (1, 8, 64, 64), (8, 17, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1},
     "direct", "nchw"),
    # A channels-first implementation on channels-last memory: the output is streamed channels-last
    # (20 channels: a short strip of rows after two whole ones).
    ("conv2d", (1, 16, 128, 128), (20, 16, 3, 3), {"padding": 1}, "im2col", "channels_last"),
    # Depthwise with a stride along the width: computed channels-last, then streamed back.
    ("conv2d", (1, 48, 200, 200), (48, 1, 3, 3), {"padding": 1, "stride": 2, "groups": 48}, "direct", "nchw"),
], ids=["staged", "staged_unaligned", "staged_64k_apart", "padded_chw", "padded_chw_unaligned", "transposed",
        "transposed_64k_apart", "channels_last_output", "depthwise"])
def test_outputs_of_a_megabyte_or_more_are_streamed_exactly(torch, op, x_shape, w_shape, kwargs, algo, layout):
    """Outputs of 1 MiB or more are written with non-temporal stores where layout.hpp's can_stream
    allows, with cached ones elsewhere: the same values as torch's, the same bits at any thread count."""
    rng = np.random.default_rng(zlib.crc32(repr((op, x_shape, w_shape)).encode()))
    x = rng.standard_normal(x_shape).astype(np.float32)
    if layout == "channels_last":
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    w = rng.standard_normal(w_shape).astype(np.float32)
    f = getattr(fastconv, op)
    saved = fastconv.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            fastconv.set_num_threads(threads)
            results.append(f(x, w, None, algo=algo, **kwargs))
    finally:
        fastconv.set_num_threads(saved)
    assert results[0].nbytes >= 1 << 20
    assert (layout == "channels_last") == results[0].transpose(0, 2, 3, 1).flags.c_contiguous
    expected = torch_conv(torch, op, x.astype(np.float64), w.astype(np.float64), None, kwargs)
    magnitude = torch_conv(torch, op, np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), None, kwargs)
    reduction = int(np.prod(w_shape[1:])) * (w_shape[0] if op == "conv_transpose2d" else 1)
    assert_close(results[0], expected, magnitude, np.float32, reduction)
    np.testing.assert_array_equal(results[1], results[0])


def test_transpose_gaps_hold_exactly_the_bias():
    """Stride 3 with a 1-tap kernel: two of every three outputs receive no product at all, so they
    must be exactly the bias (or 0), never leftover memory."""
    x = np.ones((1, 2, 4))
    w = np.ones((2, 3, 1))
    bias = np.array([0.5, -1.0, 2.0])
    for algo in ALGOS:
        y = fastconv.conv_transpose1d(x, w, bias, stride=3, algo=algo)
        assert y.shape == (1, 3, 10)
        expected = np.tile(bias[:, None], (1, 10))
        expected[:, ::3] += 2.0
        np.testing.assert_array_equal(y[0], expected)


# ---------------------------------------------------------------------------------------------
# Memory layouts: the same values in any layout give bitwise the same result.


def _strided(a: np.ndarray) -> np.ndarray:
    holder = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    holder[..., ::2] = a
    return holder[..., ::2]


def _transposed(a: np.ndarray) -> np.ndarray:
    if a.ndim < 2:  # a bias has no axes to swap
        return _strided(a)
    return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)


def _reversed(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a[..., ::-1])[..., ::-1]


def _read_only(a: np.ndarray) -> np.ndarray:
    copy = a.copy()
    copy.setflags(write=False)
    return copy


def _unaligned(a: np.ndarray) -> np.ndarray:
    raw = np.zeros(a.nbytes + 1, np.uint8)
    view = raw[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    return view


LAYOUTS = {
    "sliced": _strided,
    "transposed": _transposed,
    "negative_strides": _reversed,
    "read_only": _read_only,
    "fortran": np.asfortranarray,
    "unaligned": _unaligned,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d", "conv1d", "conv3d"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_layouts_give_identical_results(layout, op, dtype):
    ndim, transposed = op_geometry(op)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4) + (5, 6, 7)[3 - ndim:]).astype(dtype)
    w = rng.standard_normal(((4, 3) if transposed else (3, 4)) + (3, 2, 3)[3 - ndim:]).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    function = getattr(fastconv, op)
    expected = function(x, w, b, stride=2, padding=1)
    make = LAYOUTS[layout]
    for args in ((make(x), w, b), (x, make(w), b), (make(x), make(w), make(b))):
        originals = [a.copy() for a in args]
        for algo in ALGOS:
            y = function(*args, stride=2, padding=1, algo=algo)
            np.testing.assert_array_equal(y, function(x, w, b, stride=2, padding=1, algo=algo))
        np.testing.assert_array_equal(function(*args, stride=2, padding=1), expected)
        for original, arg in zip(originals, args):
            np.testing.assert_array_equal(arg, original)  # inputs are never written


def test_python_lists_and_scalars_of_parameters():
    """Nested lists are float64 arrays; stride and friends as lists or numpy ints work as tuples."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    y = fastconv.conv2d(x.tolist(), w.tolist(), stride=[2, np.int64(1)], padding=[1, 0], dilation=np.int32(1))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, fastconv.conv2d(x, w, stride=(2, 1), padding=(1, 0)))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_output_dtype_follows_input_and_unbatched_equals_batched(dtype):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 8, 8)).astype(dtype), rng.standard_normal((5, 3, 3, 3)).astype(dtype)
    y = fastconv.conv2d(x, w, padding=1)
    assert y.dtype == dtype and y.shape == (5, 8, 8)
    np.testing.assert_array_equal(y, fastconv.conv2d(x[None], w, padding=1)[0])
    t = fastconv.conv_transpose2d(y, w, padding=1)  # w read as (C_in=5, C_out=3, 3, 3)
    assert t.dtype == dtype and t.shape == (3, 8, 8)


@pytest.mark.parametrize("algo", ALGOS)
def test_empty_reductions_give_exactly_the_bias(algo):
    """Outputs that sum no products at all (no input channels, or only padding under the kernel)
    are the bias, written by every algo. torch rejects or mis-shapes several of these."""
    bias = np.array([0.5, -1.0, 2.0])
    expected = lambda spatial: np.broadcast_to(bias.reshape((1, 3) + (1,) * len(spatial)), (1, 3) + spatial)  # noqa: E731
    cases = [
        (fastconv.conv1d(np.zeros((1, 2, 0)), np.ones((3, 2, 1)), bias, padding=1, algo=algo), (2,)),
        (fastconv.conv2d(np.zeros((1, 0, 5, 5)), np.ones((3, 0, 3, 3)), bias, algo=algo), (3, 3)),
        (fastconv.conv_transpose1d(np.ones((1, 0, 4)), np.ones((0, 3, 3)), bias, algo=algo), (6,)),
    ]
    for result, spatial in cases:
        np.testing.assert_array_equal(result, expected(spatial))
    assert fastconv.conv2d(np.ones((2, 3, 5, 5)), np.ones((0, 3, 3, 3)), algo=algo).shape == (2, 0, 3, 3)
