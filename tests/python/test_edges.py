# Numerical and geometric edges: NaN and Inf propagate as IEEE arithmetic says (a non-finite input
# reaches exactly the outputs whose window covers it), denormals cost no more than normal numbers
# (kernels flush them to zero and restore the caller's mode on return), and the degenerate shapes:
# zero-size batch/channel dims, 1x1 inputs, a kernel larger than the input with enough padding,
# strides far larger than the kernel. Every op, algo and both dtypes where it matters.
import time

import numpy as np
import pytest
from conftest import CONV_OPS, assert_close, numpy_conv_transpose, reduction_length, reference_conv

import fastconv

ALGOS = ["auto", "direct", "im2col", "reference"]
OP_CASES = {
    # op: (input shape, weight shape, kwargs): strided, padded and dilated so windows overlap unevenly.
    "conv1d": ((2, 4, 11), (6, 2, 3), {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}),
    "conv2d": ((1, 8, 7, 6), (16, 8, 3, 3), {"stride": (2, 1), "padding": 1}),
    "conv3d": ((1, 3, 4, 5, 4), (4, 3, 2, 3, 2), {"padding": (1, 0, 1)}),
    "conv_transpose1d": ((2, 4, 6), (4, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    "conv_transpose2d": ((1, 16, 4, 5), (16, 8, 3, 3), {"stride": 2, "padding": 1}),
    "conv_transpose3d": ((1, 2, 3, 3, 2), (2, 3, 2, 2, 2), {"stride": (1, 2, 1)}),
}


def coverage(op, x_shape, w_shape, kwargs, position):
    """Which outputs read input element `position`: the op applied to an indicator with weights
    of ones, in float64 (written independently of fastconv, in conftest)."""
    indicator = np.zeros(x_shape)
    indicator[position] = 1.0
    return reference_conv(op, indicator, np.ones(w_shape), None, kwargs) > 0


@pytest.mark.parametrize("op", CONV_OPS)
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_reaches_exactly_its_windows(op, algo, dtype, value):
    x_shape, w_shape, kwargs = OP_CASES[op]
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 1.0, x_shape).astype(dtype)
    w = rng.uniform(0.5, 1.0, w_shape).astype(dtype)  # positive: an Inf stays +-Inf, never Inf - Inf
    position = tuple(n // 2 for n in x_shape)
    x[position] = value
    y = getattr(fastconv, op)(x, w, algo=algo, **kwargs)
    covered = coverage(op, x_shape, w_shape, kwargs, position)
    assert covered.any()
    if np.isnan(value):
        np.testing.assert_array_equal(np.isnan(y), covered)
    else:
        np.testing.assert_array_equal(y[covered], np.full(covered.sum(), value, dtype))
    assert np.isfinite(y[~covered]).all()


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("group_channels", [8, 4])
def test_bundled_groups_keep_to_their_own_channels(layout, value, group_channels):
    """Groups of 8 (or 4) input and as many output channels run two (four) to a vector on AVX-512
    (igemm's group-bundle kernels, channels-last): the layer matches the float64 reference, and a
    NaN or Inf in one group's input reaches exactly that group's windows, never the outputs of the
    groups sharing its vector."""
    groups = 32 // group_channels
    x_shape, w_shape = (2, 32, 6, 7), (32, group_channels, 3, 3)
    kwargs = {"padding": 1, "stride": (1, 2), "groups": groups}
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 1.0, x_shape).astype(np.float32)
    w = rng.uniform(0.5, 1.0, w_shape).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)

    def run(x):
        if layout == "channels_last":
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        return fastconv.conv2d(x, w, b, **kwargs)

    expected = reference_conv("conv2d", x, w, b, kwargs)
    magnitude = reference_conv("conv2d", x, w, b, kwargs, absolute=True)
    assert_close(run(x), expected, magnitude, np.float32, reduction_length("conv2d", w, kwargs["groups"]))
    position = (1, group_channels + 1, 3, 3)  # group 1: the second of the first bundle
    x[position] = value
    y = run(x)
    covered = coverage("conv2d", x_shape, w_shape, kwargs, position)
    own = slice(group_channels, 2 * group_channels)
    assert covered[:, own].any() and not np.delete(covered, np.r_[own], axis=1).any()
    if np.isnan(value):
        np.testing.assert_array_equal(np.isnan(y), covered)
    else:
        np.testing.assert_array_equal(y[covered], np.full(covered.sum(), value, np.float32))
    assert np.isfinite(y[~covered]).all()


