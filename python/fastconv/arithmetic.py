# Convolution arithmetic: every shape relationship of Dumoulin & Visin, "A guide to convolution
# arithmetic for deep learning" (arXiv:1603.07285), as a function whose docstring states it, plus
# explain(), a plain-text account of one layer. The guide states its relationships for square 2-D
# inputs, symmetric padding and no dilation; here each one also takes a dilation (the kernel then
# spans d*(k-1)+1 cells), (before, after) padding pairs and, given a tuple input size, one value per
# dimension. The formulas are written out independently of fastconv._core so that the tests, which
# compare them with the shapes the ops really produce, check both.
from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, List, Sequence, Tuple, Union

from . import _api

Size = Union[int, Tuple[int, ...]]

__all__ = [
    "DirectEquivalent",
    "effective_kernel_size",
    "output_size",
    "transposed_output_size",
    "odd_remainder",
    "direct_equivalent",
    "no_padding_unit_strides",
    "zero_padding_unit_strides",
    "half_padding",
    "half_padding_output_size",
    "full_padding",
    "full_padding_output_size",
    "no_padding_strides",
    "padding_strides",
    "pooling_output_size",
    "dilated_output_size",
    "transposed_no_padding_unit_strides",
    "transposed_zero_padding_unit_strides",
    "transposed_half_padding",
    "transposed_full_padding",
    "transposed_no_padding_strides",
    "transposed_padding_strides",
    "transposed_padding_strides_odd",
    "classify",
    "classify_transposed",
    "explain",
]


@dataclasses.dataclass(frozen=True)
class DirectEquivalent:
    """The direct convolution a transposed convolution equals (the guide's chapter 4): the input
    stretched by `inserted_zeros` zeros between neighbouring cells, padded by `pad_before` and
    `pad_after` zeros (a negative value crops instead), convolved at stride 1 with the same kernel
    (flipped, input and output channels swapped) at the same dilation. Fields are ints for one
    dimension, tuples of ints for several."""

    input_size: Size  # i', the transposed convolution's input
    stretched_input_size: Size  # s*(i'-1) + 1
    inserted_zeros: Size  # s - 1
    kernel_size: Size
    dilation: Size
    pad_before: Size  # d*(k-1) - p_before
    pad_after: Size  # d*(k-1) - p_after + a
    output_size: Size


# ---------------------------------------------------------------------------------------------
# Argument handling: every public function is written for one dimension and mapped over tuples.


def _pair(padding: Any) -> Tuple[int, int]:
    if isinstance(padding, (tuple, list)):
        before, after = padding
        return int(before), int(after)
    return int(padding), int(padding)


# Parameters that must be at least 1; every other one (sizes, paddings, output_padding) at least 0.
_POSITIVE = ("kernel_size", "stride", "dilation")


def _checked_call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Calls the one-dimension `function` after checking that every argument is an int (padding:
    or a (before, after) pair) in its range, so a wrong value is named rather than divided by."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    for name, value in bound.arguments.items():
        values = value if name == "padding" and isinstance(value, (tuple, list)) and len(value) == 2 else [value]
        minimum = 1 if name in _POSITIVE else 0
        if not all(_api._is_int(item) and item >= minimum for item in values):
            kind = "positive" if minimum else "non-negative"
            extra = " or a (before, after) pair" if name == "padding" else ""
            raise ValueError(f"{function.__name__}: {name} must be a {kind} int{extra}, got {value!r}")
    return function(*args, **kwargs)


