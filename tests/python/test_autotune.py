# Autotuning (fastconv.set_autotune): algo="auto" timed once per problem instead of guessed. Off by
# default and switched by set_autotune or FASTCONV_AUTOTUNE at import; on, a call gives what the
# chosen family gives (bit for bit), the choice is one of the families that accept the problem and is
# cached per problem and thread count, bad arguments still raise the usual errors, and plans tune
# their packed runs. Timing itself is not asserted (a shared machine makes any choice possible).
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv
from fastconv import _api

FAMILIES = set(_api._AUTOTUNE_FAMILIES)

CASES = [
    ("conv1d", (2, 8, 40), (16, 8, 5), {"padding": 2, "stride": 2}),
    ("conv2d", (1, 16, 20, 20), (32, 16, 3, 3), {"padding": 1}),
    ("conv2d", (1, 32, 14, 14), (32, 1, 3, 3), {"padding": 1, "groups": 32}),
    ("conv2d", (1, 24, 9, 9), (48, 3, 3, 3), {"padding": 1, "groups": 8}),
    ("conv2d", (2, 3, 33, 33), (16, 3, 7, 7), {"stride": 2, "padding": 3}),
    ("conv2d", (1, 16, 12, 12), (24, 16, 1, 1), {}),
    ("conv3d", (1, 4, 6, 8, 8), (8, 4, 3, 3, 3), {"padding": 1}),
    ("conv_transpose2d", (1, 32, 4, 4), (32, 16, 4, 4), {"stride": 2, "padding": 1}),
    ("conv_transpose2d", (1, 16, 10, 10), (16, 8, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
]


@pytest.fixture(autouse=True)
def autotune_on():
    """Autotuning on with an empty cache for each test; the previous state afterwards."""
    saved, saved_threads = fastconv.get_autotune(), fastconv.get_num_threads()
    fastconv.clear_autotune_cache()
    fastconv.set_autotune(True)
    yield
    fastconv.set_autotune(saved)
    fastconv.set_num_threads(saved_threads)
    fastconv.clear_autotune_cache()


def make(case, seed=0, dtype=np.float32):
    op, x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(seed)
    return getattr(fastconv, op), rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype), kwargs


def only_choice():
    assert len(_api._AUTOTUNE_CACHE) == 1
    return next(iter(_api._AUTOTUNE_CACHE.values()))


def test_off_unless_switched_on():
    fastconv.set_autotune(False)
    assert fastconv.get_autotune() is False
    assert fastconv.info()["autotune"] == {"enabled": False, "tuned_problems": 0}
    f, x, w, kwargs = make(CASES[1])
    f(x, w, **kwargs)
    assert _api._AUTOTUNE_CACHE == {}
    fastconv.set_autotune(True)
    assert fastconv.get_autotune() is True
    f(x, w, **kwargs)
    assert fastconv.info()["autotune"] == {"enabled": True, "tuned_problems": 1}


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_set_autotune_takes_a_bool(value):
    with pytest.raises(TypeError, match="set_autotune: enabled must be a bool"):
        fastconv.set_autotune(value)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[2]}")
@pytest.mark.parametrize("channels_last", [False, True])
def test_result_is_the_chosen_familys_bit_for_bit(case, channels_last):
    f, x, w, kwargs = make(case)
    if channels_last:
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    tuned = f(x, w, **kwargs)
    chosen = only_choice()
    assert chosen in FAMILIES
    np.testing.assert_array_equal(tuned, f(x, w, algo=chosen, **kwargs))
    again = f(x, w, **kwargs)
    np.testing.assert_array_equal(again, tuned)
    assert len(_api._AUTOTUNE_CACHE) == 1
    reference = f(x.astype(np.float64), w.astype(np.float64), algo="reference", **kwargs)
    np.testing.assert_allclose(tuned, reference, rtol=0, atol=1e-4 * np.abs(reference).max())
    # channels-last input gives channels-last output, as without autotuning
    assert np.moveaxis(tuned, 1, -1).flags.c_contiguous == (channels_last and tuned.shape[1] > 1)


def test_every_family_that_declines_is_skipped():
    # A strided 1x1 layer: winograd declines it, so the choice is among the others.
    f, x, w, kwargs = make(("conv2d", (1, 16, 12, 12), (8, 16, 1, 1), {"stride": 2}))
    with pytest.raises(ValueError):
        f(x, w, algo="winograd", **kwargs)
    f(x, w, **kwargs)
    assert only_choice() in FAMILIES - {"winograd"}


