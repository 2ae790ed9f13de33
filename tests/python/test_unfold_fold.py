# unfold (im2col) and fold (col2im): 2-D against torch.nn.functional.unfold/fold, 1-D to 3-D and
# asymmetric padding against the NumPy references of conftest, and the algebra tying them together
# (fold is unfold's adjoint; fold(unfold(x)) is x times the number of blocks covering each element).
import math

import numpy as np
import pytest
from conftest import DTYPES, assert_close, numpy_fold, numpy_unfold
from hypothesis import given
from hypothesis import strategies as st

import fastconv


@st.composite
def block_cases(draw, ndim: int, pairs_allowed: bool = True):
    """(batch or None for unbatched, channels, input size, kwargs for unfold/fold, explicit pads)."""
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    form = draw(st.sampled_from(["int", "tuple", "pairs"] if pairs_allowed else ["int", "tuple"]))
    pairs = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim)]
    if form == "int":
        pairs = [(pairs[0][0],) * 2] * ndim
        padding = pairs[0][0]
    elif form == "tuple":
        pairs = [(before, before) for before, _ in pairs]
        padding = tuple(before for before, _ in pairs)
    else:
        padding = tuple(pairs)
    span = {1: 12, 2: 6, 3: 3}[ndim]
    size = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - lo - hi), max(1, d * (k - 1) + 1 - lo - hi) + span))
        for k, d, (lo, hi) in zip(kernel, dilation, pairs)
    )
    # torch's 2-D functions take plain ints too; exercise that spelling.
    as_int = lambda values: values[0] if ndim == 2 and len(set(values)) == 1 and draw(st.booleans()) else values  # noqa: E731
    kwargs = {"kernel_size": kernel, "dilation": as_int(dilation), "padding": padding, "stride": as_int(stride)}
    batch = draw(st.sampled_from([None, 0, 1, 2]))
    channels = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return batch, channels, size, kwargs, pairs, seed


def _explicit(kwargs, pairs, ndim):
    per_dim = lambda value: value if isinstance(value, tuple) else (value,) * ndim  # noqa: E731
    return {
        "kernel": per_dim(kwargs["kernel_size"]),
        "dilation": per_dim(kwargs["dilation"]),
        "pad_before": [lo for lo, _ in pairs],
        "pad_after": [hi for _, hi in pairs],
        "stride": per_dim(kwargs["stride"]),
    }


def _blocks(size, geometry):
    return [
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, lo, hi, d, k, s in zip(
            size, geometry["pad_before"], geometry["pad_after"], geometry["dilation"], geometry["kernel"], geometry["stride"]
        )
    ]


def _lead(batch, *dims):
    return dims if batch is None else (batch,) + dims


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@given(case=block_cases(2, pairs_allowed=False))
def test_unfold_matches_torch(torch, dtype, case):
    import torch.nn.functional as F

    batch, channels, size, kwargs, _, seed = case
    x = np.random.default_rng(seed).standard_normal(_lead(batch, channels, *size)).astype(dtype)
    expected = F.unfold(torch.from_numpy(x), **kwargs).numpy()
    result = fastconv.unfold(x, **kwargs)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected)  # a pure copy: bitwise


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@given(case=block_cases(2, pairs_allowed=False))
def test_fold_matches_torch(torch, dtype, case):
    import torch.nn.functional as F

    batch, channels, size, kwargs, pairs, seed = case
    geometry = _explicit(kwargs, pairs, 2)
    rows, count = channels * math.prod(geometry["kernel"]), math.prod(_blocks(size, geometry))
    columns = np.random.default_rng(seed).standard_normal(_lead(batch, rows, count)).astype(dtype)
    expected = F.fold(torch.from_numpy(columns).double(), output_size=size, **kwargs).numpy()
    magnitude = F.fold(torch.from_numpy(np.abs(columns)).double(), output_size=size, **kwargs).numpy()
    result = fastconv.fold(columns, size, **kwargs)
    assert_close(result, expected, magnitude, dtype, math.prod(geometry["kernel"]))


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@given(data=st.data())
def test_unfold_matches_numpy(ndim, dtype, data):
    batch, channels, size, kwargs, pairs, seed = data.draw(block_cases(ndim))
    geometry = _explicit(kwargs, pairs, ndim)
    x = np.random.default_rng(seed).standard_normal(_lead(batch, channels, *size)).astype(dtype)
    expected = numpy_unfold(x if batch is not None else x[None], **geometry)
    result = fastconv.unfold(x, **kwargs)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected if batch is not None else expected[0])


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@given(data=st.data())
def test_fold_matches_numpy(ndim, dtype, data):
    batch, channels, size, kwargs, pairs, seed = data.draw(block_cases(ndim))
    geometry = _explicit(kwargs, pairs, ndim)
    shape = (channels * math.prod(geometry["kernel"]), math.prod(_blocks(size, geometry)))
    columns = np.random.default_rng(seed).standard_normal(_lead(batch, *shape)).astype(dtype)
    batched = columns if batch is not None else columns[None]
    expected, magnitude = (numpy_fold(c, size, **geometry) for c in (batched, np.abs(batched)))
    if batch is None:
        expected, magnitude = expected[0], magnitude[0]
    assert_close(fastconv.fold(columns, size, **kwargs), expected, magnitude, dtype, math.prod(geometry["kernel"]))


