# fastconv.viz: the sliding-window pictures must show exactly what the library computes. The
# geometry (which input cells each output reads) is compared with an independent NumPy im2col and
# with fastconv's own unfold (direct layers) or conv_transpose on one-hot inputs (transposed layers);
# the rendered GIFs are decoded and every cell's colour is checked against that geometry.
import subprocess
import sys

import numpy as np
import pytest
from conftest import numpy_unfold
from hypothesis import assume, given
from hypothesis import strategies as st

import fastconv
from fastconv import arithmetic, viz


@pytest.fixture
def Image():
    """PIL.Image; the tests that draw are skipped without Pillow, the geometry tests still run."""
    return pytest.importorskip("PIL.Image")


@st.composite
def layers(draw):
    transposed = draw(st.booleans())
    pair = lambda low, high: (draw(st.integers(low, high)), draw(st.integers(low, high)))  # noqa: E731
    kernel, stride, dilation = pair(1, 4), pair(1, 3), pair(1, 2)
    pads = (pair(0, 3), pair(0, 3))
    size = pair(1, 7)
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)) if transposed else (0, 0)
    return dict(input_size=size, kernel_size=kernel, stride=stride, padding=pads, dilation=dilation,
                transposed=transposed, output_padding=extra)


def _window_or_skip(layer):
    try:
        return viz.sliding_window(**layer)
    except ValueError:
        assume(False)


def _expected_reads(layer):
    """Per output cell (row-major), the flat input indices it depends on, computed without viz."""
    size, kernel = layer["input_size"], layer["kernel_size"]
    n = size[0] * size[1]
    if not layer["transposed"]:
        ids = np.arange(1, n + 1, dtype=np.float64).reshape((1, 1) + size)
        before = [b for b, _ in layer["padding"]]
        after = [a for _, a in layer["padding"]]
        columns = numpy_unfold(ids, kernel, layer["dilation"], before, after, layer["stride"])[0]
        library = fastconv.unfold(ids, kernel, layer["dilation"], layer["padding"], layer["stride"])[0]
        np.testing.assert_array_equal(library, columns)
        return [sorted(int(v) - 1 for v in column if v > 0) for column in columns.T]
    # One one-hot image per input cell through the library's transposed convolution, all-ones kernel:
    # output j depends on input i exactly when image i lights it.
    one_hot = np.eye(n).reshape((n, 1) + size)
    y = fastconv.conv_transpose2d(one_hot, np.ones((1, 1) + kernel), stride=layer["stride"],
                                  padding=layer["padding"], output_padding=layer["output_padding"],
                                  dilation=layer["dilation"])
    lit = y.reshape(n, -1) != 0
    return [sorted(np.nonzero(lit[:, j])[0].tolist()) for j in range(lit.shape[1])]


@given(layer=layers())
def test_reads_are_what_the_library_computes_from(layer):
    window = _window_or_skip(layer)
    expected = _expected_reads(layer)
    assert window.num_outputs == len(expected)
    assert [list(r) for r in window.reads] == expected
    op = arithmetic.transposed_output_size if layer["transposed"] else arithmetic.output_size
    args = [layer[k] for k in ("input_size", "kernel_size", "stride", "padding")]
    if layer["transposed"]:
        args.append(layer["output_padding"])
    assert window.output_size == op(*args, layer["dilation"])


@given(layer=layers())
def test_footprints_are_kernel_shaped_and_slide(layer):
    """Each footprint is the kernel's taps spaced by the dilation, and consecutive outputs move it by
    the stride (1 on a transposed layer's stretched canvas); the shaded input cells are the reads."""
    window = _window_or_skip(layer)
    kh, kw = window.kernel_size
    dh, dw = window.dilation
    step = (1, 1) if window.transposed else window.stride
    taps = np.array([(r * dh, c * dw) for r in range(kh) for c in range(kw)])
    origin = window.footprints[0, 0]
    for index, footprint in enumerate(window.footprints):
        row, col = divmod(index, window.output_size[1])
        np.testing.assert_array_equal(footprint, origin + taps + (row * step[0], col * step[1]))
        under = window.canvas_input[footprint[:, 0], footprint[:, 1]]
        assert sorted(under[under >= 0].tolist()) == list(window.reads[index])
    kinds = window.canvas_kind
    assert (kinds == viz.INPUT).sum() == window.input_size[0] * window.input_size[1]
    # Zeros go between neighbouring input cells along a strided dimension.
    stretched = any(s > 1 and n > 1 for s, n in zip(window.stride, window.input_size))
    assert (kinds == viz.INSERTED_ZERO).sum() == (
        (window.stride[0] * (window.input_size[0] - 1) + 1) * (window.stride[1] * (window.input_size[1] - 1) + 1)
        - window.input_size[0] * window.input_size[1] if window.transposed and stretched else 0
    )


def _rgb(name):
    return viz.COLORS[name]


def _decode(Image, path):
    with Image.open(path) as image:
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def _center(box):
    return (box[1] + box[3]) // 2, (box[0] + box[2]) // 2


LAYERS = [
    dict(input_size=5, kernel_size=3, stride=2, padding=1),
    dict(input_size=(4, 6), kernel_size=(2, 3), stride=(1, 2), padding=((0, 1), (2, 0)), dilation=(2, 1)),
    dict(input_size=3, kernel_size=3, stride=2, padding=1, output_padding=1, transposed=True),
    dict(input_size=(2, 3), kernel_size=(3, 2), stride=(2, 3), padding=((1, 0), (0, 2)), dilation=(1, 2),
         output_padding=(1, 0), transposed=True),
]


