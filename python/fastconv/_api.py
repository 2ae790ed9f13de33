# The public Python API of fastconv: torch.nn.functional's convolution functions (same names,
# argument order and semantics) on NumPy arrays. This layer turns whatever the user passes into the
# exact form fastconv._core expects (dtype-checked, C-contiguous, batched arrays and one int per
# spatial dimension), so that every mistake is reported in the user's own terms (the function they
# called, the argument, the value and what was expected) before or while the C++ core runs.
# Arrays on a CUDA device (anything whose __dlpack_device__ says so) take the GPU path of
# fastconv.cuda with the same normalisation; host arrays never touch it.
from __future__ import annotations

import math
import os
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from . import cuda as _cuda

IntOrTuple = Union[int, Sequence[int]]
# An int, one int per dimension, or per dimension an int or a (before, after) pair.
Padding = Union[int, str, Sequence[Union[int, Sequence[int]]]]

# Testing hook: when True every output is preallocated full of NaN and handed to _core as `out` (on
# the GPU: the device output is filled with NaN before the kernels run), so a test sees any element
# a kernel forgot to write. Read at each call.
_POISON_OUTPUT = False

_PADDING_STRINGS = ("same", "valid")
# The core computes every size in int64; larger Python ints are refused here with the argument's name.
_INT64_MAX = 2**63 - 1
_CORE_OP_PREFIXES = ("conv_transpose: ", "conv: ", "unfold: ", "fold: ")


# ---------------------------------------------------------------------------------------------
# Argument normalisation


def _describe(value: Any) -> str:
    """A value as an error message shows it: its repr and, for non-obvious types, the type."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    if isinstance(value, (int, str, tuple, list)) and not isinstance(value, bool):
        return text
    return f"{text} ({type(value).__name__})"


def _is_int(value: Any) -> bool:
    # bool is an int subclass, but stride=True is a mistake, as in torch.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_tuple(fn: str, name: str, value: Any, ndim: int, minimum: int) -> Tuple[int, ...]:
    """An int (the same for every dimension) or a tuple/list of `ndim` ints, each >= minimum."""
    expected = f"an int or a tuple of {ndim} int{'s' if ndim > 1 else ''}"
    if _is_int(value):
        values = (int(value),) * ndim
    elif isinstance(value, (tuple, list)):
        if not all(_is_int(item) for item in value):
            raise TypeError(f"{fn}: {name} must be {expected}, got {_describe(value)}")
        if len(value) != ndim:
            raise ValueError(
                f"{fn}: {name} must have {ndim} value{'s' if ndim > 1 else ''} (one per spatial dimension), "
                f"got {len(value)}: {_describe(value)}"
            )
        values = tuple(int(item) for item in value)
    else:
        raise TypeError(f"{fn}: {name} must be {expected}, got {_describe(value)}")
    if any(item < minimum for item in values):
        requirement = "non-negative" if minimum == 0 else "positive"
        raise ValueError(f"{fn}: {name} must be {requirement}, got {_describe(value)}")
    _check_int64(fn, name, values, value)
    return values


def _check_int64(fn: str, name: str, values: Sequence[int], value: Any) -> None:
    if any(item > _INT64_MAX for item in values):
        raise ValueError(f"{fn}: {name} must be less than 2**63, got {_describe(value)}")


def _padding_pairs(fn: str, value: Any, ndim: int, allow_strings: bool) -> Union[str, Tuple[Tuple[int, int], ...]]:
    """Padding as one (before, after) pair per dimension, or the string "same"/"valid" unchanged
    (resolving "same" needs the input and kernel sizes, which the caller has)."""
    forms = f"an int, a tuple of {ndim} ints or a tuple of {ndim} (before, after) pairs"
    if allow_strings:
        forms = "'same', 'valid', " + forms
    if isinstance(value, str):
        if allow_strings and value in _PADDING_STRINGS:
            return value
        reason = "" if allow_strings else " (padding strings apply only to conv1d/2d/3d and conv_output_size)"
        raise ValueError(f"{fn}: padding must be {forms}, got {value!r}{reason}")
    if _is_int(value):
        items: List[Any] = [value] * ndim
    elif isinstance(value, (tuple, list)):
        items = list(value)
        if len(items) != ndim:
            raise ValueError(
                f"{fn}: padding must have {ndim} entr{'ies' if ndim > 1 else 'y'} (one per spatial dimension), "
                f"got {len(items)}: {_describe(value)}"
            )
    else:
        raise TypeError(f"{fn}: padding must be {forms}, got {_describe(value)}")
    pairs = []
    for item in items:
        if _is_int(item):
            pair = (int(item), int(item))
        elif isinstance(item, (tuple, list)) and all(_is_int(side) for side in item):
            if len(item) != 2:
                raise ValueError(
                    f"{fn}: each padding pair must be (before, after), got {_describe(item)} in {_describe(value)}"
                )
            pair = (int(item[0]), int(item[1]))
        else:
            raise TypeError(f"{fn}: padding must be {forms}, got {_describe(value)}")
        if min(pair) < 0:
            raise ValueError(f"{fn}: padding must be non-negative, got {_describe(value)}")
        _check_int64(fn, "padding", pair, value)
        pairs.append(pair)
    return tuple(pairs)


def _same_padding(in_size: int, kernel: int, stride: int, dilation: int) -> Tuple[int, int]:
    """TensorFlow's "same": the output has ceil(in / stride) elements and the padding that needs is
    split with the extra element after. At stride 1 this is exactly torch's padding="same"."""
    out = -(-in_size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - in_size, 0)
    return total // 2, total - total // 2


