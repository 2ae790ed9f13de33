# Convolution as pattern matching: template matching where every sum over a sliding window is one
# of fastconv's convolutions. The correlation with the template is a convolution with the template
# as kernel, and the window sums of the image and of its square that normalise it are convolutions
# with all-ones kernels, applied one axis at a time (a box filter is separable, so a window of n1 x n2
# cells costs n1 + n2 additions per output instead of n1 * n2). "ncc" gives the same numbers as
# scikit-image's match_template(pad_input=False) and OpenCV's TM_CCOEFF_NORMED.
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from . import _api

METHODS = ("ncc", "xcorr", "ssd")


def _as_real_array(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"match_template: {name} could not be converted to a numpy array: {exc}") from None
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
            or array.dtype == np.bool_):
        raise TypeError(f"match_template: {name} has dtype {array.dtype}, expected real numbers")
    return array


def _result_dtype(image: np.ndarray) -> np.dtype:
    # scikit-image's rule: float32 (and smaller floats) stay float32, everything else is float64.
    if image.dtype in (np.float16, np.float32):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _convolve(x: np.ndarray, weight: np.ndarray, groups: int = 1) -> np.ndarray:
    """Batched (1, C, *spatial) x through conv1d/2d/3d; correlation, as torch's convolutions are."""
    ndim = x.ndim - 2
    return getattr(_api, f"conv{ndim}d")(x, weight, groups=groups)


def window_sums(channels: np.ndarray, window: Tuple[int, ...]) -> np.ndarray:
    """Sums over every `window`-sized block (valid positions only) of each channel of
    channels (C, *spatial), as one depthwise all-ones convolution per axis."""
    x = channels[np.newaxis]
    count = channels.shape[0]
    for axis, length in enumerate(window):
        if length == 1:
            continue
        shape = [1] * len(window)
        shape[axis] = length
        x = _convolve(x, np.ones((count, 1) + tuple(shape), dtype=x.dtype), groups=count)
    return x[0]


def match_template(image: Any, template: Any, method: str = "ncc") -> np.ndarray:
    """Where `template` matches `image`: one score per placement of the template fully inside the
    image, so the result has shape image.shape - template.shape + 1 (1-D to 3-D, same rank).

    method:
        "ncc": normalised cross-correlation, sum((I - mean I)(T - mean T)) / sqrt(sum (I - mean I)^2
            * sum (T - mean T)^2) over each window, in [-1, 1]; 1 is a perfect match up to brightness
            and contrast. Windows (or a template) without variance score 0. Equals
            skimage.feature.match_template(image, template, pad_input=False) and OpenCV's
            TM_CCOEFF_NORMED.
        "xcorr": plain cross-correlation sum(I * T) (OpenCV's TM_CCORR).
        "ssd": sum of squared differences sum((I - T)^2), 0 for an exact match (TM_SQDIFF).

    Returned as float32 for float32 (or float16) images and float64 otherwise, as scikit-image
    does. The correlation with the template (the costly convolution) runs in that precision too; the
    window energies, where subtraction cancels, are always summed in float64.
    """
    if method not in METHODS:
        raise ValueError(f"match_template: method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    img = _as_real_array("image", image)
    tpl = _as_real_array("template", template)
    if not 1 <= img.ndim <= 3 or tpl.ndim != img.ndim:
        raise ValueError(
            f"match_template: image and template must have the same number of dimensions, 1 to 3; "
            f"got shapes {img.shape} and {tpl.shape}"
        )
    if tpl.size == 0 or any(t > i for t, i in zip(tpl.shape, img.shape)):
        raise ValueError(f"match_template: the template {tpl.shape} must be non-empty and fit inside the image {img.shape}")
    dtype = _result_dtype(img)
    # Every method is unchanged by subtracting one constant from image and template alike, and
    # centring on the image's mean keeps the window energies small, so sum(x^2) - sum(x)^2/n does
    # not cancel catastrophically on bright images.
    offset = float(np.mean(img, dtype=np.float64))
    x = img.astype(np.float64) - offset
    t = tpl.astype(np.float64)

    def correlate(kernel: np.ndarray) -> np.ndarray:
        """sum(x * kernel) over every window, in the result's precision, as float64."""
        batched = lambda a: np.ascontiguousarray(a[np.newaxis, np.newaxis], dtype=dtype)  # noqa: E731
        return _convolve(batched(x), batched(kernel))[0, 0].astype(np.float64)

    if method == "xcorr":
        # sum(I*T) = sum((x + offset) * T) = sum(x*T) + offset * sum(T)
        return (correlate(t) + offset * t.sum()).astype(dtype)
    if method == "ssd":
        u = t - offset
        energy = window_sums(x[np.newaxis] ** 2, tpl.shape)[0]
        ssd = energy - 2 * correlate(u) + np.sum(u * u)
        return np.maximum(ssd, 0).astype(dtype)

    centred = t - t.mean()
    numerator = correlate(centred)  # sum(x * (T - mean T)) per window
    sums = window_sums(np.stack([x, x * x]), tpl.shape)
    # sum over the window of (I - its mean)^2. On a flat window the two terms are equal and their
    # difference is rounding, up to about n * eps * sum(x^2): treat that as no variance at all.
    window_energy = sums[1] - sums[0] ** 2 / tpl.size
    flat = window_energy <= 4 * tpl.size * np.finfo(np.float64).eps * sums[1]
    denominator = np.sqrt(np.where(flat, 0, window_energy) * np.sum(centred * centred))
    response = np.zeros(numerator.shape, dtype=np.float64)
    valid = denominator > np.finfo(dtype).eps
    response[valid] = numerator[valid] / denominator[valid]
    # |response| <= 1 exactly; beyond it is rounding on a nearly flat window (the numerator, in the
    # input's precision, cancels there too). As OpenCV does: a little over 1 is 1, far over is 0.
    overshoot = np.abs(response) > 1
    response[overshoot] = np.where(np.abs(response[overshoot]) <= 1.125, np.sign(response[overshoot]), 0.0)
    return response.astype(dtype)
