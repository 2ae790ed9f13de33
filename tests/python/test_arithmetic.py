# fastconv.arithmetic: every relationship of Dumoulin & Visin's guide against the shapes the ops
# really produce (a hypothesis sweep over N-d, dilation and asymmetric padding), the guide's worked
# examples (its figures), the direct-convolution equivalent of a transposed convolution computed
# both ways, and explain()'s text for a few layers.
import math
import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv
from fastconv import arithmetic as A


def _conv_shape(ndim, size, kernel, stride, pads, dilation):
    x = np.zeros((1, 1) + tuple(size))
    w = np.zeros((1, 1) + tuple(kernel))
    op = getattr(fastconv, f"conv{ndim}d")
    return op(x, w, stride=stride, padding=tuple(pads), dilation=dilation).shape[2:]


def _conv_transpose_shape(ndim, size, kernel, stride, pads, extra, dilation):
    x = np.zeros((1, 1) + tuple(size))
    w = np.zeros((1, 1) + tuple(kernel))
    op = getattr(fastconv, f"conv_transpose{ndim}d")
    return op(x, w, stride=stride, padding=tuple(pads), output_padding=extra, dilation=dilation).shape[2:]


@st.composite
def layers(draw):
    """A random N-d layer with (before, after) padding, small enough to run for real."""
    ndim = draw(st.integers(1, 3))
    dims = lambda low, high: tuple(draw(st.integers(low, high)) for _ in range(ndim))  # noqa: E731
    kernel, stride, dilation = dims(1, 4), dims(1, 3), dims(1, 3)
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(ndim))
    size = dims(1, 9 if ndim < 3 else 6)
    return ndim, size, kernel, stride, pads, dilation


@given(layer=layers())
def test_output_size_is_the_ops_output_shape(layer):
    ndim, size, kernel, stride, pads, dilation = layer
    extents = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    assume(all(i + b + a >= e for i, (b, a), e in zip(size, pads, extents)))
    expected = _conv_shape(ndim, size, kernel, stride, pads, dilation)
    assert A.output_size(size, kernel, stride, pads, dilation) == expected
    assert A.dilated_output_size(size, kernel, stride, pads, dilation) == expected
    assert A.padding_strides(size, kernel, stride, pads, dilation) == expected
    # The odd remainder is exactly the input the last window leaves unread.
    for axis in range(ndim):
        i, k, s, (b, a), d = size[axis], kernel[axis], stride[axis], pads[axis], dilation[axis]
        last_read = (expected[axis] - 1) * s + d * (k - 1)  # in padded coordinates
        assert A.odd_remainder(i, k, s, (b, a), d) == i + b + a - 1 - last_read


@given(layer=layers(), data=st.data())
def test_transposed_output_size_is_the_ops_output_shape(layer, data):
    ndim, size, kernel, stride, pads, dilation = layer
    extra = tuple(data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    extents = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    full = [s * (i - 1) + e + a for i, s, e, a in zip(size, stride, extents, extra)]
    assume(all(f - b - a >= 1 for f, (b, a) in zip(full, pads)))
    expected = _conv_transpose_shape(ndim, size, kernel, stride, pads, extra, dilation)
    assert A.transposed_output_size(size, kernel, stride, pads, extra, dilation) == expected
    equivalent = A.transposed_padding_strides_odd(size, kernel, stride, pads, extra, dilation)
    assert equivalent.output_size == expected
    # The transposed layer undoes the shape of the direct layer it is the gradient of, and its
    # output_padding is that layer's odd remainder (when below the stride; torch also allows
    # output_padding up to the dilation, which adds cells no input reaches).
    if all(a < s for a, s in zip(extra, stride)):
        assert A.output_size(expected, kernel, stride, pads, dilation) == size
        assert A.odd_remainder(expected, kernel, stride, pads, dilation) == extra


@given(layer=layers(), data=st.data())
def test_transposed_convolution_is_its_direct_equivalent(layer, data):
    """conv_transpose == stretch the input, pad it by the equivalent's padding (crop where it is
    negative), convolve at stride 1 with the flipped kernel: the guide's chapter 4, computed."""
    ndim, size, kernel, stride, pads, dilation = layer
    extra = tuple(data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    try:
        eq = A.direct_equivalent(size, kernel, stride, pads, extra, dilation)
    except ValueError:
        assume(False)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2) + size)
    w = rng.standard_normal((2, 3) + kernel)  # (C_in, C_out, *kernel)
    expected = getattr(fastconv, f"conv_transpose{ndim}d")(x, w, stride=stride, padding=pads,
                                                           output_padding=extra, dilation=dilation)
    stretched = np.zeros((1, 2) + eq.stretched_input_size)
    stretched[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = x
    grow = [(max(b, 0), max(a, 0)) for b, a in zip(eq.pad_before, eq.pad_after)]
    padded = np.pad(stretched, [(0, 0), (0, 0)] + grow)
    crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for b, a, n in zip(eq.pad_before, eq.pad_after, padded.shape[2:]))
    padded = padded[(slice(None), slice(None)) + crop]
    flipped = np.flip(w, axis=tuple(range(2, 2 + ndim))).swapaxes(0, 1)
    direct = getattr(fastconv, f"conv{ndim}d")(np.ascontiguousarray(padded), np.ascontiguousarray(flipped), dilation=dilation)
    np.testing.assert_allclose(direct, expected, rtol=1e-10, atol=1e-10)


