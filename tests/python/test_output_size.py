# conv_output_size and conv_transpose_output_size: the numbers they give must be the shapes torch and
# fastconv actually produce, in the int form (one dimension) and the tuple form (all dimensions).
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv

dims = st.integers(1, 3)


@st.composite
def geometries(draw, ndim: int):
    return {
        "kernel_size": tuple(draw(st.integers(1, 7)) for _ in range(ndim)),
        "stride": tuple(draw(st.integers(1, 4)) for _ in range(ndim)),
        "dilation": tuple(draw(st.integers(1, 3)) for _ in range(ndim)),
    }


@given(ndim=dims, data=st.data())
def test_forward_size_matches_torch(torch, ndim, data):
    import torch.nn.functional as F

    g = data.draw(geometries(ndim))
    padding = data.draw(
        st.one_of(
            st.integers(0, 3),
            st.tuples(*[st.integers(0, 3)] * ndim),
            st.just("valid"),
            st.just("same") if all(s == 1 for s in g["stride"]) else st.just(0),  # torch: "same" needs stride 1
        )
    )
    size = tuple(data.draw(st.integers(1, 20 if ndim < 3 else 9)) for _ in range(ndim))
    pads = {"valid": (0,) * ndim, "same": None}.get(padding, padding) if isinstance(padding, str) else padding
    pads = (pads,) * ndim if isinstance(pads, int) else pads
    extents = [d * (k - 1) + 1 for k, d in zip(g["kernel_size"], g["dilation"])]
    if pads is not None:  # "same" fits any input
        assume(all(n + 2 * p >= e for n, p, e in zip(size, pads, extents)))
    weight = torch.zeros((1, 1) + g["kernel_size"], dtype=torch.float64)
    with torch.no_grad():
        y = getattr(F, f"conv{ndim}d")(torch.zeros((1, 1) + size, dtype=torch.float64), weight,
                                       stride=g["stride"], padding=padding, dilation=g["dilation"])
    expected = tuple(y.shape[2:])
    assert fastconv.conv_output_size(size, padding=padding, **g) == expected
    for axis in range(ndim):
        scalar = {name: value[axis] for name, value in g.items()}
        one = fastconv.conv_output_size(size[axis], padding=padding if isinstance(padding, (int, str)) else padding[axis], **scalar)
        assert type(one) is int and one == expected[axis]


@given(ndim=dims, data=st.data())
def test_transpose_size_matches_torch(torch, ndim, data):
    import torch.nn.functional as F

    g = data.draw(geometries(ndim))
    padding = tuple(data.draw(st.integers(0, 3)) for _ in range(ndim))
    output_padding = tuple(data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(g["stride"], g["dilation"]))
    size = tuple(data.draw(st.integers(1, 8 if ndim < 3 else 4)) for _ in range(ndim))
    expected_formula = [
        (n - 1) * s - 2 * p + d * (k - 1) + o + 1
        for n, s, p, d, k, o in zip(size, g["stride"], padding, g["dilation"], g["kernel_size"], output_padding)
    ]
    assume(min(expected_formula) >= 1)
    weight = torch.zeros((1, 1) + g["kernel_size"], dtype=torch.float64)
    with torch.no_grad():
        y = getattr(F, f"conv_transpose{ndim}d")(torch.zeros((1, 1) + size, dtype=torch.float64), weight,
                                                 stride=g["stride"], padding=padding, output_padding=output_padding,
                                                 dilation=g["dilation"])
    expected = tuple(y.shape[2:])
    assert fastconv.conv_transpose_output_size(size, padding=padding, output_padding=output_padding, **g) == expected
    for axis in range(ndim):
        scalar = {name: value[axis] for name, value in g.items()}
        one = fastconv.conv_transpose_output_size(size[axis], padding=padding[axis],
                                                  output_padding=output_padding[axis], **scalar)
        assert type(one) is int and one == expected[axis]


