"""Where matrix jobs run: the retry bookkeeping every executor shares, and the local process pool.

Each executor runs every job and returns one :class:`~zoo.matrix.jobs.JobOutcome` per job, in
the jobs' order: a job whose try fails (its worker raised, died, or ran past the job timeout) is
tried once more, then reported failed with both reasons; no job is ever dropped.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from zoo.errors import InputError
from zoo.matrix.jobs import Job, JobOutcome, run_job

__all__ = ["DEFAULT_JOB_TIMEOUT_S", "MAX_ATTEMPTS", "Events", "LocalExecutor", "Book"]

MAX_ATTEMPTS = 2  # a failed or lost try is retried once
DEFAULT_JOB_TIMEOUT_S = 3600.0  # a full EMNIST pass on the emulator takes minutes, not an hour


class Events(Protocol):
    """What an executor tells the driver's display while it works."""

    def started(self, job: Job, worker: str) -> None:
        """A try of `job` began on `worker` (``host:pid``)."""

    def retrying(self, job: Job, error: str) -> None:
        """A try of `job` failed with `error`; it is tried again."""

    def finished(self, outcome: JobOutcome) -> None:
        """`job` is done: succeeded, or failed for good."""


class NoEvents:
    """Events that go nowhere."""

    def started(self, job: Job, worker: str) -> None:
        pass

    def retrying(self, job: Job, error: str) -> None:
        pass

    def finished(self, outcome: JobOutcome) -> None:
        pass


class Book:
    """Every job's tries and outcome; says whether a failed try is tried again."""

    def __init__(self, jobs: Sequence[Job], events: Events | None = None) -> None:
        keys = [j.key for j in jobs]
        if len(set(keys)) != len(keys):
            raise InputError(f"the matrix lists a (model, backend) pair twice: {sorted(keys)}")
        self.events = events or NoEvents()
        self.outcomes = {j.key: JobOutcome(j) for j in jobs}
        self._done: set[str] = set()

    def submitted(self, job: Job) -> None:
        """A try is handed to a worker (it counts as a try from now on)."""
        self.outcomes[job.key].attempts += 1

    def started(self, job: Job, worker: str) -> None:
        """A try began running on `worker` (``host:pid``)."""
        if not self._final(job):
            self.events.started(job, worker)

    def _final(self, job: Job) -> bool:
        return job.key in self._done

    def _finish(self, job: Job) -> None:
        self._done.add(job.key)
        self.events.finished(self.outcomes[job.key])

    def give_up(self, job: Job, error: str) -> None:
        """Fail the job without a try: no worker could ever run it (retrying would not help)."""
        self.outcomes[job.key].errors.append(f"not tried: {error}")
        self._finish(job)

    def succeeded(self, job: Job, result: dict[str, Any]) -> None:
        outcome = self.outcomes[job.key]
        outcome.result, outcome.seconds = result, result.get("seconds")
        self._finish(job)

    def failed(self, job: Job, error: str) -> bool:
        """Record a failed try; True when the job should be tried again."""
        outcome = self.outcomes[job.key]
        outcome.errors.append(f"try {outcome.attempts}: {error}")
        if outcome.attempts < MAX_ATTEMPTS:
            self.events.retrying(job, error)
            return True
        self._finish(job)
        return False

    def results(self) -> list[JobOutcome]:
        return list(self.outcomes.values())


def _child(job: Job, conn: Connection) -> None:
    """A pool process: run one job, send ("ok", result) or ("error", text) back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops its children
    signal.signal(signal.SIGTERM, _exit_on_term)  # unwinds, so zoo.proc kills a compiler or emulator it runs
    try:
        message: tuple[str, Any] = ("ok", run_job(job))
    except BaseException as exc:  # noqa: BLE001 - any failure of the try is reported to the driver
        message = ("error", f"{type(exc).__name__}: {exc}")
    conn.send(message)
    conn.close()


def _exit_on_term(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the worker process died (killed by {signal.Signals(-code).name})"
    return f"the worker process died (exit code {code})"


@dataclass
class _Try:
    job: Job
    proc: BaseProcess
    conn: Connection
    start: float


class LocalExecutor:
    """A pool of `workers` processes on this machine (default: one per core).

    Each try runs in a fresh process (spawned, so nothing of the driver's state leaks into it),
    which makes a dead, hung or killed try attributable to its job and stoppable alone.

    Args:
        workers: jobs run at once (default: ``os.cpu_count()``).
        job_timeout_s: a try running longer is killed and counts as failed.
    """

    name = "local"

    def __init__(self, workers: int | None = None, job_timeout_s: float = DEFAULT_JOB_TIMEOUT_S) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.job_timeout_s = job_timeout_s
        self._ctx = multiprocessing.get_context("spawn")

    def describe(self) -> str:
        return f"local process pool, {self.workers} worker(s)"

    def run(self, jobs: Sequence[Job], events: Events | None = None) -> list[JobOutcome]:
        """Run every job; returns their outcomes in the jobs' order."""
        book = Book(jobs, events)
        todo, running = list(jobs), {}
        try:
            while todo or running:
                while todo and len(running) < self.workers:
                    tried = self._start(todo.pop(0), book)
                    running[tried.conn] = tried
                ready = wait([*running, *(t.proc.sentinel for t in running.values())], timeout=0.5)
                for conn in [c for c in running if c in ready or running[c].proc.sentinel in ready]:
                    tried = running.pop(conn)
                    if self._collect(tried, book):
                        todo.append(tried.job)
                for conn in [c for c, t in running.items() if time.monotonic() - t.start > self.job_timeout_s]:
                    tried = running.pop(conn)
                    self._stop(tried)
                    if book.failed(tried.job, f"timed out after {self.job_timeout_s:g} s (killed)"):
                        todo.append(tried.job)
        finally:
            for tried in running.values():
                self._stop(tried)
        return book.results()

    def _start(self, job: Job, book: Book) -> _Try:
        parent, child = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=_child, args=(job, child), name=f"zoo-matrix {job.key}", daemon=True)
        proc.start()
        child.close()
        book.submitted(job)
        book.started(job, f"{socket.gethostname()}:{proc.pid}")
        return _Try(job, proc, parent, time.monotonic())

    @staticmethod
    def _collect(tried: _Try, book: Book) -> bool:
        """Take a finished try's message; True when the job is to be tried again."""
        try:
            kind, payload = tried.conn.recv()
        except (EOFError, OSError):
            tried.proc.join(timeout=10)
            kind, payload = "error", _death(tried.proc.exitcode)
        tried.conn.close()
        tried.proc.join(timeout=30)
        if tried.proc.is_alive():
            tried.proc.kill()
            tried.proc.join(timeout=10)
        if kind == "ok":
            book.succeeded(tried.job, payload)
            return False
        return book.failed(tried.job, payload)

    @staticmethod
    def _stop(tried: _Try) -> None:
        """SIGTERM (the try unwinds and stops the tools it runs), then SIGKILL if it lingers."""
        tried.proc.terminate()
        tried.proc.join(timeout=10)
        if tried.proc.is_alive():
            tried.proc.kill()
            tried.proc.join(timeout=10)
        tried.conn.close()
