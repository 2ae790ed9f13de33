# Pictures of convolution arithmetic in the style of Dumoulin & Visin's animations (blue input,
# cyan output, the kernel's shadow sliding over the input), for any sizes, strides, paddings,
# dilations and output paddings, plus an im2col picture (input -> column matrix -> GEMM).
#
# The geometry is never computed here. sliding_window() asks the library: it runs fastconv.unfold
# (the im2col that drives the convolutions, over the C++ index mapping) on arrays of cell ids, once
# with the layer's own padding to learn which input cells each output reads, and once over the
# drawn canvas (padding, and for a transposed layer the inserted zeros, as cells with ids of their
# own) to learn where each kernel tap lands. The two must agree cell for cell, so every picture is
# also a test of the mapping; a disagreement raises instead of drawing something wrong.
#
# Pillow is only needed to draw (pip install fastconv[viz]); sliding_window() needs NumPy alone, and
# `import fastconv` never imports this module.
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from . import _api, arithmetic
from ._api import unfold

# Kinds of canvas cell.
INPUT, PADDING, INSERTED_ZERO = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class SlidingWindow:
    """What a picture of one 2-D convolution or transposed convolution shows, as the library maps it.

    For a transposed layer the canvas is the guide's direct form: the input stretched with zeros
    between cells and padded with the implied padding, swept at stride 1 by the flipped kernel."""

    transposed: bool
    input_size: Tuple[int, int]
    kernel_size: Tuple[int, int]
    stride: Tuple[int, int]
    padding: Tuple[Tuple[int, int], Tuple[int, int]]  # (before, after) per dimension, as the layer has it
    dilation: Tuple[int, int]
    output_padding: Tuple[int, int]
    output_size: Tuple[int, int]
    canvas_kind: np.ndarray  # (rows, cols): INPUT, PADDING or INSERTED_ZERO
    canvas_input: np.ndarray  # (rows, cols): flat index of the input cell drawn there, -1 elsewhere
    footprints: np.ndarray  # (outputs, taps, 2): canvas (row, col) under each kernel tap, outputs row-major
    reads: Tuple[Tuple[int, ...], ...]  # per output, the flat input indices it is computed from

    @property
    def num_outputs(self) -> int:
        return self.output_size[0] * self.output_size[1]

    def describe(self) -> str:
        def pair(values: Sequence[int]) -> str:
            return f"{values[0]}x{values[1]}" if values[0] != values[1] else str(values[0])

        pads = [b if b == a else f"({b},{a})" for b, a in self.padding]
        text = (
            f"{'transposed ' if self.transposed else ''}conv  i={pair(self.input_size)} k={pair(self.kernel_size)} "
            f"s={pair(self.stride)} p={pair(pads)}"
        )
        if self.dilation != (1, 1):
            text += f" d={pair(self.dilation)}"
        if self.output_padding != (0, 0):
            text += f" a={pair(self.output_padding)}"
        return text + f"  ->  o={pair(self.output_size)}"

    def title_lines(self, index: int) -> List[str]:
        """The frame's caption: the layer, for a transposed layer its direct form, the output cell."""
        lines = [self.describe()]
        if self.transposed:
            eq = arithmetic.direct_equivalent(self.input_size, self.kernel_size, self.stride, self.padding,
                                              self.output_padding, self.dilation)
            zeros = eq.inserted_zeros
            pads = list(zip(eq.pad_before, eq.pad_after))
            zeros_text = str(zeros[0]) if zeros[0] == zeros[1] else f"{zeros[0]}x{zeros[1]}"
            pads_text = f"({pads[0][0]},{pads[0][1]})" + ("" if pads[0] == pads[1] else f"x({pads[1][0]},{pads[1][1]})")
            lines.append(f"= direct conv: {zeros_text} zero(s) between cells, padding {pads_text}, stride 1")
        row, col = divmod(index, self.output_size[1])
        lines.append(f"output ({row}, {col}): {len(self.reads[index])} input cells read")
        return lines


def _pair_of_ints(fn: str, name: str, value: Any, minimum: int) -> Tuple[int, int]:
    return _api._int_tuple(fn, name, value, 2, minimum)  # type: ignore[return-value]


def _ids(shape: Sequence[int]) -> np.ndarray:
    """Cell ids 1..n in float64 (exact): a read of padding comes back as 0."""
    return np.arange(1, math.prod(shape) + 1, dtype=np.float64).reshape(tuple(shape))