@pytest.mark.parametrize("ndim", [1, 2, 3])
@given(data=st.data())
def test_fold_is_the_adjoint_of_unfold(ndim, data):
    """<unfold(x), c> == <x, fold(c)> for any x and c: fold scatters exactly where unfold gathers."""
    batch, channels, size, kwargs, _, seed = data.draw(block_cases(ndim))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(_lead(batch, channels, *size))
    columns = fastconv.unfold(x, **kwargs)
    c = rng.standard_normal(columns.shape)
    lhs, rhs = np.vdot(columns, c), np.vdot(x, fastconv.fold(c, size, **kwargs))
    assert abs(lhs - rhs) <= 1e-10 * (np.vdot(np.abs(columns), np.abs(c)) + 1)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@given(data=st.data())
def test_fold_of_unfold_counts_coverage(ndim, data):
    """fold(unfold(x)) == x * counts, counts[i] = number of blocks whose taps land on element i,
    counted here by walking every block."""
    batch, channels, size, kwargs, pairs, seed = data.draw(block_cases(ndim))
    geometry = _explicit(kwargs, pairs, ndim)
    x = np.random.default_rng(seed).standard_normal(_lead(batch, channels, *size))
    counts = np.zeros(size)
    for block in np.ndindex(*_blocks(size, geometry)):
        for tap in np.ndindex(*geometry["kernel"]):
            position = tuple(
                o * s - lo + t * d
                for o, s, lo, t, d in zip(block, geometry["stride"], geometry["pad_before"], tap, geometry["dilation"])
            )
            if all(0 <= p < n for p, n in zip(position, size)):
                counts[position] += 1
    ones = np.ones_like(x)
    np.testing.assert_array_equal(fastconv.fold(fastconv.unfold(ones, **kwargs), size, **kwargs), ones * counts)
    np.testing.assert_allclose(fastconv.fold(fastconv.unfold(x, **kwargs), size, **kwargs), x * counts, rtol=1e-12)


def test_unfold_torch_example_shape():
    """torch's documented example: 3x3 blocks of a (2, 5, 3, 4) input give (2, 45, 4)."""
    x = np.arange(2 * 5 * 3 * 4, dtype=np.float32).reshape(2, 5, 3, 4)
    columns = fastconv.unfold(x, kernel_size=(2, 3))
    assert columns.shape == (2, 30, 4)
    # Row (c=1, ki=0, kj=2) of block (0, 1) reads x[:, 1, 0, 3].
    np.testing.assert_array_equal(columns[:, 1 * 6 + 2, 1], x[:, 1, 0, 3])
    assert fastconv.unfold(x, kernel_size=3, padding=1).shape == (2, 45, 12)


def test_nd_is_chosen_by_the_first_tuple():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5, 6))
    assert fastconv.unfold(x, kernel_size=2, stride=(1, 2, 3)).shape == (2, 3 * 8, 3 * 2 * 2)
    assert fastconv.unfold(x[0, 0, 0], kernel_size=(3,)).shape == (5 * 3, 4)  # unbatched 1-D: (C=5, L=6)
    columns = np.ones((1, 3 * 2, 4))
    assert fastconv.fold(columns, output_size=(5,), kernel_size=2).shape == (1, 3, 5)
    assert fastconv.fold(columns[0], output_size=(5,), kernel_size=2).shape == (3, 5)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_non_contiguous_inputs(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    for view in (x[..., ::-1], np.asfortranarray(x), x.swapaxes(2, 3)):
        np.testing.assert_array_equal(fastconv.unfold(view, 3, padding=1), fastconv.unfold(view.copy(), 3, padding=1))
    columns = fastconv.unfold(x, 3, padding=1)
    for view in (np.asfortranarray(columns), columns[:, ::-1]):
        np.testing.assert_array_equal(fastconv.fold(view, (7, 6), 3, padding=1), fastconv.fold(view.copy(), (7, 6), 3, padding=1))
