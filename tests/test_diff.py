"""`zoo diff`: real backends on the real models name the layer where they part; a backend with one
deliberately wrong layer is caught at exactly that layer; bad input is a clear error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo.cli import main
from zoo.diff import diff
from zoo.diff.compare import LayerDiff
from zoo.diff.run import DiffReport
from zoo.diff.table import diff_table, summary_lines
from zoo.tflite_edit import with_outputs
from zoo.tflite_model import read_tflite

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).parent / "plugins"
DOUBLES = {"test-nudge-op3": "NudgedConv3", "test-nudge-op7": "NudgedFC7", "test-outputs-only": "OutputsOnlyTFLMBackend"}


@pytest.fixture
def test_doubles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the test doubles as a distribution with entry points, the way a third party would."""
    dist = tmp_path / "zoo_diff_doubles-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-diff-doubles\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[zoo.backends]\n" + "".join(f"{k} = zoo_diff_doubles:{v}\n" for k, v in DOUBLES.items()))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.delitem(sys.modules, "zoo_diff_doubles", raising=False)


def _readme_example() -> tuple[list[str], str]:
    """The `zoo diff` command of the README's "Why do two backends differ?" section, and the output shown."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Why do two backends differ?"):]
    block = section[section.index("```text\n$ zoo diff ") + len("```text\n$ "):]
    command, _, shown = block[:block.index("```")].partition("\n")
    return command.split()[1:], shown


def test_ic01_names_the_layer_where_litert_builtin_parts_from_tflm(tmp_path: Path) -> None:
    """FACTS.md: LiteRT's builtin kernels differ from TFLM on ResNet-8's outputs; diff finds where it starts.

    The command is the README's, and its output is the one the README shows."""
    args, shown = _readme_example()
    assert args == ["diff", "mlperf_ic01", "-b", "tflm", "-b", "tflite"]
    result = CliRunner().invoke(main, [*args, "--json", str(tmp_path / "d.json")])
    assert result.exit_code == 1, result.output
    assert result.stdout.replace(f"wrote {tmp_path / 'd.json'}\n", "") == shown
    report = json.loads((tmp_path / "d.json").read_text())
    assert report["scope"] == "layers" and report["notes"] == [] and report["examples"] == 273
    assert [x["tensor"] for x in report["layers"]] == read_tflite(_artifact("mlperf_ic01")).operator_outputs()
    first = report["first_differing"]
    assert (first["operator"], first["op"], first["status"]) == (2, "CONV_2D", "tie")  # measured: a rounding tie
    assert [x["status"] for x in report["layers"][:2]] == ["identical"] * 2
    over = report["first_over_one_step"]
    assert over["operator"] == 3 and over["op"] == "ADD" and over["max_abs"] > 1
    assert report["layers"][-1]["status"] == "differs" and not report["identical"]
    assert report["divergence"]["tensor"] == first["tensor"] and sum(report["divergence"]["per_channel"]) > 0


def _artifact(model: str) -> Path:
    from zoo import artifacts, registry

    card = zoo.get_card(model)
    return artifacts.fetch(card.name, card.artifact(None), base_dir=registry.card_path(card.name).parent)


def test_tflm_intermediates_are_the_tensors_the_model_names(tmp_path: Path) -> None:
    """kPreserveAllTensors' tensor t equals tensor t made a graph output of a rewritten model (same TFLM)."""
    from zoo.backends.tflm import make_interpreter

    from zoo.conformance.golden import load_golden

    path, golden = _artifact("mlperf_ic01"), load_golden(zoo.get_card("mlperf_ic01"))
    x = golden.inputs[:2]
    tensors = zoo.load("mlperf_ic01", backend="tflm").run_intermediates(x)
    info = read_tflite(path)
    wanted = [op.outputs[0] for op in info.operators if op.index in (2, 9)]
    rewritten = tmp_path / "outputs.tflite"
    rewritten.write_bytes(with_outputs(path.read_bytes(), wanted))
    it = make_interpreter(rewritten)
    for i in range(len(x)):
        it.set_input(x[i:i + 1], 0)
        it.invoke()
        for k, t in enumerate(wanted, start=1):
            assert np.array_equal(it.get_output(k)[0], tensors[t][i])


def test_stmnist_onnxruntime_parts_from_tflm_at_the_first_conv(tmp_path: Path) -> None:
    """One run (tf2onnx's conversion is the slow part): the layers, and the --report folder."""
    result = CliRunner().invoke(main, ["diff", "stmnist_v1", "-b", "tflm", "-b", "onnxruntime", "--golden", "-n", "128",
                                       "--report", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "r" / "diff.json").read_text())
    layers = report["layers"]
    assert report["scope"] == "layers" and report["notes"] == []
    assert all(x["status"] != "not compared" for x in layers)  # tf2onnx's names map back, NCHW undone
    assert layers[0]["op"] == "QUANTIZE" and layers[0]["status"] == "identical"
    first = report["first_differing"]
    assert (first["operator"], first["op"]) == (1, "CONV_2D")
    # a wrongly mapped layout would differ almost everywhere: the float conv rounds differently, rarely
    assert first["differing"] < 0.01
    assert report["first_over_one_step"]["operator"] == 2
    assert report["divergence"]["tensor"] == first["tensor"] and len(report["divergence"]["per_pixel"]) == 14
    files = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert files == ["delta_per_layer.png", "diff.json", "diff.md", "first_diverging.png"]
    assert "First differing layer: #1 CONV_2D" in (tmp_path / "r" / "diff.md").read_text()


