"""Convolution as pattern matching: find a pattern in a generated scene with fastconv.match_template.

The scene is made here, with fastconv itself: smooth clutter (random noise blurred by a box
convolution), decoys (the pattern rotated and transposed, the bare ring, a triangle) and the pattern
pasted once at a random place after a change of brightness and contrast, plus noise. Normalised
cross-correlation ignores brightness and contrast, so the response map peaks where the pattern is.

    python docs/examples/find_pattern.py [--out DIR] [--seed N]

writes DIR/find_pattern_scene.png (the scene, the match boxed) and DIR/find_pattern_response.png
(the response map, -1 black to 1 white), by default next to this script. Needs Pillow for the
images (pip install 'fastconv[viz]').
"""
import argparse
import os
import time

import numpy as np

import fastconv

SIZE = 240
PATTERN = 21


def make_ring() -> np.ndarray:
    r = np.arange(PATTERN) - PATTERN // 2
    radius = np.hypot(*np.meshgrid(r, r, indexing="ij"))
    return ((radius > 6) & (radius < 9)).astype(np.float64)


def make_pattern() -> np.ndarray:
    """A ring with a bar through it and a stub above: not symmetric under rotation or
    transposition, so its rotated and transposed copies (and the bare ring) serve as decoys."""
    pattern = make_ring()
    pattern[PATTERN // 2 - 1: PATTERN // 2 + 2, 3:-3] = 1.0
    pattern[2:8, PATTERN // 2 - 1: PATTERN // 2 + 2] = 1.0
    return pattern


def make_scene(rng: np.random.Generator, pattern: np.ndarray):
    """(scene, (row, col) where the pattern was pasted)."""
    noise = rng.standard_normal((1, 1, SIZE + 8, SIZE + 8))
    clutter = fastconv.conv2d(noise, np.full((1, 1, 9, 9), 1 / 9.0))[0, 0]  # smooth blobs
    scene = 0.5 + 0.1 * clutter
    # Non-overlapping slots, so that no shape is pasted over another.
    slots_per_side = SIZE // (PATTERN + 3)
    slots = rng.choice(slots_per_side ** 2, size=5, replace=False)
    places = [(int(slot // slots_per_side * (PATTERN + 3) + rng.integers(0, 3)),
               int(slot % slots_per_side * (PATTERN + 3) + rng.integers(0, 3))) for slot in slots]

    def paste(patch: np.ndarray, at, gain: float, bias: float) -> None:
        """Draws the patch's strokes (its non-zero cells) over the clutter."""
        window = scene[at[0]: at[0] + PATTERN, at[1]: at[1] + PATTERN]
        window[patch > 0] = gain * patch[patch > 0] + bias

    decoys = (np.rot90(pattern), pattern.T[::-1], make_ring(), np.tril(np.ones_like(pattern)))
    for decoy, at in zip(decoys, places):
        paste(decoy, at, rng.uniform(0.3, 0.8), rng.uniform(0.1, 0.4))
    where = places[-1]
    paste(pattern, where, 0.35, 0.55)  # dimmer and lower in contrast than the template
    scene += 0.05 * rng.standard_normal(scene.shape)
    return scene, where


def to_image(values: np.ndarray, low: float, high: float):
    from PIL import Image

    scaled = np.clip((values - low) / (high - low), 0, 1)
    return Image.fromarray((scaled * 255).round().astype(np.uint8), mode="L")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)), help="output directory")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pattern = make_pattern()
    scene, planted = make_scene(rng, pattern)

    start = time.perf_counter()
    response = fastconv.match_template(scene, pattern, method="ncc")
    elapsed = time.perf_counter() - start
    found = tuple(int(v) for v in np.unravel_index(np.argmax(response), response.shape))
    print(f"scene {scene.shape}, template {pattern.shape}: response {response.shape} in {elapsed * 1e3:.1f} ms")
    print(f"planted at {planted}, found at {found} (score {response[found]:.3f})")
    masked = response.copy()
    masked[max(0, found[0] - PATTERN): found[0] + PATTERN, max(0, found[1] - PATTERN): found[1] + PATTERN] = -1
    print(f"best score away from it: {masked.max():.3f}")
    assert found == planted, "the pattern was not found where it was planted"

    try:
        from PIL import ImageDraw
    except ImportError:
        print("Pillow is not installed (pip install 'fastconv[viz]'): no images written")
        return
    os.makedirs(args.out, exist_ok=True)
    picture = to_image(scene, scene.min(), scene.max()).convert("RGB")
    draw = ImageDraw.Draw(picture)
    draw.rectangle((found[1], found[0], found[1] + PATTERN - 1, found[0] + PATTERN - 1), outline=(230, 60, 30), width=2)
    picture.save(os.path.join(args.out, "find_pattern_scene.png"))
    heat = to_image(response, -1.0, 1.0).convert("RGB")
    ImageDraw.Draw(heat).ellipse((found[1] - 4, found[0] - 4, found[1] + 4, found[0] + 4), outline=(230, 60, 30), width=2)
    heat.save(os.path.join(args.out, "find_pattern_response.png"))
    print(f"wrote {args.out}/find_pattern_scene.png and find_pattern_response.png")


if __name__ == "__main__":
    main()