class MappingMismatch(AssertionError):
    """The two derivations of a picture's geometry from the library disagree: a mapping bug."""


def sliding_window(
    input_size: Any,
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    *,
    transposed: bool = False,
    output_padding: Any = 0,
) -> SlidingWindow:
    """The geometry of a 2-D layer's sliding-window picture, derived from fastconv.unfold.

    Sizes are an int (square) or a pair; padding takes conv2d's forms ("same"/"valid" for a direct
    layer, (before, after) pairs). A 1-D layer is a 2-D one with height 1 (input_size (1, n),
    kernel_size (1, k))."""
    fn = "sliding_window"
    size = _pair_of_ints(fn, "input_size", input_size, 1)
    kernel = _pair_of_ints(fn, "kernel_size", kernel_size, 1)
    strides = _pair_of_ints(fn, "stride", stride, 1)
    dilations = _pair_of_ints(fn, "dilation", dilation, 1)
    extra = _pair_of_ints(fn, "output_padding", output_padding, 0)
    if not transposed and any(extra):
        raise ValueError(f"{fn}: output_padding applies only to a transposed convolution")
    pairs = _api._padding_pairs(fn, padding, 2, allow_strings=not transposed)
    befores, afters = _api._resolve_padding(fn, pairs, size, kernel, strides, dilations)
    pads = tuple(zip(befores, afters))
    build = _transposed_window if transposed else _forward_window
    try:
        return build(size, kernel, strides, pads, dilations, extra)
    except ValueError as exc:
        raise ValueError(f"{fn}: {exc}") from None


def _forward_window(size, kernel, strides, pads, dilations, extra) -> SlidingWindow:
    out = _api.conv_output_size(size, kernel, strides, pads, dilations)
    # What each output reads: the library's im2col on input ids, with the layer's padding.
    columns = unfold(_ids((1,) + size), kernel, dilations, pads, strides)  # (taps, outputs)
    # Where each tap lands on the drawn canvas: the same unfold over a canvas whose every cell,
    # padding included, has an id, with no padding left for the library to add.
    rows, cols = (n + b + a for n, (b, a) in zip(size, pads))
    kind = np.full((rows, cols), PADDING, dtype=np.int8)
    canvas_input = np.full((rows, cols), -1, dtype=np.int64)
    inside = (slice(pads[0][0], pads[0][0] + size[0]), slice(pads[1][0], pads[1][0] + size[1]))
    kind[inside] = INPUT
    canvas_input[inside] = np.arange(size[0] * size[1]).reshape(size)
    canvas_columns = unfold(_ids((1, rows, cols)), kernel, dilations, 0, strides)
    footprints = _footprints(canvas_columns, cols)
    _agree(columns, footprints, canvas_input, kernel, flip=False)
    return SlidingWindow(False, size, kernel, strides, pads, dilations, extra, out, kind, canvas_input,
                         footprints, _reads(columns))


def _transposed_window(size, kernel, strides, pads, dilations, extra) -> SlidingWindow:
    out = _api.conv_transpose_output_size(size, kernel, strides, pads, extra, dilations)  # checks output_padding
    # The library's transposed mapping: a transposed layer's input cell i scatters through tap r to
    # the output cell the direct layer (its adjoint) reads there, so unfold over output ids with
    # the layer's parameters gives, per input cell and tap, the output cell written (0: cropped).
    scatter = unfold(_ids((1,) + out), kernel, dilations, pads, strides)
    direct_out = arithmetic.output_size(out, kernel, strides, pads, dilations)
    # output_padding at least the stride (allowed up to the dilation) leaves direct outputs that no
    # transposed input feeds; only the first `size` per dimension are the transposed input.
    scatter = scatter.reshape((-1,) + tuple(direct_out))[:, : size[0], : size[1]].reshape(len(scatter), -1)
    gathers = _invert_scatter(scatter, math.prod(out))

    # The guide's direct form: stretched input, implied padding (negative: crop), stride 1.
    eq = arithmetic.direct_equivalent(size, kernel, strides, pads, extra, dilations)
    grow = [(max(b, 0), max(a, 0)) for b, a in zip(eq.pad_before, eq.pad_after)]
    rows, cols = (n + b + a for n, (b, a) in zip(eq.stretched_input_size, grow))
    kind = np.full((rows, cols), PADDING, dtype=np.int8)
    canvas_input = np.full((rows, cols), -1, dtype=np.int64)
    stretched = (slice(grow[0][0], grow[0][0] + eq.stretched_input_size[0]),
                 slice(grow[1][0], grow[1][0] + eq.stretched_input_size[1]))
    kind[stretched] = INSERTED_ZERO
    cells = (slice(grow[0][0], grow[0][0] + eq.stretched_input_size[0], strides[0]),
             slice(grow[1][0], grow[1][0] + eq.stretched_input_size[1], strides[1]))
    kind[cells] = INPUT
    canvas_input[cells] = np.arange(size[0] * size[1]).reshape(size)
    crop = [(max(-b, 0), max(-a, 0)) for b, a in zip(eq.pad_before, eq.pad_after)]
    swept = _ids((1, rows, cols))[:, crop[0][0]: rows - crop[0][1], crop[1][0]: cols - crop[1][1]]
    canvas_columns = unfold(swept, kernel, dilations, 0, 1)
    footprints = _footprints(canvas_columns, cols)
    _agree(gathers, footprints, canvas_input, kernel, flip=True)
    return SlidingWindow(True, size, kernel, strides, pads, dilations, extra, out, kind, canvas_input,
                         footprints, _reads(gathers))


