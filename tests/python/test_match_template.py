# fastconv.match_template: every method against a brute-force NumPy loop over windows, "ncc" against
# scikit-image's match_template(pad_input=False) and all three against OpenCV's matchTemplate when
# those are installed, plus the properties that make NCC useful (a planted pattern is found at its
# place even after a change of brightness and contrast; flat windows score 0).
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv


def brute_force(image, template, method):
    image, template = np.asarray(image, np.float64), np.asarray(template, np.float64)
    out_shape = tuple(i - t + 1 for i, t in zip(image.shape, template.shape))
    result = np.zeros(out_shape)
    centred = template - template.mean()
    for position in np.ndindex(*out_shape):
        window = image[tuple(slice(p, p + t) for p, t in zip(position, template.shape))]
        if method == "xcorr":
            result[position] = np.sum(window * template)
        elif method == "ssd":
            result[position] = np.sum((window - template) ** 2)
        else:
            w = window - window.mean()
            denominator = np.sqrt(np.sum(w * w) * np.sum(centred * centred))
            result[position] = np.sum(w * centred) / denominator if denominator > np.finfo(float).eps else 0.0
    return result


@st.composite
def problems(draw):
    ndim = draw(st.integers(1, 3))
    image_shape = tuple(draw(st.integers(1, 12 if ndim < 3 else 7)) for _ in range(ndim))
    template_shape = tuple(draw(st.integers(1, n)) for n in image_shape)
    seed = draw(st.integers(0, 2**16))
    return image_shape, template_shape, seed


@given(problem=problems(), method=st.sampled_from(["ncc", "xcorr", "ssd"]))
def test_matches_brute_force(problem, method):
    image_shape, template_shape, seed = problem
    rng = np.random.default_rng(seed)
    image = rng.random(image_shape) * 10 + 100  # an offset, so the energies could cancel
    template = rng.random(template_shape) * 10 + 100
    result = fastconv.match_template(image, template, method)
    expected = brute_force(image, template, method)
    assert result.shape == expected.shape and result.dtype == np.float64
    scale = 1.0 if method == "ncc" else max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9 * scale)


def test_planted_pattern_is_found_despite_brightness_and_contrast():
    rng = np.random.default_rng(1)
    image = rng.random((90, 120))
    pattern = rng.random((11, 17))
    image[40:51, 70:87] = 3.0 * pattern + 5.0
    response = fastconv.match_template(image, pattern)
    assert np.unravel_index(np.argmax(response), response.shape) == (40, 70)
    assert response[40, 70] == pytest.approx(1.0, abs=1e-12)
    assert np.all(response <= 1 + 1e-12) and np.all(response >= -1 - 1e-12)


def test_flat_windows_and_flat_templates_score_zero():
    image = np.zeros((10, 10))
    image[5:, 5:] = np.arange(25).reshape(5, 5)
    response = fastconv.match_template(image, np.arange(9.0).reshape(3, 3))
    assert np.all(response[:3, :3] == 0)  # windows inside the flat corner
    assert np.all(fastconv.match_template(image, np.ones((3, 3))) == 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flat_windows_of_any_level_score_zero_not_rounding_noise(dtype):
    """On a constant region the window energy is a difference of equal sums: pure rounding, which
    must not be divided by (without the flatness test these windows scored up to 1.9)."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        image = rng.random((40, 40)) * rng.uniform(1, 1000)
        image[10:30, 10:30] = rng.uniform(-5000, 5000)
        k = int(rng.integers(2, 9))
        response = fastconv.match_template(image.astype(dtype), rng.random((k, k)).astype(dtype))
        assert np.all(response[10:31 - k, 10:31 - k] == 0)
        assert np.all(np.abs(response) <= 1)


def test_dtypes_follow_scikit_image():
    image = np.random.default_rng(2).random((20, 20))
    assert fastconv.match_template(image.astype(np.float32), image[:5, :5].astype(np.float32)).dtype == np.float32
    assert fastconv.match_template((image * 255).astype(np.uint8), image[:5, :5]).dtype == np.float64


@pytest.mark.parametrize(
    "image, template, method, error, message",
    [
        (np.zeros((5, 5)), np.zeros((3, 3)), "sad", ValueError, "method must be one of"),
        (np.zeros((5, 5)), np.zeros(3), "ncc", ValueError, "same number of dimensions"),
        (np.zeros((2, 2, 2, 2)), np.zeros((1, 1, 1, 1)), "ncc", ValueError, "1 to 3"),
        (np.zeros((5, 5)), np.zeros((6, 3)), "ncc", ValueError, "fit inside"),
        (np.zeros((5, 5)), np.zeros((0, 3)), "ncc", ValueError, "non-empty"),
        (np.zeros((5, 5), complex), np.zeros((3, 3)), "ncc", TypeError, "real numbers"),
    ],
)
def test_bad_arguments(image, template, method, error, message):
    with pytest.raises(error, match=f"match_template: .*{message}"):
        fastconv.match_template(image, template, method)


@pytest.mark.parametrize("image_shape, template_shape", [((64, 80), (9, 13)), ((40, 50), (40, 1)), ((12, 14, 16), (3, 5, 4))])
def test_equals_scikit_image(image_shape, template_shape):
    skimage_feature = pytest.importorskip("skimage.feature")
    rng = np.random.default_rng(3)
    image = rng.random(image_shape)
    template = rng.random(template_shape)
    expected = skimage_feature.match_template(image, template, pad_input=False)
    result = fastconv.match_template(image, template)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, atol=1e-10)
    # float32 images: scikit-image keeps float32 (its window sums lose digits); ours agrees with its
    # float64 result to float32 precision.
    result32 = fastconv.match_template(image.astype(np.float32), template.astype(np.float32))
    assert result32.dtype == np.float32
    np.testing.assert_allclose(result32, expected, atol=1e-5)


@pytest.mark.parametrize("method, flag", [("ncc", "TM_CCOEFF_NORMED"), ("xcorr", "TM_CCORR"), ("ssd", "TM_SQDIFF")])
def test_equals_opencv(method, flag):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(4)
    image = rng.random((70, 90)).astype(np.float32)
    template = rng.random((15, 12)).astype(np.float32)
    expected = cv2.matchTemplate(image, template, getattr(cv2, flag))
    result = fastconv.match_template(image, template, method)
    assert result.shape == expected.shape
    # OpenCV computes in float32 (via DFT); compare relative to the response's scale.
    np.testing.assert_allclose(result, expected, atol=2e-5 * max(1.0, float(np.abs(expected).max())))


def test_find_pattern_example_runs(tmp_path):
    """docs/examples/find_pattern.py finds its planted pattern (it asserts so) and writes its images."""
    pytest.importorskip("PIL")
    script = Path(__file__).resolve().parents[2] / "docs" / "examples" / "find_pattern.py"
    result = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--seed", "3"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    planted = re.search(r"planted at (\(\d+, \d+\)), found at (\(\d+, \d+\))", result.stdout)
    assert planted and planted.group(1) == planted.group(2)
    for name in ("find_pattern_scene.png", "find_pattern_response.png"):
        assert (tmp_path / name).stat().st_size > 1000
