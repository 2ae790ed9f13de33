# Type stubs for the private compiled module fastconv._core (cpp/python/module.cpp). Its functions
# take C-contiguous float32/float64 arrays of the exact dtype and per-dimension parameter lists
# already normalised by fastconv._api; they validate everything again and raise ValueError /
# TypeError with a message naming the argument, so a direct call can never crash the process.
from typing import List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

__version__: str

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
def cuda_compiled() -> bool: ...
def cuda_device_count() -> int: ...

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

def dwconv_ukernels() -> List[Tuple[str, str, bool]]:
    """(name, isa, active) of every compiled depthwise microkernel, best first."""
