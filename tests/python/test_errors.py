# Every way to call fastconv wrongly, with the exception type and the message: it must name the
# function the user called, the argument, the value received and what was expected. Errors found by
# the C++ core (channel/group mismatch, output_padding, empty outputs) are checked here too, since the
# user reads them in terms of the Python call.
import numpy as np
import pytest

import fastconv
from fastconv import _api

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 4, 6, 6))
W = RNG.standard_normal((3, 4, 3, 3))
X32, W32 = X.astype(np.float32), W.astype(np.float32)
XT = RNG.standard_normal((2, 4, 5, 5))  # conv_transpose2d input: C_in = 4
WT = RNG.standard_normal((4, 3, 3, 3))  # (C_in, C_out/groups, kh, kw)


def conv2d(**kwargs):
    args = {"input": X, "weight": W, **kwargs}
    return fastconv.conv2d(**args)


def conv_t(**kwargs):
    args = {"input": XT, "weight": WT, **kwargs}
    return fastconv.conv_transpose2d(**args)


ALGO_LIST = r"'auto', 'direct', 'im2col', 'winograd', 'reference'"

CASES = [
    # dtypes
    ("int_input", lambda: conv2d(input=X.astype(np.int64)), TypeError,
     r"^conv2d: input has dtype int64, expected float32 or float64$"),
    ("float16_input", lambda: conv2d(input=X.astype(np.float16)), TypeError, r"^conv2d: input has dtype float16, expected"),
    ("complex_input", lambda: conv2d(input=X.astype(np.complex128)), TypeError, r"^conv2d: input has dtype complex128"),
    ("bool_input", lambda: conv2d(input=X > 0), TypeError, r"^conv2d: input has dtype bool, expected float32 or float64"),
    ("object_input", lambda: conv2d(input=X.astype(object)), TypeError, r"^conv2d: input has dtype object"),
    ("ragged_input", lambda: conv2d(input=[[1.0, 2.0], [3.0]]), TypeError, r"^conv2d: input could not be converted to a numpy array"),
    ("int_weight", lambda: conv2d(weight=W.astype(np.int32)), TypeError, r"^conv2d: weight has dtype int32, expected"),
    ("complex_bias", lambda: conv2d(bias=np.zeros(3, np.complex64)), TypeError, r"^conv2d: bias has dtype complex64"),
    ("mixed_weight", lambda: conv2d(input=X32), TypeError,
     r"^conv2d: weight has dtype float64 but input has dtype float32; input, weight and bias must share one dtype$"),
    ("mixed_bias", lambda: conv2d(input=X32, weight=W32, bias=np.zeros(3)), TypeError,
     r"^conv2d: bias has dtype float64 but input has dtype float32"),
    ("mixed_transpose", lambda: conv_t(weight=WT.astype(np.float32)), TypeError,
     r"^conv_transpose2d: weight has dtype float32 but input has dtype float64"),
    # ranks and shapes
    ("input_rank_low", lambda: conv2d(input=X[0, 0]), ValueError,
     r"^conv2d: input must have 3 dimensions \(C, H, W\) or 4 \(N, C, H, W\), got shape \(6, 6\)$"),
    ("input_rank_high", lambda: conv2d(input=X[None]), ValueError, r"^conv2d: input must have 3 .* got shape \(1, 2, 4, 6, 6\)$"),
    ("conv1d_rank", lambda: fastconv.conv1d(X, W[..., 0]), ValueError,
     r"^conv1d: input must have 2 dimensions \(C, W\) or 3 \(N, C, W\), got shape \(2, 4, 6, 6\)$"),
    ("weight_rank", lambda: conv2d(weight=W[0]), ValueError,
     r"^conv2d: weight must have 4 dimensions \(out_channels, in_channels/groups, H, W\), got shape \(4, 3, 3\)$"),
    ("transpose_weight_rank", lambda: conv_t(weight=WT[..., 0]), ValueError,
     r"^conv_transpose2d: weight must have 4 dimensions \(in_channels, out_channels/groups, H, W\)"),
    ("bias_length", lambda: conv2d(bias=np.zeros(4)), ValueError,
     r"^conv2d: bias must have shape \(3,\) \(one value per output channel\), got shape \(4,\)$"),
    ("bias_rank", lambda: conv2d(bias=np.zeros((1, 3))), ValueError, r"^conv2d: bias must have shape \(3,\) .*got shape \(1, 3\)$"),
    ("transpose_bias", lambda: conv_t(bias=np.zeros(4), groups=2, weight=RNG.standard_normal((4, 1, 3, 3))), ValueError,
     r"^conv_transpose2d: bias must have shape \(2,\)"),
    # parameter types
    ("float_stride", lambda: conv2d(stride=1.5), TypeError, r"^conv2d: stride must be an int or a tuple of 2 ints, got 1\.5 \(float\)$"),
    ("bool_stride", lambda: conv2d(stride=True), TypeError, r"^conv2d: stride must be an int or a tuple of 2 ints, got True \(bool\)$"),
    ("float_in_tuple", lambda: conv2d(dilation=(1, 2.0)), TypeError, r"^conv2d: dilation must be an int or a tuple of 2 ints, got \(1, 2\.0\)$"),
    ("string_stride", lambda: conv2d(stride="1"), TypeError, r"^conv2d: stride must be an int .*got '1'$"),
    ("float_padding", lambda: conv2d(padding=0.5), TypeError,
     r"^conv2d: padding must be 'same', 'valid', an int, a tuple of 2 ints or a tuple of 2 \(before, after\) pairs, got 0\.5 \(float\)$"),
    ("bool_padding", lambda: conv2d(padding=(False, 1)), TypeError, r"^conv2d: padding must be .*got \(False, 1\)$"),
    ("float_groups", lambda: conv2d(groups=1.0), TypeError, r"^conv2d: groups must be an int, got 1\.0 \(float\)$"),
    ("bool_groups", lambda: conv2d(groups=True), TypeError, r"^conv2d: groups must be an int, got True \(bool\)$"),
    ("algo_type", lambda: conv2d(algo=None), TypeError, rf"^conv2d: algo must be a string, one of {ALGO_LIST}; got None"),
    # parameter values
    ("stride_length", lambda: conv2d(stride=(1, 1, 1)), ValueError,
     r"^conv2d: stride must have 2 values \(one per spatial dimension\), got 3: \(1, 1, 1\)$"),
    ("conv3d_dilation_length", lambda: fastconv.conv3d(X[..., None], W[..., None], dilation=(1, 1)), ValueError,
     r"^conv3d: dilation must have 3 values"),
    ("zero_stride", lambda: conv2d(stride=0), ValueError, r"^conv2d: stride must be positive, got 0$"),
    ("negative_stride", lambda: conv2d(stride=(1, -2)), ValueError, r"^conv2d: stride must be positive, got \(1, -2\)$"),
    ("zero_dilation", lambda: conv2d(dilation=0), ValueError, r"^conv2d: dilation must be positive, got 0$"),
    ("zero_groups", lambda: conv2d(groups=0), ValueError, r"^conv2d: groups must be positive, got 0$"),
    ("negative_padding", lambda: conv2d(padding=-1), ValueError, r"^conv2d: padding must be non-negative, got -1$"),
    ("negative_padding_pair", lambda: conv2d(padding=((0, -1), 0)), ValueError,
     r"^conv2d: padding must be non-negative, got \(\(0, -1\), 0\)$"),
    ("padding_length", lambda: conv2d(padding=(1, 1, 1)), ValueError,
     r"^conv2d: padding must have 2 entries \(one per spatial dimension\), got 3: \(1, 1, 1\)$"),
    ("padding_pair_length", lambda: conv2d(padding=((1, 2, 3), (0, 0))), ValueError,
     r"^conv2d: each padding pair must be \(before, after\), got \(1, 2, 3\) in"),
    ("unknown_padding_string", lambda: conv2d(padding="full"), ValueError,
     r"^conv2d: padding must be 'same', 'valid', an int, .* got 'full'$"),
    ("padding_string_case", lambda: conv2d(padding="SAME"), ValueError, r"^conv2d: padding must be 'same', 'valid'.* got 'SAME'$"),
    ("unknown_algo", lambda: conv2d(algo="fast"), ValueError, rf"^conv2d: algo must be one of {ALGO_LIST}, got 'fast'$"),
    ("transpose_unknown_algo", lambda: conv_t(algo="fft"), ValueError, rf"^conv_transpose2d: algo must be one of {ALGO_LIST}"),
    ("transpose_winograd", lambda: conv_t(dilation=2, algo="winograd"), ValueError,
     r"^conv_transpose2d: no implementation of algo 'winograd' accepts .*winograd_sub_pixel: needs dilation 1"),
    ("strided_winograd", lambda: conv2d(stride=2, algo="winograd"), ValueError,
     r"^conv2d: no implementation of algo 'winograd' accepts .*winograd_4x4_3x3: needs stride 1"),
    # consistency, reported by the C++ core in the caller's terms
    ("channels_not_divisible", lambda: conv2d(groups=3, weight=RNG.standard_normal((3, 1, 3, 3))), ValueError,
     r"^conv2d: input channels \(4\) must be divisible by groups \(3\)$"),
    ("weight_channels", lambda: conv2d(weight=RNG.standard_normal((3, 3, 3, 3))), ValueError,
     r"^conv2d: weight\.shape\[1\] must equal input channels / groups = 4 / 1 = 4, got weight of shape \(3, 3, 3, 3\)$"),
    ("weight_channels_groups", lambda: conv2d(groups=2), ValueError,
     r"^conv2d: weight\.shape\[0\] \(output channels, 3\) must be divisible by groups \(2\)$"),
    ("kernel_larger_than_input", lambda: conv2d(weight=RNG.standard_normal((3, 4, 3, 7))), ValueError,
     r"^conv2d: spatial dimension 1: kernel too large: the dilated kernel spans 7 elements but the padded input has "
     r"only 6 \(input 6 \+ padding 0\+0\), which would give an empty output$"),
    ("dilated_kernel_too_large", lambda: conv2d(dilation=(3, 1)), ValueError,
     r"^conv2d: spatial dimension 0: kernel too large: the dilated kernel spans 7 elements"),
    ("transpose_weight_channels", lambda: conv_t(weight=RNG.standard_normal((3, 3, 3, 3))), ValueError,
     r"^conv_transpose2d: weight\.shape\[0\] must equal the input channels \(4\), got weight of shape \(3, 3, 3, 3\)$"),
    ("transpose_groups", lambda: conv_t(groups=3, weight=RNG.standard_normal((4, 1, 3, 3))), ValueError,
     r"^conv_transpose2d: weight\.shape\[0\] must equal|^conv_transpose2d: input channels \(4\) must be divisible by groups \(3\)$"),
    ("output_padding_too_large", lambda: conv_t(stride=2, output_padding=2), ValueError,
     r"^conv_transpose2d: spatial dimension 0: output_padding must be smaller than either stride or dilation, "
     r"got output_padding=2 with stride=2 and dilation=1$"),
    ("output_padding_default_stride", lambda: conv_t(output_padding=(0, 1)), ValueError,
     r"^conv_transpose2d: spatial dimension 1: output_padding must be smaller than either stride or dilation, "
     r"got output_padding=1 with stride=1 and dilation=1$"),
    ("negative_output_padding", lambda: conv_t(output_padding=-1), ValueError,
     r"^conv_transpose2d: output_padding must be non-negative, got -1$"),
    ("transpose_padding_too_large", lambda: conv_t(padding=(4, 0)), ValueError,
     r"^conv_transpose2d: spatial dimension 0: padding too large: the transposed convolution's output size would be -1"),
    ("transpose_padding_string", lambda: conv_t(padding="same"), ValueError,
     r"^conv_transpose2d: padding must be an int, a tuple of 2 ints or a tuple of 2 \(before, after\) pairs, got 'same' "
     r"\(padding strings apply only to conv1d/2d/3d and conv_output_size\)$"),
    ("transpose_empty_input", lambda: conv_t(input=XT[..., :0]), ValueError,
     r"^conv_transpose2d: input spatial size must be positive, got \(5, 0\)$"),
]


