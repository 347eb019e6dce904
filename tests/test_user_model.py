"""A user's own model, end to end: the README's commands, run exactly as written.

The commands come from the bash block of the README section "## Your own model, end to end"
(only the folder ``/tmp/my_model`` is replaced by a temporary one), so the README cannot go
stale: the model is built by the README's own first command, then ``zoo info``, ``zoo golden``,
``zoo validate``, ``zoo card`` and ``zoo card --check`` run as subprocesses of the venv's
``zoo`` console script, and the README's Python block runs too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.cardgen import MISSING

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Your own model, end to end"
README_FOLDER = "/tmp/my_model"
HOST_BACKENDS = ("tflm", "tflite", "tflite-xnnpack", "onnxruntime", "tvm")
TIMEOUT_S = 900
REPORTED_SECTIONS = ("Reported figures", "Memory footprint and cost on a device")


def readme_blocks(lang: str) -> list[str]:
    """The fenced ``lang`` code blocks of the README's user-model section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    following = re.search(r"^## ", text[start + len(SECTION):], re.M)
    section = text[start: start + len(SECTION) + following.start()] if following else text[start:]
    return re.findall(rf"^```{lang}\n(.*?)^```", section, re.M | re.S)


def readme_commands() -> list[str]:
    """The shell commands of the section's bash block, one per line, in order."""
    (block,) = readme_blocks("bash")
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def verb(cmd: str) -> str:
    """What a README command does: the script a ``python`` line runs, or the ``zoo`` sub-command."""
    argv = shlex.split(cmd)
    if argv[0] == "python":
        return Path(argv[1]).name
    i = 1
    while argv[i].startswith("--"):  # the group's options, e.g. --card FILE
        i += 2
    return "card init" if argv[i:i + 2] == ["card", "init"] else argv[i]


def command(name: str, check: bool = False) -> str:
    """The one README command doing `name` (e.g. ``validate``), with or without ``--check``."""
    found = [c for c in readme_commands() if verb(c) == name and ("--check" in shlex.split(c)) == check]
    assert len(found) == 1, f"the README section should have one {name!r} command, found {found}"
    return found[0]


