"""Times fastconv.match_template (NCC) against scikit-image's match_template(pad_input=False) and
OpenCV's matchTemplate(TM_CCOEFF_NORMED), whichever of the two are installed, on random float64
and float32 images (OpenCV takes float32 only), and reports how far each answer is from
scikit-image's float64 one.

    python benchmarks/match_template.py [--repeat N] [--threads N] [--markdown FILE]

fastconv computes the correlation as a direct convolution (work ~ image x template), scikit-image
and OpenCV through FFTs (work ~ image x log image), so fastconv's ratio worsens as the template grows.
"""
import argparse
import statistics
import time

import numpy as np

import fastconv

CASES = [  # (image side, template side)
    (256, 8),
    (256, 16),
    (512, 16),
    (512, 32),
    (1024, 32),
    (512, 64),
]


def median_seconds(function, repeat: int) -> float:
    function()  # warm-up: first-call allocations and plan selection
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, help="fastconv and OpenCV threads (default: fastconv's)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    try:
        from skimage.feature import match_template as skimage_match
    except ImportError:
        skimage_match = None
    try:
        import cv2
    except ImportError:
        cv2 = None
    if args.threads:
        fastconv.set_num_threads(args.threads)
        if cv2 is not None:
            cv2.setNumThreads(args.threads)
    threads = fastconv.get_num_threads()

    header = ("| image | template | dtype | fastconv ms | scikit-image ms | OpenCV ms "
              "| max diff vs scikit-image float64 (fastconv / OpenCV) |")
    lines = [f"fastconv {fastconv.__version__}, {threads} thread(s), ISA {fastconv.info()['active_isa']}", "",
             header, "| --- | --- | --- | --- | --- | --- | --- |"]
    print("\n".join(lines), flush=True)
    rng = np.random.default_rng(0)
    for side, template_side in CASES:
        image64 = rng.random((side, side))
        template64 = image64[side // 3: side // 3 + template_side, side // 2: side // 2 + template_side].copy()
        truth = skimage_match(image64, template64) if skimage_match is not None else None
        for dtype in (np.float64, np.float32):
            image, template = image64.astype(dtype), template64.astype(dtype)
            ours = fastconv.match_template(image, template)
            ours_ms = median_seconds(lambda: fastconv.match_template(image, template), args.repeat) * 1e3
            sk_ms = cv_ms = "-"
            diffs = ["-", "-"]
            if truth is not None:
                sk_ms = f"{median_seconds(lambda: skimage_match(image, template), args.repeat) * 1e3:.1f}"
                diffs[0] = f"{np.abs(truth - ours).max():.1e}"
            if cv2 is not None and dtype == np.float32:
                run = lambda: cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED)  # noqa: E731
                cv_ms = f"{median_seconds(run, args.repeat) * 1e3:.1f}"
                if truth is not None:
                    diffs[1] = f"{np.abs(truth - run()).max():.1e}"
            line = (f"| {side}x{side} | {template_side}x{template_side} | {np.dtype(dtype).name} | {ours_ms:.1f} "
                    f"| {sk_ms} | {cv_ms} | {diffs[0]} / {diffs[1]} |")
            lines.append(line)
            print(line, flush=True)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
