# fastconv on NVIDIA GPUs: device queries, DeviceArray (fastconv's own device array, which torch,
# CuPy and JAX take without a copy through DLPack or __cuda_array_interface__), and the helpers
# fastconv._api uses to route an op to the GPU when its inputs live there.
#
# Every op of fastconv (conv1d/2d/3d, conv_transpose1d/2d/3d, unfold, fold) runs on the GPU when its
# arrays are CUDA device arrays: any object whose __dlpack_device__ reports a CUDA device (torch.cuda
# tensors, CuPy arrays, JAX arrays, DeviceArray). They are taken zero-copy through __dlpack__ on the
# producer's current stream (torch's or CuPy's current stream, else the legacy default stream), the
# op is queued on that stream, and the result is a DeviceArray on the same device and stream.
# Host arrays keep running on the CPU; mixing host and device arrays, or two devices, is a
# ValueError naming the argument.
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from . import _core

DeviceArray = _core.DeviceArray

# DLPack device types (DLDeviceType)
_DL_CPU = 1
_DL_CUDA = 2
_LEGACY_STREAM = 1


def is_compiled() -> bool:
    """True when this build of fastconv contains the CUDA kernels."""
    return bool(_core.cuda_compiled())


def device_count() -> int:
    """CUDA devices visible to fastconv; 0 without CUDA in the build, a driver or a device."""
    return int(_core.cuda_device_count())


def is_available() -> bool:
    """True when the GPU path can run: CUDA compiled in and at least one device with a driver."""
    return is_compiled() and device_count() > 0


def device_name(device: int = 0) -> str:
    """The name of CUDA device `device`, e.g. "NVIDIA H100 80GB HBM3"."""
    _check_device("device_name", "device", device)
    return str(_core.cuda_device_name(int(device)))


def workspace_cap_bytes() -> int:
    """The most device memory the explicit im2col paths hold for a column buffer (they tile over
    output rows to stay under it, whatever the layer size)."""
    return int(_core.cuda_workspace_cap_bytes())


def info() -> Dict[str, Any]:
    """{"compiled", "available", "devices": [names], "workspace_cap_bytes", "implementations"}."""
    available = is_available()
    return {
        "compiled": is_compiled(),
        "available": available,
        "devices": [device_name(i) for i in range(device_count())] if available else [],
        "workspace_cap_bytes": workspace_cap_bytes(),
        "implementations": [{"name": name, "algo": algo} for name, algo in _core.cuda_implementations()],
    }


def _check_device(fn: str, name: str, device: Any) -> None:
    if not isinstance(device, (int, np.integer)) or isinstance(device, bool):
        raise TypeError(f"{fn}: {name} must be an int, got {device!r}")
    if not is_compiled():
        raise RuntimeError(f"{fn}: fastconv was built without CUDA (FASTCONV_CUDA=OFF or no nvcc at build time)")
    count = device_count()
    if not 0 <= device < count:
        raise RuntimeError(
            f"{fn}: {name} refers to CUDA device {device}, but {count} CUDA device{'s are' if count != 1 else ' is'} "
            "available to fastconv (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides it)"
        )


def device_of(value: Any) -> Optional[int]:
    """The CUDA device ordinal of an array on a CUDA device (per its __dlpack_device__), or None for
    host data (NumPy arrays, lists, CPU tensors). Other device types (ROCm, pinned host memory, ...)
    raise ValueError."""
    if type(value) is DeviceArray:
        return value.device
    if value is None or not hasattr(type(value), "__dlpack_device__"):
        return None
    device_type, device_id = value.__dlpack_device__()
    device_type = int(device_type)
    if device_type == _DL_CPU:
        return None
    if device_type == _DL_CUDA:
        return int(device_id)
    raise ValueError(f"DLPack device type {device_type} is not supported; fastconv takes host (1) or CUDA (2) arrays")


def host_arrays(*values: Any) -> bool:
    """Whether every value is None or a NumPy array: the common case, known without asking each
    array for its DLPack device."""
    for value in values:
        if value is not None and type(value) is not np.ndarray:
            return False
    return True


