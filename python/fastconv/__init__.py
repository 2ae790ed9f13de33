# fastconv: convolutions for NumPy with torch.nn.functional's API. This module only gathers the
# public names of _api (the Python layer over the compiled fastconv._core); the command line lives in
# fastconv.cli and is imported only when run, so `import fastconv` stays light.
import warnings

from . import _core, cuda
from ._api import (
    algorithms,
    conv1d,
    conv2d,
    conv3d,
    conv_output_size,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    conv_transpose_output_size,
    fold,
    get_num_threads,
    info,
    set_num_threads,
    unfold,
)

from .plan import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

__version__: str = _core.__version__

__all__ = [
    "__version__",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "algorithms",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_output_size",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_output_size",
    "cuda",
    "fold",
    "get_num_threads",
    "info",
    "set_num_threads",
    "unfold",
]

# A mistyped FASTCONV_MAX_ISA silently running at a different ISA would mislead benchmarks and the
# per-ISA test runs, so say so once, at import.
if _core.isa_override_warning():
    warnings.warn(_core.isa_override_warning(), RuntimeWarning, stacklevel=2)