@pytest.mark.parametrize("layer", LAYERS)
def test_gif_frames_shade_exactly_the_cells_read(Image, tmp_path, layer):
    layer = {"stride": 1, "padding": 0, "dilation": 1, "output_padding": 0, "transposed": False, **layer}
    path = tmp_path / "out.gif"
    window = viz.animate(str(path), **layer, frames_dir=str(tmp_path / "frames"), cell=16)
    pairs = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    expected_reads = _expected_reads({
        **{name: pairs(layer[name]) for name in ("input_size", "kernel_size", "stride", "dilation", "output_padding")},
        "padding": window.padding,
        "transposed": layer["transposed"],
    })
    frames = _decode(Image, path)
    assert len(frames) == window.num_outputs == len(expected_reads)
    layout = viz.layout_of(window, 16)
    pngs = sorted((tmp_path / "frames").iterdir())
    assert len(pngs) == len(frames)
    for png in pngs:
        with Image.open(png) as image:
            assert image.size == layout.size
    for index, pixels in enumerate(frames):
        assert pixels.shape == (layout.size[1], layout.size[0], 3)
        shaded_inputs = []
        for (r, c), kind in np.ndenumerate(window.canvas_kind):
            color = tuple(pixels[_center(layout.canvas_box(r, c))])
            if kind == viz.INPUT:
                assert color in (_rgb("input"), _rgb("input_read"))
                if color == _rgb("input_read"):
                    shaded_inputs.append(int(window.canvas_input[r, c]))
            else:
                assert color in (_rgb("padding"), _rgb("zero"), _rgb("empty_read"))
        assert sorted(shaded_inputs) == expected_reads[index], f"frame {index}"
        shaded_cells = sum(
            tuple(pixels[_center(layout.canvas_box(r, c))]) in (_rgb("input_read"), _rgb("empty_read"))
            for r, c in np.ndindex(*window.canvas_kind.shape)
        )
        assert shaded_cells == window.kernel_size[0] * window.kernel_size[1]
        current = [
            position
            for position, (r, c) in enumerate(np.ndindex(*window.output_size))
            if tuple(pixels[_center(layout.output_box(r, c))]) == _rgb("output_current")
        ]
        assert current == [index]


def test_a_wrong_mapping_is_caught(monkeypatch):
    """The two derivations of a picture must agree: an unfold that reads one cell off is refused."""
    real_unfold = viz.unfold
    calls = []

    def shifted(x, *args, **kwargs):
        calls.append(1)
        columns = real_unfold(x, *args, **kwargs)
        return np.roll(columns, 1, axis=-1) if len(calls) == 1 else columns

    monkeypatch.setattr(viz, "unfold", shifted)
    with pytest.raises(viz.MappingMismatch):
        viz.sliding_window(5, 3, 2, 1)


def test_gallery(Image, tmp_path):
    paths = viz.gallery(str(tmp_path), cell=16)
    names = [p.split("/")[-1][:-4] for p in paths]
    assert names == list(viz.GALLERY) + ["im2col"]
    assert len(viz.GALLERY) == 15
    expected_frames = {
        "no_padding_no_strides": 4, "arbitrary_padding_no_strides": 36, "same_padding_no_strides": 25,
        "full_padding_no_strides": 49, "no_padding_strides": 4, "padding_strides": 9, "padding_strides_odd": 9,
        "no_padding_no_strides_transposed": 16, "arbitrary_padding_no_strides_transposed": 25,
        "same_padding_no_strides_transposed": 25, "full_padding_no_strides_transposed": 25,
        "no_padding_strides_transposed": 25, "padding_strides_transposed": 25,
        "padding_strides_odd_transposed": 36, "dilation": 9, "im2col": 4,
    }
    for path, name in zip(paths, names):
        with Image.open(path) as image:
            assert image.format == "GIF"
            assert image.n_frames == expected_frames[name], name


def test_im2col_picture_highlights_each_column(Image, tmp_path):
    path = tmp_path / "im2col.gif"
    frames = viz.im2col_picture(str(path), input_size=4, kernel_size=3, in_channels=2, out_channels=3, padding=1,
                                stride=2)
    assert len(frames) == 4  # 2x2 outputs
    decoded = _decode(Image, path)
    assert len(decoded) == 4 and decoded[0].shape[:2] == (frames[0].size[1], frames[0].size[0])
    # Windows over more or less padding shade different numbers of input cells.
    dark = np.array(_rgb("input_read"))
    counts = [(pixels == dark).all(axis=-1).sum() for pixels in decoded]
    assert min(counts) > 0 and len(set(counts)) > 1


def test_core_import_does_not_load_pillow():
    code = "import sys, fastconv; print('PIL' in sys.modules, 'fastconv.viz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_missing_pillow_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install 'fastconv\[viz\]'"):
        viz.animate(None, 5, 3)
    # The geometry needs no Pillow.
    assert viz.sliding_window(5, 3).num_outputs == 9


def test_bad_arguments():
    with pytest.raises(ValueError, match="sliding_window: .*empty"):
        viz.sliding_window(3, 5)
    with pytest.raises(ValueError, match="output_padding applies only"):
        viz.sliding_window(5, 3, output_padding=1)
    with pytest.raises(ValueError, match="padding"):
        viz.sliding_window(5, 3, padding="same", transposed=True)
    with pytest.raises(ValueError, match="sliding_window: .*output_padding"):
        viz.sliding_window(5, 3, stride=2, output_padding=2, transposed=True)
