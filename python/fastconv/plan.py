# Prepacked convolutions: objects that take the weights once and run many inputs, the way XNNPACK
# operators and oneDNN primitives work. A functional call (fastconv.conv2d) packs the weights into
# the chosen kernel's layout on every call; on small-spatial layers with many channels that reorder
# costs as much as the arithmetic. Conv2d(weight, ...) packs once per input shape and memory format
# (lazily, on the first input of that shape) and reuses the packed weights on every later call.
from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Tuple

import numpy as np

from . import _api, _core
from . import cuda as _cuda


class _ConvPlanBase:
    _ndim = 2
    _transposed = False

    def __init__(
        self,
        weight: Any,
        bias: Any = None,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        output_padding: Any = 0,
        *,
        algo: str = "auto",
    ) -> None:
        fn = type(self).__name__
        w = _api._as_float_array(fn, "weight", weight)
        if w.ndim != self._ndim + 2:
            raise ValueError(
                f"{fn}: weight must have {self._ndim + 2} dimensions, got shape {tuple(w.shape)}"
            )
        # Copies, so later changes to the caller's arrays cannot reach the plan.
        self.weight = np.array(w, order="C", copy=True)
        self.weight.setflags(write=False)
        self.bias: Optional[np.ndarray] = None
        if bias is not None:
            b = _api._as_float_array(fn, "bias", bias)
            _api._same_dtype(fn, self.weight, "bias", b)
            out_channels = w.shape[1] * groups if self._transposed else w.shape[0]
            if b.shape != (out_channels,):
                raise ValueError(
                    f"{fn}: bias must have shape ({out_channels},) (one value per output channel), got shape {tuple(b.shape)}"
                )
            self.bias = np.array(b, order="C", copy=True)
            self.bias.setflags(write=False)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.output_padding = output_padding
        self.algo = _api._check_algo(fn, algo)
        # Validates the parameters now, against the smallest input shape they could meet.
        _api._int_tuple(fn, "stride", stride, self._ndim, 1)
        _api._int_tuple(fn, "dilation", dilation, self._ndim, 1)
        self._plans: Dict[Tuple[Tuple[int, ...], bool], Any] = {}
        self._device_params: Dict[int, Tuple[Any, Any]] = {}  # CUDA device -> (weight, bias) copies there
        self._lock = threading.Lock()

    def _run_on_device(self, fn: str, input: Any, device: int) -> Any:
        """A CUDA input: the functional GPU op with weights copied to the device once per device."""
        with self._lock:
            params = self._device_params.get(device)
        if params is None:
            weight = _cuda.asarray(self.weight, device=device)
            bias = None if self.bias is None else _cuda.asarray(self.bias, device=device)
            with self._lock:
                params = self._device_params.setdefault(device, (weight, bias))
        return _api._conv_cuda(
            fn, self._ndim, self._transposed, device, input, params[0], params[1], self.stride, self.padding,
            self.dilation, self.groups, self.output_padding if self._transposed else None, self.algo, False,
        )

    def _plan_for(self, fn: str, x: np.ndarray, channels_last: bool) -> Tuple[Any, Dict[str, Any]]:
        key = (tuple(x.shape), channels_last)
        with self._lock:
            entry = self._plans.get(key)
        if entry is not None:
            return entry
        logical = (x.shape[0], x.shape[-1], *x.shape[1:-1]) if channels_last else tuple(x.shape)
        geometry = _api._conv_geometry(
            fn, self._ndim, self._transposed, logical, self.weight.shape, self.stride, self.padding,
            self.dilation, self.groups, self.output_padding,
        )

        def make(algo: str) -> Any:
            return _api._call_core(
                fn, _core.ConvPlan, self._transposed, list(logical), self.weight, geometry["stride"],
                geometry["dilation"], geometry["pad_before"], geometry["pad_after"],
                geometry.get("output_padding", []), geometry["groups"], algo, channels_last,
            )

        if self.algo == "auto" and _api.get_autotune():
            # Each family's plan packs its weights once; the packed runs are what is timed.
            plans: Dict[str, Any] = {}

            def run(algo: str) -> Any:
                if algo not in plans:
                    plans[algo] = make(algo)
                return _api._call_core(fn, plans[algo].run, x, self.bias)

            families = _api._autotune_families(self.weight.dtype, self.weight.shape, self._transposed)
            with _api._AUTOTUNE_LOCK:
                chosen, _ = _api._autotune_pick(run, families)
            plan = plans[chosen]
        else:
            plan = make(self.algo)
        with self._lock:
            entry = self._plans.setdefault(key, (plan, geometry))
        return entry

    def __call__(self, input: Any) -> Any:
        fn = type(self).__name__
        device = _cuda.placement(fn, input=input)
        if device is not None:
            return self._run_on_device(fn, input, device)
        x = _api._as_float_array(fn, "input", input)
        if x.dtype != self.weight.dtype:
            raise TypeError(f"{fn}: input has dtype {x.dtype} but the plan's weight has dtype {self.weight.dtype}; they must match")
        if x.ndim not in (self._ndim + 1, self._ndim + 2):
            raise ValueError(f"{fn}: input must have {self._ndim + 1} or {self._ndim + 2} dimensions, got shape {tuple(x.shape)}")
        unbatched = x.ndim == self._ndim + 1
        if unbatched:
            x = x[np.newaxis]
        channels_last = _api._is_channels_last(x)
        x = _api._for_core(_api._channels_to_last(x) if channels_last else x, fn, "input")
        plan, _ = self._plan_for(fn, x, channels_last)
        y = _api._call_core(fn, plan.run, x, self.bias)
        if channels_last:
            y = _api._channels_to_first(y)
        return y[0] if unbatched else y

    def implementation(self, input_shape: Tuple[int, ...], channels_last: bool = False) -> str:
        """The implementation this plan runs for inputs of `input_shape` (N, C, spatial...)."""
        shape = tuple(input_shape)
        memory = (shape[0], *shape[2:], shape[1]) if channels_last else shape
        # Zeros, not uninitialised memory: an autotuned plan times its candidates on this input.
        plan, _ = self._plan_for(type(self).__name__, np.zeros(memory, self.weight.dtype), channels_last)
        return plan.impl

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(weight shape={tuple(self.weight.shape)}, bias={self.bias is not None}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"algo={self.algo!r})"
        )


