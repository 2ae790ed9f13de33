# Type stubs for the private compiled module fastconv._core (cpp/python/module.cpp). Its functions
# take C-contiguous float32/float64 arrays of the exact dtype and per-dimension parameter lists
# already normalised by fastconv._api; they validate everything again and raise ValueError /
# TypeError with a message naming the argument, so a direct call can never crash the process.
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

__version__: str
build_commit: str  # git commit the module was built from ("unknown" outside a checkout)

def conv(
    x: NDArray[np.floating],
    weight: NDArray[np.floating],
    bias: Optional[NDArray[np.floating]],
    stride: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    groups: int,
    algo: str,
    out: Optional[NDArray[np.floating]] = None,
    channels_last: bool = False,
) -> NDArray[np.floating]:
    """Forward convolution: x (N, C, *in) and weight (K, C/groups, *kernel) -> (N, K, *out); with
    channels_last, x is (N, *in, C) and the result (N, *out, K)."""

def conv_transpose(
    x: NDArray[np.floating],
    weight: NDArray[np.floating],
    bias: Optional[NDArray[np.floating]],
    stride: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    output_padding: Sequence[int],
    groups: int,
    algo: str,
    out: Optional[NDArray[np.floating]] = None,
    channels_last: bool = False,
) -> NDArray[np.floating]:
    """Transposed convolution: x (N, C_in, *in), weight (C_in, C_out/groups, *kernel) -> (N, C_out, *out);
    with channels_last, x is (N, *in, C_in) and the result (N, *out, C_out)."""

def unfold(
    x: NDArray[np.floating],
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    stride: Sequence[int],
    out: Optional[NDArray[np.floating]] = None,
) -> NDArray[np.floating]:
    """im2col: x (N, C, *in) -> (N, C * prod(kernel_size), L), rows ordered (c, k0, k1, ...)."""

def fold(
    columns: NDArray[np.floating],
    output_size: Sequence[int],
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    stride: Sequence[int],
    out: Optional[NDArray[np.floating]] = None,
) -> NDArray[np.floating]:
    """col2im: (N, C * prod(kernel_size), L) -> (N, C, *output_size), overlaps summed."""

def conv_output_size(
    input_size: int, kernel_size: int, stride: int, pad_before: int, pad_after: int, dilation: int
) -> int: ...
def conv_transpose_output_size(
    input_size: int,
    kernel_size: int,
    stride: int,
    pad_before: int,
    pad_after: int,
    output_padding: int,
    dilation: int,
) -> int: ...
def explain_selection(
    transposed: bool,
    dtype: str,
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    output_padding: Sequence[int],
    groups: int,
    algo: str,
    channels_last: bool = False,
) -> Tuple[str, List[Tuple[str, str, bool, str]]]:
    """(selected implementation, [(impl, algo, accepted, reason if declined), ...])."""

def algo_names() -> List[str]: ...
def winograd_accurate_for_auto(dtype: str, depth_taps: int, in_channels_per_group: int) -> bool: ...
def memory_limit_bytes() -> int: ...
def detected_isa() -> str: ...
def active_isa() -> str: ...
def compiled_isas() -> List[str]: ...
def isa_override_warning() -> str: ...
def gemm_ukernels() -> List[Tuple[str, str, str, int, int]]:
    """(name, dtype, isa, mr, nr) for every compiled GEMM microkernel, best first."""

def active_gemm_ukernels() -> List[str]: ...
def fma_peak_gflops(isa: str = "", seconds: float = 0.2, threads: int = 1) -> float:
    """GFLOP/s of a float32 FMA loop of `isa` ("" = the active one) on `threads` threads at once."""

def set_num_threads(num_threads: int) -> None: ...
def get_num_threads() -> int: ...
def output_cache_usage() -> Tuple[int, int]: ...
def clear_output_cache() -> None: ...
def empty_output(shape: Sequence[int], dtype: str) -> NDArray[Any]: ...
def cuda_compiled() -> bool: ...
def cuda_device_count() -> int: ...

# ---- CUDA (cpp/python/cuda_binding.cpp); streams are DLPack stream integers (1 = legacy default) ----

