# Fuzzing the whole Python API with hypothesis: every function and plan gets arbitrary, often
# invalid, arguments (shapes, dtypes, strides, paddings, dilations, groups, output_padding, algos,
# and memory layouts: Fortran, channels-last, negative strides, slices, unaligned, read-only and
# broadcast views). The oracle is the promise: a call either raises ValueError, TypeError
# or MemoryError whose message starts with the function's name and names an argument, or returns
# exactly what the NumPy reference computes from the same values; a call whose arguments are all
# valid must succeed. The case counters are checked (and printed) by the last test of the file,
# so a hypothesis run that silently did nothing fails.
import math
import os
from typing import Any, Dict, Optional

import numpy as np
import pytest
from conftest import assert_close, numpy_fold, numpy_unfold, reduction_length, reference_conv
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv

# Enough to visit every op, mutation and layout many times in ~10 s; derandomized in CI (conftest).
# FASTCONV_FUZZ_SCALE=N runs N times as many (random unless HYPOTHESIS_PROFILE=ci).
SCALE = int(os.environ.get("FASTCONV_FUZZ_SCALE", "1"))
CASES = {name: count * SCALE for name, count in {"conv": 1000, "unfold_fold": 300, "sizes": 400, "plans": 150}.items()}
RAN = {name: 0 for name in CASES}
ERRORS = {name: 0 for name in CASES}

# Words an error message names the faulty argument with (argument names and the shapes' parts).
ARGUMENT_WORDS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups", "output_padding",
                  "algo", "kernel", "output_size", "output", "channels", "num_threads")
CONV_OPS = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]

# Invalid values for an integer parameter: each must be refused with a message naming it.
BAD_INTS = [0, -1, -(2**63), 2**63, 2**70, 1.5, True, "2", None, np.float64(2.0), [1, [2]]]


def check_error(fn: str, exc: BaseException) -> None:
    assert isinstance(exc, (ValueError, TypeError, MemoryError)), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert message.startswith(f"{fn}: "), message
    assert any(word in message for word in ARGUMENT_WORDS), message


def layouts(draw, array: np.ndarray) -> np.ndarray:
    """The same values in another memory layout (or, for "broadcast", values repeated along the
    last axis through a zero stride)."""
    kind = draw(st.sampled_from(["c", "c", "fortran", "channels_last", "reversed", "strided", "unaligned",
                                 "readonly", "broadcast"]))
    if kind == "fortran":
        return np.asfortranarray(array)
    if kind == "channels_last" and array.ndim >= 3:
        return np.moveaxis(np.ascontiguousarray(np.moveaxis(array, 1, -1)), -1, 1)
    if kind == "reversed" and array.ndim:
        return array[..., ::-1].copy()[..., ::-1]
    if kind == "strided" and array.ndim:
        big = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
        big[..., ::2] = array
        return big[..., ::2]
    if kind == "unaligned" and array.dtype.itemsize > 1 and array.dtype != object:
        raw = np.zeros(array.nbytes + 1, np.uint8)[1:].view(array.dtype).reshape(array.shape)
        raw[...] = array
        return raw
    if kind == "readonly":
        array = array.copy()
        array.setflags(write=False)
        return array
    if kind == "broadcast" and array.ndim and array.shape[-1] > 0:
        return np.broadcast_to(array[..., :1], array.shape)
    return array


def int_param(draw, valid, mutate: bool):
    """A valid int/tuple parameter, or (when mutate) one of the invalid forms."""
    if mutate:
        return draw(st.sampled_from(BAD_INTS + [(1,) * 5, ()])), True
    return valid, False