def _resolve_padding(
    fn: str,
    padding: Union[str, Tuple[Tuple[int, int], ...]],
    in_sizes: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> Tuple[List[int], List[int]]:
    """(pad_before, pad_after) lists for _core."""
    if padding == "valid":
        pairs: Sequence[Tuple[int, int]] = [(0, 0)] * len(kernel)
    elif padding == "same":
        pairs = [_same_padding(*dims) for dims in zip(in_sizes, kernel, stride, dilation)]
    else:
        pairs = padding  # type: ignore[assignment]
    # "same" with a huge dilation or kernel can ask for more padding than int64 holds.
    _check_int64(fn, "padding", [side for pair in pairs for side in pair], padding)
    return [before for before, _ in pairs], [after for _, after in pairs]


_ALGO_NAMES = tuple(_core.algo_names())


def _check_algo(fn: str, algo: Any) -> str:
    if type(algo) is str and algo in _ALGO_NAMES:
        return algo
    names = _ALGO_NAMES
    if not isinstance(algo, str):
        raise TypeError(f"{fn}: algo must be a string, one of {', '.join(map(repr, names))}; got {_describe(algo)}")
    if algo not in names:
        raise ValueError(f"{fn}: algo must be one of {', '.join(map(repr, names))}, got {algo!r}")
    return algo


def _as_float_array(fn: str, name: str, value: Any) -> np.ndarray:
    """`value` as an ndarray of float32 or float64 (never converted: a silent cast would hide
    precision loss or a wrong argument)."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{fn}: {name} could not be converted to a numpy array: {exc}") from None
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: {name} has dtype {array.dtype}, expected float32 or float64")
    return array


def _same_dtype(fn: str, input: np.ndarray, name: str, other: np.ndarray) -> None:
    if other.dtype != input.dtype:
        raise TypeError(
            f"{fn}: {name} has dtype {other.dtype} but input has dtype {input.dtype}; "
            "input, weight and bias must share one dtype"
        )


def _for_core(array: np.ndarray, fn: str, name: str) -> np.ndarray:
    # _core wants C-contiguous, aligned memory; this copies only when the array is not already so
    # (sliced, transposed, negatively strided, Fortran-ordered or unaligned views). A broadcast
    # view (zero strides) can be far larger than its memory: its copy is checked against the
    # machine's memory first, as _core checks the output.
    flags = array.flags
    if flags.c_contiguous and flags.aligned:
        return array
    if array.nbytes > _core.memory_limit_bytes():
        raise MemoryError(
            f"{fn}: {name} needs a C-contiguous copy of {array.nbytes} bytes ({array.nbytes / 2**30:.1f} GiB), "
            f"more than this machine's memory ({_core.memory_limit_bytes() / 2**30:.1f} GiB)"
        )
    return np.require(array, requirements=("C_CONTIGUOUS", "ALIGNED"))


def _channels_to_last(array: np.ndarray) -> np.ndarray:
    """The (N, spatial..., C) view of an (N, C, spatial...) array. A plain transpose: np.moveaxis
    normalises its axes in Python (~2.7 us a call, three calls per channels-last conv)."""
    return array.transpose((0, *range(2, array.ndim), 1))


def _channels_to_first(array: np.ndarray) -> np.ndarray:
    """The (N, C, spatial...) view of an (N, spatial..., C) array."""
    return array.transpose((0, array.ndim - 1, *range(1, array.ndim - 1)))


def _is_channels_last(array: np.ndarray) -> bool:
    """True when a batched array's memory is (N, spatial..., C) (torch's channels_last, e.g.
    x_nhwc.transpose(0, 3, 1, 2)) rather than (N, C, spatial...): it is then used without a copy and
    the result is returned in the same memory format."""
    if array.ndim < 3 or array.shape[1] == 1 or array.flags.c_contiguous:
        return False
    return bool(_channels_to_last(array).flags.c_contiguous)


def _call_core(fn: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Calls _core, restating its errors with the name of the function the user called (_core names
    its generic op, e.g. "conv" for conv2d)."""
    try:
        return function(*args, **kwargs)
    except (ValueError, TypeError, MemoryError) as exc:
        message = str(exc)
        for prefix in _CORE_OP_PREFIXES:
            if message.startswith(prefix):
                message = message[len(prefix):]
                break
        error_type = next(kind for kind in (TypeError, MemoryError, ValueError) if isinstance(exc, kind))
        raise error_type(f"{fn}: {message}") from None


def _nan_output(shape: Optional[Sequence[int]], dtype: np.dtype) -> Optional[np.ndarray]:
    """The poisoned `out` for _POISON_OUTPUT; None (let _core allocate, or report why it cannot)
    when the shape is unknown or too large to allocate."""
    if shape is None or math.prod(shape) * np.dtype(dtype).itemsize > _core.memory_limit_bytes():
        return None
    out = _core.empty_output([int(extent) for extent in shape], np.dtype(dtype).name)
    out.fill(np.nan)
    return out


def _check_tf32(fn: str, allow_tf32: Any) -> bool:
    if not isinstance(allow_tf32, (bool, np.bool_)):
        raise TypeError(f"{fn}: allow_tf32 must be a bool, got {_describe(allow_tf32)}")
    return bool(allow_tf32)


def _to_device(fn: str, name: str, value: Any, stream: int) -> Any:
    """A CUDA array argument as a dense DeviceArray (zero-copy unless strided)."""
    return _call_core(fn, _cuda.asarray, value, stream, name=name)


def _rank_error(fn: str, name: str, array: np.ndarray, expected: str) -> ValueError:
    return ValueError(f"{fn}: {name} must have {expected}, got shape {tuple(array.shape)}")


# ---------------------------------------------------------------------------------------------
# Convolutions


def _spatial_names(ndim: int) -> str:
    return ", ".join(("D", "H", "W")[3 - ndim:])


def _conv_geometry(
    fn: str,
    ndim: int,
    transposed: bool,
    x_shape: Tuple[int, ...],
    w_shape: Tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    output_padding: Any,
) -> Dict[str, Any]:
    """Checks ranks and parameters; returns the keyword arguments shared by _core.conv,
    _core.conv_transpose and _core.explain_selection (x_shape batched)."""
    spatial = _spatial_names(ndim)
    if len(x_shape) not in (ndim + 1, ndim + 2):
        raise ValueError(
            f"{fn}: input must have {ndim + 1} dimensions (C, {spatial}) or {ndim + 2} (N, C, {spatial}), "
            f"got shape {tuple(x_shape)}"
        )
    if len(w_shape) != ndim + 2:
        layout = "in_channels, out_channels/groups" if transposed else "out_channels, in_channels/groups"
        raise ValueError(f"{fn}: weight must have {ndim + 2} dimensions ({layout}, {spatial}), got shape {tuple(w_shape)}")
    if len(x_shape) == ndim + 1:
        x_shape = (1,) + tuple(x_shape)
    stride_t = _int_tuple(fn, "stride", stride, ndim, 1)
    dilation_t = _int_tuple(fn, "dilation", dilation, ndim, 1)
    if not _is_int(groups):
        raise TypeError(f"{fn}: groups must be an int, got {_describe(groups)}")
    if groups < 1:
        raise ValueError(f"{fn}: groups must be positive, got {groups}")
    _check_int64(fn, "groups", [int(groups)], groups)
    pairs = _padding_pairs(fn, padding, ndim, allow_strings=not transposed)
    kernel = w_shape[2:]
    pad_before, pad_after = _resolve_padding(fn, pairs, x_shape[2:], kernel, stride_t, dilation_t)
    geometry: Dict[str, Any] = {
        "stride": list(stride_t),
        "dilation": list(dilation_t),
        "pad_before": pad_before,
        "pad_after": pad_after,
    }
    if transposed:
        geometry["output_padding"] = list(_int_tuple(fn, "output_padding", output_padding, ndim, 0))
    geometry["groups"] = int(groups)
    return geometry