def _per_dimension(function: Callable[..., Any]) -> Callable[..., Any]:
    """Lets a one-dimension function take a tuple first argument (the input size or kernel size):
    every other argument is then an int for all dimensions or one value per dimension (padding: an
    int or a (before, after) pair per dimension), and the result is a tuple, or for a
    DirectEquivalent one whose fields are tuples."""

    def mapped(first: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(first, (tuple, list)):
            return _checked_call(function, first, *args, **kwargs)
        ndim = len(first)

        def spread(value: Any) -> List[Any]:
            if isinstance(value, (tuple, list)):
                if len(value) != ndim:
                    raise ValueError(f"{function.__name__}: expected {ndim} values (one per dimension), got {value!r}")
                return list(value)
            return [value] * ndim

        columns = [spread(value) for value in args]
        keyword_columns = {name: spread(value) for name, value in kwargs.items()}
        results = [
            _checked_call(function, first[axis], *(column[axis] for column in columns),
                          **{name: column[axis] for name, column in keyword_columns.items()})
            for axis in range(ndim)
        ]
        if results and isinstance(results[0], DirectEquivalent):
            return DirectEquivalent(**{
                field.name: tuple(getattr(result, field.name) for result in results)
                for field in dataclasses.fields(DirectEquivalent)
            })
        return tuple(results)

    mapped.__name__ = function.__name__
    mapped.__qualname__ = function.__qualname__
    mapped.__doc__ = function.__doc__
    mapped.__wrapped__ = function  # type: ignore[attr-defined]
    return mapped


def _positive_output(name: str, size: int) -> int:
    if size < 1:
        raise ValueError(f"{name}: the output would be empty (size {size}); the kernel does not fit the padded input")
    return size


# ---------------------------------------------------------------------------------------------
# The general forms


@_per_dimension
def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """k^ = d*(k - 1) + 1: the cells a kernel of k taps spaced d apart spans (the guide's section 5.1).
    Every relationship below holds for a dilated kernel with k replaced by k^."""
    return dilation * (kernel_size - 1) + 1


@_per_dimension
def output_size(input_size: int, kernel_size: int, stride: int = 1, padding: Any = 0, dilation: int = 1) -> int:
    """o = floor((i + p_before + p_after - k^) / s) + 1, k^ = d*(k - 1) + 1: the size of any direct
    convolution. With p_before = p_after = p and d = 1 this is the guide's Relationship 6, of
    which Relationships 1 to 5 are special cases; with d > 1 it is Relationship 15."""
    before, after = _pair(padding)
    k_hat = effective_kernel_size(kernel_size, dilation)
    return _positive_output("output_size", (input_size + before + after - k_hat) // stride + 1)


@_per_dimension
def transposed_output_size(
    input_size: int, kernel_size: int, stride: int = 1, padding: Any = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """o' = s*(i' - 1) + k^ - p_before - p_after + a: the size of any transposed convolution, where a
    is output_padding. With p_before = p_after = p and d = 1 this is the guide's Relationship 14;
    a = 0 gives Relationship 13, and Relationships 8 to 12 are its special cases."""
    before, after = _pair(padding)
    k_hat = effective_kernel_size(kernel_size, dilation)
    return _positive_output("transposed_output_size", stride * (input_size - 1) + k_hat - before - after + output_padding)


@_per_dimension
def odd_remainder(input_size: int, kernel_size: int, stride: int = 1, padding: Any = 0, dilation: int = 1) -> int:
    """a = (i + p_before + p_after - k^) mod s: how many trailing input cells (padding included) no
    window of a strided convolution reaches. When a > 0 (the guide's "odd" case, section 2.4) inputs
    of sizes i - a to i all give the same output size, so the transposed convolution needs
    output_padding = a to give back size i (Relationship 14)."""
    before, after = _pair(padding)
    return (input_size + before + after - effective_kernel_size(kernel_size, dilation)) % stride


@_per_dimension
def direct_equivalent(
    input_size: int, kernel_size: int, stride: int = 1, padding: Any = 0, output_padding: int = 0, dilation: int = 1
) -> DirectEquivalent:
    """The direct convolution equal to a transposed convolution of input size i' (Relationship 14,
    generalised): stretch the input to s*(i' - 1) + 1 cells by inserting s - 1 zeros between
    neighbours, pad it with p'_before = k^ - 1 - p_before zeros before and p'_after = k^ - 1 -
    p_after + a after, and convolve at stride 1 with the flipped kernel; the output size is then
    (s*(i' - 1) + 1) + p'_before + p'_after - k^ + 1 = s*(i' - 1) + k^ - p_before - p_after + a."""
    before, after = _pair(padding)
    k_hat = effective_kernel_size(kernel_size, dilation)
    stretched = stride * (input_size - 1) + 1
    pad_before, pad_after = k_hat - 1 - before, k_hat - 1 - after + output_padding
    return DirectEquivalent(
        input_size=input_size,
        stretched_input_size=stretched,
        inserted_zeros=stride - 1,
        kernel_size=kernel_size,
        dilation=dilation,
        pad_before=pad_before,
        pad_after=pad_after,
        output_size=_positive_output("direct_equivalent", stretched + pad_before + pad_after - k_hat + 1),
    )


# ---------------------------------------------------------------------------------------------
# Chapter 2: direct convolutions (Relationships 1 to 6), chapter 3: pooling (7), section 5.1:
# dilation (15).


@_per_dimension
def no_padding_unit_strides(input_size: int, kernel_size: int, dilation: int = 1) -> int:
    """Relationship 1. For any i and k, and for s = 1 and p = 0: o = (i - k) + 1."""
    return output_size(input_size, kernel_size, 1, 0, dilation)


@_per_dimension
def zero_padding_unit_strides(input_size: int, kernel_size: int, padding: Any, dilation: int = 1) -> int:
    """Relationship 2. For any i, k and p, and for s = 1: o = (i - k) + 2p + 1
    (asymmetric padding: p_before + p_after in place of 2p)."""
    return output_size(input_size, kernel_size, 1, padding, dilation)


@_per_dimension
def half_padding(kernel_size: int, dilation: int = 1) -> Tuple[int, int]:
    """The (before, after) padding of half ("same") padding: p = floor(k/2) on both sides for odd k
    (Relationship 3), and for even k^, which no symmetric padding can serve, (k^ - 1)//2 before and
    the one extra cell after (TensorFlow's and fastconv's "same")."""
    total = effective_kernel_size(kernel_size, dilation) - 1
    return total // 2, total - total // 2


@_per_dimension
def half_padding_output_size(input_size: int, kernel_size: int, dilation: int = 1) -> int:
    """Relationship 3. For any i, for k odd (k = 2n + 1) and for s = 1 and p = floor(k/2) = n:
    o = i + 2*floor(k/2) - (k - 1) = i. The output has the input's size."""
    return output_size(input_size, kernel_size, 1, half_padding(kernel_size, dilation), dilation)


@_per_dimension
def full_padding(kernel_size: int, dilation: int = 1) -> int:
    """The padding of full padding, p = k^ - 1: every placement of the kernel that overlaps the
    input by at least one cell is an output (Relationship 4)."""
    return effective_kernel_size(kernel_size, dilation) - 1


@_per_dimension
def full_padding_output_size(input_size: int, kernel_size: int, dilation: int = 1) -> int:
    """Relationship 4. For any i and k, and for p = k - 1 and s = 1:
    o = i + 2(k - 1) - (k - 1) = i + (k - 1). The output is larger than the input."""
    return output_size(input_size, kernel_size, 1, full_padding(kernel_size, dilation), dilation)


@_per_dimension
def no_padding_strides(input_size: int, kernel_size: int, stride: int, dilation: int = 1) -> int:
    """Relationship 5. For any i, k and s, and for p = 0: o = floor((i - k) / s) + 1."""
    return output_size(input_size, kernel_size, stride, 0, dilation)


@_per_dimension
def padding_strides(input_size: int, kernel_size: int, stride: int, padding: Any, dilation: int = 1) -> int:
    """Relationship 6. For any i, k, p and s: o = floor((i + 2p - k) / s) + 1. The floor is the
    odd case: when (i + 2p - k) mod s = a > 0, the last a input cells are never read (see
    odd_remainder)."""
    return output_size(input_size, kernel_size, stride, padding, dilation)


@_per_dimension
def pooling_output_size(input_size: int, kernel_size: int, stride: int) -> int:
    """Relationship 7. For any i, k and s (pooling has no padding in the guide):
    o = floor((i - k) / s) + 1. Pooling slides its window exactly as a convolution does."""
    return output_size(input_size, kernel_size, stride, 0, 1)


@_per_dimension
def dilated_output_size(input_size: int, kernel_size: int, stride: int, padding: Any, dilation: int) -> int:
    """Relationship 15. For any i, k, p and s, and for a dilation rate d:
    o = floor((i + 2p - k - (k - 1)(d - 1)) / s) + 1, i.e. Relationship 6 with k^ = k + (k - 1)(d - 1)."""
    return output_size(input_size, kernel_size, stride, padding, dilation)


# ---------------------------------------------------------------------------------------------
# Chapter 4: transposed convolutions (Relationships 8 to 14). Each takes the parameters of the
# direct convolution it transposes (k, s, p, d) and the transposed convolution's input size i', and
# returns the direct convolution it equals, whose output_size is o'.


@_per_dimension
def transposed_no_padding_unit_strides(input_size: int, kernel_size: int, dilation: int = 1) -> DirectEquivalent:
    """Relationship 8. A convolution described by s = 1, p = 0 and k has an associated transposed
    convolution described by k' = k, s' = s and p' = k - 1, and its output size is o' = i' + (k - 1)."""
    return direct_equivalent(input_size, kernel_size, 1, 0, 0, dilation)


@_per_dimension
def transposed_zero_padding_unit_strides(input_size: int, kernel_size: int, padding: Any, dilation: int = 1) -> DirectEquivalent:
    """Relationship 9. A convolution described by s = 1, k and p has an associated transposed
    convolution described by k' = k, s' = s and p' = k - p - 1, and its output size is
    o' = i' + (k - 1) - 2p."""
    return direct_equivalent(input_size, kernel_size, 1, padding, 0, dilation)


@_per_dimension
def transposed_half_padding(input_size: int, kernel_size: int, dilation: int = 1) -> DirectEquivalent:
    """Relationship 10. A convolution described by k = 2n + 1, s = 1 and p = floor(k/2) = n has an
    associated transposed convolution described by k' = k, s' = s and p' = p, and its output size is
    o' = i' + (k - 1) - 2p = i'. (For even k^ the padding pair of half_padding swaps sides.)"""
    return direct_equivalent(input_size, kernel_size, 1, half_padding(kernel_size, dilation), 0, dilation)


@_per_dimension
def transposed_full_padding(input_size: int, kernel_size: int, dilation: int = 1) -> DirectEquivalent:
    """Relationship 11. A convolution described by s = 1, k and p = k - 1 has an associated
    transposed convolution described by k' = k, s' = s and p' = 0, and its output size is
    o' = i' + (k - 1) - 2p = i' - (k - 1)."""
    return direct_equivalent(input_size, kernel_size, 1, full_padding(kernel_size, dilation), 0, dilation)


@_per_dimension
def transposed_no_padding_strides(input_size: int, kernel_size: int, stride: int, dilation: int = 1) -> DirectEquivalent:
    """Relationship 12. A convolution described by p = 0, k and s, whose input size is such that
    i - k is a multiple of s, has an associated transposed convolution described by i~', k' = k,
    s' = 1 and p' = k - 1, where i~' is the size of the stretched input obtained by adding s - 1
    zeros between each input unit, and its output size is o' = s(i' - 1) + k."""
    return direct_equivalent(input_size, kernel_size, stride, 0, 0, dilation)


@_per_dimension
def transposed_padding_strides(
    input_size: int, kernel_size: int, stride: int, padding: Any, dilation: int = 1
) -> DirectEquivalent:
    """Relationship 13. A convolution described by k, s and p, whose input size i is such that
    i + 2p - k is a multiple of s, has an associated transposed convolution described by i~',
    k' = k, s' = 1 and p' = k - p - 1, where i~' is the stretched input (s - 1 zeros added between
    each input unit), and its output size is o' = s(i' - 1) + k - 2p."""
    return direct_equivalent(input_size, kernel_size, stride, padding, 0, dilation)


@_per_dimension
def transposed_padding_strides_odd(
    input_size: int, kernel_size: int, stride: int, padding: Any, output_padding: int, dilation: int = 1
) -> DirectEquivalent:
    """Relationship 14. A convolution described by k, s and p has an associated transposed
    convolution described by a, i~', k' = k, s' = 1 and p' = k - p - 1, where i~' is the stretched
    input (s - 1 zeros added between each input unit) and a = (i + 2p - k) mod s is the number of
    zeros added to the bottom and right edges of the input; its output size is
    o' = s(i' - 1) + a + k - 2p. In torch's and fastconv's API, a is output_padding (see
    odd_remainder for the a a given i needs)."""
    return direct_equivalent(input_size, kernel_size, stride, padding, output_padding, dilation)


# ---------------------------------------------------------------------------------------------
# Which case a layer is


def _case(kernel_size: int, stride: int, pair: Tuple[int, int], dilation: int) -> Tuple[int, str]:
    """(relationship number 1 to 6, name) of a direct convolution's padding and stride."""
    before, after = pair
    if stride == 1:
        if before == after == 0:
            return 1, "no zero padding, unit strides"
        if pair == half_padding(kernel_size, dilation):
            return 3, "half (same) padding, unit strides"
        if before == after == effective_kernel_size(kernel_size, dilation) - 1:
            return 4, "full padding, unit strides"
        return 2, "zero padding, unit strides"
    if before == after == 0:
        return 5, "no zero padding, non-unit strides"
    return 6, "zero padding, non-unit strides"


def _generalisations(pair: Tuple[int, int], dilation: int) -> str:
    """Asymmetric padding and dilation generalise every case rather than form one of their own."""
    notes = ""
    if pair[0] != pair[1]:
        notes += f", asymmetric padding {pair}"
    if dilation > 1:
        notes += f", dilation {dilation} (Relationship 15)"
    return notes


@_per_dimension
def classify(input_size: int, kernel_size: int, stride: int = 1, padding: Any = 0, dilation: int = 1) -> Tuple[int, str]:
    """(relationship number, name) of the guide's case a direct convolution falls under: 1 to 6
    by padding and stride, the odd case of 5 and 6 named as such, asymmetric padding and dilation
    (Relationship 15) noted in the name."""
    pair = _pair(padding)
    number, name = _case(kernel_size, stride, pair, dilation)
    remainder = odd_remainder(input_size, kernel_size, stride, pair, dilation)
    if remainder:
        name += f" (odd: the last {remainder} cell{'s' if remainder > 1 else ''} of the padded input never read)"
    return number, name + _generalisations(pair, dilation)


# The transposed counterpart of each direct case.
_TRANSPOSED_RELATIONSHIP = {1: 8, 2: 9, 3: 10, 4: 11, 5: 12, 6: 13}


@_per_dimension
def classify_transposed(
    input_size: int, kernel_size: int, stride: int = 1, padding: Any = 0, output_padding: int = 0, dilation: int = 1
) -> Tuple[int, str]:
    """(relationship number, name) of a transposed convolution: 8 to 13, the transposes of cases 1
    to 6, or 14 when output_padding supplies the odd case's a."""
    pair = _pair(padding)
    number, name = _case(kernel_size, stride, pair, dilation)
    name = "transpose of " + name
    if output_padding:
        return 14, f"{name}, odd case: output_padding a = {output_padding}" + _generalisations(pair, dilation)
    return _TRANSPOSED_RELATIONSHIP[number], name + _generalisations(pair, dilation)


# ---------------------------------------------------------------------------------------------
# explain


def _times(values: Sequence[int]) -> str:
    return "x".join(str(v) for v in values)


def _format_padding(pads: Sequence[Tuple[int, int]]) -> str:
    if all(before == after for before, after in pads):
        return _times([before for before, _ in pads])
    return "[" + ", ".join(f"({before}, {after})" for before, after in pads) + "] (before, after)"


def _max_real_taps(kernel: int, stride: int, dilation: int) -> int:
    """Most taps of one output window that land on real cells of the zero-inserted grid: cells sit
    every `stride`, taps every `dilation`, so it depends on where the window starts (mod stride)."""
    return max(sum((start + r * dilation) % stride == 0 for r in range(kernel)) for start in range(stride))


def explain(
    input_size: Size,
    kernel_size: Size,
    stride: Size = 1,
    padding: Any = 0,
    dilation: Size = 1,
    *,
    transposed: bool = False,
    output_padding: Size = 0,
    in_channels: int = 1,
    out_channels: int = 1,
    groups: int = 1,
    batch: int = 1,
) -> str:
    """A short plain-text account of one convolution or transposed convolution layer: the output
    size with the formula filled in per dimension, the guide's case, for a transposed layer the
    direct convolution it equals (zeros inserted, effective padding), the receptive field, the
    multiply-add count and the shapes of its im2col / GEMM (M, N, K per image and group).

    input_size is an int (one dimension) or a tuple of 1 to 3 sizes; the other sizes are an int or
    one value per dimension, and padding takes the forms conv{1,2,3}d takes ("same"/"valid" only
    for a direct convolution)."""
    fn = "explain"
    ndim = len(input_size) if isinstance(input_size, (tuple, list)) else 1
    if not 1 <= ndim <= 3:
        raise ValueError(f"{fn}: input_size must have 1 to 3 dimensions, got {input_size!r}")
    sizes = _api._int_tuple(fn, "input_size", input_size, ndim, 1)
    kernel = _api._int_tuple(fn, "kernel_size", kernel_size, ndim, 1)
    strides = _api._int_tuple(fn, "stride", stride, ndim, 1)
    dilations = _api._int_tuple(fn, "dilation", dilation, ndim, 1)
    extras = _api._int_tuple(fn, "output_padding", output_padding, ndim, 0)
    if ndim == 1 and isinstance(padding, (tuple, list)) and len(padding) == 2 and all(map(_api._is_int, padding)):
        padding = (tuple(padding),)
    pairs = _api._padding_pairs(fn, padding, ndim, allow_strings=not transposed)
    befores, afters = _api._resolve_padding(fn, pairs, sizes, kernel, strides, dilations)
    pads = list(zip(befores, afters))
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups), ("batch", batch)):
        if not _api._is_int(value) or value < 1:
            raise ValueError(f"{fn}: {name} must be a positive int, got {value!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{fn}: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({groups})")
    if not transposed and any(extras):
        raise ValueError(f"{fn}: output_padding applies only to a transposed convolution")

    names = _api._spatial_names(ndim).split(", ")
    k_hats = [effective_kernel_size(k, d) for k, d in zip(kernel, dilations)]
    op = f"conv_transpose{ndim}d" if transposed else f"conv{ndim}d"
    lines = [
        f"{op}: input {_times(sizes)}, kernel {_times(kernel)}, stride {_times(strides)}, "
        f"padding {_format_padding(pads)}, dilation {_times(dilations)}"
        + (f", output_padding {_times(extras)}" if transposed else "")
        + f"; {in_channels} -> {out_channels} channels, groups {groups}, batch {batch}"
    ]

    outputs: List[int] = []
    lines.append("output size:")
    for axis in range(ndim):
        i, k, s, (pb, pa), d, a = sizes[axis], kernel[axis], strides[axis], pads[axis], dilations[axis], extras[axis]
        if transposed:
            o = transposed_output_size(i, k, s, (pb, pa), a, d)
            lines.append(
                f"  {names[axis]}: o' = s*(i'-1) - p_before - p_after + d*(k-1) + a + 1 = "
                f"{s}*({i}-1) - {pb} - {pa} + {d}*({k}-1) + {a} + 1 = {o}"
            )
        else:
            o = output_size(i, k, s, (pb, pa), d)
            lines.append(
                f"  {names[axis]}: o = floor((i + p_before + p_after - d*(k-1) - 1) / s) + 1 = "
                f"floor(({i} + {pb} + {pa} - {d}*({k}-1) - 1) / {s}) + 1 = {o}"
            )
        outputs.append(o)

    lines.append("case (Dumoulin & Visin's relationship):")
    for axis in range(ndim):
        args = (kernel[axis], strides[axis], pads[axis])
        if transposed:
            number, name = classify_transposed(sizes[axis], *args, extras[axis], dilations[axis])
        else:
            number, name = classify(sizes[axis], *args, dilations[axis])
        lines.append(f"  {names[axis]}: Relationship {number}, {name}")

    if transposed:
        eq = [direct_equivalent(sizes[axis], kernel[axis], strides[axis], pads[axis], extras[axis], dilations[axis])
              for axis in range(ndim)]
        lines.append(
            "as a direct convolution: insert "
            + _times([e.inserted_zeros for e in eq])
            + " zeros between input cells (stretched input "
            + _times([e.stretched_input_size for e in eq])
            + "), pad "
            + ", ".join(f"({e.pad_before}, {e.pad_after})" for e in eq)
            + " (before, after; negative crops), then convolve at stride 1 with the flipped kernel"
            + (f" at dilation {_times(dilations)}" if any(d > 1 for d in dilations) else "")
            + f" -> {_times([e.output_size for e in eq])}"
        )
        real = [_max_real_taps(k, s, d) for k, s, d in zip(kernel, strides, dilations)]
        lines.append(
            f"receptive field: each output cell covers {_times(k_hats)} cells of the stretched input, "
            f"of which at most {_times(real)} are real input cells; each input cell reaches {_times(k_hats)} output cells"
        )
    else:
        lines.append(
            f"receptive field: each output cell reads a {_times(k_hats)} window of the padded input"
            + (f" ({_times(kernel)} taps with {_times([d - 1 for d in dilations])} skipped cells between them)"
               if any(d > 1 for d in dilations) else "")
        )

    taps = math.prod(kernel)
    in_per_group, out_per_group = in_channels // groups, out_channels // groups
    if transposed:
        useful = batch * in_channels * math.prod(sizes) * out_per_group * taps
        as_direct = batch * out_channels * math.prod(outputs) * in_per_group * taps
        lines.append(
            f"multiply-adds: N*C_in*prod(i')*(C_out/groups)*prod(k) = {batch}*{in_channels}*{math.prod(sizes)}*"
            f"{out_per_group}*{taps} = {useful:,}; the direct form over the stretched input does {as_direct:,} "
            f"({100 * (1 - useful / as_direct):.0f}% of them on inserted zeros or padding)"
        )
        lines.append(
            f"im2col (GEMM + col2im): per image and group, columns = W^T x of shape "
            f"({out_per_group * taps}, {math.prod(sizes)}) from GEMM M = C_out/groups*prod(k) = {out_per_group * taps}, "
            f"N = prod(i') = {math.prod(sizes)}, K = C_in/groups = {in_per_group}; col2im (fold) then sums the "
            f"columns into the {_times(outputs)} output"
        )
    else:
        macs = batch * out_channels * math.prod(outputs) * in_per_group * taps
        lines.append(
            f"multiply-adds: N*C_out*prod(o)*(C_in/groups)*prod(k) = {batch}*{out_channels}*{math.prod(outputs)}*"
            f"{in_per_group}*{taps} = {macs:,}"
        )
        lines.append(
            f"im2col: per image the column matrix is (C_in*prod(k), prod(o)) = ({in_channels * taps}, {math.prod(outputs)}); "
            f"per group GEMM M = C_out/groups = {out_per_group}, N = prod(o) = {math.prod(outputs)}, "
            f"K = C_in/groups*prod(k) = {in_per_group * taps}"
        )
    return "\n".join(lines)