def geometry_valid(op: str, x_shape, w_shape, stride, pads, dilation, output_padding, groups) -> bool:
    """The documented validity rule, written out independently of fastconv."""
    ndim = int(op[-2])
    transposed = op.startswith("conv_transpose")
    if len(x_shape) not in (ndim + 1, ndim + 2) or len(w_shape) != ndim + 2:
        return False
    if len(x_shape) == ndim + 1:
        x_shape = (1,) + tuple(x_shape)
    channels = x_shape[1]
    if channels % groups:
        return False
    if transposed:
        if w_shape[0] != channels:
            return False
    elif w_shape[0] % groups or w_shape[1] * groups != channels:
        return False
    for d in range(ndim):
        n, k, s, dl, (before, after) = x_shape[2 + d], w_shape[2 + d], stride[d], dilation[d], pads[d]
        if k < 1:
            return False
        if transposed:
            op_d = output_padding[d]
            if n < 1 or not (op_d < s or op_d < dl) or (n - 1) * s - before - after + dl * (k - 1) + op_d + 1 < 1:
                return False
        elif n + before + after < dl * (k - 1) + 1:
            return False
    return True


@st.composite
def conv_calls(draw):
    op = draw(st.sampled_from(CONV_OPS))
    ndim, transposed = int(op[-2]), op.startswith("conv_transpose")
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mutations = set(draw(st.lists(st.sampled_from(
        ["stride", "padding", "dilation", "groups", "output_padding", "algo", "dtype", "mixed_dtype", "rank",
         "channels", "bias_shape", "input_type"]), max_size=2)))
    mutations |= {"none"} if not mutations else set()
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    per_group_in, per_group_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(st.integers(0, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    size = tuple(draw(st.integers(1 if transposed else 0, 6 if ndim < 3 else 4)) for _ in range(ndim))
    padding_kind = draw(st.sampled_from(["int", "tuple", "pairs"] + ([] if transposed else ["same", "valid"])))
    pads = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim)]
    if padding_kind == "int":
        pads = [pads[0][:1] * 2] * ndim
        padding: Any = pads[0][0]
    elif padding_kind == "tuple":
        pads = [(before, before) for before, _ in pads]
        padding = tuple(before for before, _ in pads)
    elif padding_kind == "pairs":
        padding = tuple(pads)
    else:
        padding = padding_kind
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    dtype = draw(st.sampled_from([np.float32, np.float64]))

    channels_in = groups * per_group_in
    x_shape = (batch, channels_in) + size
    if transposed:
        w_shape = (channels_in, per_group_out) + kernel
        out_channels = per_group_out * groups
    else:
        w_shape = (groups * per_group_out, per_group_in) + kernel
        out_channels = groups * per_group_out
    kwargs: Dict[str, Any] = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    if transposed:
        kwargs["output_padding"] = output_padding
    kwargs["algo"] = draw(st.sampled_from(["auto", "direct", "im2col", "reference"]))
    for name in ("stride", "dilation", "output_padding"):
        if name in mutations and name in kwargs:
            kwargs[name] = draw(st.sampled_from(BAD_INTS + [(1,) * (ndim + 1), ()]))
    if "padding" in mutations:
        kwargs["padding"] = draw(st.sampled_from([-1, 2**63, "full", (1,) * (ndim + 1), ((1, 2, 3),) * ndim,
                                                  ((-1, 0),) * ndim, 1.0, None, "same" if transposed else ((0, 2**63),) * ndim]))
    if "groups" in mutations:
        kwargs["groups"] = draw(st.sampled_from([0, -2, 2**64, 1.0, "1", groups + 1 if groups > 1 else 5]))
    if "algo" in mutations:
        kwargs["algo"] = draw(st.sampled_from(["gemm", "", 1, None, "AUTO"]))
    if "rank" in mutations:
        x_shape = draw(st.sampled_from([x_shape[2:], x_shape + (2,), (1,) * (ndim + 3)]))
    if "channels" in mutations:
        w_shape = (w_shape[0] + 1,) + w_shape[1:] if transposed else (w_shape[0], w_shape[1] + 1) + w_shape[2:]
    unbatched = batch == 1 and "rank" not in mutations and draw(st.booleans())
    if unbatched:
        x_shape = x_shape[1:]
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(out_channels + ("bias_shape" in mutations)).astype(dtype) if draw(st.booleans()) else None
    if "bias_shape" in mutations and b is None:
        b = np.zeros((out_channels, 1), dtype)
    if "dtype" in mutations:
        x = x.astype(draw(st.sampled_from([np.float16, np.int32, np.complex64, np.bool_, object])))
    if "mixed_dtype" in mutations:
        w = w.astype(np.float64 if dtype == np.float32 else np.float32)
    x, w = layouts(draw, x), layouts(draw, w)
    if "input_type" in mutations:
        x = draw(st.sampled_from([None, "x", [[1.0, 2.0], [3.0]], 3.0]))
    # Valid exactly when nothing invalid was drawn and the geometry is non-empty.
    valid = mutations == {"none"} and geometry_valid(
        op, x_shape, w_shape, stride, _explicit_pads(padding, x_shape[-ndim:], kernel, stride, dilation), dilation,
        output_padding, groups)
    return op, x, w, b, kwargs, valid