def _conv_output_shape(
    transposed: bool, x_shape: Sequence[int], w_shape: Sequence[int], geometry: Dict[str, Any]
) -> Optional[Tuple[int, ...]]:
    """The output shape of a valid call, or None when the geometry is invalid (the call to _core that
    follows then reports exactly what is wrong)."""
    try:
        if transposed:
            sizes = [
                _core.conv_transpose_output_size(*dims)
                for dims in zip(
                    x_shape[2:], w_shape[2:], geometry["stride"], geometry["pad_before"], geometry["pad_after"],
                    geometry["output_padding"], geometry["dilation"],
                )
            ]
            channels = w_shape[1] * geometry["groups"]
        else:
            sizes = [
                _core.conv_output_size(*dims)
                for dims in zip(
                    x_shape[2:], w_shape[2:], geometry["stride"], geometry["pad_before"], geometry["pad_after"],
                    geometry["dilation"],
                )
            ]
            channels = w_shape[0]
    except ValueError:
        return None
    return (x_shape[0], channels, *sizes)


# Validated geometry and output shape per call signature, so a model calling the same layer again
# skips ~35 us of Python checks (torch's whole call costs ~10 us). Keys hold only exact ints,
# strings and None, lists and tuples (read alike) as tuples: 1 == True == np.int64(1) hash alike,
# but stride=True must still fail.
_GEOMETRY_CACHE: Dict[Tuple[Any, ...], Tuple[Dict[str, Any], Optional[Tuple[int, ...]], Tuple[Any, ...]]] = {}
_GEOMETRY_CACHE_SIZE = 512


class _Unkeyable(Exception):
    pass


