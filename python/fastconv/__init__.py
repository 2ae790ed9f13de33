# fastconv: convolutions for NumPy with torch.nn.functional's API. This module only gathers the
# public names of _api (the Python layer over the compiled fastconv._core) and of the convolution
# arithmetic explorer; the command line lives in fastconv.cli and the pictures in fastconv.viz, both
# imported only when used (viz needs Pillow), so `import fastconv` stays light and NumPy-only.
import warnings

from . import _core, arithmetic, cuda
from ._api import (
    algorithms,
    clear_autotune_cache,
    conv1d,
    conv2d,
    conv3d,
    conv_output_size,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    conv_transpose_output_size,
    fold,
    get_autotune,
    get_num_threads,
    info,
    release_memory,
    set_autotune,
    set_num_threads,
    unfold,
)

from .arithmetic import explain
from .plan import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .template import match_template

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
    "arithmetic",
    "clear_autotune_cache",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_output_size",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_output_size",
    "cuda",
    "explain",
    "fold",
    "get_autotune",
    "get_num_threads",
    "info",
    "match_template",
    "release_memory",
    "set_autotune",
    "set_num_threads",
    "unfold",
]


def __getattr__(name: str):
    # fastconv.viz on first use, so that the core never imports Pillow.
    if name == "viz":
        import importlib

        return importlib.import_module(".viz", __name__)
    raise AttributeError(f"module 'fastconv' has no attribute {name!r}")


# A mistyped FASTCONV_MAX_ISA silently running at a different ISA would mislead benchmarks and the
# per-ISA test runs, so say so once, at import.
if _core.isa_override_warning():
    warnings.warn(_core.isa_override_warning(), RuntimeWarning, stacklevel=2)