def test_xnnpack_intermediates_come_from_the_delegate() -> None:
    """preserve_all_tensors would drop XNNPACK for builtin kernels; the rewritten model keeps it."""
    report = diff("stmnist_v1", ["tflite", "tflite-xnnpack"], limit=64)
    assert report.notes == []  # the run with intermediates gave XNNPACK's normal outputs ...
    assert not report.identical  # ... which are not the builtin kernels'
    assert report.first_differing.op in ("CONV_2D", "DEPTHWISE_CONV_2D")  # it parts in the integer layers


def test_tvm_intermediates_match_xnnpack_layer_by_layer() -> None:
    """FACTS.md: TVM's float-lowered QDQ and XNNPACK agree with each other, not with TFLM. Layer by layer
    they differ in a few rounding cases only, which a tensor mapped to the wrong layer or axis order never would."""
    report = diff("stmnist_v1", ["tvm", "tflite-xnnpack"], limit=64)
    assert report.scope == "layers" and report.notes == []
    assert len(report.layers) == 10 and all(x.status != "not compared" for x in report.layers)
    assert all(x.differing < 0.01 for x in report.layers), [(x.op, x.differing) for x in report.layers]


@pytest.mark.parametrize(("backend", "operator"), [("test-nudge-op3", 3), ("test-nudge-op7", 7)])
def test_one_wrong_layer_is_caught_at_exactly_that_layer(test_doubles: None, tmp_path: Path, backend: str,
                                                         operator: int) -> None:
    out = tmp_path / "diff.json"
    result = CliRunner().invoke(main, ["diff", "stmnist_v1", "-b", "tflm", "-b", backend, "-n", "64",
                                       "--json", str(out)])
    assert result.exit_code == 1, result.output
    data = json.loads(out.read_text())
    assert data["first_differing"]["operator"] == operator
    assert [x["status"] for x in data["layers"][:operator]] == ["identical"] * operator
    assert data["layers"][operator]["max_abs"] >= 1
    assert f"first differing layer: #{operator}" in " ".join(result.output.split())


def test_backend_without_intermediates_is_compared_on_outputs_and_says_so(test_doubles: None) -> None:
    report = diff("stmnist_v1", ["tflm", "test-outputs-only"], limit=16)
    assert report.scope == "outputs" and report.identical
    assert [x.op for x in report.layers] == ["DEQUANTIZE"]
    assert len(report.notes) == 1 and "test-outputs-only exposes no intermediate tensors" in report.notes[0]


def test_identical_backends_exit_0_with_user_inputs(tmp_path: Path, sample_images: np.ndarray) -> None:
    np.save(tmp_path / "x.npy", sample_images)
    result = CliRunner().invoke(main, ["diff", "stmnist_v1", "-b", "tflm", "-b", "tflm", "--input",
                                       str(tmp_path / "x.npy")])
    assert result.exit_code == 0, result.output
    assert "every compared layer is identical (10 of 10)" in result.output and "x.npy" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["-b", "tflm"], "compares two backends; got 1"),
    (["-b", "tflm", "-b", "tflite", "--golden", "--input", "{x}"], "either --input FILE or --golden"),
    (["-b", "tflm", "-b", "tflite", "--input", "{bad}"], "cannot read"),
    (["-b", "tflm", "-b", "tflite", "--input", "{wrong}"], "expected (N, 28, 28, 1)"),
    (["-b", "tflm", "-b", "no-such-backend"], "no backend named 'no-such-backend'"),
    (["-b", "tflm", "-b", "tflite", "-n", "2", "--json", "{dir}"], "is a directory"),
])
def test_bad_input_is_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.uint8))
    np.save(tmp_path / "wrong.npy", np.zeros((2, 32, 32), np.uint8))
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    paths = {"x": tmp_path / "x.npy", "bad": tmp_path / "bad.npy", "wrong": tmp_path / "wrong.npy", "dir": tmp_path}
    result = CliRunner().invoke(main, ["diff", "stmnist_v1", *[a.format(**paths) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "wrong.npy", "x.npy"]  # nothing written


def test_table_prints_tensor_names_literally() -> None:
    """Tensor names come from the user's model: rich markup in them is shown, not interpreted."""
    from rich.console import Console

    layer = LayerDiff(operator=0, op="CONV_2D", tensor=1, name="[bold red]x[/]", shape=(2, 4), dtype="int8",
                      unit="int8 steps", step=0.1, status="tie", max_abs=1.0, differing=0.5, examples_differing=1)
    report = DiffReport("m", "int8", ("a", "b"), "given", 2, "layers", [layer])
    console = Console(record=True, width=200)
    console.print(diff_table(report))
    for line in summary_lines(report):
        console.print(line)
    text = console.export_text()
    assert "[bold red]x[/]" in text and "first differing layer: #0 CONV_2D" in text