def _plain_key(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is str or value is None:
        return value
    if kind is tuple or kind is list:
        return tuple([_plain_key(item) for item in value])  # a list, not a generator: half the time
    raise _Unkeyable


def _cached_conv_geometry(
    fn: str, ndim: int, transposed: bool, x_shape: Tuple[int, ...], w_shape: Tuple[int, ...], *params: Any
) -> Tuple[Dict[str, Any], Optional[Tuple[int, ...]], Tuple[Any, ...]]:
    """_conv_geometry, the batched output shape (None when _core is to report the error) and the
    geometry as _core.conv / conv_transpose take it positionally (stride, dilation, pad_before,
    pad_after, [output_padding,] groups): by keyword, pybind11 spent 2 of a call's 11 us matching
    the names."""
    try:
        key: Optional[Tuple[Any, ...]] = (fn, x_shape, w_shape, _plain_key(params))
    except _Unkeyable:
        key = None
    hit = _GEOMETRY_CACHE.get(key) if key is not None else None
    if hit is not None:
        return hit
    geometry = _conv_geometry(fn, ndim, transposed, x_shape, w_shape, *params)
    batched = x_shape if len(x_shape) == ndim + 2 else (1,) + tuple(x_shape)
    core_args = (geometry["stride"], geometry["dilation"], geometry["pad_before"], geometry["pad_after"],
                 *([geometry["output_padding"]] if transposed else []), geometry["groups"])
    result = (geometry, _conv_output_shape(transposed, batched, w_shape, geometry), core_args)
    if key is not None:
        if len(_GEOMETRY_CACHE) >= _GEOMETRY_CACHE_SIZE:
            _GEOMETRY_CACHE.clear()
        _GEOMETRY_CACHE[key] = result
    return result


def _conv(
    fn: str,
    ndim: int,
    transposed: bool,
    input: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    output_padding: Any,
    algo: Any,
    allow_tf32: Any = False,
) -> Any:
    allow_tf32 = _check_tf32(fn, allow_tf32)
    # Host arrays, the common case, skip placement's keyword packing (~1 us of a call).
    on_host = _cuda.host_arrays(input, weight, bias)
    device = None if on_host else _cuda.placement(fn, input=input, weight=weight, bias=bias)
    if device is not None:
        return _conv_cuda(fn, ndim, transposed, device, input, weight, bias, stride, padding, dilation, groups,
                          output_padding, algo, allow_tf32)
    x = _as_float_array(fn, "input", input)
    w = _as_float_array(fn, "weight", weight)
    _same_dtype(fn, x, "weight", w)
    b = None
    if bias is not None:
        b = _as_float_array(fn, "bias", bias)
        _same_dtype(fn, x, "bias", b)
    geometry, out_shape, core_args = _cached_conv_geometry(fn, ndim, transposed, x.shape, w.shape, stride, padding,
                                                           dilation, groups, output_padding)
    algo = _check_algo(fn, algo)
    unbatched = x.ndim == ndim + 1
    if unbatched:
        x = x[np.newaxis]
    if b is not None:
        out_channels = w.shape[1] * geometry["groups"] if transposed else w.shape[0]
        if b.shape != (out_channels,):
            raise ValueError(
                f"{fn}: bias must have shape ({out_channels},) (one value per output channel), "
                f"got shape {tuple(b.shape)}"
            )
        b = _for_core(b, fn, "bias")
    channels_last = _is_channels_last(x)
    w = _for_core(w, fn, "weight")
    if channels_last:
        x = _for_core(_channels_to_last(x), fn, "input")
        if out_shape is not None:
            out_shape = (out_shape[0], *out_shape[2:], out_shape[1])
    else:
        x = _for_core(x, fn, "input")
    core_function = _core.conv_transpose if transposed else _core.conv

    def run(chosen: str) -> Any:
        out = _nan_output(out_shape, x.dtype) if _POISON_OUTPUT else None
        return _call_core(fn, core_function, x, w, b, *core_args, chosen, out, channels_last)

    if algo == "auto" and _autotune_enabled:
        key = (transposed, x.shape, w.shape, x.dtype.str, channels_last, _core.get_num_threads(),
               tuple((name, tuple(value) if isinstance(value, list) else value) for name, value in geometry.items()))
        y = _autotuned_call(key, run, lambda: _autotune_families(x.dtype, w.shape, transposed))
    else:
        y = run(algo)
    if channels_last:
        y = _channels_to_first(y)
    return y[0] if unbatched else y


def _conv_cuda(
    fn: str,
    ndim: int,
    transposed: bool,
    device: int,
    input: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    output_padding: Any,
    algo: Any,
    allow_tf32: bool,
) -> Any:
    """_conv for arrays on CUDA device `device`: queued on the input producer's current stream."""
    stream = _cuda.current_stream(input, device)
    x = _to_device(fn, "input", input, stream)
    w = _to_device(fn, "weight", weight, stream)
    b = None if bias is None else _to_device(fn, "bias", bias, stream)
    geometry, _, _ = _cached_conv_geometry(fn, ndim, transposed, tuple(x.shape), tuple(w.shape), stride, padding,
                                           dilation, groups, output_padding)
    if "output_padding" not in geometry:  # a copy: the cached dict is shared with the CPU path
        geometry = {**geometry, "output_padding": []}
    algo = _check_algo(fn, algo)
    unbatched = len(x.shape) == ndim + 1
    if unbatched:
        x = x.reshape((1,) + tuple(x.shape))
    if b is not None:
        out_channels = w.shape[1] * geometry["groups"] if transposed else w.shape[0]
        if tuple(b.shape) != (out_channels,):
            raise ValueError(
                f"{fn}: bias must have shape ({out_channels},) (one value per output channel), "
                f"got shape {tuple(b.shape)}"
            )
    y = _call_core(fn, _core.cuda_conv, transposed, x, w, b, algo=algo, allow_tf32=allow_tf32, stream=stream,
                   poison=_POISON_OUTPUT, **geometry)
    return y.reshape(tuple(y.shape[1:])) if unbatched else y


_CONV_DOC = """{d}-D convolution of `input` with `weight`, as torch.nn.functional.conv{d}d.

    Args:
        input: (N, C_in, {spatial}) or unbatched (C_in, {spatial}); float32 or float64, anything
            np.asarray accepts (any strides, read-only, Fortran order).
        weight: (C_out, C_in/groups, {kernel}), same dtype as input.
        bias: optional (C_out,), same dtype.
        stride: int or {d}-tuple of ints, >= 1.
        padding: int, {d}-tuple of ints, "valid", "same" (torch's rule at stride 1; at larger strides
            TensorFlow's: output size ceil(in/stride), the extra padding element after), or a
            {d}-tuple of (before, after) pairs for asymmetric padding (entries may mix ints and pairs).
        dilation: int or {d}-tuple of ints, >= 1.
        groups: C_in and C_out must both be divisible by it.
        algo: "auto", "direct", "im2col", "winograd" (F(4x4, 3x3), or F(2x2, 3x3) for tiny outputs:
            2-D 3x3 stride-1 undilated layers only, others raise ValueError; docs/winograd.md) or
            "reference" (plain loops, the ground truth).
        allow_tf32: on the GPU, let float32 GEMM paths use TF32 tensor cores (inputs rounded to a
            10-bit mantissa, float32 accumulation), as torch.backends.cudnn.allow_tf32; accepted
            and ignored on the CPU.

    Arrays on a CUDA device (torch.cuda tensors, CuPy or JAX arrays, fastconv.cuda.DeviceArray: any
    __dlpack__ object on a CUDA device) run on that GPU, zero-copy, on the producer's current
    stream, and the result is a fastconv.cuda.DeviceArray (torch.from_dlpack and cupy.asarray take
    it without a copy). On the GPU float16 and bfloat16 arrays work too (float32 accumulation,
    result in the input dtype). Host and device arrays cannot be mixed.

    Returns:
        (N, C_out, {out}) or (C_out, {out}) for an unbatched input, in the input's dtype.

    Raises:
        TypeError: unsupported or mixed dtypes, non-int parameters.
        ValueError: wrong shapes or ranks, invalid parameters, or an empty output.
    """

_CONV_TRANSPOSE_DOC = """{d}-D transposed convolution, as torch.nn.functional.conv_transpose{d}d: the
    gradient of conv{d}d with respect to its input, often called a deconvolution.

    Args:
        input: (N, C_in, {spatial}) or unbatched (C_in, {spatial}); float32 or float64.
        weight: (C_in, C_out/groups, {kernel}) (torch's layout), same dtype as input.
        bias: optional (C_out,), same dtype.
        stride: int or {d}-tuple of ints, >= 1.
        padding: int, {d}-tuple of ints, or a {d}-tuple of (before, after) pairs: removed from the
            output's edges (dilation * (kernel - 1) - padding zeros pad the input).
        output_padding: int or {d}-tuple of ints added to the output's end; each must be smaller
            than the stride or the dilation of its dimension.
        groups: C_in must be divisible by it.
        dilation: int or {d}-tuple of ints, >= 1.
        algo: "auto", "direct" (no column buffer), "im2col" (GEMM + col2im), "winograd" (2-D,
            groups 1, dilation 1, every output pixel reading at most 3 x 3 input pixels, as DCGAN's
            4x4 kernels at stride 2: F(4x4, 3x3) on the sub-pixel form, docs/winograd.md; others
            raise ValueError) or "reference".
        allow_tf32: on the GPU, let float32 GEMM paths use TF32 tensor cores; ignored on the CPU.

    CUDA device arrays run on the GPU as for conv{d}d and return a fastconv.cuda.DeviceArray.

    Returns:
        (N, C_out, {out}) or (C_out, {out}) for an unbatched input, in the input's dtype, where
        out = (in - 1) * stride - pad_before - pad_after + dilation * (kernel - 1) + output_padding + 1.

    Raises:
        TypeError: unsupported or mixed dtypes, non-int parameters.
        ValueError: wrong shapes or ranks, invalid parameters, or an empty output.
    """


def _doc(template: str, d: int) -> str:
    names = ("D", "H", "W")[3 - d:]
    return template.format(
        d=d,
        spatial=", ".join(names),
        kernel=", ".join("k" + name for name in names),
        out=", ".join(name + "_out" for name in names),
    )


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    *,
    algo: str = "auto",
    allow_tf32: bool = False,
) -> Any:
    return _conv("conv1d", 1, False, input, weight, bias, stride, padding, dilation, groups, None, algo, allow_tf32)


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    *,
    algo: str = "auto",
    allow_tf32: bool = False,
) -> Any:
    return _conv("conv2d", 2, False, input, weight, bias, stride, padding, dilation, groups, None, algo, allow_tf32)