def placement(fn: str, **arrays: Any) -> Optional[int]:
    """The CUDA device an op's arrays live on, or None when they are all host arrays. Raises
    ValueError when host and device arrays (or two devices) are mixed, RuntimeError when the arrays
    are on a device this build or machine cannot use."""
    if host_arrays(*arrays.values()):
        return None
    devices: Dict[str, Optional[int]] = {}
    for name, value in arrays.items():
        if value is None:
            continue
        try:
            devices[name] = device_of(value)
        except ValueError as exc:
            raise ValueError(f"{fn}: {name}: {exc}") from None
    on_device = {name: device for name, device in devices.items() if device is not None}
    if not on_device:
        return None
    first, device = next(iter(on_device.items()))
    for name, where in devices.items():
        if where is None:
            raise ValueError(
                f"{fn}: {name} is a host array but {first} is on CUDA device {device}; pass every array on the "
                "same device (e.g. fastconv.cuda.asarray(array), or .cuda() on a torch tensor)"
            )
        if where != device:
            raise ValueError(
                f"{fn}: {name} is on CUDA device {where} but {first} is on CUDA device {device}; all arrays must be "
                "on one device"
            )
    _check_device(fn, first, device)
    return device


def current_stream(value: Any, device: int) -> int:
    """The stream a device array's producer currently works on, as a DLPack stream integer (1 for the
    legacy default stream): torch's or CuPy's current stream, a DeviceArray's own stream, else 1."""
    if isinstance(value, DeviceArray):
        return int(value.stream)
    package = type(value).__module__.split(".")[0]
    stream = _LEGACY_STREAM
    if package == "torch":
        import torch

        stream = torch.cuda.current_stream(device).cuda_stream
    elif package == "cupy":
        import cupy

        with cupy.cuda.Device(device):
            stream = cupy.cuda.get_current_stream().ptr
    return int(stream) or _LEGACY_STREAM  # 0 (torch's and CuPy's name for the legacy stream) is not DLPack's


def asarray(value: Any, stream: Optional[int] = None, *, device: int = 0, name: str = "array") -> DeviceArray:
    """`value` as a DeviceArray: a CUDA array (anything implementing __dlpack__ on a CUDA device) is
    taken zero-copy, made dense on the device if it is strided; host data (a float32/float64 NumPy
    array or anything np.asarray takes) is copied to CUDA device `device`. `stream` is the DLPack
    stream integer to work on; None uses the producer's current stream."""
    if isinstance(value, DeviceArray):
        return value
    where = device_of(value)
    if where is None:
        _check_device("asarray", "device", device)
        array = np.ascontiguousarray(value)
        if array.dtype not in (np.float32, np.float64, np.float16):
            raise TypeError(f"asarray: {name} has dtype {array.dtype}, expected float32, float64 or float16")
        return _core.cuda_from_numpy(array, int(device), _LEGACY_STREAM if stream is None else int(stream))
    _check_device("asarray", name, where)
    if getattr(value, "requires_grad", False) and hasattr(value, "detach"):
        value = value.detach()  # torch refuses to export tensors that require grad (e.g. nn.Parameter)
    if stream is None:
        stream = current_stream(value, where)
    try:
        capsule = value.__dlpack__(stream=stream)
    except TypeError:  # a producer predating the stream keyword
        capsule = value.__dlpack__()
    return _core.cuda_from_dlpack(capsule, int(stream), name)


def selected_impl(
    op: str,
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    output_padding: Any = 0,
    *,
    dtype: Any = "float32",
    algo: str = "auto",
    allow_tf32: bool = False,
) -> str:
    """The GPU implementation `op` (e.g. "conv2d") would run for these shapes under `algo`, without
    running anything or needing a GPU; " (tf32)" marks the tensor-core kernel."""
    from . import _api

    fn = "selected_impl"
    if op not in _api._OPS:
        raise ValueError(f"{fn}: op must be one of {', '.join(map(repr, _api._OPS))}, got {op!r}")
    ndim, transposed = _api._OPS[op]
    dtype_name = dtype if dtype == "bfloat16" else np.dtype(dtype).name
    if dtype_name not in ("float32", "float64", "float16", "bfloat16"):
        raise TypeError(f"{fn}: dtype must be float32, float64, float16 or bfloat16, got {dtype!r}")
    x_shape, w_shape = tuple(int(e) for e in input_shape), tuple(int(e) for e in weight_shape)
    geometry = _api._conv_geometry(fn, ndim, transposed, x_shape, w_shape, stride, padding, dilation, groups,
                                   output_padding)
    if len(x_shape) == ndim + 1:
        x_shape = (1,) + x_shape
    return _api._call_core(
        fn, _core.cuda_selected_impl, transposed, dtype_name, list(x_shape), list(w_shape), geometry["stride"],
        geometry["dilation"], geometry["pad_before"], geometry["pad_after"], geometry.get("output_padding", []),
        geometry["groups"], _api._check_algo(fn, algo), _api._check_tf32(fn, allow_tf32),
    )


__all__ = [
    "DeviceArray",
    "asarray",
    "current_stream",
    "device_count",
    "device_name",
    "device_of",
    "info",
    "is_available",
    "is_compiled",
    "placement",
    "selected_impl",
    "workspace_cap_bytes",
]
