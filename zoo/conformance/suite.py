"""The conformance suite as pytest tests: every registered card × every registered backend × every check.

A test module brings it in with one line::

    from zoo.conformance.suite import *  # noqa: F401,F403

Environment: ``ZOO_CONFORMANCE_MODELS`` / ``ZOO_CONFORMANCE_BACKENDS`` (comma-separated) narrow
the matrix (a third-party package sets the latter to its own backend); ``ZOO_CONFORMANCE_LIMIT``
caps the evaluation images; ``ZOO_CONFORMANCE_GOLDEN_ONLY`` names backends checked on the golden
vectors only and ``ZOO_CONFORMANCE_EXCLUDE`` leaves out ``model:backend`` pairs (shell patterns)
(tests/conformance/conftest.py sets both for the emulated targets other than the M7, whose runs would take
minutes; ci/conformance.sh, which runs `zoo matrix`, does not read them); ``ZOO_CONFORMANCE_REPORT_DIR`` makes
the session write each result as ``<model>__<entry>.json`` there (for a third party's CI to keep);
``ZOO_REQUIRE_BACKENDS=1``
(set by ci/test.sh) turns an unavailable backend into a failure instead of a skip, so a CI
machine that lost a toolchain cannot pass by skipping. Unavailable backends are skipped with their reason; checks the
card declares as known gaps are xfail with the card's reason.
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path

import pytest

import zoo
from zoo.conformance.checks import CHECKS as REGISTERED
from zoo.conformance.harness import BackendResult, EvalData, check_backend, entries
from zoo.conformance.validate import evaluation_data

__all__ = ["conformance_results", "test_conformance"]

CHECKS = [check_id for check in REGISTERED for check_id in check.ids()]  # compile.ok included: a failed compile fails


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    return [v.strip() for v in value.split(",") if v.strip()] or default


def _matrix() -> list[pytest.param]:
    params = []
    for model in _env_list("ZOO_CONFORMANCE_MODELS", zoo.list_models()):
        card = zoo.get_card(model)
        for entry, backend, artifact in entries(card, _env_list("ZOO_CONFORMANCE_BACKENDS", zoo.registry.backend_names())):
            if any(fnmatch.fnmatchcase(f"{model}:{backend}", p) for p in _env_list("ZOO_CONFORMANCE_EXCLUDE", [])):
                continue
            for check in CHECKS:
                params.append(pytest.param(model, entry, backend, artifact, check, id=f"{model}-{entry}-{check}",
                                           marks=[pytest.mark.xdist_group(f"{model}-{entry}"),
                                                  pytest.mark.conformance]))
    return params


class _Results:
    """Each (model, entry) is run once per test session; its checks are then asserted one by one."""

    def __init__(self) -> None:
        self._data: dict[str, EvalData | None] = {}
        self._results: dict[tuple[str, str], BackendResult] = {}

    def get(self, model: str, entry: str, backend: str, artifact: str | None) -> BackendResult:
        if (model, entry) not in self._results:
            card = zoo.get_card(model)
            if model not in self._data:
                limit = int(os.environ["ZOO_CONFORMANCE_LIMIT"]) if os.environ.get("ZOO_CONFORMANCE_LIMIT") else None
                self._data[model] = evaluation_data(card, limit=limit)
            data = None if backend in _env_list("ZOO_CONFORMANCE_GOLDEN_ONLY", []) else self._data[model]
            self._results[(model, entry)] = check_backend(card, entry, backend, artifact, data, timing=False)
        return self._results[(model, entry)]

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for (model, entry), result in self._results.items():
            data = self._data.get(model)
            record = {"model": model, "entry": entry, "dataset": data.name if data else None} | result.as_dict()
            (folder / f"{model}__{entry.replace(':', '_')}.json").write_text(json.dumps(record, indent=2) + "\n")


@pytest.fixture(scope="session")
def conformance_results() -> _Results:
    results = _Results()
    yield results
    if os.environ.get("ZOO_CONFORMANCE_REPORT_DIR"):
        results.write(Path(os.environ["ZOO_CONFORMANCE_REPORT_DIR"]))


@pytest.mark.parametrize(("model", "entry", "backend", "artifact", "check"), _matrix())
def test_conformance(conformance_results: _Results, model: str, entry: str, backend: str, artifact: str | None,
                     check: str) -> None:
    result = conformance_results.get(model, entry, backend, artifact)
    if result.status == "skipped":
        if result.fit is not None:  # the model does not fit the backend's part: a fact, tested by the targets' tests
            pytest.skip(f"{entry}: {result.reason}")
        if os.environ.get("ZOO_REQUIRE_BACKENDS") == "1":
            pytest.fail(f"{entry} is unavailable and ZOO_REQUIRE_BACKENDS=1: {result.reason}")
        pytest.skip(f"{entry}: {result.reason}")
    if not result.checks:  # compile or run failed before any check
        pytest.fail(f"{entry}: {result.reason}")
    found = next((c for c in result.checks if c.name == check), None)
    if found is None:
        pytest.skip(f"{check} does not apply to {entry} on {model}")
    if found.known_gap and not found.passed:
        pytest.xfail(f"known gap declared in the card: {found.known_gap} ({found.message})")
    assert found.passed, f"{model} / {entry}: {found.message}"