@given(ndim=dims, data=st.data())
def test_sizes_match_fastconv_shapes_with_pairs_and_same(ndim, data):
    """The extensions torch lacks (asymmetric pairs, "same" at any stride) against the shapes the
    convolutions themselves return."""
    g = data.draw(geometries(ndim))
    size = tuple(data.draw(st.integers(1, 12 if ndim < 3 else 6)) for _ in range(ndim))
    pairs = tuple((data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in range(ndim))
    padding = data.draw(st.sampled_from(["same", pairs]))
    extents = [d * (k - 1) + 1 for k, d in zip(g["kernel_size"], g["dilation"])]
    if padding != "same":
        assume(all(n + lo + hi >= e for n, (lo, hi), e in zip(size, pairs, extents)))
    x, w = np.zeros((1, 1) + size), np.zeros((1, 1) + g["kernel_size"])
    y = getattr(fastconv, f"conv{ndim}d")(x, w, stride=g["stride"], padding=padding, dilation=g["dilation"])
    result = fastconv.conv_output_size(size, padding=padding, **g)
    assert result == y.shape[2:]
    if padding == "same":
        assert result == tuple(math.ceil(n / s) for n, s in zip(size, g["stride"]))

    output_padding = tuple(data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(g["stride"], g["dilation"]))
    full = [(n - 1) * s + e + o for n, s, e, o in zip(size, g["stride"], extents, output_padding)]
    assume(all(f - lo - hi >= 1 for f, (lo, hi) in zip(full, pairs)))
    t = getattr(fastconv, f"conv_transpose{ndim}d")(x, w, stride=g["stride"], padding=pairs,
                                                     output_padding=output_padding, dilation=g["dilation"])
    assert fastconv.conv_transpose_output_size(size, padding=pairs, output_padding=output_padding, **g) == t.shape[2:]


def test_documented_examples():
    assert fastconv.conv_output_size(56, 3, stride=2, padding=1) == 28
    assert fastconv.conv_output_size((56, 30), (3, 5), stride=2, padding="same") == (28, 15)
    assert fastconv.conv_output_size(10, 3, padding="valid") == 8
    assert fastconv.conv_output_size(10, 3, padding=(0, 2)) == 10  # one (before, after) pair
    assert fastconv.conv_output_size((10,), 3, padding=((0, 2),)) == (10,)
    assert fastconv.conv_transpose_output_size(28, 4, stride=2, padding=1) == 56
    assert fastconv.conv_transpose_output_size((7, 7), 3, stride=2, padding=1, output_padding=1) == (14, 14)
    assert fastconv.conv_transpose_output_size(5, 3, padding=(2, 0)) == 5


def test_empty_output_is_an_error():
    with pytest.raises(ValueError, match=r"conv_output_size: .*kernel too large.*spans 5 elements.*padded input has only 4"):
        fastconv.conv_output_size(4, 5)
    with pytest.raises(ValueError, match=r"conv_output_size: spatial dimension 1: .*kernel too large"):
        fastconv.conv_output_size((8, 4), 5)
    with pytest.raises(ValueError, match=r"conv_transpose_output_size: .*output size would be 0"):
        fastconv.conv_transpose_output_size(1, 1, padding=(1, 0))
    with pytest.raises(ValueError, match=r"conv_transpose_output_size: .*output_padding must be smaller than either "
                                         r"stride or dilation, got output_padding=2 with stride=2 and dilation=1"):
        fastconv.conv_transpose_output_size(4, 3, stride=2, output_padding=2)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: fastconv.conv_output_size(4.0, 3), TypeError, r"conv_output_size: input_size must be an int or a non-empty tuple of ints, got 4\.0"),
        (lambda: fastconv.conv_output_size((), 3), TypeError, r"input_size must be an int or a non-empty tuple"),
        (lambda: fastconv.conv_output_size(-1, 1), ValueError, r"conv_output_size: input_size must be non-negative, got -1"),
        (lambda: fastconv.conv_output_size((4, 4), (3, 3, 3)), ValueError, r"kernel_size must have 2 values .*got 3: \(3, 3, 3\)"),
        (lambda: fastconv.conv_output_size(4, 0), ValueError, r"conv_output_size: kernel_size must be positive, got 0"),
        (lambda: fastconv.conv_output_size(4, 3, stride=0), ValueError, r"stride must be positive, got 0"),
        (lambda: fastconv.conv_output_size(4, 3, padding="full"), ValueError, r"padding must be 'same', 'valid', .*got 'full'"),
        (lambda: fastconv.conv_output_size(4, 3, padding=-1), ValueError, r"padding must be non-negative, got -1"),
        (lambda: fastconv.conv_transpose_output_size(4, 3, padding="same"), ValueError, r"conv_transpose_output_size: padding must be an int.*got 'same'"),
        (lambda: fastconv.conv_transpose_output_size(4, 3, output_padding=-1), ValueError, r"output_padding must be non-negative, got -1"),
        (lambda: fastconv.conv_transpose_output_size(0, 3), ValueError, r"conv_transpose_output_size: input size must be positive, got 0"),
        (lambda: fastconv.conv_transpose_output_size(4, True), TypeError, r"kernel_size must be an int or a tuple of 1 int, got True \(bool\)"),
    ],
)
def test_argument_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
