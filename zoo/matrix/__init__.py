"""`zoo matrix`: every (model, backend) pair through the conformance harness, on a local process
pool or a Ray cluster, gathered into one models x backends matrix.

Example:
    >>> from zoo.matrix import LocalExecutor, plan, run_matrix
    >>> data = run_matrix(plan(["stmnist_v1"], ["tflite", "onnxruntime"], limit=100), LocalExecutor())  # doctest: +SKIP
    >>> data["models"]["stmnist_v1"]["tflite"]["status"]
    'pass'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from zoo.matrix.executors import DEFAULT_JOB_TIMEOUT_S, MAX_ATTEMPTS, Events, LocalExecutor
from zoo.matrix.jobs import Job, JobOutcome, plan, run_job
from zoo.matrix.render import markdown, matrix_data, merge, passed

__all__ = ["DEFAULT_JOB_TIMEOUT_S", "MAX_ATTEMPTS", "Events", "Executor", "Job", "JobOutcome", "LocalExecutor",
           "markdown", "matrix_data", "merge", "passed", "plan", "ray_executor", "run_job", "run_matrix"]


class Executor(Protocol):
    """Runs jobs somewhere and returns one outcome per job, in order (see :mod:`zoo.matrix.executors`)."""

    name: str

    def describe(self) -> str:
        """One line saying where the jobs run."""

    def run(self, jobs: Sequence[Job], events: Events | None = None) -> list[JobOutcome]:
        """Run every job (retrying a failed try once)."""


def ray_executor(address: str | None = None, workers: int | None = None,
                 job_timeout_s: float = DEFAULT_JOB_TIMEOUT_S) -> Executor:
    """The Ray executor (imported here so that zoo itself never imports Ray)."""
    from zoo.matrix.ray_executor import RayExecutor

    return RayExecutor(address, workers, job_timeout_s)


def run_matrix(jobs: Sequence[Job], executor: Executor, events: Events | None = None) -> dict[str, Any]:
    """Run `jobs` on `executor` and gather the matrix.

    Returns:
        ``{"executor", "models": {model: {entry: record}}, "jobs": {model/backend: how it went}}``;
        a job that failed every try is an entry with status "fail" naming each try's error.
    """
    return matrix_data(executor.run(jobs, events), executor.describe())