@pytest.mark.parametrize("op", CONV_OPS)
def test_nan_weight_and_bias_reach_their_output_channels(op):
    x_shape, w_shape, kwargs = OP_CASES[op]
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    transposed = op.startswith("conv_transpose")
    groups = kwargs.get("groups", 1)
    out_channels = w_shape[1] * groups if transposed else w_shape[0]
    b = np.zeros(out_channels)
    b[1] = np.nan
    y = getattr(fastconv, op)(x, w, b, **kwargs)
    assert np.isnan(y[:, 1]).all()
    assert np.isfinite(np.delete(y, 1, axis=1)).all()


def best_time(call, repeats=5):
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("algo", ["auto", "direct", "im2col"])
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_denormals_do_not_slow_kernels_down(op, algo):
    # Without flush-to-zero this layer ran ~80x slower on denormal inputs (microcode assists on
    # every FMA); 4x leaves room for a noisy shared machine and still catches any assist storm.
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 1.0, (1, 64, 24, 24)).astype(np.float32)
    w = rng.uniform(0.5, 1.0, (64, 64, 3, 3)).astype(np.float32)
    tiny = (x * np.float32(1e-39)).astype(np.float32)
    assert (tiny != 0).all() and (np.abs(tiny) < np.finfo(np.float32).tiny).all()
    function = getattr(fastconv, op)
    normal = best_time(lambda: function(x, w, padding=1, algo=algo))
    denormal = best_time(lambda: function(tiny, w, padding=1, algo=algo))
    assert denormal < 4 * normal + 1e-3, (normal, denormal)
    # The documented effect: denormal inputs read as zero inside the kernels.
    np.testing.assert_array_equal(function(tiny, w, padding=1, algo=algo), 0)


def test_flush_to_zero_stays_inside_kernels():
    """After any call the caller's thread still has gradual underflow: NumPy's own arithmetic on
    denormals is unchanged. The reference algo keeps IEEE denormals inside too."""
    tiny = np.array([1e-39], np.float32)
    x = np.full((1, 4, 8, 8), 1e-39, np.float32)
    w = np.ones((4, 4, 3, 3), np.float32)
    for algo in ["auto", "direct", "im2col", "reference"]:
        y = fastconv.conv2d(x, w, padding=1, algo=algo)
        assert (tiny * np.float32(1.0))[0] == np.float32(1e-39)
        assert np.float32(1e-39) * np.float32(3) != 0
        if algo == "reference":
            assert (y > 0).all()  # 36 denormal terms summed exactly
    fastconv.fold(fastconv.unfold(x, 3, padding=1), (8, 8), 3, padding=1)
    assert (tiny / np.float32(2))[0] != 0


@pytest.mark.parametrize("op", CONV_OPS)
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("empty", ["batch", "in_channels", "out_channels"])
def test_zero_size_dims(op, algo, empty):
    x_shape, w_shape, kwargs = OP_CASES[op]
    kwargs = {**kwargs, "groups": 1}
    transposed = op.startswith("conv_transpose")
    x_shape, w_shape = list(x_shape), list(w_shape)
    if transposed:
        w_shape[0] = x_shape[1]
    else:
        w_shape[1] = x_shape[1]
    if empty == "batch":
        x_shape[0] = 0
    elif empty == "in_channels":  # no terms: the output is the bias
        x_shape[1] = 0
        w_shape[0 if transposed else 1] = 0
    else:
        w_shape[1 if transposed else 0] = 0
    x, w = np.ones(x_shape), np.ones(w_shape)
    out_channels = w_shape[1] if transposed else w_shape[0]
    b = np.arange(out_channels, dtype=np.float64) + 1
    y = getattr(fastconv, op)(x, w, b, algo=algo, **kwargs)
    expected = reference_conv(op, x, w, b, kwargs)
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_by_one_inputs(algo, dtype):
    rng = np.random.default_rng(4)
    for x_shape, w_shape, kwargs in [
        ((1, 1, 1, 1), (1, 1, 1, 1), {}),
        ((2, 5, 1, 1), (7, 5, 1, 1), {}),
        ((1, 3, 1, 1), (4, 3, 3, 3), {"padding": 1}),
        ((1, 3, 1, 1), (4, 3, 3, 3), {"padding": 1, "stride": 5}),
        ((1, 8, 1, 1), (8, 1, 3, 3), {"padding": 1, "groups": 8}),
    ]:
        x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
        y = fastconv.conv2d(x, w, algo=algo, **kwargs)
        assert_close(y, reference_conv("conv2d", x, w, None, kwargs), reference_conv("conv2d", x, w, None, kwargs, True),
                     dtype, reduction_length("conv2d", w, kwargs.get("groups", 1)))
    y = fastconv.conv_transpose2d(np.ones((1, 2, 1, 1), dtype), np.ones((2, 3, 1, 1), dtype), algo=algo)
    np.testing.assert_array_equal(y, np.full((1, 3, 1, 1), 2, dtype))


