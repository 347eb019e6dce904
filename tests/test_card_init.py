"""`zoo card init` on a real third-party int8 model: the card it writes validates with no hand edits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import zoo

KWS_LABELS = "down,go,left,no,off,on,right,stop,up,yes,silence,unknown"
HOST = ("tflm", "tflite", "tflite-ref", "tflite-xnnpack", "onnxruntime", "tvm")


def _zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("zoo"))
    return subprocess.run([exe, *args], cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def kws_card(tmp_path_factory: pytest.TempPathFactory, mirror: Path, session_cache: Path) -> Path:
    out = tmp_path_factory.mktemp("kws_init")
    model = mirror / "mlperf_kws01" / "kws_ref_model.tflite"
    made = _zoo("card", "init", str(model), "--name", "my_kws", "--task", "audio-classification",
                "--labels", KWS_LABELS, "-o", str(out), cwd=out)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "fill in: description" in made.stdout
    return out / "my_kws.yaml"


def test_card_init_reads_the_model(kws_card: Path, mirror: Path) -> None:
    """Tensors, quantization, logits and the file's pin come from the model; the reference is tflm."""
    from zoo.tflite_model import read_tflite

    card = zoo.get_card(kws_card)
    info = read_tflite(mirror / "mlperf_kws01" / "kws_ref_model.tflite")
    assert (card.input.name, card.input.dtype, card.input.quantization.zero_point) == ("input_1", "int8", 83)
    assert card.output.dtype == "int8" and card.output.quantization.scale == 1 / 256
    assert card.output.logits_quantization.scale == pytest.approx(info.logits().scale)
    assert card.artifact().sha256 == "aeea436800704fce17b17292e4412630ad856e9d777c044c64ef748a880bd0ae"
    assert card.conformance.reference_backend == "tflm" and card.conformance.golden_inputs == "audio_features"
    tol = card.conformance.tolerances["int8"]
    assert "tflite-xnnpack: max |Δ|" in tol.derivation
    assert not {"tflite", "tflite-ref", "tflite-xnnpack"} & set(card.conformance.backend_tolerances)  # no own budgets
    assert card.conformance.backend_tolerances["tvm-cortexm7"]["int8"].max_abs_lsb == 0


def test_card_init_card_validates_unedited(kws_card: Path) -> None:
    """`zoo validate` on every host backend exits 0: budgets measured, the measured gaps declared with figures."""
    result = _zoo("--card", str(kws_card), "validate", "my_kws", *[a for b in HOST for a in ("-b", b)],
                  "--no-timing", "--json", str(kws_card.with_name("v.json")), cwd=kws_card.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    gaps = yaml.safe_load(kws_card.read_text())["conformance"].get("known_gaps", [])
    for gap in gaps:  # a declared gap says what was measured, and names a backend that is not LiteRT's
        assert gap["backend"].split(":")[0] in ("onnxruntime", "tvm") and "measured by `zoo card init`" in gap["reason"]


def test_card_init_refuses_bad_labels(tmp_path: Path, mirror: Path) -> None:
    model = mirror / "mlperf_kws01" / "kws_ref_model.tflite"
    wrong = _zoo("card", "init", str(model), "--name", "x", "--labels", "a,b", "-o", str(tmp_path), cwd=tmp_path)
    assert wrong.returncode == 2 and "2 names but the output has 12 classes" in wrong.stderr
    assert "Traceback" not in wrong.stderr and not list(tmp_path.glob("*.yaml"))
    ad = mirror / "mlperf_ad01" / "ad01_int8.tflite"
    none = _zoo("card", "init", str(ad), "--name", "y", "--labels", "a", "-o", str(tmp_path), cwd=tmp_path)
    assert none.returncode == 2 and "has none" in none.stderr