def run(cmd: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run a README command with `folder` for /tmp/my_model: ``zoo`` is the venv's console script."""
    argv = shlex.split(cmd.replace(README_FOLDER, str(folder)))
    exe = {"zoo": str(Path(sys.executable).with_name("zoo")), "python": sys.executable}
    argv[0] = exe.get(argv[0], argv[0])
    return subprocess.run(argv, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=TIMEOUT_S)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Fail with the command's output unless it exited 0."""
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def folder(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> Path:
    """The user's folder, filled by the README's build command then its ``zoo card init`` command."""
    path = tmp_path_factory.mktemp("my_model")
    ok(run(command("build_my_model.py"), path))
    ok(run(command("card init"), path))
    return path


@pytest.fixture(scope="session")
def host_validation(folder: Path) -> dict:
    """The README's ``zoo validate`` for the host backends (tvm-cortexm7 has its emulator test)."""
    cmd = command("validate").replace(" -b tvm-cortexm7", "")
    ok(run(cmd, folder))
    return json.loads((folder / "my_model.validation.json").read_text())


def section(markdown: str, title: str) -> str:
    """The text of the Markdown ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no section {title!r} in the rendered card"
    return match.group(1)


def test_readme_lists_the_whole_flow() -> None:
    """The README's bash block is the flow the tests run, in this order."""
    assert [verb(c) for c in readme_commands()] == ["build_my_model.py", "card init", "info", "validate", "card",
                                                    "card"]
    assert command("card", check=True) == readme_commands()[-1]


def test_card_is_the_users_own(folder: Path) -> None:
    """`zoo card init` wrote a valid card that pins the file, reads the tensors from it and measures budgets."""
    from zoo.tflite_model import read_tflite

    card = zoo.get_card(folder / "my_model.yaml")
    assert (card.name, card.num_classes, tuple(card.input.shape)) == ("my_model", 6, (1, 20, 20, 1))
    assert card.labels == ("square", "cross", "hbar", "vbar", "ring", "diagonal")
    art = card.artifact()
    assert Path(art.url) == folder / "my_model.tflite"
    assert art.size == (folder / "my_model.tflite").stat().st_size
    info = read_tflite(folder / "my_model.tflite")
    assert card.input.name == info.inputs[0].name and card.input.quantization.scale == info.inputs[0].scale
    assert card.output.dtype == "float32" and card.output.source_quantization.scale == 1 / 256
    assert card.conformance.reference_backend == "tflm" and card.conformance.evaluation_dataset is None
    derivation = card.conformance.tolerances["int8"].derivation
    assert "tflite-xnnpack: max |Δ|" in derivation and "golden vectors" in derivation


def test_info(folder: Path) -> None:
    """``zoo --card ... info my_model`` shows the user's card."""
    out = ok(run(command("info"), folder)).stdout
    assert "my_model" in out and "6 classes" in out and "[1, 20, 20, 1]" in out


def test_golden_written(folder: Path) -> None:
    """``zoo card init`` wrote the vectors (from the tflm reference) and their hash beside the card."""
    z = np.load(folder / "my_model_golden.npz")
    card = zoo.get_card(folder / "my_model.yaml")
    assert z[f"input:{card.input.name}"].shape[1:] == (20, 20, 1) and z[f"output:{card.output.name}"].shape[1:] == (6,)
    assert str(z["meta_reference_backend"]) == "tflm"
    assert (folder / "my_model_golden.npz.sha256").is_file()


def test_predict_equals_litert(folder: Path) -> None:
    """``zoo.load(card path, backend="tflite").predict`` gives exactly what LiteRT gives directly."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    card = zoo.get_card(folder / "my_model.yaml")
    images = np.load(folder / "my_model_golden.npz")[f"input:{card.input.name}"][:16]
    probs = zoo.load(str(folder / "my_model.yaml"), backend="tflite").predict(images)
    interp = Interpreter(model_path=str(folder / "my_model.tflite"),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    expected = []
    for img in images:
        interp.set_tensor(interp.get_input_details()[0]["index"], img[None])
        interp.invoke()
        expected.append(interp.get_tensor(interp.get_output_details()[0]["index"])[0].copy())
    np.testing.assert_array_equal(probs, np.stack(expected))


def test_readme_python_block(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's Python example runs and prints what its comment says."""
    (block,) = readme_blocks("python")
    exec(compile(block.replace(README_FOLDER, str(folder)), "README.md", "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed == re.search(r"# (\[.*\])\s*$", block.strip()).group(1)


def test_validate_host_backends(host_validation: dict) -> None:
    """Every host backend passes the card's budgets; with no dataset, accuracy is simply absent."""
    assert host_validation["passed"] is True
    assert list(host_validation["backends"]) == list(HOST_BACKENDS)
    assert all(r["status"] == "pass" for r in host_validation["backends"].values())
    assert host_validation["dataset"] is None and host_validation["reference_accuracy"] is None
    reference = host_validation["backends"]["tflm"]
    assert reference["max_abs_lsb"] == 0 and reference["accuracy"] is None
    assert not any(c["name"].startswith("accuracy") for c in reference["checks"])


def test_card_renders_measured_and_missing(folder: Path, host_validation: dict) -> None:
    """``zoo card`` shows each backend's measured row, and what the card does not report as missing."""
    ok(run(command("card"), folder))
    md = (folder / "my_model.md").read_text()
    measured = section(md, "Measured by zoo")
    for name in HOST_BACKENDS:
        assert f"| {name} | int8 | pass |" in measured
    assert "| tflite-xnnpack |" in section(md, "The reference")
    for title in REPORTED_SECTIONS:
        assert MISSING in section(md, title), title
    assert not re.search(r"^(Reported by [^\n]*:)\n\n\n", md, re.M), "a reported section rendered blank"


def test_card_check_detects_a_changed_description(folder: Path, host_validation: dict, tmp_path: Path) -> None:
    """``zoo card --check`` exits 0 on the rendered card and 1 once the YAML's description changes."""
    ok(run(command("card"), folder))
    copy = tmp_path / "my_model"
    shutil.copytree(folder, copy)
    check = command("card", check=True)
    ok(run(check, copy))
    card = copy / "my_model.yaml"
    card.write_text(card.read_text().replace("description: '", "description: 'Changed. ", 1))
    stale = run(check, copy)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "is stale" in stale.stderr


@pytest.mark.emulator
def test_validate_as_written_with_cortexm7(folder: Path, tmp_path: Path) -> None:
    """The README's ``zoo validate`` exactly as written, tvm-cortexm7 on QEMU included."""
    copy = tmp_path / "my_model"
    shutil.copytree(folder, copy)
    ok(run(command("validate"), copy))
    report = json.loads((copy / "my_model.validation.json").read_text())
    assert list(report["backends"]) == [*HOST_BACKENDS, "tvm-cortexm7"]
    assert report["passed"] is True
    device = report["backends"]["tvm-cortexm7"]
    assert device["status"] == "pass" and device["footprint"]["flash_bytes"] > 0


@pytest.mark.emulator
def test_cortexm7_int8_lowering_bit_exact(folder: Path) -> None:
    """The integer-only lowering runs the user's model on the emulated Cortex-M7 bit-exactly (logits too)."""
    from zoo.conformance.golden import load_golden

    card = zoo.get_card(folder / "my_model.yaml")
    golden = load_golden(card)
    model = zoo.load(str(folder / "my_model.yaml"), backend="tvm-cortexm7", lowering="int8")
    outputs, logits = model.predict_with_logits(golden.inputs)
    np.testing.assert_array_equal(outputs, golden.outputs)
    np.testing.assert_array_equal(logits, golden.logits)

def test_card_references_not_blank(folder: Path, host_validation: dict) -> None:
    """A card without references shows the References section as missing, not blank."""
    ok(run(command("card"), folder))
    assert section((folder / "my_model.md").read_text(), "References").strip()


def test_card_header_names_the_users_yaml(folder: Path, host_validation: dict) -> None:
    """The generated card's header names the YAML file it was generated from."""
    ok(run(command("card"), folder))
    assert "model_cards/my_model.yaml" not in (folder / "my_model.md").read_text().splitlines()[0]
