# Tests of the `fastconv` command line (fastconv.cli) and the measuring code behind it
# (fastconv.bench): every subcommand runs end to end on a tiny slice of the suite, its output names
# what it measured, and bad arguments stop in argparse (exit code 2) before anything runs. `animate`
# writes GIFs with one frame per output cell (their content is checked in test_viz.py).
import json
import re
import subprocess
import sys

import pytest

import fastconv
from fastconv import bench
from fastconv.cli import main

SMALL_LAYER = "dcgan_up_4x4"  # 67 MFLOP: milliseconds per call for every algo
FAST = ["--repeat", "1", "--min-time", "0.005"]


def _rows(output: str, layer: str):
    """The table rows of `layer`, split on runs of spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.startswith(layer)]


def test_info_prints_every_key(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in fastconv.info():
        assert str(key) in out


def test_info_json_round_trips(capsys):
    assert main(["info", "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed == json.loads(json.dumps(fastconv.info(), default=str))


def test_check_passes(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" not in out
    for op in ("conv1d", "conv2d", "conv3d", "conv_transpose2d", "unfold", "fold"):
        assert op in out
    assert "all" in out.splitlines()[-1]


def test_check_fails_on_a_wrong_algo(monkeypatch, capsys):
    real_conv2d = fastconv.conv2d

    def off_by_a_bit(*args, algo="auto", **kwargs):
        y = real_conv2d(*args, algo=algo, **kwargs)
        return y + 1e-3 if algo == "im2col" else y

    monkeypatch.setattr(fastconv, "conv2d", off_by_a_bit)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert failed and all("conv2d" in line for line in failed)
    assert "FAILED" in out.splitlines()[-1]


def _measurement_rows(output: str, layer: str):
    """Rows of the every-measurement table (the summary's rows start with the layer too, but have
    a layout in their second column)."""
    return [row for row in _rows(output, layer) if row[1].startswith("conv")]


def test_bench_table_markdown_and_json(capsys, tmp_path):
    markdown, report = tmp_path / "bench.md", tmp_path / "bench.json"
    argv = ["bench", "--layers", SMALL_LAYER, "--algos", "direct,im2col", "--threads", "1", "--layouts", "nchw",
            *FAST, "--markdown", str(markdown), "--json", str(report)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "GFLOP/s" in captured.out
    rows = _measurement_rows(captured.out, SMALL_LAYER)
    assert [(row[2], row[4]) for row in rows] == [("nchw", "direct"), ("nchw", "im2col")]
    peak = float(re.search(r"measured FMA peak at 1 thread\(s\): (\d+\.\d+) GFLOP/s", captured.out).group(1))
    assert peak > 0
    for row in rows:
        milliseconds, gflops, percent, faults = float(row[5]), float(row[6]), float(row[7].rstrip("%")), float(row[8])
        assert milliseconds > 0 and gflops > 0 and faults >= 0
        # All three are printed rounded; the JSON check below is exact.
        assert percent == pytest.approx(100 * gflops / peak, rel=0.1, abs=1)
    assert f"[1/1] {SMALL_LAYER} (nchw, threads=1)" in captured.err  # progress goes to stderr

    text = markdown.read_text()
    assert text.startswith("# ")
    assert f"| {SMALL_LAYER} |" in text and "GFLOP/s" in text and "measured FMA peak" in text
    for label in ("machine", "fastconv", "commit", "isa", "threads", "numpy", "allocator", "date"):
        assert f"**{label}**" in text

    data = json.loads(report.read_text())
    assert {row["algo"] for row in data["results"]} == {"direct", "im2col"}
    for row in data["results"]:
        assert row["gflops"] > 0 and row["error"] is None and row["peak_gflops"] > 0
        assert row["percent_of_peak"] == pytest.approx(100 * row["gflops"] / row["peak_gflops"])
    assert data["settings"]["layouts"] == ["nchw"]


def test_bench_compare_torch_on_both_layouts_with_plans(capsys):
    pytest.importorskip("torch")
    argv = ["bench", "--layers", SMALL_LAYER, "--algos", "auto,im2col,plan,autotune", "--threads", "1", "--compare",
            "torch", *FAST]
    assert main(argv) == 0
    assert not fastconv.get_autotune()  # the autotune runner switches it on only around its calls
    out = capsys.readouterr().out
    assert "torch/fastconv" in out
    rows = _measurement_rows(out, SMALL_LAYER)
    assert [(row[2], row[4]) for row in rows] == [
        (layout, algo) for layout in ("nchw", "channels_last") for algo in ("auto", "im2col", "plan", "autotune")]
    for row in rows:
        assert float(row[9]) > 0 and row[11].endswith("x")
    summary = [row for row in _rows(out, SMALL_LAYER) if row[1] in ("nchw", "channels_last")]
    assert [row[1] for row in summary] == ["nchw", "channels_last"]
    for row in summary:
        assert row[3] in ("auto", "im2col")  # the best functional algo; plans and autotune are reported apart
        assert float(row[6]) >= 1.0  # auto/best
        assert float(row[7]) > 0  # autotune/best: a timed call, so noise may put it just under 1
    for layout in ("nchw", "channels_last"):
        for algo in ("auto", "plan", "autotune"):
            assert re.search(rf"geometric mean of torch/fastconv, {algo}, {layout}, threads=1: \d+\.\d+x", out)


def test_channels_last_layout_is_the_same_logical_array():
    layer = bench.select_layers(bench.load_suite(), "resnet_3x3_7")[0]
    x, _ = bench.make_inputs(layer)
    x_cl = bench.to_layout(x, "channels_last")
    assert x_cl.shape == x.shape and (x_cl == x).all()
    assert x_cl.strides[1] == x.itemsize  # channels adjacent in memory
    assert bench.to_layout(x, "nchw") is x


def test_bench_compare_torch_without_torch(monkeypatch, capsys):
    monkeypatch.setattr(bench, "torch_available", lambda: False)
    assert main(["bench", "--layers", SMALL_LAYER, "--compare", "torch", *FAST]) == 1
    assert "PyTorch" in capsys.readouterr().err


def test_bench_reports_a_raising_algo_as_an_error_row(monkeypatch, capsys):
    real_runner = bench.fastconv_runner

    def runner(layer, x, w, algo):
        if algo == "direct":
            def broken():
                raise RuntimeError("injected failure")
            return broken
        return real_runner(layer, x, w, algo)

    monkeypatch.setattr(bench, "fastconv_runner", runner)
    assert main(["bench", "--layers", SMALL_LAYER, "--algos", "direct,im2col", "--threads", "1", *FAST]) == 1
    out = capsys.readouterr().out
    direct, im2col = _measurement_rows(out, SMALL_LAYER)[:2]
    assert direct[5] == "ERROR" and "injected failure" in out
    assert float(im2col[6]) > 0


def test_bench_list_and_multiple_thread_counts(capsys):
    assert main(["bench", "--list", "--layers", "resnet_*"]) == 0
    listed = capsys.readouterr().out
    assert "resnet_3x3_56" in listed and "dcgan" not in listed
    argv = ["bench", "--layers", SMALL_LAYER, "--algos", "im2col", "--threads", "1,2", "--layouts", "nchw", *FAST]
    assert main(argv) == 0
    rows = _measurement_rows(capsys.readouterr().out, SMALL_LAYER)
    assert [row[3] for row in rows] == ["1", "2"]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["bench", "--algos", "fast"],
        ["bench", "--algos", ""],
        ["bench", "--layouts", "nhwc"],
        ["bench", "--threads", "0"],
        ["bench", "--threads", "two"],
        ["bench", "--repeat", "0"],
        ["bench", "--min-time", "-1"],
        ["bench", "--dtype", "float16"],
        ["bench", "--compare", "tensorflow"],
        ["bench", "--layers", "no_such_layer"],
        ["info", "--verbose"],
    ],
)
def test_bad_arguments_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "fastconv", "info", "--json"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), dict)


# ---- fastconv.bench as a library -------------------------------------------------------------


def test_suite_flops_follow_the_formula():
    layers = {layer.name: layer for layer in bench.load_suite()}
    assert len(layers) >= 10
    # conv: 2 * N * K * C/groups * prod(kernel) * prod(output spatial)
    assert layers["resnet_3x3_56"].flops() == 2 * 64 * 64 * 9 * 56 * 56
    assert layers["resnet_1x1_s2"].flops() == 2 * 256 * 512 * 14 * 14
    assert layers["depthwise_3x3"].flops() == 2 * 256 * 1 * 9 * 56 * 56
    # conv_transpose: 2 * N * C * K/groups * prod(kernel) * prod(input spatial)
    assert layers["dcgan_up_4x4"].flops() == 2 * 512 * 256 * 16 * 4 * 4


def test_select_layers_by_substring_and_glob():
    layers = bench.load_suite()
    names = lambda pattern: [layer.name for layer in bench.select_layers(layers, pattern)]  # noqa: E731
    assert names("3x3_14") == ["resnet_3x3_14"]
    assert names("resnet_3x3_*") == ["resnet_3x3_56", "resnet_3x3_28", "resnet_3x3_14", "resnet_3x3_7"]
    assert names("conv1d_audio,dcgan_up_16") == ["conv1d_audio", "dcgan_up_16"]
    assert names(None) == [layer.name for layer in layers]


def test_inputs_are_reproducible():
    layer = bench.select_layers(bench.load_suite(), SMALL_LAYER)[0]
    x1, w1 = bench.make_inputs(layer, "float64")
    x2, w2 = bench.make_inputs(layer, "float64")
    assert x1.shape == layer.input and w1.shape == layer.weight and x1.dtype == "float64"
    assert (x1 == x2).all() and (w1 == w2).all()


def test_measure_repeats_and_captures_errors():
    calls = {"fast": 0}

    def fast():
        calls["fast"] += 1

    def broken():
        raise ValueError("nope")

    timings = bench.measure({"fast": fast, "broken": broken}, min_time=0.0, min_repeat=5, settle_s=0.0, turn_s=0.0)
    assert timings["fast"].repeats == 5 and calls["fast"] == 6  # one untimed warm-up call
    assert timings["fast"].median_s is not None and timings["fast"].error is None
    assert timings["broken"].median_s is None and "ValueError: nope" in timings["broken"].error


def test_measure_turns_settle_untimed_then_time_a_block():
    log = []
    timings = bench.measure(
        {"a": lambda: log.append("a"), "b": lambda: log.append("b")}, min_time=0.0, min_repeat=3,
        settle_s=0.002, turn_s=0.002,
    )
    # Each runner is called more often than it is timed (warm-up plus the untimed start of every
    # turn), and the calls come in runs, not strictly alternating.
    assert timings["a"].repeats >= 3 and timings["b"].repeats >= 3
    assert log.count("a") > timings["a"].repeats and log.count("b") > timings["b"].repeats
    assert any(x == y for x, y in zip(log[2:], log[3:]))


# ---------------------------------------------------------------------------------------------
# animate (fastconv.viz; skipped without Pillow)


def _gif_frames(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.n_frames, image.size


def test_animate_writes_one_frame_per_output_cell(capsys, tmp_path):
    pytest.importorskip("PIL")
    out = tmp_path / "out.gif"
    argv = ["animate", "--input", "5x7", "--kernel", "3", "--stride", "2", "--padding", "1", "--dilation", "2",
            "-o", str(out), "--frames", str(tmp_path / "frames")]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "floor((5 + 1 + 1 - 2*(3-1) - 1) / 2) + 1 = 2" in text  # explain()'s account comes with it
    frames, _ = _gif_frames(out)
    assert frames == 2 * 3 == len(list((tmp_path / "frames").glob("frame_*.png")))
    assert "6 frames" in text


def test_animate_transposed_with_output_padding(capsys, tmp_path):
    pytest.importorskip("PIL")
    out = tmp_path / "t.gif"
    argv = ["animate", "--input", "3", "--kernel", "3", "--stride", "2", "--padding", "1", "--transposed",
            "--output-padding", "1", "-o", str(out)]
    assert main(argv) == 0
    assert "Relationship 14" in capsys.readouterr().out
    assert _gif_frames(out)[0] == 36


def test_animate_gallery_and_im2col(capsys, tmp_path):
    pytest.importorskip("PIL")
    assert main(["animate", "--gallery", str(tmp_path / "gallery"), "--cell", "12"]) == 0
    written = sorted(path.name for path in (tmp_path / "gallery").iterdir())
    assert len(written) == 16 and "padding_strides_odd_transposed.gif" in written and "im2col.gif" in written
    assert main(["animate", "--im2col", "--input", "4", "--kernel", "2", "-o", str(tmp_path / "i.gif")]) == 0
    assert _gif_frames(tmp_path / "i.gif")[0] == 9


@pytest.mark.parametrize(
    "argv, message",
    [
        (["animate", "--kernel", "3", "-o", "x.gif"], "--input and --kernel are required"),
        (["animate", "--input", "5", "--kernel", "3"], "say where to write"),
        (["animate", "--input", "5x", "--kernel", "3", "-o", "x.gif"], "expected a size"),
        (["animate", "--input", "3", "--kernel", "5", "-o", "x.gif"], "empty"),
        (["animate", "--input", "5", "--kernel", "3", "--output-padding", "1", "-o", "x.gif"], "only with --transposed"),
    ],
)
def test_animate_bad_arguments(argv, message, capsys, tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_animate_without_pillow_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    assert main(["animate", "--input", "5", "--kernel", "3", "-o", str(tmp_path / "x.gif")]) == 1
    assert "pip install 'fastconv[viz]'" in capsys.readouterr().err


def test_an_algo_that_cannot_run_a_layer_gets_no_row(capsys):
    layers = {layer.name: layer for layer in bench.load_suite()}
    assert bench.accepts(layers["resnet_3x3_7"], "winograd")
    assert not bench.accepts(layers["resnet_1x1_s2"], "winograd")  # a 1x1 kernel
    assert main(["bench", "--layers", "resnet_1x1_s2", "--algos", "im2col,winograd", "--threads", "1",
                 "--layouts", "nchw", *FAST]) == 0
    rows = _measurement_rows(capsys.readouterr().out, "resnet_1x1_s2")
    assert [row[4] for row in rows] == ["im2col"]
