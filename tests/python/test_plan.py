# Prepacked plans (fastconv.Conv2d and friends): the same results as the functional calls, bit for
# bit (same implementation, same packed weights, same summation order), for every op, algo, dtype and
# memory format (with algo "auto" a plan may pick a family whose packing only pays off when done
# once, e.g. igemm for a tiny transposed layer; it then equals the functional call of that family); weights and bias are copied at construction; one plan serves many input shapes and
# many threads; bad arguments raise the functional API's errors.
import threading

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
from hypothesis import given, settings
from hypothesis import strategies as st
from test_channels_last import channels_last
from test_conv import conv_cases

import fastconv
from fastconv import _api

FAMILY = {row["name"]: row["algo"] for row in fastconv.info()["implementations"]}


def functional_algo(plan, x, algo):
    """The algo whose functional call the plan must equal bit for bit."""
    if algo != "auto":
        return algo
    batched = x if x.ndim == plan.weight.ndim else x[np.newaxis]
    impl = plan.implementation(batched.shape, _api._is_channels_last(batched))
    return FAMILY[impl.split(" ")[0]]


PLANS = {
    "conv1d": fastconv.Conv1d, "conv2d": fastconv.Conv2d, "conv3d": fastconv.Conv3d,
    "conv_transpose1d": fastconv.ConvTranspose1d, "conv_transpose2d": fastconv.ConvTranspose2d,
    "conv_transpose3d": fastconv.ConvTranspose3d,
}


@pytest.mark.parametrize("op", CONV_OPS)
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@settings(max_examples=10)
@given(data=st.data(), last=st.booleans())
def test_plan_equals_functional_bitwise(op, algo, dtype, data, last):
    case = data.draw(conv_cases(op))
    ndim, _ = op_geometry(op)
    x, w, b = case.x.astype(dtype), case.w.astype(dtype), maybe(case.b, dtype)
    if last and x.ndim == ndim + 2 and x.shape[1] > 1:
        x = channels_last(x)
    plan = PLANS[op](w, b, algo=algo, **case.kwargs)
    expected = getattr(fastconv, op)(x, w, b, algo=functional_algo(plan, x, algo), **case.kwargs)
    for _ in range(2):  # the second call reuses the packed weights
        y = plan(x)
        assert y.dtype == expected.dtype and y.shape == expected.shape
        np.testing.assert_array_equal(y, expected)


def test_plan_copies_weights_and_serves_many_shapes():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    plan = fastconv.Conv2d(w, b, stride=2, padding="same")
    kept_w, kept_b = w.copy(), b.copy()
    w[:] = 0
    b[:] = 0
    for shape in [(1, 4, 9, 9), (3, 4, 5, 12), (4, 6, 7)]:
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_array_equal(plan(x), fastconv.conv2d(x, kept_w, kept_b, stride=2, padding="same"))
    assert "igemm" in plan.implementation((1, 4, 9, 9)) or plan.implementation((1, 4, 9, 9))


def test_dense_float32_plan_uses_prepacked_weights():
    plan = fastconv.Conv2d(np.ones((64, 32, 3, 3), np.float32), padding=1)
    assert plan.implementation((1, 32, 14, 14)).endswith("(prepacked)")


def test_tiny_transposed_plan_prepacks_where_the_function_reads_weights_in_place():
    w = np.ones((64, 32, 4, 4), np.float32)
    plan = fastconv.ConvTranspose2d(w, stride=2, padding=1)
    assert plan.implementation((1, 64, 4, 4)) == "igemm (prepacked)"
    assert fastconv.algorithms("conv_transpose2d", (1, 64, 4, 4), w.shape, stride=2, padding=1)["selected"] == "gemm_col2im"


def test_plan_is_thread_safe():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    plan = fastconv.ConvTranspose2d(w, None, stride=2, padding=1, output_padding=1)
    inputs = [rng.standard_normal((2, 16, 5 + i % 3, 6)).astype(np.float32) for i in range(16)]
    expected = [fastconv.conv_transpose2d(x, w, None, 2, 1, 1, algo=functional_algo(plan, x, "auto")) for x in inputs]
    results = [None] * len(inputs)

    def work(i):
        for _ in range(5):
            results[i] = plan(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_plan_errors_name_the_argument():
    w = np.ones((4, 2, 3, 3), np.float32)
    with pytest.raises(TypeError, match="weight has dtype int64"):
        fastconv.Conv2d(np.ones((4, 2, 3, 3), np.int64))
    with pytest.raises(ValueError, match="weight must have 4 dimensions"):
        fastconv.Conv2d(np.ones((4, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        fastconv.Conv2d(w, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="stride must be positive"):
        fastconv.Conv2d(w, stride=0)
    with pytest.raises(ValueError, match="algo must be one of"):
        fastconv.Conv2d(w, algo="fastest")
    plan = fastconv.Conv2d(w)
    with pytest.raises(TypeError, match="input has dtype float64"):
        plan(np.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="channel"):
        plan(np.ones((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="kernel too large"):
        plan(np.ones((1, 2, 2, 2), np.float32))


SMALL_IMAGE_CASES = [
    # resnet_3x3_7's size, strided along the width (at stride 1 a 3x3 goes to Winograd)
    ("conv2d", (1, 512, 7, 7), (512, 512, 3, 3), dict(padding=1, stride=(1, 2))),
    ("conv2d", (3, 96, 9, 8), (70, 96, 3, 3), dict(padding=(2, 0), stride=(2, 1), dilation=(1, 2))),
    ("conv2d", (2, 64, 6, 6), (128, 32, 3, 3), dict(padding=1, groups=2, stride=(1, 2))),
    ("conv1d", (1, 80, 50), (65, 80, 5), dict(padding=2)),
    ("conv3d", (1, 16, 3, 4, 5), (64, 16, 3, 3, 2), dict(padding=(1, 1, 0))),  # a 3x3 height x width goes to Winograd
    ("conv2d", (1, 40, 4, 4), (66, 40, 7, 7), dict(padding=2)),  # kernel larger than the input
]


@pytest.mark.parametrize("op, x_shape, w_shape, kwargs", SMALL_IMAGE_CASES)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_small_image_gemm_matches_torch(torch, op, x_shape, w_shape, kwargs, layout):
    """Images of at most 64 output pixels and at least 64 output channels per group run with the
    weights read in place (small_image_gemm): chosen by auto for functional calls and by im2col;
    every geometry, groups, batch and both layouts agree with torch and with the plan."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(w_shape[0], dtype=np.float32)
    assert fastconv.algorithms(op, x_shape, w_shape, **kwargs)["selected"] == "small_image_gemm"
    assert fastconv.algorithms(op, x_shape, w_shape, algo="im2col", **kwargs)["selected"] == "small_image_gemm"
    if layout == "channels_last":
        x = channels_last(x)
    fn = getattr(fastconv, op)
    expected = torch_conv(torch, op, x, w, b, kwargs)
    magnitude = reference_conv(op, x, w, b, kwargs, absolute=True)
    reduction = reduction_length(op, w, kwargs.get("groups", 1))
    for algo in ("auto", "im2col"):
        assert_close(fn(x, w, b, algo=algo, **kwargs), expected, magnitude, np.float32, reduction)
    y = fn(x, w, None, **kwargs)
    assert_close(y, torch_conv(torch, op, x, w, None, kwargs), reference_conv(op, x, w, None, kwargs, absolute=True),
                 np.float32, reduction)
    threads = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(1)
        np.testing.assert_array_equal(fn(x, w, None, **kwargs), y)  # bitwise, any thread count
    finally:
        fastconv.set_num_threads(threads)
