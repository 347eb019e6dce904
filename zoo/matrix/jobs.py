"""Matrix jobs: one (model, backend) pair each, run through the same harness as `zoo validate`.

A job is plain data (it is pickled to a pool process or a Ray worker); :func:`run_job` is what a
worker executes. Everything a worker needs travels in the job: the model's name, the card file
when the card is not one of zoo's own, the image limit, and the environment variables that say
where artifacts come from (``ZOO_MIRROR``, ``ZOO_OFFLINE``, ``ZOO_CARDS``). The worker's zoo cache
is its own (``ZOO_CACHE_DIR`` is deliberately not passed on): artifacts reach it through the same
sha256-verified cache and mirror as everywhere else.
"""

from __future__ import annotations

import importlib.resources
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import registry
from zoo.errors import BackendUnavailableError

__all__ = ["PASSED_ENV", "Job", "JobOutcome", "is_device_backend", "plan", "run_job", "worker_environment"]

#: Environment variables a job carries from the driver to its worker (never ZOO_CACHE_DIR).
PASSED_ENV = ("ZOO_MIRROR", "ZOO_OFFLINE", "ZOO_CARDS", "ZOO_EMULATORS")
#: Emulator processes a device job shards its batches over (the tvm-cortexm* backends read it): one, since the
#: executor already runs a job per core, unless the driver sets ZOO_EMULATORS itself.
JOB_EMULATORS = ("ZOO_EMULATORS", "1")
#: A backend whose programs include one of these runs on an emulated device.
EMULATOR_PREFIXES = ("qemu-",)


@dataclass(frozen=True)
class Job:
    """One (model, backend) pair of the matrix."""

    model: str
    backend: str
    limit: int | None = None  # evaluation images (None: all)
    card: str | None = None  # the card's YAML file when it is not one of zoo's own cards
    device: bool = False  # runs on an emulator (Ray: needs the "emulator" resource)
    env: tuple[tuple[str, str], ...] = ()  # PASSED_ENV values of the driver

    @property
    def key(self) -> str:
        """``model/backend``: how the job is named in progress lines and in the JSON."""
        return f"{self.model}/{self.backend}"


@dataclass
class JobOutcome:
    """What became of one job on the driver: its result, or why it failed, and how often it was tried."""

    job: Job
    result: dict[str, Any] | None = None  # run_job's return value when a try succeeded
    errors: list[str] = field(default_factory=list)  # one line per failed try
    attempts: int = 0
    seconds: float | None = None  # of the successful try, measured in the worker

    @property
    def ok(self) -> bool:
        return self.result is not None


def is_device_backend(name: str) -> bool:
    """Whether backend `name` runs on an emulator (one of its programs is an emulator)."""
    try:
        tools = registry.backend_class(name).executables
    except BackendUnavailableError:
        return False
    return any(t.startswith(EMULATOR_PREFIXES) for t in tools)


def _own_card_file(model: str) -> str | None:
    path = registry.card_path(model)
    package = Path(str(importlib.resources.files("zoo.model_cards"))).resolve()
    return None if path.resolve().parent == package else str(path)


def plan(models: list[str] | None = None, backends: list[str] | None = None,
         limit: int | None = None) -> list[Job]:
    """Every (model, backend) job, model by model.

    Args:
        models: registered model names or card paths (default: every registered model).
        backends: backend names (default: every registered backend).
        limit: evaluation images per job (None: all).

    Returns:
        The jobs, in the order models x backends.

    Raises:
        UnknownNameError: a model or backend name is not registered (with suggestions).
        CardError: a card file is malformed.

    Example:
        >>> [j.key for j in plan(["stmnist_v1"], ["tflite", "onnxruntime"])]  # doctest: +SKIP
        ['stmnist_v1/tflite', 'stmnist_v1/onnxruntime']
    """
    names = [registry.get_card(m).name for m in (models or registry.list_models())]
    known = registry.backend_names()
    chosen = list(dict.fromkeys(backends or known))
    for name in [b for b in chosen if b not in known]:
        registry.backend_class(name)  # raises UnknownNameError, with suggestions
    env = tuple((k, os.environ[k]) for k in PASSED_ENV if k in os.environ)
    devices = {b: is_device_backend(b) for b in chosen}
    return [Job(m, b, limit, _own_card_file(m), devices[b], env) for m in dict.fromkeys(names) for b in chosen]


def worker_environment(job: Job) -> tuple[tuple[str, str], ...]:
    """The environment a job runs under: the driver's :data:`PASSED_ENV` values, and one emulator per device job
    unless the driver chose how many (:data:`JOB_EMULATORS`)."""
    return job.env if any(k == JOB_EMULATORS[0] for k, _ in job.env) else (*job.env, JOB_EMULATORS)


@contextmanager
def _environment(values: tuple[tuple[str, str], ...]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k, _ in values}
    os.environ.update(dict(values))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_job(job: Job) -> dict[str, Any]:
    """Run one job in this process: `zoo validate` of one model on one backend, without timing.

    Returns:
        ``{"model", "backend", "dataset", "reference_accuracy", "entries", "worker", "seconds"}``;
        ``entries`` maps each entry name (``backend`` or ``backend:artifact``) to its record: the
        harness result's ``as_dict()`` plus ``model``, ``entry`` and ``dataset``.

    Raises:
        ZooError: the card or the evaluation data cannot be had (a backend's own failure is a
            failed entry, not an exception).
    """
    from zoo.conformance.validate import validate

    start = time.perf_counter()
    with _environment(worker_environment(job)):
        if job.card:
            registry.add_cards([job.card])
        report = validate(job.model, [job.backend], limit=job.limit, timing=False)
    entries = {entry: {"model": job.model, "entry": entry, "dataset": report.dataset} | result.as_dict()
               for entry, result in report.results.items()}
    return {"model": job.model, "backend": job.backend, "dataset": report.dataset,
            "reference_accuracy": report.reference_accuracy, "entries": entries,
            "worker": f"{socket.gethostname()}:{os.getpid()}", "seconds": time.perf_counter() - start}
