"""The `zoo validate` table."""

from __future__ import annotations

from rich.table import Table

from zoo.conformance.validate import ValidationReport
from zoo.escape import rich_escape as esc

__all__ = ["report_table"]

STATUS = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skipped": "[yellow]skipped[/]"}


def _fmt(value: float | int | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def report_table(report: ValidationReport) -> Table:
    """One row per backend: status, accuracy, Δ vs reference, |Δ| in LSB, mismatches, top-1, speed, device."""
    title = f"{report.card.name}: conformance against {esc(report.card.conformance.reference_backend)}"
    if report.dataset:
        title += f"; accuracy on {esc(report.dataset)}"
    table = Table(title=title, title_justify="left")
    for col in ("backend", "status", "accuracy", "Δacc pp", "max |Δ| LSB", "differing", "top-1 agree",
                "flips (near-tie)", "latency ms", "images/s", "flash B", "RAM B", "instr/inference"):
        table.add_column(col, justify="left" if col in ("backend", "status") else "right")
    for name, r in report.results.items():
        d = r.as_dict()
        delta = None if r.accuracy is None or report.reference_accuracy is None else \
            (r.accuracy - report.reference_accuracy) * 100
        flips = sum(c.flips for c in (r.golden, r.data) if c)
        ties = sum(c.near_tie_flips for c in (r.golden, r.data) if c)
        fp = r.footprint or {}
        table.add_row(
            esc(name), STATUS[r.status], _fmt(None if r.accuracy is None else r.accuracy * 100, ".2f"),
            _fmt(delta, "+.2f"), _fmt(d["max_abs_lsb"], "d"), _fmt(d["mismatch_fraction"], ".2%"),
            _fmt(d["top1_agreement"], ".2%"), "—" if r.golden is None else f"{flips} ({ties})",
            _fmt(r.latency_ms, ".3f"), _fmt(r.throughput_ips, ",.0f"), _fmt(fp.get("flash_bytes"), ",d"),
            _fmt(fp.get("ram_bytes"), ",d"), _fmt(r.instructions_per_inference, ",d"))
    return table