@pytest.fixture(params=[True, False], ids=["poisoned", "plain"])
def poison(request, monkeypatch):
    """The poisoned path computes output shapes before calling _core; errors must not change."""
    monkeypatch.setattr(_api, "_POISON_OUTPUT", request.param)


@pytest.mark.parametrize("call, error, pattern", [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_conv_errors(poison, call, error, pattern):
    with pytest.raises(error, match=pattern) as raised:
        call()
    assert type(raised.value) in (TypeError, ValueError)


UNFOLD_FOLD_CASES = [
    ("unfold_rank", lambda: fastconv.unfold(X[0, 0], 2), ValueError,
     r"^unfold: input must have 3 dimensions \(C, \*spatial\) or 4 \(N, C, \*spatial\) for a 2-d kernel_size, got shape \(6, 6\)$"),
    ("unfold_rank_3d", lambda: fastconv.unfold(X[0, 0], (2, 2, 2)), ValueError,
     r"^unfold: input must have 4 dimensions \(C, \*spatial\) or 5 \(N, C, \*spatial\) for a 3-d kernel_size, got shape \(6, 6\)$"),
    ("unfold_dims", lambda: fastconv.unfold(X, (1, 1, 1, 1)), ValueError,
     r"^unfold: 1 to 3 spatial dimensions are supported, got kernel_size=\(1, 1, 1, 1\)$"),
    ("unfold_dtype", lambda: fastconv.unfold(X.astype(np.int8), 2), TypeError, r"^unfold: input has dtype int8, expected float32 or float64$"),
    ("unfold_kernel_zero", lambda: fastconv.unfold(X, 0), ValueError, r"^unfold: kernel_size must be positive, got 0$"),
    ("unfold_kernel_type", lambda: fastconv.unfold(X, 2.0), TypeError, r"^unfold: kernel_size must be an int or a tuple of 2 ints, got 2\.0 \(float\)$"),
    ("unfold_negative_padding", lambda: fastconv.unfold(X, 2, padding=-1), ValueError, r"^unfold: padding must be non-negative, got -1$"),
    ("unfold_padding_string", lambda: fastconv.unfold(X, 2, padding="same"), ValueError, r"^unfold: padding must be an int.*got 'same'"),
    ("unfold_stride_length", lambda: fastconv.unfold(X, (2, 2), stride=(1, 1, 1)), ValueError,
     r"^unfold: stride must have 2 values \(one per spatial dimension\), got 3: \(1, 1, 1\)$"),
    ("unfold_kernel_too_large", lambda: fastconv.unfold(X, 7), ValueError,
     r"^unfold: spatial dimension 0: kernel too large: the dilated kernel spans 7 elements but the padded input has only 6"),
    ("fold_rank", lambda: fastconv.fold(X, (6, 6), 2), ValueError,
     r"^fold: input must have 2 dimensions \(C \* prod\(kernel_size\), L\) or 3 \(N, C \* prod\(kernel_size\), L\), got shape \(2, 4, 6, 6\)$"),
    ("fold_dtype", lambda: fastconv.fold(np.zeros((1, 4, 25), np.float16), (6, 6), 2), TypeError, r"^fold: input has dtype float16"),
    ("fold_not_divisible", lambda: fastconv.fold(np.zeros((1, 5, 25)), (6, 6), 2), ValueError,
     r"^fold: input\.shape\[1\] \(5\) must be divisible by the product of kernel_size \(4\)$"),
    ("fold_block_count", lambda: fastconv.fold(np.zeros((1, 4, 24)), (6, 6), 2), ValueError,
     r"^fold: input\.shape\[2\] \(24\) must equal the number of sliding blocks .* which is 25$"),
    ("fold_output_size_length", lambda: fastconv.fold(np.zeros((1, 4, 25)), (6, 6, 6), (2, 2)), ValueError,
     r"^fold: kernel_size must have 3 values .*got 2: \(2, 2\)$"),
    ("fold_output_size_negative", lambda: fastconv.fold(np.zeros((1, 4, 25)), -6, 2), ValueError,
     r"^fold: output_size must be non-negative, got -6$"),
    ("fold_output_size_type", lambda: fastconv.fold(np.zeros((1, 4, 25)), 6.0, 2), TypeError,
     r"^fold: output_size must be an int or a tuple of 2 ints, got 6\.0 \(float\)$"),
]


@pytest.mark.parametrize("call, error, pattern", [pytest.param(*case[1:], id=case[0]) for case in UNFOLD_FOLD_CASES])
def test_unfold_fold_errors(poison, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_runtime_argument_errors():
    with pytest.raises(ValueError, match=r"^set_num_threads: num_threads must be positive, got 0$"):
        fastconv.set_num_threads(0)
    with pytest.raises(TypeError, match=r"^set_num_threads: num_threads must be an int, got 1\.5 \(float\)$"):
        fastconv.set_num_threads(1.5)
    with pytest.raises(TypeError, match=r"^set_num_threads: num_threads must be an int, got True \(bool\)$"):
        fastconv.set_num_threads(True)
    with pytest.raises(ValueError, match=r"^algorithms: op must be one of 'conv1d', .*'conv_transpose3d', got 'conv4d'$"):
        fastconv.algorithms("conv4d", (1, 1, 4), (1, 1, 3))
    with pytest.raises(TypeError, match=r"^algorithms: dtype must be float32 or float64, got 'int32'$"):
        fastconv.algorithms("conv1d", (1, 1, 4), (1, 1, 3), dtype="int32")
    with pytest.raises(TypeError, match=r"^algorithms: input_shape must be a tuple of non-negative ints, got \(1, -1, 4\)$"):
        fastconv.algorithms("conv1d", (1, -1, 4), (1, 1, 3))
    with pytest.raises(ValueError, match=r"^algorithms: weight\.shape\[1\] must equal input channels / groups"):
        fastconv.algorithms("conv1d", (1, 2, 4), (1, 1, 3))
    with pytest.raises(ValueError, match=rf"^algorithms: algo must be one of {ALGO_LIST}, got 'gemm'$"):
        fastconv.algorithms("conv2d", (1, 2, 4, 4), (1, 2, 3, 3), algo="gemm")


def test_state_survives_errors():
    """A failed call leaves nothing behind: the next valid call still works and gives the same answer."""
    expected = conv2d(padding=1)
    for _, call, error, _ in CASES:
        with pytest.raises(error):
            call()
    np.testing.assert_array_equal(conv2d(padding=1), expected)


def test_validation_cache_never_admits_a_bad_call():
    """Geometry validated once per call signature is reused, but only for the same exact values:
    a bool, a numpy integer or a list in place of an int is checked afresh, and an error is never
    remembered as a success (nor a success as an error)."""
    expected = conv2d(stride=(1, 1), padding=1)
    with pytest.raises(TypeError, match=r"^conv2d: stride must be an int or a tuple of 2 ints, got True \(bool\)$"):
        conv2d(stride=True, padding=1)
    with pytest.raises(TypeError, match=r"^conv2d: stride must be an int or a tuple of 2 ints, got \(True, 1\)$"):
        conv2d(stride=(True, 1), padding=1)
    for stride in ((1, 1), [1, 1], 1, np.int64(1), (np.int32(1), 1)):
        np.testing.assert_array_equal(conv2d(stride=stride, padding=1), expected)
    with pytest.raises(ValueError, match=r"^conv_transpose2d: padding must be"):
        conv_t(padding="same")
    conv2d(padding="same")
    with pytest.raises(ValueError, match=r"^conv_transpose2d: padding must be"):
        conv_t(padding="same")
    for _ in range(2):
        with pytest.raises(ValueError, match=r"^conv2d: stride must be positive"):
            conv2d(stride=0)
    # An input of another shape is validated for that shape, not served the cached geometry.
    with pytest.raises(ValueError, match=r"^conv2d: input must have 3 dimensions"):
        fastconv.conv2d(X[0, 0], W, stride=(1, 1), padding=1)
    _api._GEOMETRY_CACHE.clear()
    np.testing.assert_array_equal(conv2d(stride=(1, 1), padding=1), expected)