@pytest.mark.parametrize("dtype, channels", [(np.float64, 16), (np.float32, 520)])
def test_winograd_only_where_auto_allows_it_for_accuracy(monkeypatch, dtype, channels):
    # float64, and float32 with more than 512 input channels per group, stay off Winograd even where
    # it would be the fastest: it is never timed.
    timed = []
    real_pick = _api._autotune_pick

    def recording_pick(run, families):
        timed.extend(families)
        return real_pick(run, families)

    monkeypatch.setattr(_api, "_autotune_pick", recording_pick)
    f, x, w, kwargs = make(("conv2d", (1, channels, 6, 6), (8, channels, 3, 3), {"padding": 1}), dtype=dtype)
    f(x, w, **kwargs)
    assert "winograd" not in timed and "direct" in timed
    assert only_choice() != "winograd"
    assert "winograd" in _api._autotune_families(np.float32, (8, 512, 3, 3))
    assert "winograd" not in _api._autotune_families(np.float32, (8, 256, 3, 3, 3))  # 3 depth taps x 256


def test_the_cache_is_used_and_keyed_by_thread_count(monkeypatch):
    f, x, w, kwargs = make(CASES[1])
    fastconv.set_num_threads(1)
    first = f(x, w, **kwargs)

    def no_timing(run, families):
        raise AssertionError("a cached problem was timed again")

    def no_candidates(dtype, w_shape):
        raise AssertionError("a cached problem asked for its candidates again")

    monkeypatch.setattr(_api, "_autotune_pick", no_timing)
    monkeypatch.setattr(_api, "_autotune_families", no_candidates)
    np.testing.assert_array_equal(f(x, w, **kwargs), first)
    monkeypatch.undo()
    fastconv.set_num_threads(2)
    f(x, w, **kwargs)
    assert len(_api._AUTOTUNE_CACHE) == 2
    fastconv.clear_autotune_cache()
    assert _api._AUTOTUNE_CACHE == {}


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(_api, "_AUTOTUNE_CACHE_SIZE", 3)
    for size in range(5, 12):
        f, x, w, kwargs = make(("conv2d", (1, 4, size, size), (4, 4, 3, 3), {}))
        f(x, w, **kwargs)
        assert 1 <= len(_api._AUTOTUNE_CACHE) <= 3


def test_mistakes_raise_the_usual_errors():
    f, x, w, kwargs = make(CASES[1])
    with pytest.raises(ValueError, match="conv2d"):
        f(x, w[:, :3], **kwargs)
    with pytest.raises(TypeError, match="conv2d"):
        f(x.astype(np.int32), w, **kwargs)
    assert _api._AUTOTUNE_CACHE == {}


def test_float64_and_unbatched_inputs():
    f, x, w, kwargs = make(CASES[1], dtype=np.float64)
    tuned = f(x[0], w, **kwargs)
    np.testing.assert_array_equal(tuned, f(x[0], w, algo=only_choice(), **kwargs))


def test_calls_from_many_threads_agree():
    f, x, w, kwargs = make(CASES[4])
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: f(x, w, **kwargs), range(16)))
    chosen = only_choice()
    expected = f(x, w, algo=chosen, **kwargs)
    for result in results:
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("case", [CASES[1], CASES[7]], ids=["conv2d", "conv_transpose2d"])
def test_plans_tune_their_packed_runs(case):
    op, _, w_shape, kwargs = case
    _, x, w, _ = make(case)
    plan_class = {"conv2d": fastconv.Conv2d, "conv_transpose2d": fastconv.ConvTranspose2d}[op]
    plan = plan_class(w, None, **kwargs)
    tuned = plan(x)
    implementation = plan.implementation(x.shape).removesuffix(" (prepacked)")
    family = {row["name"]: row["algo"] for row in fastconv.info()["implementations"]}[implementation]
    fastconv.set_autotune(False)
    np.testing.assert_array_equal(tuned, plan_class(w, None, algo=family, **kwargs)(x))
    # Plans keep their own choices: the functional cache is untouched.
    assert _api._AUTOTUNE_CACHE == {}


@pytest.mark.parametrize("value, enabled, warns", [("1", True, False), ("0", False, False), ("yes", False, True)])
def test_environment_variable(value, enabled, warns):
    code = (
        "import warnings; warnings.simplefilter('error', RuntimeWarning)\n"
        "try:\n    import fastconv; print(fastconv.get_autotune())\n"
        "except RuntimeWarning as warning:\n    print('warned:', warning)\n"
    )
    env = dict(os.environ, FASTCONV_AUTOTUNE=value)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    if warns:
        assert out.stdout.startswith("warned: FASTCONV_AUTOTUNE='yes' is neither 0 nor 1")
    else:
        assert out.stdout.strip() == str(enabled)
