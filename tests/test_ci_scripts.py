"""The conformance CI scripts, run as CI runs them: one backend's job, then the merged matrix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_conformance_job_and_matrix(tmp_path: Path) -> None:
    env = os.environ | {"ZOO_SKIP_SETUP": "1", "ZOO_VENV": str(Path(sys.executable).parents[1])}
    job = subprocess.run(["bash", "ci/conformance.sh", "tflite", str(tmp_path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-2000:]
    folder = tmp_path / "tflite"
    assert (folder / "junit.xml").is_file() and (folder / "summary.md").is_file()
    record = json.loads((folder / "stmnist_v1__tflite.json").read_text())
    assert record["status"] == "pass" and record["max_abs_lsb"] == 0
    merged = subprocess.run([sys.executable, "ci/matrix.py", str(folder), "--markdown", str(tmp_path / "matrix.md"),
                             "--json", str(tmp_path / "matrix.json")], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert merged.returncode == 0, merged.stderr
    matrix = json.loads((tmp_path / "matrix.json").read_text())
    assert matrix["models"]["stmnist_v1"]["tflite"]["status"] == "pass"
    assert matrix["jobs"]["tflite"]["failures"] == 0 and matrix["jobs"]["tflite"]["tests"] >= 10
    assert "| tflite | pass | 88.14 % | 0 | 100.00 % |" in (tmp_path / "matrix.md").read_text()
