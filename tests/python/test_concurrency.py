# Concurrency and determinism: calls from 8 Python threads at once, on different and on shared
# inputs and plans, give bitwise the serial results; set_num_threads while other threads compute
# is safe; the GIL is released while a kernel runs (checked by progress of Python code during a
# call, not by timing; the two-thread speed-up is measured in docs/reliability.md); a process that
# also runs torch's threads keeps working; and every op and algo gives bitwise identical output
# run to run and for any thread count. Each wait has a timeout, so a deadlock fails, never hangs.
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv

THREADS = 8
TIMEOUT = 120  # seconds; far above the few seconds these tests take, only there to turn a hang into a failure

CASES = [
    ("conv1d", (2, 8, 40), (16, 8, 5), {"padding": 2, "stride": 2}),
    ("conv2d", (2, 16, 20, 20), (32, 16, 3, 3), {"padding": 1}),
    ("conv2d", (1, 32, 14, 14), (32, 1, 3, 3), {"padding": 1, "groups": 32}),
    ("conv2d", (1, 3, 33, 33), (16, 3, 7, 7), {"stride": 2, "padding": 3}),
    ("conv3d", (1, 4, 8, 8, 8), (8, 4, 3, 3, 3), {"padding": 1}),
    ("conv_transpose1d", (2, 8, 20), (8, 4, 4), {"stride": 2, "padding": 1}),
    ("conv_transpose2d", (1, 16, 10, 10), (16, 8, 4, 4), {"stride": 2, "padding": 1}),
    ("conv_transpose3d", (1, 4, 4, 4, 4), (4, 4, 3, 3, 3), {"stride": 2}),
]
ALGOS = ["auto", "direct", "im2col", "reference"]


def make_inputs(seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    out = []
    for op, x_shape, w_shape, kwargs in CASES:
        out.append((op, rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype), kwargs))
    return out


def run(case, algo="auto"):
    op, x, w, kwargs = case
    return getattr(fastconv, op)(x, w, algo=algo, **kwargs)


@pytest.fixture(autouse=True)
def restore_threads():
    saved = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(saved)


def run_threads(target, count=THREADS):
    """Runs target(i) on `count` threads at once (started together) and returns their results."""
    barrier = threading.Barrier(count)

    def start(i):
        barrier.wait(timeout=TIMEOUT)
        return target(i)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start, i) for i in range(count)]
        return [future.result(timeout=TIMEOUT) for future in futures]


@pytest.mark.parametrize("threads", [1, 2])
def test_eight_threads_on_different_inputs_match_serial(threads):
    fastconv.set_num_threads(threads)
    cases = make_inputs(0)
    serial = [run(case) for case in cases]

    def worker(i):
        # Each thread runs every case, starting at a different one, so different kernels overlap.
        return [run(cases[(i + j) % len(cases)]) for j in range(len(cases))]

    for i, results in enumerate(run_threads(worker)):
        for j, result in enumerate(results):
            np.testing.assert_array_equal(result, serial[(i + j) % len(cases)])


def test_eight_threads_on_shared_inputs_and_plans_match_serial():
    cases = make_inputs(1)
    op, x, w, kwargs = cases[1]
    expected = run(cases[1])
    layer = fastconv.Conv2d(w, None, **kwargs)
    expected_t = run(cases[6])
    out_shared = run_threads(lambda i: (run(cases[1]), layer(x), run(cases[6]), run(cases[1], "im2col")))
    for y, y_plan, y_t, y_im2col in out_shared:
        np.testing.assert_array_equal(y, expected)
        np.testing.assert_array_equal(y_plan, expected)
        np.testing.assert_array_equal(y_t, expected_t)
        np.testing.assert_array_equal(y_im2col, run(cases[1], "im2col"))
    np.testing.assert_array_equal(cases[1][1], x)  # shared inputs untouched


def test_set_num_threads_while_other_threads_compute():
    cases = make_inputs(2)
    serial = [run(case) for case in cases]
    stop = threading.Event()
    changes = []

    def changer():
        n = 0
        while not stop.is_set():
            fastconv.set_num_threads(1 + n % 4)
            changes.append(n)
            n += 1

    thread = threading.Thread(target=changer)
    thread.start()
    try:
        results = run_threads(lambda i: [run(case) for case in cases for _ in range(2)], count=4)
    finally:
        stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert len(changes) > 1
    for per_thread in results:
        for k, result in enumerate(per_thread):
            np.testing.assert_array_equal(result, serial[k // 2])


def test_gil_is_released_during_kernels():
    """While one thread runs convolutions for ~1 s, Python code on another thread keeps running.
    With the GIL held, the main loop would be frozen for the whole call."""
    fastconv.set_num_threads(1)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 64, 48, 48)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    span = {}

    def convolve():
        span["start"] = time.perf_counter()
        for _ in range(2):
            fastconv.conv2d(x, w, padding=1, algo="reference")
        span["end"] = time.perf_counter()

    thread = threading.Thread(target=convolve)
    stamps = []
    thread.start()
    while thread.is_alive():
        stamps.append(time.perf_counter())
    thread.join(TIMEOUT)
    stamps = np.array(stamps)
    during = stamps[(stamps > span["start"]) & (stamps < span["end"])]
    assert span["end"] - span["start"] > 0.05
    # Progress throughout the call (iterations in most tenths of it), not only at its ends; the
    # margin is for a loaded machine whose scheduler may starve the loop for a while.
    bins = np.histogram(during, bins=10, range=(span["start"], span["end"]))[0]
    assert (bins > 0).sum() >= 5, bins


def test_process_using_torch_threads_keeps_working(torch):
    """torch's intra-op pool and fastconv's pool run at once from two threads: no hang, no
    oversubscription deadlock, and both give their usual answers."""
    torch.set_num_threads(2)
    fastconv.set_num_threads(2)
    cases = make_inputs(4)
    serial = [run(case) for case in cases]
    xt = torch.randn(4, 32, 32, 32)
    wt = torch.randn(32, 32, 3, 3)
    expected_t = torch.nn.functional.conv2d(xt, wt, padding=1)

    def worker(i):
        if i % 2:
            return [torch.nn.functional.conv2d(xt, wt, padding=1) for _ in range(10)]
        return [run(case) for case in cases for _ in range(2)]

    for i, results in enumerate(run_threads(worker, count=4)):
        for k, result in enumerate(results):
            if i % 2:
                assert torch.equal(result, expected_t)
            else:
                np.testing.assert_array_equal(result, serial[k // 2])
    # And fastconv after torch's threads ran on this thread.
    np.testing.assert_array_equal(run(cases[1]), serial[1])


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_deterministic_across_runs_and_thread_counts(algo, dtype):
    cases = make_inputs(5, dtype)
    fastconv.set_num_threads(1)
    expected = [run(case, algo) for case in cases]
    for threads in (1, 2, 3, 4, 7):
        fastconv.set_num_threads(threads)
        for _ in range(2):
            for case, reference in zip(cases, expected):
                np.testing.assert_array_equal(run(case, algo), reference, err_msg=f"{case[0]} threads={threads}")
    # Unfold/fold too (fold sums overlapping blocks).
    x = cases[1][1]
    fastconv.set_num_threads(1)
    folded = fastconv.fold(fastconv.unfold(x, 3, padding=1), (20, 20), 3, padding=1)
    fastconv.set_num_threads(4)
    np.testing.assert_array_equal(fastconv.fold(fastconv.unfold(x, 3, padding=1), (20, 20), 3, padding=1), folded)