def _explicit_pads(padding, size, kernel, stride, dilation):
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        pairs = []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pairs.append((total // 2, total - total // 2))
        return pairs
    if isinstance(padding, int):
        return [(padding, padding)] * len(kernel)
    return [tuple(p) if isinstance(p, tuple) else (p, p) for p in padding]


def compare(op: str, result, x, w, b, kwargs) -> None:
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    b64 = None if b is None else np.asarray(b, np.float64)
    reference_kwargs = {k: v for k, v in kwargs.items() if k != "algo"}
    expected = reference_conv(op, x64, w64, b64, reference_kwargs)
    magnitude = reference_conv(op, x64, w64, b64, reference_kwargs, absolute=True)
    assert_close(result, expected, magnitude, np.asarray(x).dtype, reduction_length(op, w64, kwargs.get("groups", 1)))


@settings(max_examples=CASES["conv"])
@given(conv_calls())
def test_fuzz_conv(call):
    op, x, w, b, kwargs, valid = call
    RAN["conv"] += 1
    try:
        result = getattr(fastconv, op)(x, w, b, **kwargs)
    except (ValueError, TypeError, MemoryError) as exc:
        ERRORS["conv"] += 1
        assert not valid, f"valid call refused: {type(exc).__name__}: {exc}"
        check_error(op, exc)
        return
    compare(op, result, x, w, b, kwargs)


@st.composite
def block_calls(draw):
    ndim = draw(st.integers(1, 3))
    mutate = draw(st.sampled_from([None, None, "kernel_size", "stride", "dilation", "padding", "output_size",
                                   "dtype", "channels"]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    size = tuple(d * (k - 1) + 1 + draw(st.integers(0, 3)) for k, d in zip(kernel, dilation))
    batch, channels = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    params: Dict[str, Any] = {"kernel_size": kernel, "dilation": dilation, "padding": pads, "stride": stride}
    if mutate in ("kernel_size", "stride", "dilation"):
        params[mutate] = draw(st.sampled_from(BAD_INTS + [(1,) * (ndim + 1)]))
    if mutate == "padding":
        params["padding"] = draw(st.sampled_from([-1, 2**63, "same", ((1, 2, 3),) * ndim, 1.5]))
    return ndim, mutate, size, batch, channels, dtype, params, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=CASES["unfold_fold"])
@given(block_calls())
def test_fuzz_unfold_fold(call):
    ndim, mutate, size, batch, channels, dtype, params, seed = call
    RAN["unfold_fold"] += 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels) + size).astype(np.int16 if mutate == "dtype" else dtype)
    try:
        columns = fastconv.unfold(x, **params)
    except (ValueError, TypeError, MemoryError) as exc:
        ERRORS["unfold_fold"] += 1
        assert mutate is not None, f"valid unfold refused: {exc}"
        check_error("unfold", exc)
        return
    kernel, dilation, stride = params["kernel_size"], params["dilation"], params["stride"]
    before, after = [p[0] for p in params["padding"]], [p[1] for p in params["padding"]]
    np.testing.assert_array_equal(columns, numpy_unfold(x, kernel, dilation, before, after, stride).astype(dtype))
    output_size = size if mutate != "output_size" else draw_bad_size(seed, size)
    if mutate == "channels":
        columns = columns[:, 1:] if columns.shape[1] > 1 else np.zeros((batch, 0, columns.shape[2]), dtype)
    try:
        folded = fastconv.fold(columns, output_size, **params)
    except (ValueError, TypeError, MemoryError) as exc:
        ERRORS["unfold_fold"] += 1
        assert mutate is not None, f"valid fold refused: {exc}"
        check_error("fold", exc)
        return
    expected = numpy_fold(np.asarray(columns, np.float64), output_size, kernel, dilation, before, after, stride)
    np.testing.assert_allclose(folded, expected, rtol=1e-5, atol=1e-5)


def draw_bad_size(seed: int, size):
    return [tuple(n + 1 for n in size), -1, 2**63, (1,) * (len(size) + 1), 2.5][seed % 5]


@settings(max_examples=CASES["sizes"])
@given(
    st.booleans(),
    st.lists(st.one_of(st.integers(-1, 12), st.integers(0, 12), st.sampled_from([2**31, 2**62, 2**63 - 1, 2**63, -(2**63)])),
             min_size=6, max_size=6),
)
def test_fuzz_output_size(transposed, values):
    """The size functions over small and int64-edge values against exact Python arithmetic."""
    RAN["sizes"] += 1
    n, k, s, p, extra, d = values
    fn = "conv_transpose_output_size" if transposed else "conv_output_size"
    if transposed:
        valid = n >= 0 and k >= 1 and s >= 1 and d >= 1 and p >= 0 and 0 <= extra < 2**63 and (extra < s or extra < d)
        exact = (n - 1) * s - 2 * p + d * (k - 1) + extra + 1 if valid else 0
        call = lambda: fastconv.conv_transpose_output_size(n, k, s, p, extra, d)  # noqa: E731
    else:
        valid = n >= 0 and k >= 1 and s >= 1 and d >= 1 and p >= 0
        exact = (n + 2 * p - d * (k - 1) - 1) // s + 1 if valid else 0
        call = lambda: fastconv.conv_output_size(n, k, s, p, d)  # noqa: E731
    representable = all(v < 2**63 for v in values) and n + 2 * p < 2**63 and d * (k - 1) + 1 < 2**63
    if transposed:
        representable = representable and (n - 1) * s + d * (k - 1) + extra + 1 < 2**63
    try:
        result = call()
    except (ValueError, TypeError) as exc:
        ERRORS["sizes"] += 1
        assert not (valid and representable and exact >= 1 and (not transposed or n >= 1)), f"refused: {exc}"
        check_error(fn, exc)
        return
    assert valid and exact >= 1 and result == exact


@settings(max_examples=CASES["plans"])
@given(conv_calls())
def test_fuzz_plans(call):
    """The prepacked plans take the same arguments: same errors, bitwise the functions' results."""
    op, x, w, b, kwargs, valid = call
    RAN["plans"] += 1
    ndim, transposed = int(op[-2]), op.startswith("conv_transpose")
    cls = getattr(fastconv, f"{'ConvTranspose' if transposed else 'Conv'}{ndim}d")
    try:
        layer = cls(w, b, **kwargs)
        result = layer(x)
    except (ValueError, TypeError, MemoryError) as exc:
        ERRORS["plans"] += 1
        assert not valid, f"valid plan refused: {type(exc).__name__}: {exc}"
        check_error(cls.__name__, exc)
        return
    np.testing.assert_array_equal(result, getattr(fastconv, op)(x, w, b, **kwargs))


def test_fuzz_case_counts(capsys):
    """Every fuzz test above ran its cases, and both outcomes (errors, results) occurred."""
    if not all(RAN.values()):
        pytest.skip("run with the fuzz tests above (e.g. the whole file)")
    for name, count in CASES.items():
        assert RAN[name] >= count * 0.9, (name, RAN[name])
        assert 0 < ERRORS[name] < RAN[name], (name, ERRORS[name], RAN[name])
    with capsys.disabled():
        print(f"\nfuzz cases run: {RAN} (errors checked: {ERRORS})")