class _ConvTransposePlanBase(_ConvPlanBase):
    _transposed = True

    # The functional conv_transpose's argument order: output_padding before groups and dilation.
    def __init__(
        self,
        weight: Any,
        bias: Any = None,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        dilation: Any = 1,
        *,
        algo: str = "auto",
    ) -> None:
        super().__init__(weight, bias, stride, padding, dilation, groups, output_padding, algo=algo)


def _make(name: str, ndim: int, transposed: bool, doc: str) -> type:
    base = _ConvTransposePlanBase if transposed else _ConvPlanBase
    cls = type(name, (base,), {"_ndim": ndim, "_transposed": transposed, "__doc__": doc})
    cls.__module__ = "fastconv"
    return cls


_DOC = """Prepacked {op}: `{name}(weight, bias=None, {params}, *, algo="auto")` checks and copies the weights once; calling it on an input computes
    fastconv.{op}(input, weight, bias, ...) with the weights packed for the chosen kernel on the first
    call for each input shape and memory format, and reused afterwards. Thread-safe. Results are
    bit for bit those of the function with the same algo; with algo="auto" a plan may choose an
    implementation whose weight packing only pays off when done once (igemm for a transposed layer
    on a tiny input, where the function reads the weights in place), and then equals the function
    with that implementation's algo (`plan.implementation(shape)` names it). With autotuning on
    (fastconv.set_autotune), algo="auto" times each family's packed runs on the first input of each
    shape and keeps the fastest. A CUDA device input runs the GPU op with the weights copied to that
    device once."""

Conv1d = _make("Conv1d", 1, False, _DOC.format(op="conv1d", name="Conv1d", params="stride=1, padding=0, dilation=1, groups=1"))
Conv2d = _make("Conv2d", 2, False, _DOC.format(op="conv2d", name="Conv2d", params="stride=1, padding=0, dilation=1, groups=1"))
Conv3d = _make("Conv3d", 3, False, _DOC.format(op="conv3d", name="Conv3d", params="stride=1, padding=0, dilation=1, groups=1"))
ConvTranspose1d = _make("ConvTranspose1d", 1, True, _DOC.format(op="conv_transpose1d", name="ConvTranspose1d", params="stride=1, padding=0, output_padding=0, groups=1, dilation=1"))
ConvTranspose2d = _make("ConvTranspose2d", 2, True, _DOC.format(op="conv_transpose2d", name="ConvTranspose2d", params="stride=1, padding=0, output_padding=0, groups=1, dilation=1"))
ConvTranspose3d = _make("ConvTranspose3d", 3, True, _DOC.format(op="conv_transpose3d", name="ConvTranspose3d", params="stride=1, padding=0, output_padding=0, groups=1, dilation=1"))
