"""The conformance CI scripts, run as CI runs them: one backend's job each, then the merged matrix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_conformance_jobs_and_merged_matrix(tmp_path: Path) -> None:
    """Two per-backend jobs (ci/conformance.sh, `zoo matrix -b B`), merged by `zoo matrix --merge` as the workflow does."""
    env = os.environ | {"ZOO_SKIP_SETUP": "1", "ZOO_VENV": str(Path(sys.executable).parents[1])}
    # options reach zoo matrix: the model, a limit
    for backend, options in (("tflm", ["stmnist_v1"]), ("tflite-ref", ["stmnist_v1", "--limit", "500"])):
        job = subprocess.run(["bash", "ci/conformance.sh", backend, str(tmp_path), *options], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=600)
        assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-2000:]
        assert f"# Conformance: {backend}" in job.stdout  # the job prints its summary
    record = json.loads((tmp_path / "tflm" / "matrix.json").read_text())["models"]["stmnist_v1"]["tflm"]
    assert record["status"] == "pass" and record["max_abs_lsb"] == 0
    zoo = str(Path(sys.executable).with_name("zoo"))
    merged = subprocess.run([zoo, "matrix", "--merge", str(tmp_path / "tflm" / "matrix.json"), "--merge",
                             str(tmp_path / "tflite-ref" / "matrix.json"), "--markdown", str(tmp_path / "matrix.md"),
                             "--json", str(tmp_path / "matrix.json")], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert merged.returncode == 0, merged.stderr
    matrix = json.loads((tmp_path / "matrix.json").read_text())
    assert {e: r["status"] for e, r in matrix["models"]["stmnist_v1"].items()} == {"tflm": "pass", "tflite-ref": "pass"}
    assert set(matrix["jobs"]) == {"stmnist_v1/tflm", "stmnist_v1/tflite-ref"}
    markdown = (tmp_path / "matrix.md").read_text()
    assert "| tflm | pass | 88.14 % | 0 | 100.00 % |" in markdown  # the reference, on all 5,000 digits
    assert "| stmnist_v1/tflite-ref | done | 1 |" in markdown
    assert matrix["jobs"]["stmnist_v1/tflite-ref"]["limit"] == 500 and matrix["jobs"]["stmnist_v1/tflm"]["limit"] is None