def conv3d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    *,
    algo: str = "auto",
    allow_tf32: bool = False,
) -> Any:
    return _conv("conv3d", 3, False, input, weight, bias, stride, padding, dilation, groups, None, algo, allow_tf32)


def conv_transpose1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    *,
    algo: str = "auto",
    allow_tf32: bool = False,
) -> Any:
    return _conv("conv_transpose1d", 1, True, input, weight, bias, stride, padding, dilation, groups, output_padding, algo, allow_tf32)


def conv_transpose2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    *,
    algo: str = "auto",
    allow_tf32: bool = False,
) -> Any:
    return _conv("conv_transpose2d", 2, True, input, weight, bias, stride, padding, dilation, groups, output_padding, algo, allow_tf32)


def conv_transpose3d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    *,
    algo: str = "auto",
    allow_tf32: bool = False,
) -> Any:
    return _conv("conv_transpose3d", 3, True, input, weight, bias, stride, padding, dilation, groups, output_padding, algo, allow_tf32)


for _function in (conv1d, conv2d, conv3d):
    _function.__doc__ = _doc(_CONV_DOC, int(_function.__name__[-2]))
for _function in (conv_transpose1d, conv_transpose2d, conv_transpose3d):
    _function.__doc__ = _doc(_CONV_TRANSPOSE_DOC, int(_function.__name__[-2]))
del _function


# ---------------------------------------------------------------------------------------------
# unfold / fold


def _block_ndim(*params: Any) -> int:
    """Spatial dimensions of unfold/fold: the length of the first tuple among the parameters (in
    order of precedence), 2 (torch's only case) when all are ints."""
    for value in params:
        if isinstance(value, (tuple, list)):
            return len(value)
    return 2


def _block_geometry(
    fn: str, ndim: int, kernel_size: Any, dilation: Any, padding: Any, stride: Any
) -> Dict[str, List[int]]:
    if not 1 <= ndim <= 3:
        raise ValueError(f"{fn}: 1 to 3 spatial dimensions are supported, got kernel_size={_describe(kernel_size)}")
    kernel = _int_tuple(fn, "kernel_size", kernel_size, ndim, 1)
    pairs = _padding_pairs(fn, padding, ndim, allow_strings=False)
    return {
        "kernel_size": list(kernel),
        "dilation": list(_int_tuple(fn, "dilation", dilation, ndim, 1)),
        "pad_before": [before for before, _ in pairs],
        "pad_after": [after for _, after in pairs],
        "stride": list(_int_tuple(fn, "stride", stride, ndim, 1)),
    }


def _block_counts(in_sizes: Sequence[int], geometry: Dict[str, List[int]]) -> Optional[List[int]]:
    """Sliding blocks per dimension, or None when there are none (_core then says why)."""
    try:
        return [
            _core.conv_output_size(*dims)
            for dims in zip(
                in_sizes, geometry["kernel_size"], geometry["stride"], geometry["pad_before"],
                geometry["pad_after"], geometry["dilation"],
            )
        ]
    except ValueError:
        return None


def unfold(
    input: Any,
    kernel_size: IntOrTuple,
    dilation: IntOrTuple = 1,
    padding: Padding = 0,
    stride: IntOrTuple = 1,
) -> np.ndarray:
    """Extracts sliding blocks (im2col), as torch.nn.functional.unfold.

    The number of spatial dimensions d is the length of the first of kernel_size, dilation, padding,
    stride given as a tuple, and 2 (torch's case) when all are ints; d = 1 and 3 extend torch.

    Args:
        input: (N, C, *spatial) or unbatched (C, *spatial) with d spatial dims; float32 or float64.
        kernel_size, dilation, stride: int or tuple of d ints, >= 1.
        padding: int, tuple of d ints or tuple of d (before, after) pairs; zeros around the input.

    Returns:
        (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L), L = number of blocks; rows are
        ordered (channel, kernel offsets in row-major order), columns by block position. A CUDA
        device input runs on its GPU and gives a fastconv.cuda.DeviceArray.
    """
    fn = "unfold"
    ndim = _block_ndim(kernel_size, dilation, padding, stride)
    geometry = _block_geometry(fn, ndim, kernel_size, dilation, padding, stride)
    device = _cuda.placement(fn, input=input)
    if device is not None:
        stream = _cuda.current_stream(input, device)
        x = _to_device(fn, "input", input, stream)
    else:
        x = _as_float_array(fn, "input", input)
    if x.ndim not in (ndim + 1, ndim + 2):
        raise _rank_error(
            fn, "input", x, f"{ndim + 1} dimensions (C, *spatial) or {ndim + 2} (N, C, *spatial) for a {ndim}-d kernel_size"
        )
    unbatched = x.ndim == ndim + 1
    if device is not None:
        if unbatched:
            x = x.reshape((1,) + tuple(x.shape))
        columns = _call_core(fn, _core.cuda_unfold, x, stream=stream, poison=_POISON_OUTPUT, **geometry)
        return columns.reshape(tuple(columns.shape[1:])) if unbatched else columns
    if unbatched:
        x = x[np.newaxis]
    x = _for_core(x, fn, "input")
    out = None
    if _POISON_OUTPUT:
        blocks = _block_counts(x.shape[2:], geometry)
        rows = x.shape[1] * math.prod(geometry["kernel_size"])
        out = _nan_output(None if blocks is None else (x.shape[0], rows, math.prod(blocks)), x.dtype)
    columns = _call_core(fn, _core.unfold, x, out=out, **geometry)
    return columns[0] if unbatched else columns


