"""The conformance checks, each defined once: name, metric, comparator, budget field, tasks.

The harness, the pytest suite, the CLI table, the Markdown card and the matrix all loop over
:data:`CHECKS`; a card's ``known_gaps`` may name only a check id from here (``<scope>.<name>``,
e.g. ``golden.max_abs_lsb``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CheckDef", "CHECKS", "check_ids", "checks_for"]

KINDS = frozenset({"classifier", "autoencoder", "regression"})


@dataclass(frozen=True)
class CheckDef:
    """One check. Comparison checks run on each scope ("golden", "data") with a metric of the
    :class:`~zoo.conformance.metrics.Comparison`; accuracy checks run once on the evaluation data."""

    name: str
    title: str  # short column title for tables
    scopes: tuple[str, ...]
    budget: str | None  # Tolerance field holding the budget (None: informational, never fails)
    better: Literal["lower", "higher"]
    kinds: frozenset[str]
    metric: Callable[[Any], float | int | None]  # Comparison -> value (None: not measured)
    fmt: str = "{:g}"

    def ids(self) -> list[str]:
        return [f"{scope}.{self.name}" for scope in self.scopes]

    def passes(self, value: float, budget: float) -> bool:
        return value <= budget if self.better == "lower" else value >= budget

    @property
    def relation(self) -> str:
        return "<=" if self.better == "lower" else ">="


def _attr(name: str) -> Callable[[Any], Any]:
    return lambda cmp: getattr(cmp, name)


_CMP = ("golden", "data")
CLASSIFIER = frozenset({"classifier"})

CHECKS: tuple[CheckDef, ...] = (
    CheckDef("ok", "compiles and runs", ("compile",), None, "higher", KINDS, lambda ok: ok, "{}"),
    CheckDef("max_abs_lsb", "max Δ (steps)", _CMP, "max_abs_lsb", "lower", KINDS, _attr("max_abs_lsb"), "{:d}"),
    CheckDef("mismatch_fraction", "differing", _CMP, "mismatch_fraction", "lower", KINDS,
             _attr("mismatch_fraction"), "{:.4%}"),
    CheckDef("mismatch_gt1_fraction", "> 1 step", _CMP, "mismatch_gt1_fraction", "lower", KINDS,
             _attr("mismatch_gt1_fraction"), "{:.4%}"),
    CheckDef("top1_agreement", "top-1 agreement", _CMP, "top1_agreement", "higher", CLASSIFIER,
             _attr("top1_agreement"), "{:.4%}"),
    CheckDef("near_tie_flips", "near-tie flips", _CMP, None, "lower", CLASSIFIER, _attr("near_tie_flips"), "{:d}"),
    CheckDef("logits_max_abs_lsb", "logits max Δ", _CMP, "logits_max_abs_lsb", "lower", CLASSIFIER,
             _attr("logits_max_abs_lsb"), "{:d}"),
    CheckDef("anomaly_score_rel_delta", "anomaly score rel. Δ", _CMP, "anomaly_score_rel_delta", "lower",
             frozenset({"autoencoder"}), _attr("anomaly_score_rel_delta"), "{:.3g}"),
    CheckDef("vs_reference_pct", "accuracy Δ (pp)", ("accuracy",), "accuracy_delta_pct", "lower", CLASSIFIER,
             lambda acc: acc, "{:.2f}"),
    CheckDef("vs_reported_pct", "vs reported (pp)", ("accuracy",), "reported_accuracy_delta_pct", "lower",
             CLASSIFIER, lambda acc: acc, "{:.2f}"),
)


def checks_for(kind: str, scope: str | None = None) -> list[CheckDef]:
    """The checks that apply to a card kind (and scope)."""
    return [c for c in CHECKS if kind in c.kinds and (scope is None or scope in c.scopes)]


def check_ids(task: str) -> set[str]:
    """Every check id a card of this task can have (what ``known_gaps`` may name)."""
    from zoo.card import TASKS

    return {i for c in checks_for(TASKS[task]) for i in c.ids()}
