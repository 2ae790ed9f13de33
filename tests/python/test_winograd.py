# algo="winograd" (F(4x4, 3x3), F(2x2, 3x3) for layers with few tiles) through the Python API:
# against the NumPy float64 reference within the suite's bound, in both memory layouts, with plans,
# bitwise determinism, the rule "auto" uses, and the errors for layers it cannot run. The bound is
# the suite's (1e-5 in float32) relative to the largest sum |w||x| + |b| over each element's output
# tile rather than its own: the transforms mix the whole tile, so an element with small taps of its
# own carries its tile's rounding errors (hypothesis found 1.6e-5 of the element's own scale with one
# channel). Measured worst case against the tile scale on the C++ test's shapes: 1.1e-6 in float32
# (docs/winograd.md). An O(1) mistake (a wrong tap, tile offset or channel tail) fails everywhere.
import numpy as np
import pytest
from conftest import DTYPES, assert_close, numpy_conv
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _core


def channels_last(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


def tile_max(magnitude: np.ndarray, m: int, dilation=(1, 1)) -> np.ndarray:
    """Each element replaced by the largest over its m x m output tile: tiles start at row and
    column 0 of each dilation phase (the outputs congruent modulo the dilation) and step through
    the phase's rows and columns."""
    out = np.empty_like(magnitude)
    dh, dw = dilation
    for a in range(dh):
        for b in range(dw):
            phase = magnitude[:, :, a::dh, b::dw]
            n, k, h, w = phase.shape
            hp, wp = -(-h // m) * m, -(-w // m) * m
            padded = np.zeros((n, k, hp, wp))
            padded[:, :, :h, :w] = phase
            tiles = padded.reshape(n, k, hp // m, m, wp // m, m).max(axis=(3, 5))
            out[:, :, a::dh, b::dw] = np.repeat(np.repeat(tiles, m, axis=2), m, axis=3)[:, :, :h, :w]
    return out


def tile_size(x_shape, w_shape, dtype, **kwargs) -> int:
    impl = fastconv.algorithms("conv2d", x_shape, w_shape, dtype=dtype, algo="winograd", **kwargs)["selected"]
    return 4 if impl == "winograd_4x4_3x3" else 2


def check(x, w, b, pad_before, pad_after, groups, dtype, memory="NCHW", dilation=(1, 1)):
    """fastconv's winograd result against the float64 reference on the values as rounded to dtype."""
    x, w = x.astype(dtype), w.astype(dtype)
    b = None if b is None else b.astype(dtype)
    padding = tuple(zip(pad_before, pad_after))
    xm = channels_last(x) if memory == "NHWC" else x
    y = fastconv.conv2d(xm, w, b, padding=padding, dilation=dilation, groups=groups, algo="winograd")
    expected = numpy_conv(x, w, b, (1, 1), pad_before, pad_after, dilation, groups)
    magnitude = numpy_conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), (1, 1), pad_before, pad_after,
                           dilation, groups)
    m = tile_size(x.shape, w.shape, dtype, padding=padding, dilation=dilation, groups=groups)
    assert_close(y, expected, tile_max(magnitude, m, dilation), dtype, (x.shape[1] // groups) * 9)
    if not xm.flags.c_contiguous and y.shape[1] > 1 and y.shape[0] > 0 and y.shape[2] * y.shape[3] > 1:
        assert np.moveaxis(y, 1, -1).flags.c_contiguous, "the result keeps the input's memory format"
    return y


CASES = [
    # name, x shape, w shape, pad before, pad after, groups
    ("tiny_valid", (1, 1, 3, 3), (1, 1, 3, 3), (0, 0), (0, 0), 1),
    ("tail_tiles", (1, 3, 7, 9), (5, 3, 3, 3), (1, 1), (1, 1), 1),
    ("pad0_batch3", (3, 5, 11, 6), (7, 5, 3, 3), (0, 0), (0, 0), 1),
    ("pad2", (1, 4, 5, 5), (3, 4, 3, 3), (2, 2), (2, 2), 1),
    ("asymmetric", (2, 3, 6, 10), (4, 3, 3, 3), (2, 0), (0, 1), 1),
    ("batch0", (0, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), 1),
    ("odd_channels", (1, 17, 9, 13), (33, 17, 3, 3), (1, 1), (1, 1), 1),
    ("groups", (2, 6, 9, 8), (9, 2, 3, 3), (1, 1), (1, 1), 3),
    ("groups_wide", (1, 8, 6, 7), (74, 4, 3, 3), (1, 1), (1, 1), 2),
    ("deep", (1, 300, 5, 6), (19, 300, 3, 3), (1, 1), (1, 1), 1),
    ("many_tiles", (3, 8, 30, 34), (16, 8, 3, 3), (1, 1), (1, 1), 1),
    ("resnet_like", (1, 64, 20, 20), (64, 64, 3, 3), (1, 1), (1, 1), 1),
]

# Dilated layers run phase by phase (outputs congruent modulo the dilation): unequal phases,
# asymmetric padding, dilation along one axis only, a kernel span larger than the input.
DILATED_CASES = [
    ("dilated_2", (1, 16, 13, 17), (24, 16, 3, 3), (2, 2), (2, 2), 1, (2, 2)),
    ("dilated_3x2_asymmetric", (2, 5, 11, 12), (7, 5, 3, 3), (3, 0), (1, 2), 1, (3, 2)),
    ("dilated_width_only", (1, 6, 8, 20), (6, 3, 3, 3), (1, 4), (1, 4), 2, (1, 4)),
    ("dilated_span_over_input", (1, 4, 3, 4), (5, 4, 3, 3), (3, 4), (3, 4), 1, (3, 4)),
    ("dilated_deep", (1, 264, 9, 10), (40, 264, 3, 3), (2, 2), (2, 2), 1, (2, 2)),
]


@pytest.mark.parametrize("name, x_shape, w_shape, before, after, groups", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("memory", ["NCHW", "NHWC"])
def test_matches_float64_reference(name, x_shape, w_shape, before, after, groups, dtype, memory):
    rng = np.random.default_rng(len(name))
    x, w = rng.uniform(-1, 1, x_shape), rng.uniform(-1, 1, w_shape)
    b = rng.uniform(-1, 1, w_shape[0])
    check(x, w, b, before, after, groups, dtype, memory)


@pytest.mark.parametrize("name, x_shape, w_shape, before, after, groups, dilation", DILATED_CASES,
                         ids=[c[0] for c in DILATED_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("memory", ["NCHW", "NHWC"])
def test_dilated_matches_float64_reference_and_torch(torch, name, x_shape, w_shape, before, after, groups, dilation,
                                                     dtype, memory):
    rng = np.random.default_rng(len(name))
    x, w = rng.uniform(-1, 1, x_shape), rng.uniform(-1, 1, w_shape)
    b = rng.uniform(-1, 1, w_shape[0])
    y = check(x, w, b, before, after, groups, dtype, memory, dilation)
    # torch pads symmetrically: the symmetric cases against it as well, within the same bound.
    if before == after:
        expected = torch.nn.functional.conv2d(torch.from_numpy(x.astype(dtype)).double(),
                                              torch.from_numpy(w.astype(dtype)).double(),
                                              torch.from_numpy(b.astype(dtype)).double(), padding=before,
                                              dilation=dilation, groups=groups).numpy()
        magnitude = numpy_conv(np.abs(x), np.abs(w), np.abs(b), (1, 1), before, after, dilation, groups)
        m = tile_size(x.shape, w.shape, dtype, padding=before, dilation=dilation, groups=groups)
        assert_close(y, expected, tile_max(magnitude, m, dilation), dtype, (x.shape[1] // groups) * 9)


@settings(max_examples=30)
@given(data=st.data())
def test_random_layers_match_reference(data):
    groups = data.draw(st.sampled_from([1, 1, 2, 3]))
    c, k = groups * data.draw(st.integers(1, 20)), groups * data.draw(st.integers(1, 20))
    before = tuple(data.draw(st.integers(0, 2)) for _ in range(2))
    after = tuple(data.draw(st.integers(0, 2)) for _ in range(2))
    dilation = tuple(data.draw(st.sampled_from([1, 1, 2, 3])) for _ in range(2))
    size = tuple(data.draw(st.integers(max(1, 2 * d + 1 - bf - af), 23))
                 for bf, af, d in zip(before, after, dilation))
    batch = data.draw(st.sampled_from([0, 1, 2, 3]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, w = rng.uniform(-1, 1, (batch, c) + size), rng.uniform(-1, 1, (k, c // groups, 3, 3))
    b = rng.uniform(-1, 1, k) if data.draw(st.booleans()) else None
    dtype = data.draw(st.sampled_from(DTYPES))
    check(x, w, b, before, after, groups, dtype, data.draw(st.sampled_from(["NCHW", "NHWC"])), dilation)


# 3-D (KD, 3, 3) kernels: KD depth taps of 3x3 Winograd summed by the GEMM.
CONV3D_CASES = [
    # name, x shape, w shape, padding, dilation, groups
    ("video_like", (1, 16, 6, 12, 13), (16, 16, 3, 3, 3), (1, 1, 1), (1, 1, 1), 1),
    ("depth_tap_2_dilated", (2, 6, 5, 9, 8), (7, 6, 2, 3, 3), (1, 2, 0), (2, 1, 2), 1),
    ("grouped_depth_1", (1, 8, 3, 7, 7), (12, 4, 1, 3, 3), (0, 1, 1), (1, 1, 1), 2),
    ("deep_fused", (1, 260, 2, 3, 3), (24, 260, 2, 3, 3), (1, 1, 1), (1, 1, 1), 1),
]


@pytest.mark.parametrize("name, x_shape, w_shape, padding, dilation, groups", CONV3D_CASES,
                         ids=[c[0] for c in CONV3D_CASES])
@pytest.mark.parametrize("memory", ["NCDHW", "NDHWC"])
def test_conv3d_matches_torch(torch, name, x_shape, w_shape, padding, dilation, groups, memory):
    rng = np.random.default_rng(len(name))
    x, w = rng.uniform(-1, 1, x_shape).astype(np.float32), rng.uniform(-1, 1, w_shape).astype(np.float32)
    b = rng.uniform(-1, 1, w_shape[0]).astype(np.float32)
    xm = channels_last(x) if memory == "NDHWC" else x
    kwargs = dict(padding=padding, dilation=dilation, groups=groups)
    y = fastconv.conv3d(xm, w, b, algo="winograd", **kwargs)
    args = [torch.from_numpy(a).double() for a in (x, w, b)]
    expected = torch.nn.functional.conv3d(*args, **kwargs).numpy()
    magnitude = torch.nn.functional.conv3d(*[a.abs() for a in args], **kwargs).numpy()
    impl = fastconv.algorithms("conv3d", x_shape, w_shape, algo="winograd", **kwargs)["selected"]
    m = 4 if impl == "winograd_4x4_3x3" else 2
    n, k, od, oh, ow = magnitude.shape
    scale = tile_max(magnitude.reshape(n, k * od, oh, ow), m, dilation[1:]).reshape(magnitude.shape)
    assert_close(y, expected, scale, np.float32, (x_shape[1] // groups) * w_shape[2] * 9)
    if memory == "NDHWC":
        assert np.moveaxis(y, 1, -1).flags.c_contiguous, "the result keeps the input's memory format"
    plan = fastconv.Conv3d(w, b, algo="winograd", **kwargs)
    np.testing.assert_array_equal(plan(xm), y)


def test_unbatched_input():
    rng = np.random.default_rng(1)
    x, w = rng.uniform(-1, 1, (4, 9, 9)).astype(np.float32), rng.uniform(-1, 1, (5, 4, 3, 3)).astype(np.float32)
    y = fastconv.conv2d(x, w, padding=1, algo="winograd")
    np.testing.assert_array_equal(y, fastconv.conv2d(x[None], w, padding=1, algo="winograd")[0])


def test_matches_torch_channels_last(torch):
    rng = np.random.default_rng(2)
    x = channels_last(rng.uniform(-1, 1, (2, 32, 17, 19)).astype(np.float32))
    w, b = rng.uniform(-1, 1, (48, 32, 3, 3)).astype(np.float32), rng.uniform(-1, 1, 48).astype(np.float32)
    y = fastconv.conv2d(x, w, b, padding=1, algo="winograd")
    tx = torch.from_numpy(np.ascontiguousarray(x)).double()
    expected = torch.nn.functional.conv2d(tx, torch.from_numpy(w).double(), torch.from_numpy(b).double(), padding=1)
    magnitude = torch.nn.functional.conv2d(tx.abs(), torch.from_numpy(np.abs(w)).double(),
                                           torch.from_numpy(np.abs(b)).double(), padding=1)
    m = tile_size(x.shape, w.shape, np.float32, padding=1)
    assert_close(y, expected.numpy(), tile_max(magnitude.numpy(), m), np.float32, 32 * 9)


@pytest.mark.parametrize("memory", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_plan_is_bitwise_the_functional_call(memory, dtype):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (2, 24, 29, 31)).astype(dtype)
    x = channels_last(x) if memory == "NHWC" else x
    w, b = rng.uniform(-1, 1, (40, 24, 3, 3)).astype(dtype), rng.uniform(-1, 1, 40).astype(dtype)
    plan = fastconv.Conv2d(w, b, padding=1, algo="winograd")
    assert plan.implementation(x.shape, channels_last=memory == "NHWC") == "winograd_4x4_3x3 (prepacked)"
    expected = fastconv.conv2d(x, w, b, padding=1, algo="winograd")
    for _ in range(2):
        np.testing.assert_array_equal(plan(x), expected)
    small = rng.uniform(-1, 1, (1, 24, 2, 2)).astype(dtype)  # a 2x2 output: one 2x2 tile
    assert plan.implementation(small.shape) == "winograd_2x2_3x3 (prepacked)"
    np.testing.assert_array_equal(plan(small), fastconv.conv2d(small, w, b, padding=1, algo="winograd"))


@pytest.mark.parametrize("memory", ["NCHW", "NHWC"])
def test_filters_transformed_inside_the_gemm_tasks(memory):
    """Filters that outweigh the activations (2 x 40 x 264 x 3 x 3 on 9 tiles) are transformed
    chunk by chunk inside the GEMM tasks of a functional call: two groups, a depth over one
    256-channel GEMM block, a partial column sliver. Against the float64 reference, and bitwise
    the prepacked plan (one whole transform) at 1 and 2 threads."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (1, 528, 9, 10))
    w, b = rng.uniform(-1, 1, (80, 264, 3, 3)), rng.uniform(-1, 1, 80)
    y = check(x, w, b, (1, 1), (1, 1), 2, np.float32, memory)
    xm = x.astype(np.float32)
    xm = channels_last(xm) if memory == "NHWC" else xm
    plan = fastconv.Conv2d(w.astype(np.float32), b.astype(np.float32), padding=1, groups=2, algo="winograd")
    saved = fastconv.get_num_threads()
    try:
        for threads in (1, 2):
            fastconv.set_num_threads(threads)
            np.testing.assert_array_equal(plan(xm), y)
            np.testing.assert_array_equal(
                fastconv.conv2d(xm, w.astype(np.float32), b.astype(np.float32), padding=1, groups=2, algo="winograd"), y)
    finally:
        fastconv.set_num_threads(saved)


def test_bitwise_deterministic_across_runs_and_threads():
    rng = np.random.default_rng(4)
    x = channels_last(rng.uniform(-1, 1, (3, 40, 30, 34)).astype(np.float32))
    w = rng.uniform(-1, 1, (36, 40, 3, 3)).astype(np.float32)
    saved = fastconv.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3, 1):
            fastconv.set_num_threads(threads)
            results.append(fastconv.conv2d(x, w, padding=1, algo="winograd"))
    finally:
        fastconv.set_num_threads(saved)
    for y in results[1:]:
        np.testing.assert_array_equal(y, results[0])


def selected(x_shape, w_shape, dtype="float32", groups=1):
    return fastconv.algorithms("conv2d", x_shape, w_shape, padding=1, groups=groups, dtype=dtype)["selected"]


def test_auto_rule():
    """auto takes Winograd for float32 layers with >= 16 channels each way, <= 512 input channels per
    group (where its error is measured within 1e-5) and enough 4x4 tiles to amortise the filter
    transform (Cg * Kg / 512, at least 16; just 4 when the filters outweigh the activations, so a
    functional call transforms them inside the GEMM tasks; 16 for a plan); never for float64."""
    assert selected((1, 64, 56, 56), (64, 64, 3, 3)) == "winograd_4x4_3x3"
    assert selected((1, 128, 28, 28), (128, 128, 3, 3)) == "winograd_4x4_3x3"
    assert selected((8, 128, 28, 28), (128, 128, 3, 3)) == "winograd_4x4_3x3"
    assert selected((1, 64, 56, 56), (64, 64, 3, 3), dtype="float64") != "winograd_4x4_3x3"
    assert selected((1, 256, 14, 14), (256, 256, 3, 3)).startswith("winograd")  # 16 tiles, filters in L2
    # 4 tiles, filters in L2: Winograd where the GEMM's row tile leaves it at most 2/3 of direct's
    # products (AVX2's 6 rows: F(4x4) 6 x 36 against 49 x 9), igemm's family where it does not
    # (AVX-512's 14 rows: F(2x2) 28 x 16, F(4x4) 14 x 36)
    mr = next(k["mr"] for k in fastconv.info()["gemm_ukernels"] if k["active"] and k["dtype"] == "float32")
    f4_products, f2_products = -(-4 // mr) * mr * 36, -(-16 // mr) * mr * 16
    products = f2_products if f2_products * 4 <= f4_products * 5 else f4_products  # the registry's pick
    few_tiles_winograd = products * 3 <= 49 * 9 * 2
    assert selected((1, 512, 7, 7), (512, 512, 3, 3)).startswith("winograd") == few_tiles_winograd
    assert selected((1, 512, 4, 4), (512, 512, 3, 3)) != "winograd_4x4_3x3"  # 1 tile
    # dilated_3x3: 4 phases of 16x16 outputs, 64 tiles (padding 2 keeps the size)
    assert fastconv.algorithms("conv2d", (1, 256, 32, 32), (256, 256, 3, 3), padding=2,
                               dilation=2)["selected"] == "winograd_4x4_3x3"
    plan = fastconv.Conv2d(np.zeros((512, 512, 3, 3), np.float32), padding=1)
    assert plan.implementation((1, 512, 7, 7)) == "igemm (prepacked)"  # plans: 16 tiles
    assert plan.implementation((1, 512, 14, 14)).startswith("winograd")  # F(2x2) or F(4x4) by ISA
    # 128 tiles < 512 * 512 / 512, and their transformed inputs and products (19 MB) too big to fuse
    assert selected((8, 512, 14, 14), (512, 512, 3, 3)) == "igemm"
    assert selected((8, 256, 14, 14), (256, 256, 3, 3)).startswith("winograd")  # 2x2 or 4x4 tiles by ISA
    assert selected((64, 1024, 14, 14), (64, 1024, 3, 3)) == "igemm"  # more than 512 channels
    assert selected((1, 256, 28, 28), (256, 8, 3, 3), groups=32) != "winograd_4x4_3x3"  # 8 per group
    assert selected((1, 8, 56, 56), (64, 8, 3, 3)) != "winograd_4x4_3x3"
    assert fastconv.algorithms("conv2d", (1, 64, 56, 56), (64, 64, 3, 3), stride=2, padding=1)["selected"] == "igemm"


# Transposed convolutions on their sub-pixel form (winograd_sub_pixel): every output pixel reads
# at most 3 x 3 input pixels. The bound scales with the largest sum |w||x| + |b| of each output
# plane: the tiles mix 4 x 4 pixels of every sub-pixel class, so a tile scale would need the
# classes' interleaving; the plane's is looser but an O(1) mistake (a wrong class, tap or window
# offset) still fails it by orders of magnitude.
@settings(max_examples=40)
@given(data=st.data())
def test_transposed_random_layers_match_torch(torch, data):
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(2))
    # Kernels up to 3 strides wide (wider ones that still fit occur at some paddings only).
    kernel = tuple(data.draw(st.integers(1, 3 * s)) for s in stride)
    padding = tuple(data.draw(st.integers(0, k - 1)) for k in kernel)
    output_padding = tuple(data.draw(st.integers(0, s - 1)) for s in stride)
    c_in, c_out = data.draw(st.integers(1, 20)), data.draw(st.integers(1, 20))
    size = tuple(data.draw(st.integers(1, 13)) for _ in range(2))
    batch = data.draw(st.sampled_from([0, 1, 2]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, w = rng.uniform(-1, 1, (batch, c_in) + size), rng.uniform(-1, 1, (c_in, c_out) + kernel)
    b = rng.uniform(-1, 1, c_out) if data.draw(st.booleans()) else None
    dtype = data.draw(st.sampled_from(DTYPES))
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding)
    torch_args = lambda a, wt, bb: (torch.from_numpy(a.astype(dtype)).double(), torch.from_numpy(wt.astype(dtype)).double(),
                                    None if bb is None else torch.from_numpy(bb.astype(dtype)).double())
    try:
        expected = torch.nn.functional.conv_transpose2d(*torch_args(x, w, b), **kwargs).numpy()
    except RuntimeError:  # a negative output size
        return
    if 0 in expected.shape[2:]:  # an empty output: fastconv raises ValueError for it, tested elsewhere
        return
    try:
        fastconv.algorithms("conv_transpose2d", x.shape, w.shape, dtype=np.dtype(dtype).name, algo="winograd", **kwargs)
    except ValueError as error:  # the only reason left: some class reads more than 3 x 3 input pixels
        assert "winograd_sub_pixel: each output pixel may read at most 3 x 3 input pixels" in str(error)
        return
    xm = channels_last(x.astype(dtype)) if data.draw(st.booleans()) else x.astype(dtype)
    y = fastconv.conv_transpose2d(xm, w.astype(dtype), None if b is None else b.astype(dtype), algo="winograd",
                                  **kwargs)
    magnitude = torch.nn.functional.conv_transpose2d(*torch_args(np.abs(x), np.abs(w), None if b is None else np.abs(b)),
                                                     **kwargs).numpy()
    plane = magnitude.max(axis=(2, 3), keepdims=True, initial=0) * np.ones_like(magnitude)
    assert_close(y, expected, plane, dtype, c_in * 9)
    plan = fastconv.ConvTranspose2d(w.astype(dtype), None if b is None else b.astype(dtype), algo="winograd", **kwargs)
    np.testing.assert_array_equal(plan(xm), y)


def test_auto_rule_transposed():
    """auto runs a transposed layer on Winograd's sub-pixel form where every class has a full 3x3
    window and it does at most 2/3 of direct summation's products with enough tiles to amortise a
    whole filter transform (batch8_up); not on few tiles (dcgan_up_16: the filter transform fused
    into the GEMM tasks), narrower windows (fcn_up_3x3's 2x2, unet_up_2x2's 1x1) or float64."""
    def selected(x_shape, w_shape, dtype="float32", **kwargs):
        return fastconv.algorithms("conv_transpose2d", x_shape, w_shape, dtype=dtype, **kwargs)["selected"]

    assert selected((8, 128, 32, 32), (128, 64, 4, 4), stride=2, padding=1) == "winograd_sub_pixel"
    assert selected((8, 128, 32, 32), (128, 64, 4, 4), "float64", stride=2, padding=1) != "winograd_sub_pixel"
    assert selected((1, 128, 16, 16), (128, 64, 4, 4), stride=2, padding=1) == "igemm"
    assert selected((1, 64, 56, 56), (64, 64, 3, 3), stride=2, padding=1, output_padding=1) == "igemm"
    assert selected((1, 256, 28, 28), (256, 128, 2, 2), stride=2) == "igemm"
    assert selected((8, 128, 32, 32), (128, 64, 4, 4), stride=2, padding=1, groups=2) != "winograd_sub_pixel"


def test_algorithms_explains_declines():
    rows = fastconv.algorithms("conv2d", (1, 8, 9, 9), (8, 8, 5, 5), padding=2)["candidates"]
    reasons = {row["name"]: row["reason"] for row in rows}
    assert reasons["winograd_4x4_3x3"] == "needs a 3x3 kernel (in 3-D: any depth x 3 x 3)"
    assert fastconv.algorithms("conv2d", (1, 8, 4, 4), (8, 8, 3, 3), algo="winograd")["selected"] == "winograd_2x2_3x3"


@pytest.mark.parametrize("call, reason", [
    (lambda x, w: fastconv.conv2d(x, w, stride=2, algo="winograd"), "needs stride 1"),
    (lambda x, w: fastconv.conv2d(x, np.ones((3, 4, 5, 5)), algo="winograd"), "needs a 3x3 kernel"),
    (lambda x, w: fastconv.conv1d(x[..., 0], w[..., 0], algo="winograd"), "2-D and 3-D convolutions only"),
    (lambda x, w: fastconv.conv3d(x[..., None], w[..., None], algo="winograd"), "needs a 3x3 kernel"),
    (lambda x, w: fastconv.conv_transpose2d(x, np.ones((4, 3, 3, 3)), dilation=2, algo="winograd"), "needs dilation 1"),
    (lambda x, w: fastconv.conv_transpose2d(x, np.ones((4, 3, 7, 4)), stride=2, algo="winograd"),
     "at most 3 x 3 input pixels"),
])
def test_layers_it_cannot_run_raise(call, reason):
    x, w = np.ones((1, 4, 8, 8)), np.ones((3, 4, 3, 3))
    with pytest.raises(ValueError, match=f"no implementation of algo 'winograd' accepts .*{reason}"):
        call(x, w)


def test_info_lists_the_transform_kernels():
    info = fastconv.info()
    rows = info["winograd_ukernels"]
    assert {row["name"] for row in info["implementations"] if row["prepacks"]} >= {"winograd_4x4_3x3",
                                                                                    "winograd_2x2_3x3"}
    order = ["scalar", "neon", "avx2", "avx512"]
    for dtype in ("float32", "float64"):
        for m in (2, 4):
            family = [row for row in rows if row["dtype"] == dtype and row["m"] == m]
            assert family and family[-1]["isa"] == "scalar"
            allowed = [row for row in family if order.index(row["isa"]) <= order.index(info["active_isa"])]
            assert [row for row in family if row["active"]] == allowed[:1]
    assert _core.winograd_ukernels() and "winograd" in info["algos"]