def fold(
    input: Any,
    output_size: IntOrTuple,
    kernel_size: IntOrTuple,
    dilation: IntOrTuple = 1,
    padding: Padding = 0,
    stride: IntOrTuple = 1,
) -> np.ndarray:
    """Sums sliding blocks back into an array (col2im), as torch.nn.functional.fold; the adjoint
    of unfold, so fold(unfold(x)) is x times how many blocks cover each element.

    The number of spatial dimensions d is the length of the first of output_size, kernel_size,
    dilation, padding, stride given as a tuple, and 2 (torch's case) when all are ints.

    Args:
        input: (N, C * prod(kernel_size), L) or unbatched (C * prod(kernel_size), L), laid out as
            unfold's output; float32 or float64.
        output_size: int or tuple of d ints, the spatial size of the result.
        kernel_size, dilation, stride: int or tuple of d ints, >= 1.
        padding: int, tuple of d ints or tuple of d (before, after) pairs.

    Returns:
        (N, C, *output_size) or (C, *output_size), in the input's dtype. A CUDA device input runs
        on its GPU (a deterministic gather, no atomics) and gives a fastconv.cuda.DeviceArray.
    """
    fn = "fold"
    ndim = _block_ndim(output_size, kernel_size, dilation, padding, stride)
    geometry = _block_geometry(fn, ndim, kernel_size, dilation, padding, stride)
    sizes = list(_int_tuple(fn, "output_size", output_size, ndim, 0))
    device = _cuda.placement(fn, input=input)
    if device is not None:
        stream = _cuda.current_stream(input, device)
        columns = _to_device(fn, "input", input, stream)
    else:
        columns = _as_float_array(fn, "input", input)
    if columns.ndim not in (2, 3):
        raise _rank_error(fn, "input", columns, "2 dimensions (C * prod(kernel_size), L) or 3 (N, C * prod(kernel_size), L)")
    unbatched = columns.ndim == 2
    if device is not None:
        if unbatched:
            columns = columns.reshape((1,) + tuple(columns.shape))
        x = _call_core(fn, _core.cuda_fold, columns, sizes, stream=stream, poison=_POISON_OUTPUT, **geometry)
        return x.reshape(tuple(x.shape[1:])) if unbatched else x
    if unbatched:
        columns = columns[np.newaxis]
    columns = _for_core(columns, fn, "input")
    out = None
    taps = math.prod(geometry["kernel_size"])
    if _POISON_OUTPUT and columns.shape[1] % taps == 0:  # else _core reports the bad channel count
        out = _nan_output((columns.shape[0], columns.shape[1] // taps, *sizes), columns.dtype)
    x = _call_core(fn, _core.fold, columns, sizes, out=out, **geometry)
    return x[0] if unbatched else x


# ---------------------------------------------------------------------------------------------
# Output-size arithmetic


def _size_args(fn: str, input_size: Any, params: Dict[str, Any]) -> Tuple[bool, List[int], Dict[str, Tuple[int, ...]]]:
    """(scalar, input sizes, {name: per-dimension ints}) for the size functions: an int input_size
    means one dimension (and an int result), a tuple one entry per dimension."""
    if _is_int(input_size):
        scalar, ndim = True, 1
    elif isinstance(input_size, (tuple, list)) and input_size:
        scalar, ndim = False, len(input_size)
    else:
        raise TypeError(f"{fn}: input_size must be an int or a non-empty tuple of ints, got {_describe(input_size)}")
    sizes = _int_tuple(fn, "input_size", input_size, ndim, 0)
    minimums = {"kernel_size": 1, "stride": 1, "dilation": 1, "output_padding": 0}
    values = {name: _int_tuple(fn, name, value, len(sizes), minimums[name]) for name, value in params.items()}
    return scalar, list(sizes), values


def _per_dimension(fn: str, scalar: bool, function: Any, rows: Sequence[Sequence[int]]) -> Union[int, Tuple[int, ...]]:
    results = []
    for axis, row in enumerate(rows):
        try:
            results.append(int(function(*row)))
        except ValueError as exc:
            where = "" if scalar else f"spatial dimension {axis}: "
            raise ValueError(f"{fn}: {where}{exc}") from None
    return results[0] if scalar else tuple(results)


def conv_output_size(
    input_size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
) -> Union[int, Tuple[int, ...]]:
    """Output size of a forward convolution: floor((in + pad_before + pad_after - dilation *
    (kernel - 1) - 1) / stride) + 1.

    With an int input_size it returns an int, and padding may be an int, "same", "valid" or one
    (before, after) pair; with a tuple it returns a tuple, one entry per dimension, and every other
    argument is an int or a tuple of that length (padding as for conv{1,2,3}d).
    Raises ValueError when the output would be empty.
    """
    fn = "conv_output_size"
    scalar, sizes, values = _size_args(
        fn, input_size, {"kernel_size": kernel_size, "stride": stride, "dilation": dilation}
    )
    if scalar and isinstance(padding, (tuple, list)) and len(padding) == 2 and all(_is_int(p) for p in padding):
        padding = (tuple(padding),)
    pairs = _padding_pairs(fn, padding, len(sizes), allow_strings=True)
    kernel, strides, dilations = values["kernel_size"], values["stride"], values["dilation"]
    pad_before, pad_after = _resolve_padding(fn, pairs, sizes, kernel, strides, dilations)
    rows = list(zip(sizes, kernel, strides, pad_before, pad_after, dilations))
    return _per_dimension(fn, scalar, _core.conv_output_size, rows)


def conv_transpose_output_size(
    input_size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> Union[int, Tuple[int, ...]]:
    """Output size of a transposed convolution: (in - 1) * stride - pad_before - pad_after +
    dilation * (kernel - 1) + output_padding + 1.

    An int input_size gives an int (padding an int or one (before, after) pair); a tuple gives a
    tuple, with every other argument an int or a tuple of that length. Raises ValueError when
    output_padding is not smaller than the stride or the dilation, or the output would be empty.
    """
    fn = "conv_transpose_output_size"
    scalar, sizes, values = _size_args(
        fn,
        input_size,
        {"kernel_size": kernel_size, "stride": stride, "output_padding": output_padding, "dilation": dilation},
    )
    if scalar and isinstance(padding, (tuple, list)) and len(padding) == 2 and all(_is_int(p) for p in padding):
        padding = (tuple(padding),)
    pairs = _padding_pairs(fn, padding, len(sizes), allow_strings=False)
    rows = [
        (size, k, s, before, after, extra, d)
        for size, k, s, (before, after), extra, d in zip(
            sizes, values["kernel_size"], values["stride"], pairs, values["output_padding"], values["dilation"]
        )
    ]
    return _per_dimension(fn, scalar, _core.conv_transpose_output_size, rows)


# ---------------------------------------------------------------------------------------------
# Autotuning: algo="auto" timed instead of guessed, once per problem

# The families an autotuned "auto" chooses among; "auto" itself is the registry's heuristic, kept
# unless another family is faster by more than _AUTOTUNE_MARGIN, so timing noise between near-equal
# candidates does not move a choice away from the measured heuristic. Winograd only where "auto"
# could take it for its accuracy (see _autotune_families).
_AUTOTUNE_FAMILIES = ("auto", "direct", "im2col", "winograd")
_AUTOTUNE_MARGIN = 1.03
# Per candidate: at least this many timed calls and this many seconds of them (the fastest call
# counts: noise on a shared machine only ever adds time).
_AUTOTUNE_MIN_CALLS = 2
_AUTOTUNE_MIN_SECONDS = 0.02
_AUTOTUNE_CACHE_SIZE = 1024


def _autotune_from_environment() -> bool:
    value = os.environ.get("FASTCONV_AUTOTUNE", "")
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    warnings.warn(f"FASTCONV_AUTOTUNE={value!r} is neither 0 nor 1; autotuning stays off", RuntimeWarning, stacklevel=2)
    return False


_autotune_enabled = _autotune_from_environment()
_AUTOTUNE_CACHE: Dict[Tuple[Any, ...], str] = {}  # problem -> chosen family
# Held while a problem is tuned, so two tunings never time their candidates against each other
# (calls of problems already tuned do not wait for it).
_AUTOTUNE_LOCK = threading.Lock()


def _autotune_families(dtype: np.dtype, w_shape: Tuple[int, ...], transposed: bool = False) -> Tuple[str, ...]:
    """The candidates for a forward or transposed problem with weights of `w_shape`: Winograd only
    where the registry's accuracy rule lets "auto" take it (_core.winograd_accurate_for_auto:
    float32, at most 512 input channels per group times depth taps; docs/winograd.md). A transposed
    layer's Winograd form (winograd_sub_pixel, groups 1) sums over its input channels, w_shape[0];
    the family declines the transposed problems it cannot run itself."""
    depth_taps = w_shape[2] if len(w_shape) == 5 else 1
    reduction = w_shape[0] if transposed else w_shape[1]
    if _core.winograd_accurate_for_auto(np.dtype(dtype).name, depth_taps, reduction):
        return _AUTOTUNE_FAMILIES
    return tuple(family for family in _AUTOTUNE_FAMILIES if family != "winograd")


def _autotune_pick(run: Callable[[str], Any], families: Sequence[str]) -> Tuple[str, Any]:
    """Times each of `families` ("auto" first) through run(family), which computes the problem
    once with that algo and returns its result, raising ValueError or MemoryError when the family
    declines the problem. Errors of "auto" propagate: they are the caller's mistakes. Returns the
    chosen family and the result of its last call."""
    results: Dict[str, Any] = {}
    fastest: Dict[str, float] = {}
    for family in families:
        try:
            results[family] = run(family)  # untimed: first-use costs, and whether the family accepts
        except (ValueError, MemoryError):
            if family == "auto":
                raise
            continue
        times: List[float] = []
        while len(times) < _AUTOTUNE_MIN_CALLS or sum(times) < _AUTOTUNE_MIN_SECONDS:
            start = time.perf_counter()
            results[family] = run(family)
            times.append(time.perf_counter() - start)
        fastest[family] = min(times)
    best = min(fastest, key=fastest.__getitem__)
    if fastest["auto"] <= fastest[best] * _AUTOTUNE_MARGIN:
        best = "auto"
    return best, results[best]


def _autotuned_call(key: Tuple[Any, ...], run: Callable[[str], Any], families: Callable[[], Sequence[str]]) -> Any:
    """run(family) with the family tuned for `key`: the cached choice, or one timed now among
    families() (asked only then: a tuned problem's calls skip it)."""
    chosen = _AUTOTUNE_CACHE.get(key)
    if chosen is not None:
        return run(chosen)
    with _AUTOTUNE_LOCK:
        chosen = _AUTOTUNE_CACHE.get(key)
        if chosen is not None:
            return run(chosen)
        chosen, result = _autotune_pick(run, families())
        if len(_AUTOTUNE_CACHE) >= _AUTOTUNE_CACHE_SIZE:
            _AUTOTUNE_CACHE.clear()
        _AUTOTUNE_CACHE[key] = chosen
        return result


def set_autotune(enabled: bool) -> None:
    """Turns autotuning on or off for algo="auto" on CPU arrays (off by default; the environment
    variable FASTCONV_AUTOTUNE=1 turns it on at import). On, the first call of each problem (op,
    shapes, parameters, dtype, memory format and thread count) times every algo family that accepts
    it (Winograd only where "auto" would allow it for its accuracy), and later calls run the
    fastest; a plan (fastconv.Conv2d, ...) times its candidates' packed runs on its first input of
    each shape. Timing costs tens of milliseconds per problem, once; the choice can differ between
    runs and machines, while each algo's results stay bit for bit reproducible. Like
    torch.backends.cudnn.benchmark, it pays off for models that run the same shapes many times."""
    global _autotune_enabled
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"set_autotune: enabled must be a bool, got {_describe(enabled)}")
    _autotune_enabled = bool(enabled)


def get_autotune() -> bool:
    """Whether algo="auto" is autotuned (see set_autotune)."""
    return _autotune_enabled


def clear_autotune_cache() -> None:
    """Forgets every autotuned choice of functional calls (plans keep theirs), so the next call of
    each problem times its candidates again: after a change of machine load, say."""
    with _AUTOTUNE_LOCK:
        _AUTOTUNE_CACHE.clear()


# ---------------------------------------------------------------------------------------------
# Runtime


def info() -> Dict[str, Any]:
    """What this build of fastconv is and what it will use on this machine: version, instruction
    sets (compiled, detected, active and any FASTCONV_MAX_ISA warning), GEMM, indirect-GEMM, depthwise,
    channels-first direct and Winograd microkernels, the ordered list of implementations (and which
    prepack weights for plans), CUDA (under "cuda": compiled, available, device names, the im2col
    workspace cap and the GPU implementations), threads, algorithm names and autotuning (on or off,
    and how many problems the functional calls have tuned) and the output cache (see release_memory)."""
    active_f32, active_f64 = _core.active_gemm_ukernels()
    active = {"float32": active_f32, "float64": active_f64}
    return {
        "version": _core.__version__,
        "compiled_isas": list(_core.compiled_isas()),
        "detected_isa": _core.detected_isa(),
        "active_isa": _core.active_isa(),
        "isa_override_warning": _core.isa_override_warning() or None,
        "active_gemm_ukernels": active,
        "gemm_ukernels": [
            {"name": name, "dtype": dtype, "isa": isa, "mr": mr, "nr": nr, "active": active[dtype] == name}
            for name, dtype, isa, mr, nr in _core.gemm_ukernels()
        ],
        "igemm_ukernels": [
            {"name": name, "isa": isa, "mr": mr, "nr": nr, "active": active}
            for name, isa, mr, nr, active in _core.igemm_ukernels()
        ],
        "dwconv_ukernels": [
            {"name": name, "isa": isa, "active": active} for name, isa, active in _core.dwconv_ukernels()
        ],
        # Chosen per layer shape among those the active ISA allows ("usable"), so none is "active".
        "conv_chw_ukernels": [
            {"name": name, "isa": isa, "channels": kb, "pixels": pixels, "usable": usable}
            for name, isa, kb, pixels, usable in _core.conv_chw_ukernels()
        ],
        "winograd_ukernels": [
            {"name": name, "dtype": dtype, "isa": isa, "m": m, "active": active}
            for name, dtype, isa, m, active in _core.winograd_ukernels()
        ],
        "implementations": [
            {"name": name, "algo": algo, "prepacks": prepacks} for name, algo, prepacks in _core.implementations()
        ],
        "cuda_compiled": bool(_core.cuda_compiled()),
        "cuda_device_count": int(_core.cuda_device_count()),
        "cuda": _cuda.info(),
        "num_threads": _core.get_num_threads(),
        "algos": list(_core.algo_names()),
        "autotune": {"enabled": _autotune_enabled, "tuned_problems": len(_AUTOTUNE_CACHE)},
        "output_cache": dict(zip(("blocks", "bytes"), _core.output_cache_usage())),
    }


def release_memory() -> None:
    """Frees the memory fastconv keeps for reuse between calls: the blocks of large outputs whose
    arrays were dropped (kept, at most 8 blocks and 256 MiB, so that calls in a loop write pages
    that are already mapped; `info()["output_cache"]` says how much is held)."""
    _core.clear_output_cache()


def set_num_threads(num_threads: int) -> None:
    """Sets how many threads fastconv's pool uses (>= 1); safe while other threads compute."""
    if not _is_int(num_threads):
        raise TypeError(f"set_num_threads: num_threads must be an int, got {_describe(num_threads)}")
    if num_threads < 1:
        raise ValueError(f"set_num_threads: num_threads must be positive, got {num_threads}")
    if num_threads > 1024:
        raise ValueError(f"set_num_threads: num_threads must be between 1 and 1024, got {num_threads}")
    _core.set_num_threads(int(num_threads))


def get_num_threads() -> int:
    """The number of threads fastconv's pool uses."""
    return _core.get_num_threads()


_OPS = {
    f"{kind}{d}d": (d, kind == "conv_transpose") for kind in ("conv", "conv_transpose") for d in (1, 2, 3)
}


def algorithms(
    op: str,
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    output_padding: IntOrTuple = 0,
    *,
    dtype: Any = "float32",
    algo: str = "auto",
) -> Dict[str, Any]:
    """Which implementation `op` (e.g. "conv2d", "conv_transpose3d") would run for these shapes
    and parameters under `algo`, and why each other one declines, without running anything. For
    "auto" this is the heuristic's choice; with autotuning on (set_autotune) a tuned problem may
    run another family's.

    Returns:
        {"selected": name, "candidates": [{"name", "algo", "accepted", "reason"}, ...]} with the
        candidates in registry order (selection takes the first accepted one of the family).
    """
    fn = "algorithms"
    if op not in _OPS:
        raise ValueError(f"{fn}: op must be one of {', '.join(map(repr, _OPS))}, got {_describe(op)}")
    ndim, transposed = _OPS[op]
    try:
        dtype_name = np.dtype(dtype).name
    except TypeError:
        dtype_name = None
    if dtype_name not in ("float32", "float64"):
        raise TypeError(f"{fn}: dtype must be float32 or float64, got {_describe(dtype)}")
    shapes = []
    for name, shape in (("input_shape", input_shape), ("weight_shape", weight_shape)):
        if not isinstance(shape, (tuple, list)) or not all(_is_int(extent) and extent >= 0 for extent in shape):
            raise TypeError(f"{fn}: {name} must be a tuple of non-negative ints, got {_describe(shape)}")
        _check_int64(fn, name, [int(extent) for extent in shape], shape)
        shapes.append(tuple(int(extent) for extent in shape))
    x_shape, w_shape = shapes
    geometry = _conv_geometry(fn, ndim, transposed, x_shape, w_shape, stride, padding, dilation, groups, output_padding)
    if len(x_shape) == ndim + 1:
        x_shape = (1,) + x_shape
    algo = _check_algo(fn, algo)
    selected, rows = _call_core(
        fn,
        _core.explain_selection,
        transposed,
        dtype_name,
        list(x_shape),
        list(w_shape),
        geometry["stride"],
        geometry["dilation"],
        geometry["pad_before"],
        geometry["pad_after"],
        geometry.get("output_padding", []),
        geometry["groups"],
        algo,
    )
    return {
        "selected": selected,
        "candidates": [
            {"name": name, "algo": family, "accepted": accepted, "reason": reason}
            for name, family, accepted, reason in rows
        ],
    }