@pytest.mark.parametrize("algo", ALGOS)
def test_kernel_larger_than_input_with_enough_padding(algo):
    rng = np.random.default_rng(5)
    for op, x_shape, w_shape, kwargs in [
        ("conv2d", (1, 2, 3, 2), (3, 2, 7, 5), {"padding": 3}),
        ("conv2d", (1, 2, 3, 2), (3, 2, 7, 5), {"padding": "same"}),
        ("conv1d", (2, 3, 1), (4, 3, 9), {"padding": (4,), "dilation": 1}),
        ("conv1d", (1, 1, 2), (1, 1, 5), {"padding": 8, "dilation": 3}),
        ("conv3d", (1, 1, 1, 2, 1), (2, 1, 3, 5, 3), {"padding": 2}),
        ("conv_transpose2d", (1, 2, 2, 2), (2, 3, 7, 7), {"padding": 2}),
    ]:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        y = getattr(fastconv, op)(x, w, algo=algo, **kwargs)
        expected = reference_conv(op, x, w, None, kwargs)
        assert_close(y, expected, reference_conv(op, x, w, None, kwargs, True), np.float64, 1)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strides_far_larger_than_the_kernel(algo, dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 50, 37)).astype(dtype)
    for w_shape, stride, padding in [((5, 4, 3, 3), 17, 1), ((5, 4, 1, 1), (1000, 7), 0), ((5, 4, 2, 2), (9, 40), (3, 0))]:
        w = rng.standard_normal(w_shape).astype(dtype)
        kwargs = {"stride": stride, "padding": padding}
        y = fastconv.conv2d(x, w, algo=algo, **kwargs)
        assert_close(y, reference_conv("conv2d", x, w, None, kwargs), reference_conv("conv2d", x, w, None, kwargs, True),
                     dtype, w[0].size)
    # Transposed with a stride far past the kernel: mostly untouched (zero) output between taps.
    xt = rng.standard_normal((1, 4, 3, 2)).astype(dtype)
    wt = rng.standard_normal((4, 2, 2, 3)).astype(dtype)
    y = fastconv.conv_transpose2d(xt, wt, stride=(11, 25), algo=algo)
    expected = numpy_conv_transpose(xt, wt, None, (11, 25), (0, 0), (0, 0), (0, 0), (1, 1), 1)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert (y[:, :, 2:11] == 0).all()



@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("channels", [3, 16])
def test_left_padding_wider_than_the_strided_input(algo, channels):
    # Width 1, left padding 5, stride 10: every window but padding misses the input; igemm's
    # width-padded copy once wrote this padding past its rows.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, channels, 2, 1)).astype(np.float32)
    w = rng.standard_normal((8, channels, 1, 2)).astype(np.float32)
    kwargs = {"stride": (1, 10), "padding": ((0, 0), (5, 0))}
    y = fastconv.conv2d(x, w, np.ones(8, np.float32), algo=algo, **kwargs)
    np.testing.assert_array_equal(y, np.ones((1, 8, 2, 1), np.float32))


@pytest.mark.parametrize("algo", ["direct", "im2col", "auto"])
@pytest.mark.parametrize("stride", [2**62, 2**63 - 2])
def test_transposed_stride_near_int64_max(algo, stride):
    """A stride of 2^62 or more on a 2-element input: the direct path splits the output into stride
    classes, and walking all of them took forever (found by fuzz_problem), as did the overflow in
    their residue arithmetic; only the classes that hold pixels may be visited."""
    x = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2)
    w = np.ones((2, 4, 1), np.float32)  # 4 output channels: enough for igemm to take it
    # Output positions [stride - 1, stride]: x[..., 1] lands on the second.
    y = fastconv.conv_transpose1d(x, w, stride=stride, padding=((stride - 1, 0),), algo=algo)
    np.testing.assert_array_equal(y, [[[0.0, 6.0]] * 4])