def _invert_scatter(scatter: np.ndarray, num_outputs: int) -> np.ndarray:
    """(taps, outputs) table of the input id (1-based, 0: none) each output receives through each
    tap, from the (taps, inputs) table of the output id each input writes through each tap. An
    output receives at most one input per tap, since the mapping is injective in the input."""
    gathers = np.zeros((scatter.shape[0], num_outputs))
    taps, inputs = np.nonzero(scatter)
    targets = scatter[taps, inputs].astype(np.int64) - 1
    if len(set(zip(taps.tolist(), targets.tolist()))) != len(taps):
        raise MappingMismatch("two input cells reach one output cell through the same tap")
    gathers[taps, targets] = inputs + 1
    return gathers


def _footprints(canvas_columns: np.ndarray, canvas_cols: int) -> np.ndarray:
    """(outputs, taps, 2) canvas coordinates from an unfold of canvas ids (every id is real, so a
    0 would mean the mapping read outside the canvas)."""
    if not np.all(canvas_columns > 0):
        raise MappingMismatch("a kernel tap fell outside the drawn canvas")
    flat = canvas_columns.T.astype(np.int64) - 1
    return np.stack([flat // canvas_cols, flat % canvas_cols], axis=-1)


def _agree(columns: np.ndarray, footprints: np.ndarray, canvas_input: np.ndarray, kernel, flip: bool) -> None:
    """Checks that tap r of output o lands on a drawn input cell exactly when the layer's own mapping
    reads an input through that tap (the flipped tap, for a transposed layer's direct form), and on
    the same cell."""
    tap_order = np.arange(kernel[0] * kernel[1])
    if flip:
        tap_order = tap_order[::-1]
    drawn = canvas_input[footprints[..., 0], footprints[..., 1]]  # (outputs, taps)
    read = columns[tap_order].T.astype(np.int64) - 1
    if drawn.shape != read.shape or not np.array_equal(drawn, read):
        raise MappingMismatch("the drawn kernel footprint and the library's reads disagree")


def _reads(columns: np.ndarray) -> Tuple[Tuple[int, ...], ...]:
    return tuple(tuple(sorted(int(v) - 1 for v in column if v > 0)) for column in columns.T)


# ---------------------------------------------------------------------------------------------
# Drawing


def _pillow():
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise ImportError(
            "fastconv.viz draws with Pillow, which is not installed: pip install 'fastconv[viz]' (or pip install pillow)"
        ) from None
    return Image, ImageDraw, ImageFont


# The palette, by index (frames are palette images, so every frame and the GIF share it exactly).
COLORS = {
    "background": (255, 255, 255),
    "text": (40, 40, 40),
    "input": (100, 150, 220),  # the guide's blue
    "input_read": (20, 50, 120),  # under the kernel's shadow
    "padding": (255, 255, 255),
    "zero": (232, 232, 232),
    "empty_read": (150, 165, 195),  # the shadow over padding or an inserted zero
    "grid": (60, 60, 60),
    "dashed": (150, 150, 150),
    "output": (120, 215, 215),  # the guide's cyan
    "output_current": (0, 120, 130),
    "output_pending": (235, 250, 250),
    "tint0": (205, 222, 245),  # im2col: alternate input channels
    "tint1": (225, 210, 242),
    "weight0": (235, 185, 100),  # im2col: W's columns, alternate input channels as the column matrix's rows
    "weight1": (205, 140, 40),
}
_INDEX = {name: index for index, name in enumerate(COLORS)}


def _palette() -> List[int]:
    flat = [channel for color in COLORS.values() for channel in color]
    return flat + [0] * (768 - len(flat))


@dataclasses.dataclass(frozen=True)
class Layout:
    """Pixel positions of a sliding-window frame: a title band, the canvas (left) and the output
    grid (right), each cell `cell` pixels wide."""

    canvas_shape: Tuple[int, int]
    output_shape: Tuple[int, int]
    cell: int = 24
    margin: int = 12
    title_lines: int = 2

    @property
    def title_height(self) -> int:
        return 6 + 14 * self.title_lines

    @property
    def output_left(self) -> int:
        return self.margin + (self.canvas_shape[1] + 2) * self.cell

    @property
    def size(self) -> Tuple[int, int]:
        rows = max(self.canvas_shape[0], self.output_shape[0])
        width = self.output_left + self.output_shape[1] * self.cell + self.margin
        return max(width, 360), self.title_height + rows * self.cell + self.margin

    def canvas_box(self, row: int, col: int) -> Tuple[int, int, int, int]:
        left, top = self.margin + col * self.cell, self.title_height + row * self.cell
        return left, top, left + self.cell, top + self.cell

    def output_box(self, row: int, col: int) -> Tuple[int, int, int, int]:
        left, top = self.output_left + col * self.cell, self.title_height + row * self.cell
        return left, top, left + self.cell, top + self.cell


def layout_of(window: SlidingWindow, cell: int = 24) -> Layout:
    return Layout(tuple(window.canvas_kind.shape), window.output_size, cell,  # type: ignore[arg-type]
                  title_lines=len(window.title_lines(0)))


def _dashed_rectangle(draw: Any, box: Tuple[int, int, int, int], fill: int, dash: int = 3) -> None:
    left, top, right, bottom = box
    for start in range(left, right, 2 * dash):
        end = min(start + dash, right)
        draw.line([(start, top), (end, top)], fill=fill)
        draw.line([(start, bottom), (end, bottom)], fill=fill)
    for start in range(top, bottom, 2 * dash):
        end = min(start + dash, bottom)
        draw.line([(left, start), (left, end)], fill=fill)
        draw.line([(right, start), (right, end)], fill=fill)


def render_frames(window: SlidingWindow, cell: int = 24) -> List[Any]:
    """One palette image per output cell, in row-major order: the canvas with the kernel's shadow
    for that output, and the output grid with the cell being written highlighted."""
    Image, ImageDraw, ImageFont = _pillow()
    layout = layout_of(window, cell)
    font = ImageFont.load_default()
    kind = window.canvas_kind
    frames = []
    for index in range(window.num_outputs):
        image = Image.new("P", layout.size, _INDEX["background"])
        image.putpalette(_palette())
        draw = ImageDraw.Draw(image)
        for line, text in enumerate(window.title_lines(index)):
            draw.text((layout.margin, 4 + 14 * line), text, fill=_INDEX["text"], font=font)
        shaded = {(int(r), int(c)) for r, c in window.footprints[index]}
        for (r, c), cell_kind in np.ndenumerate(kind):
            box = layout.canvas_box(r, c)
            inner = (box[0], box[1], box[2] - 1, box[3] - 1)
            if cell_kind == INPUT:
                fill = "input_read" if (r, c) in shaded else "input"
                draw.rectangle(inner, fill=_INDEX[fill], outline=_INDEX["grid"])
            else:
                fill = "empty_read" if (r, c) in shaded else ("zero" if cell_kind == INSERTED_ZERO else "padding")
                draw.rectangle(inner, fill=_INDEX[fill])
                _dashed_rectangle(draw, inner, _INDEX["dashed"])
        for (r, c) in np.ndindex(*window.output_size):
            position = r * window.output_size[1] + c
            fill = "output_current" if position == index else "output" if position < index else "output_pending"
            box = layout.output_box(r, c)
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=_INDEX[fill], outline=_INDEX["grid"])
        frames.append(image)
    return frames


def save_gif(frames: Sequence[Any], path: str, duration_ms: int = 500) -> None:
    frames[0].save(path, save_all=True, append_images=list(frames[1:]), duration=duration_ms, loop=0)


def animate(
    path: Optional[str],
    input_size: Any,
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    *,
    transposed: bool = False,
    output_padding: Any = 0,
    frames_dir: Optional[str] = None,
    cell: int = 24,
    duration_ms: int = 500,
) -> SlidingWindow:
    """Renders the sliding-window animation of a 2-D convolution (or transposed convolution) as an
    animated GIF at `path` (None: no GIF) and, with frames_dir, one PNG per frame
    (frame_000.png, ...). One frame per output cell, row-major. Returns the geometry drawn.

    Arguments as sliding_window(); needs Pillow (pip install 'fastconv[viz]')."""
    _pillow()
    window = sliding_window(input_size, kernel_size, stride, padding, dilation,
                            transposed=transposed, output_padding=output_padding)
    frames = render_frames(window, cell)
    if path is not None:
        save_gif(frames, path, duration_ms)
    if frames_dir is not None:
        os.makedirs(frames_dir, exist_ok=True)
        for index, frame in enumerate(frames):
            frame.save(os.path.join(frames_dir, f"frame_{index:03d}.png"))
    return window


# The guide's 15 animations (github.com/vdumoulin/conv_arithmetic), by its file names: each
# transposed case is the transpose of the direct case of the same name, so its input has that case's
# output size.
GALLERY = {
    "no_padding_no_strides": dict(input_size=4, kernel_size=3),
    "arbitrary_padding_no_strides": dict(input_size=5, kernel_size=4, padding=2),
    "same_padding_no_strides": dict(input_size=5, kernel_size=3, padding=1),
    "full_padding_no_strides": dict(input_size=5, kernel_size=3, padding=2),
    "no_padding_strides": dict(input_size=5, kernel_size=3, stride=2),
    "padding_strides": dict(input_size=5, kernel_size=3, stride=2, padding=1),
    "padding_strides_odd": dict(input_size=6, kernel_size=3, stride=2, padding=1),
    "no_padding_no_strides_transposed": dict(input_size=2, kernel_size=3, transposed=True),
    "arbitrary_padding_no_strides_transposed": dict(input_size=6, kernel_size=4, padding=2, transposed=True),
    "same_padding_no_strides_transposed": dict(input_size=5, kernel_size=3, padding=1, transposed=True),
    "full_padding_no_strides_transposed": dict(input_size=7, kernel_size=3, padding=2, transposed=True),
    "no_padding_strides_transposed": dict(input_size=2, kernel_size=3, stride=2, transposed=True),
    "padding_strides_transposed": dict(input_size=3, kernel_size=3, stride=2, padding=1, transposed=True),
    "padding_strides_odd_transposed": dict(input_size=3, kernel_size=3, stride=2, padding=1, output_padding=1,
                                           transposed=True),
    "dilation": dict(input_size=7, kernel_size=3, dilation=2),
}


def gallery(directory: str, cell: int = 24, duration_ms: int = 500) -> List[str]:
    """Writes the guide's 15 standard animations and the im2col picture into `directory`; returns
    the paths written."""
    _pillow()
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, params in GALLERY.items():
        path = os.path.join(directory, f"{name}.gif")
        animate(path, cell=cell, duration_ms=duration_ms, **params)
        paths.append(path)
    path = os.path.join(directory, "im2col.gif")
    im2col_picture(path)
    paths.append(path)
    return paths


def im2col_picture(
    path: Optional[str],
    input_size: Any = 4,
    kernel_size: Any = 3,
    in_channels: int = 2,
    out_channels: int = 2,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    *,
    cell: int = 20,
    duration_ms: int = 1000,
) -> List[Any]:
    """Animates how im2col turns a convolution into one matrix multiply: the input (cells numbered
    by id), the column matrix fastconv.unfold makes of it (each column holds the ids one window
    reads, 0 for padding), the weights W (out_channels x in_channels*prod(kernel)) and
    y = W @ columns, whose columns are the output cells. One frame per output cell, highlighting
    its window, its column and its result. Writes a GIF at `path` (None: only returns the frames)."""
    Image, ImageDraw, ImageFont = _pillow()
    window = sliding_window(input_size, kernel_size, stride, padding, dilation)
    height, width = window.input_size
    columns = unfold(_ids((in_channels, height, width)), window.kernel_size, window.dilation, window.padding,
                     window.stride)  # (in_channels * taps, outputs): the ids each window reads
    rows_k, count = columns.shape
    taps = rows_k // in_channels
    canvas_rows, canvas_cols = window.canvas_kind.shape
    font = ImageFont.load_default()
    margin, top = 12, 52
    gap = 26  # room for a block's label
    columns_left = margin + max((canvas_cols + 2) * cell, rows_k * cell + cell)
    lower_top = top + rows_k * cell + gap
    maps_left = columns_left + (count + 2) * cell
    out_h, out_w = window.output_size
    size = (maps_left + max(out_w * cell, 70) + margin,
            max(lower_top + out_channels * cell, top + out_channels * (out_h + 1) * cell,
                top + in_channels * (canvas_rows + 1) * cell) + margin)

    def box(left: int, top_: int, row: int, col: int) -> Tuple[int, int, int, int]:
        return left + col * cell, top_ + row * cell, left + (col + 1) * cell - 1, top_ + (row + 1) * cell - 1

    def number(draw: Any, cell_box: Tuple[int, int, int, int], value: int, color: str) -> None:
        text = str(value)
        left, top_, right, bottom = draw.textbbox((0, 0), text, font=font)
        x = (cell_box[0] + cell_box[2] - (right - left)) / 2 - left
        y = (cell_box[1] + cell_box[3] - (bottom - top_)) / 2 - top_
        draw.text((x, y), text, fill=_INDEX[color], font=font)

    frames = []
    for index in range(count):
        image = Image.new("P", size, _INDEX["background"])
        image.putpalette(_palette())
        draw = ImageDraw.Draw(image)
        draw.text((margin, 4), f"im2col: x ({in_channels} x {height}x{width}), kernel {window.kernel_size[0]}x"
                  f"{window.kernel_size[1]} -> columns = unfold(x): ({rows_k} x {count})", fill=_INDEX["text"], font=font)
        draw.text((margin, 18), f"GEMM: W ({out_channels} x {rows_k}) @ columns ({rows_k} x {count}) = y "
                  f"({out_channels} x {count}) = {out_channels} maps of {out_h}x{out_w}; M={out_channels}, N={count}, "
                  f"K={rows_k}", fill=_INDEX["text"], font=font)
        row, col = divmod(index, out_w)
        shaded = {(int(r), int(c)) for r, c in window.footprints[index]}
        for channel in range(in_channels):
            channel_top = top + channel * (canvas_rows + 1) * cell
            draw.text((margin, channel_top - 13), f"x channel {channel}", fill=_INDEX["text"], font=font)
            for (r, c), cell_kind in np.ndenumerate(window.canvas_kind):
                cell_box = box(margin, channel_top, r, c)
                if cell_kind != INPUT:
                    draw.rectangle(cell_box, fill=_INDEX["empty_read" if (r, c) in shaded else "padding"])
                    _dashed_rectangle(draw, cell_box, _INDEX["dashed"])
                    continue
                read = (r, c) in shaded
                draw.rectangle(cell_box, fill=_INDEX["input_read" if read else f"tint{channel % 2}"],
                               outline=_INDEX["grid"])
                value = channel * height * width + int(window.canvas_input[r, c]) + 1
                number(draw, cell_box, value, "background" if read else "text")
        draw.text((columns_left, top - 13), "columns", fill=_INDEX["text"], font=font)
        for (k, l), value in np.ndenumerate(columns):
            cell_box = box(columns_left, top, k, l)
            current = l == index
            draw.rectangle(cell_box, fill=_INDEX["input_read" if current else f"tint{(k // taps) % 2}"],
                           outline=_INDEX["grid"])
            number(draw, cell_box, int(value), "background" if current else "text")
        weights_left = columns_left - rows_k * cell - cell
        draw.text((weights_left, lower_top - 13), "W", fill=_INDEX["text"], font=font)
        draw.text((columns_left, lower_top - 13), "y = W @ columns", fill=_INDEX["text"], font=font)
        for m in range(out_channels):
            for k in range(rows_k):
                draw.rectangle(box(weights_left, lower_top, m, k), fill=_INDEX[f"weight{(k // taps) % 2}"],
                               outline=_INDEX["grid"])
            for l in range(count):
                fill = "output_current" if l == index else "output" if l < index else "output_pending"
                draw.rectangle(box(columns_left, lower_top, m, l), fill=_INDEX[fill], outline=_INDEX["grid"])
            map_top = top + m * (out_h + 1) * cell
            draw.text((maps_left, map_top - 13), f"y channel {m}", fill=_INDEX["text"], font=font)
            for r, c in np.ndindex(out_h, out_w):
                position = r * out_w + c
                fill = "output_current" if position == index else "output" if position < index else "output_pending"
                draw.rectangle(box(maps_left, map_top, r, c), fill=_INDEX[fill], outline=_INDEX["grid"])
        frames.append(image)
    if path is not None:
        save_gif(frames, path, duration_ms)
    return frames