def _conv_len(i, k, s=1, p=0, d=1):
    """The length conv1d really produces (p an int or a (before, after) pair)."""
    return _conv_shape(1, (i,), (k,), s, (p,), d)[0]


def _conv_transpose_len(i, k, s=1, p=0, a=0, d=1):
    return _conv_transpose_shape(1, (i,), (k,), s, (p,), a, d)[0]


@given(i=st.integers(1, 20), k=st.integers(1, 6), s=st.integers(2, 4), p=st.integers(0, 4), d=st.integers(1, 3))
def test_each_relationship_is_its_formula_and_the_ops_shape(i, k, s, p, d):
    """Each named relationship, under its conditions: the function, the guide's formula written
    literally (with k^ for k) and the length conv1d / conv_transpose1d really produce agree."""
    kh = d * (k - 1) + 1
    if i >= kh:
        assert A.no_padding_unit_strides(i, k, d) == (i - kh) + 1 == _conv_len(i, k, 1, 0, d)
        assert A.no_padding_strides(i, k, s, d) == math.floor((i - kh) / s) + 1 == _conv_len(i, k, s, 0, d)
    if i >= k:
        assert A.pooling_output_size(i, k, s) == math.floor((i - k) / s) + 1 == _conv_len(i, k, s)
    if i + 2 * p >= kh:
        assert A.zero_padding_unit_strides(i, k, p, d) == (i - kh) + 2 * p + 1 == _conv_len(i, k, 1, p, d)
        assert A.padding_strides(i, k, s, p, d) == math.floor((i + 2 * p - kh) / s) + 1 == _conv_len(i, k, s, p, d)
        assert A.dilated_output_size(i, k, s, p, d) == math.floor((i + 2 * p - k - (k - 1) * (d - 1)) / s) + 1
    half = A.half_padding(k, d)
    assert A.half_padding_output_size(i, k, d) == i == _conv_len(i, k, 1, half, d)
    if kh % 2:
        assert half == (kh // 2, kh // 2)
    assert A.full_padding_output_size(i, k, d) == i + (kh - 1) == _conv_len(i, k, 1, kh - 1, d)
    # Transposed: i is i' here, and the op is the transpose of the direct layer of the same k, s, p.
    eq = A.transposed_no_padding_unit_strides(i, k, d)
    assert (eq.output_size, eq.pad_before) == (i + (kh - 1), kh - 1)
    assert eq.output_size == _conv_transpose_len(i, k, 1, 0, 0, d)
    if i + (kh - 1) - 2 * p >= 1:
        eq = A.transposed_zero_padding_unit_strides(i, k, p, d)
        assert (eq.output_size, eq.pad_before, eq.pad_after) == (i + (kh - 1) - 2 * p, kh - p - 1, kh - p - 1)
        assert eq.output_size == _conv_transpose_len(i, k, 1, p, 0, d)
    assert A.transposed_half_padding(i, k, d).output_size == i == _conv_transpose_len(i, k, 1, half, 0, d)
    if i - (kh - 1) >= 1:
        eq = A.transposed_full_padding(i, k, d)
        assert (eq.output_size, eq.pad_before) == (i - (kh - 1), 0)
        assert eq.output_size == _conv_transpose_len(i, k, 1, kh - 1, 0, d)
    eq = A.transposed_no_padding_strides(i, k, s, d)
    assert (eq.output_size, eq.stretched_input_size, eq.inserted_zeros) == (s * (i - 1) + kh, s * (i - 1) + 1, s - 1)
    assert eq.output_size == _conv_transpose_len(i, k, s, 0, 0, d)
    if s * (i - 1) + kh - 2 * p >= 1:
        assert A.transposed_padding_strides(i, k, s, p, d).output_size == s * (i - 1) + kh - 2 * p
        assert s * (i - 1) + kh - 2 * p == _conv_transpose_len(i, k, s, p, 0, d)
        for a in range(s):
            eq = A.transposed_padding_strides_odd(i, k, s, p, a, d)
            expected = (s * (i - 1) + a + kh - 2 * p, kh - p - 1, kh - p - 1 + a)
            assert (eq.output_size, eq.pad_before, eq.pad_after) == expected
            assert eq.output_size == _conv_transpose_len(i, k, s, p, a, d)
            # a is the odd remainder of the direct layer whose input has the transposed output's size.
            assert A.odd_remainder(eq.output_size, k, s, p, d) == a


# The guide's figures: (figure, relationship, transposed, i, k, s, p, a, d, o, effective padding
# of the transposed layer's direct form).
GUIDE_EXAMPLES = [
    ("2.1", 1, False, 4, 3, 1, 0, 0, 1, 2, None),
    ("2.2", 2, False, 5, 4, 1, 2, 0, 1, 6, None),
    ("2.3", 3, False, 5, 3, 1, 1, 0, 1, 5, None),
    ("2.4", 4, False, 5, 3, 1, 2, 0, 1, 7, None),
    ("2.5", 5, False, 5, 3, 2, 0, 0, 1, 2, None),
    ("2.6", 6, False, 5, 3, 2, 1, 0, 1, 3, None),
    ("2.7", 6, False, 6, 3, 2, 1, 0, 1, 3, None),
    ("4.1", 8, True, 2, 3, 1, 0, 0, 1, 4, 2),
    ("4.2", 9, True, 6, 4, 1, 2, 0, 1, 5, 1),
    ("4.3", 10, True, 5, 3, 1, 1, 0, 1, 5, 1),
    ("4.4", 11, True, 7, 3, 1, 2, 0, 1, 5, 0),
    ("4.5", 12, True, 2, 3, 2, 0, 0, 1, 5, 2),
    ("4.6", 13, True, 3, 3, 2, 1, 0, 1, 5, 1),
    ("4.7", 14, True, 3, 3, 2, 1, 1, 1, 6, 1),
    ("5.1", 1, False, 7, 3, 1, 0, 0, 2, 3, None),
]


@pytest.mark.parametrize("figure, relationship, transposed, i, k, s, p, a, d, o, effective", GUIDE_EXAMPLES,
                         ids=[row[0] for row in GUIDE_EXAMPLES])
def test_guide_examples(figure, relationship, transposed, i, k, s, p, a, d, o, effective):
    size = (i, i)
    if transposed:
        eq = A.direct_equivalent(size, k, s, p, a, d)
        assert eq.output_size == (o, o)
        assert eq.pad_before == (effective, effective) and eq.pad_after == (effective + a, effective + a)
        assert A.classify_transposed(i, k, s, p, a, d)[0] == relationship
        assert _conv_transpose_shape(2, size, (k, k), s, (p, p), a, d) == (o, o)
    else:
        assert A.output_size(size, k, s, p, d) == (o, o)
        number, name = A.classify(i, k, s, p, d)
        assert number == relationship
        assert ("odd" in name) == (figure == "2.7")
        assert ("Relationship 15" in name) == (d > 1)
        assert _conv_shape(2, size, (k, k), s, ((p, p), (p, p)), d) == (o, o)


def test_pooling_example():
    # Figure 3.1: 3x3 pooling over a 5x5 input with unit strides.
    assert A.pooling_output_size((5, 5), 3, 1) == (3, 3)


def test_asymmetric_half_padding_for_even_kernels():
    assert A.half_padding(4) == (1, 2)
    assert A.half_padding(2, dilation=2) == (1, 1)  # k^ = 3
    assert A.classify(8, 4, 1, (1, 2))[0] == 3
    assert "asymmetric padding (1, 2)" in A.classify(8, 4, 1, (1, 2))[1]


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="empty"):
        A.output_size(2, 5)
    with pytest.raises(ValueError, match="one per dimension"):
        A.output_size((5, 5), (3, 3, 3))
    with pytest.raises(ValueError, match="output_size: stride must be a positive int, got 0"):
        A.output_size(5, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be a non-negative int or a"):
        A.output_size((5, 5), 3, padding=((1, -1), 0))
    with pytest.raises(ValueError, match="half_padding: dilation must be a positive int, got 1.5"):
        A.half_padding(3, 1.5)


def test_explain_forward():
    text = fastconv.explain((5, 7), 3, stride=2, padding=1, in_channels=4, out_channels=8, batch=2)
    assert "conv2d: input 5x7, kernel 3x3, stride 2x2, padding 1x1" in text
    assert "floor((5 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = 3" in text
    assert "floor((7 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = 4" in text
    assert "H: Relationship 6, zero padding, non-unit strides" in text
    assert "3x3 window" in text
    assert f"= {2 * 8 * 12 * 4 * 9:,}" in text
    assert "(36, 12)" in text and "M = C_out/groups = 8, N = prod(o) = 12, K = C_in/groups*prod(k) = 36" in text


def test_explain_transposed_odd_case():
    text = fastconv.explain(3, 3, stride=2, padding=1, transposed=True, output_padding=1)
    assert "conv_transpose1d" in text
    assert "2*(3-1) - 1 - 1 + 1*(3-1) + 1 + 1 = 6" in text
    assert "Relationship 14" in text and "output_padding a = 1" in text
    assert "insert 1 zeros" in text and "stretched input 5" in text and "pad (1, 2)" in text
    assert "at most 2 are real input cells" in text
    # 9 useful multiply-adds of 18 done by the direct form: half are on zeros.
    assert "= 9;" in text and "does 18 (50%" in text
    assert "M = C_out/groups*prod(k) = 3, N = prod(i') = 3, K = C_in/groups = 1" in text


def test_explain_dilated_same_and_errors():
    text = fastconv.explain((7, 7), 3, dilation=2, padding="same")
    assert "padding 2x2" in text and "Relationship 3" in text and "Relationship 15" in text
    assert "5x5 window" in text and "1x1 skipped cells" in text
    with pytest.raises(ValueError, match="explain: padding"):
        fastconv.explain(5, 3, padding="same", transposed=True)
    with pytest.raises(ValueError, match="output_padding applies only"):
        fastconv.explain(5, 3, output_padding=1)
    with pytest.raises(ValueError, match="divisible by groups"):
        fastconv.explain(5, 3, in_channels=3, groups=2)


def test_explain_agrees_with_the_benchmark_suite():
    """For every layer of the benchmark suite: explain's output size is the op's (computed by
    conv_output_size / conv_transpose_output_size) and its multiply-adds are half the suite's FLOPs."""
    from fastconv import bench

    for layer in bench.load_suite():
        groups = layer.groups
        in_channels = layer.input[1]
        out_channels = layer.weight[1] * groups if layer.transposed else layer.weight[0]
        spatial, kernel = layer.input[2:], layer.weight[2:]
        text = fastconv.explain(spatial, kernel, layer.stride, layer.padding, layer.dilation,
                                transposed=layer.transposed,
                                output_padding=layer.output_padding if layer.transposed else 0,
                                in_channels=in_channels, out_channels=out_channels, groups=groups,
                                batch=layer.input[0])
        macs = int(re.search(r"multiply-adds: [^=]*= [^=]*= ([\d,]+)", text).group(1).replace(",", ""))
        assert 2 * macs == layer.flops(), layer.name
        sizes = [int(v) for v in re.findall(r"= (\d+)\n", text + "\n")[: len(spatial)]]
        if layer.transposed:
            expected = fastconv.conv_transpose_output_size(spatial, kernel, layer.stride, layer.padding,
                                                           layer.output_padding, layer.dilation)
        else:
            expected = fastconv.conv_output_size(spatial, kernel, layer.stride, layer.padding, layer.dilation)
        assert tuple(sizes) == tuple(expected), layer.name