class DeviceArray:
    """A dense float32/float64 array in CUDA device memory (see fastconv.cuda)."""

    @property
    def shape(self) -> Tuple[int, ...]: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def ndim(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def device(self) -> int: ...
    @property
    def stream(self) -> int: ...
    @property
    def data_ptr(self) -> int: ...
    @property
    def __cuda_array_interface__(self) -> Dict[str, Any]: ...
    def reshape(self, shape: Sequence[int]) -> "DeviceArray": ...
    def to_numpy(self) -> NDArray[np.floating]: ...
    def get(self) -> NDArray[np.floating]: ...
    def __dlpack__(
        self,
        *,
        stream: Optional[int] = None,
        max_version: Optional[Tuple[int, int]] = None,
        dl_device: Optional[Tuple[int, int]] = None,
        copy: Optional[bool] = None,
    ) -> Any: ...
    def __dlpack_device__(self) -> Tuple[int, int]: ...
    def __len__(self) -> int: ...

def cuda_from_dlpack(capsule: Any, stream: int, name: str) -> DeviceArray:
    """Takes a DLPack capsule of a CUDA tensor zero-copy (a dense copy on `stream` if strided)."""

def cuda_from_numpy(array: NDArray[np.floating], device: int, stream: int) -> DeviceArray: ...
def cuda_device_name(device: int) -> str: ...
def cuda_workspace_cap_bytes() -> int: ...
def cuda_implementations() -> List[Tuple[str, str]]:
    """(name, algo) of every GPU implementation, in selection order."""

def cuda_conv(
    transposed: bool,
    x: DeviceArray,
    weight: DeviceArray,
    bias: Optional[DeviceArray],
    stride: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    output_padding: Sequence[int],
    groups: int,
    algo: str,
    allow_tf32: bool,
    stream: int,
    poison: bool = False,
) -> DeviceArray:
    """conv / conv_transpose on the GPU, queued on `stream`; batched (N, C, *spatial) input."""

def cuda_selected_impl(
    transposed: bool,
    dtype: str,
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    output_padding: Sequence[int],
    groups: int,
    algo: str,
    allow_tf32: bool,
) -> str: ...
def cuda_unfold(
    x: DeviceArray,
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    stride: Sequence[int],
    stream: int,
    poison: bool = False,
) -> DeviceArray: ...
def cuda_fold(
    columns: DeviceArray,
    output_size: Sequence[int],
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    pad_before: Sequence[int],
    pad_after: Sequence[int],
    stride: Sequence[int],
    stream: int,
    poison: bool = False,
) -> DeviceArray: ...

class ConvPlan:
    """A prepacked convolution for one input shape and memory format (see fastconv.Conv2d)."""

    def __init__(
        self,
        transposed: bool,
        x_shape: Sequence[int],
        weight: NDArray[np.floating],
        stride: Sequence[int],
        dilation: Sequence[int],
        pad_before: Sequence[int],
        pad_after: Sequence[int],
        output_padding: Sequence[int],
        groups: int,
        algo: str,
        channels_last: bool,
    ) -> None: ...
    @property
    def impl(self) -> str: ...
    def run(
        self, x: NDArray[np.floating], bias: Optional[NDArray[np.floating]], out: Optional[NDArray[np.floating]] = None
    ) -> NDArray[np.floating]: ...

def igemm_ukernels() -> List[Tuple[str, str, int, int, bool]]:
    """(name, isa, mr, nr, active) of every compiled indirect-GEMM microkernel, best first."""

def implementations() -> List[Tuple[str, str, bool]]:
    """(name, algo family, packs weights for plans) of every registry entry, in selection order."""

def conv_chw_ukernels() -> List[Tuple[str, str, int, int, bool]]:
    """(name, isa, output channels, pixels, usable) of every compiled channels-first direct microkernel,
    best first within each ISA; usable when the active ISA allows it (the tile is chosen per layer shape)."""

def dwconv_ukernels() -> List[Tuple[str, str, bool]]:
    """(name, isa, active) of every compiled depthwise microkernel, best first."""

def winograd_ukernels() -> List[Tuple[str, str, str, int, bool]]:
    """(name, dtype, isa, output tile m, active) of every compiled Winograd F(m x m, 3x3) transform
    kernel, best first per dtype and m."""
