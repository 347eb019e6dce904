"""The Ray executor: each matrix job is one Ray task (pip extra ``ray``).

``address`` connects to an existing cluster (``ray start --head`` on one machine, ``ray start
--address HEAD:PORT`` on the others); without it a local cluster is started for the run and
stopped after it. A job that runs on an emulator asks for one unit of the custom resource
``emulator``, so a cluster decides which nodes run device jobs (``ray start --resources
'{"emulator": 2}'``); a local cluster offers one per CPU. Tasks are not retried by Ray itself
(``max_retries=0``): the driver retries a failed or lost try once (the same book as the local
pool) and reports the job failed after that, so every job ends in the matrix.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

from zoo.errors import BackendUnavailableError, InputError, ZooError
from zoo.matrix.executors import DEFAULT_JOB_TIMEOUT_S, Book, Events
from zoo.matrix.jobs import Job, JobOutcome, run_job

__all__ = ["EMULATOR_RESOURCE", "RayExecutor", "zoo_matrix_job"]

EMULATOR_RESOURCE = "emulator"
INSTALL_HINT = "pip install 'zoo[ray]'"


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(f"the Ray executor needs Ray ({exc}); run: {INSTALL_HINT}") from None
    return ray


def zoo_matrix_job(job: Job, board: Any) -> dict[str, Any]:
    """The Ray task (its worker's process title is ``ray::zoo_matrix_job`` while it runs)."""
    board.started.remote(job.key, f"{socket.gethostname()}:{os.getpid()}")
    return run_job(job)


class _Board:
    """A Ray actor that collects "try started" notices from tasks for the driver's display."""

    def __init__(self) -> None:
        self._new: list[tuple[str, str]] = []

    def started(self, key: str, worker: str) -> None:
        self._new.append((key, worker))

    def take(self) -> list[tuple[str, str]]:
        new, self._new = self._new, []
        return new


def _describe(exc: Exception) -> str:
    """One line for a failed try: the task's own exception, or what Ray says happened to its worker."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:300]}"


class RayExecutor:
    """Run the matrix on a Ray cluster.

    Args:
        address: ``HOST:PORT`` of a running cluster's head (None: start a local cluster).
        workers: CPUs of the local cluster (default: ``os.cpu_count()``; ignored with `address`).
        job_timeout_s: a try running longer is cancelled (its worker killed) and counts as failed.
        object_store_mb: object store of the local cluster (results are small; the machine may be shared).
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 job_timeout_s: float = DEFAULT_JOB_TIMEOUT_S, object_store_mb: int = 128) -> None:
        self.address = address
        self.workers = workers or os.cpu_count() or 1
        self.job_timeout_s = job_timeout_s
        self.object_store_mb = object_store_mb

    def describe(self) -> str:
        return f"Ray cluster at {self.address}" if self.address else f"local Ray cluster, {self.workers} CPU(s)"

    def _connect(self, ray: Any) -> None:
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(num_cpus=self.workers, resources={EMULATOR_RESOURCE: self.workers},
                         object_store_memory=self.object_store_mb * 2**20, include_dashboard=False, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if not self.address:
                raise ZooError(f"cannot start a local Ray cluster: {exc}") from None
            raise InputError(f"cannot connect to the Ray cluster at {self.address}: {exc}; start one with "
                             "`ray start --head` and pass its address, or omit --address to start a local one") from None

    def run(self, jobs: Sequence[Job], events: Events | None = None) -> list[JobOutcome]:
        """Run every job as a Ray task; returns their outcomes in the jobs' order.

        Raises:
            BackendUnavailableError: Ray is not installed.
            InputError: the cluster at `address` cannot be reached.
            ZooError: a local cluster cannot be started.
        """
        book = Book(jobs, events)
        added = {}
        if not self.address and "RAY_AUTH_MODE" not in os.environ and "RAY_AUTH_TOKEN" not in os.environ:
            # Token authentication with a token of this run only, in the environment the local cluster
            # inherits (set before Ray is imported: Ray reads its configuration then). Ray would otherwise
            # write one to ~/.ray/auth_token, which every later `ray start` on the machine then picks up.
            added = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
            os.environ.update(added)
        ray = None
        try:
            ray = _ray()
            self._connect(ray)
            _Run(ray, book, self.job_timeout_s).run(jobs)
        finally:
            if ray is not None:
                ray.shutdown()
            for key in added:
                os.environ.pop(key, None)
        return book.results()


class _Run:
    """One matrix on a connected cluster: submit, watch, retry, gather."""

    def __init__(self, ray: Any, book: Book, job_timeout_s: float) -> None:
        self.ray, self.book, self.timeout = ray, book, job_timeout_s
        self.task = ray.remote(zoo_matrix_job)
        self.board = ray.remote(num_cpus=0)(_Board).remote()
        self.pending: dict[Any, Job] = {}
        self.started: dict[str, float] = {}
        self.timed_out: set[str] = set()

    def submit(self, job: Job) -> None:
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0, "retry_exceptions": False}
        if job.device:
            options["resources"] = {EMULATOR_RESOURCE: 1}
        self.pending[self.task.options(**options).remote(job, self.board)] = job
        self.started.pop(job.key, None)
        self.book.submitted(job)

    def run(self, jobs: Sequence[Job]) -> None:
        emulators = self.ray.cluster_resources().get(EMULATOR_RESOURCE, 0)
        for job in jobs:
            if job.device and emulators < 1:
                self.book.give_up(job, f"{job.backend} runs on an emulator and no node of the cluster offers the "
                                  f"{EMULATOR_RESOURCE!r} resource; start device nodes with "
                                  f"`ray start ... --resources '{{\"{EMULATOR_RESOURCE}\": 1}}'`")
            else:
                self.submit(job)
        try:
            while self.pending:
                ready, _ = self.ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0.5)
                self._notices()
                for ref in ready:
                    self._gather(ref)
                self._enforce_timeout()
        finally:
            for ref in self.pending:
                self.ray.cancel(ref, force=True)

    def _notices(self) -> None:
        try:
            notices = self.ray.get(self.board.take.remote(), timeout=10)
        except self.ray.exceptions.RayError:  # the display loses its "running" column, nothing else
            return
        keys = {job.key: job for job in self.pending.values()}
        for key, worker in notices:
            if key in keys:
                self.started.setdefault(key, time.monotonic())
                self.book.started(keys[key], worker)

    def _gather(self, ref: Any) -> None:
        job = self.pending.pop(ref)
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            error = f"timed out after {self.timeout:g} s (cancelled)" if job.key in self.timed_out else _describe(exc)
            self.timed_out.discard(job.key)
            if self.book.failed(job, error):
                self.submit(job)
            return
        self.book.succeeded(job, result)

    def _enforce_timeout(self) -> None:
        now = time.monotonic()
        for ref, job in self.pending.items():
            if job.key not in self.timed_out and now - self.started.get(job.key, now) > self.timeout:
                self.timed_out.add(job.key)
                self.ray.cancel(ref, force=True)
