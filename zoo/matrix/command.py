"""What `zoo matrix` does between parsing its options and printing the matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from zoo.errors import InputError
from zoo.matrix import DEFAULT_JOB_TIMEOUT_S, Executor, LocalExecutor, plan, ray_executor, run_matrix
from zoo.matrix.progress import ProgressDisplay
from zoo.matrix.render import check_writable, merge

__all__ = ["make_executor", "run_command"]


def make_executor(kind: str, workers: int | None = None, address: str | None = None,
                  job_timeout_s: float | None = None) -> Executor:
    """The executor named `kind` ("local" or "ray").

    Raises:
        InputError: `address` given for the local executor.
    """
    timeout = job_timeout_s or DEFAULT_JOB_TIMEOUT_S
    if kind == "local":
        if address:
            raise InputError(f"--address {address} is for --executor ray; the local executor runs on this machine")
        return LocalExecutor(workers, timeout)
    if kind == "ray":
        return ray_executor(address, workers, timeout)
    raise InputError(f"unknown executor {kind!r}; choose local or ray")


def run_command(models: list[str], backends: list[str], limit: int | None, executor: str, workers: int | None,
                address: str | None, job_timeout_s: float | None, merge_paths: list[Path], outputs: list[Path],
                console: Console) -> dict[str, Any]:
    """Merge earlier matrices, or plan the jobs and run them with a live progress display on `console`.

    Raises:
        InputError: options that contradict each other, files to merge that are not matrices, or
            `outputs` (the files to write afterwards) that cannot be written.
        UnknownNameError: an unknown model or backend.
    """
    for path in outputs:
        check_writable(path)
    if merge_paths:
        if models or backends:
            raise InputError("--merge combines earlier results; it takes no MODEL or --backend")
        return merge(merge_paths)
    run_on = make_executor(executor, workers, address, job_timeout_s)
    jobs = plan(models or None, backends or None, limit)
    console.print(f"{len(jobs)} job(s) on {run_on.describe()}", highlight=False)
    with ProgressDisplay(len(jobs), console) as display:
        return run_matrix(jobs, run_on, display)
