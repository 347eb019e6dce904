"""The `zoo validate` table: one row per backend, one column per registered check of the card's kind."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from zoo.conformance.checks import checks_for
from zoo.conformance.validate import ValidationReport

__all__ = ["report_table"]

STATUS = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skipped": "[yellow]skipped[/]",
          "xfail": "[yellow]xfail[/] (known gap)"}


def _fmt(value: float | int | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def report_table(report: ValidationReport) -> Table:
    """Status, accuracy (classifiers), the worst value of each comparison check over golden and data, speed, device."""
    card = report.card
    title = f"{card.name}: conformance against {card.conformance.reference_backend}"
    if report.dataset:
        title += f"; accuracy on {report.dataset}"
    table = Table(title=escape(title), title_justify="left")
    checks = [c for c in checks_for(card.kind) if set(c.scopes) & {"golden", "data"}]
    columns = ["backend", "status", *(["accuracy", "Δacc pp"] if card.kind == "classifier" else []),
               *(c.title for c in checks), "latency ms", "images/s", "flash B", "RAM B", "instr/inference"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("backend", "status") else "right")
    for name, r in report.results.items():
        cells = [escape(name), STATUS.get(r.status, r.status)]
        if card.kind == "classifier":
            delta = None if r.accuracy is None or report.reference_accuracy is None else \
                (r.accuracy - report.reference_accuracy) * 100
            cells += [_fmt(None if r.accuracy is None else r.accuracy * 100, ".2f"), _fmt(delta, "+.2f")]
        for check in checks:
            values = [check.metric(c) for c in (r.golden, r.data) if c is not None]
            values = [v for v in values if v is not None]
            worst = (max if check.better == "lower" else min)(values) if values else None
            cells.append("—" if worst is None else check.fmt.format(worst))
        fp = r.footprint or {}
        cells += [_fmt(r.latency_ms, ".3f"), _fmt(r.throughput_ips, ",.0f"), _fmt(fp.get("flash_bytes"), ",d"),
                  _fmt(fp.get("ram_bytes"), ",d"), _fmt(r.instructions_per_inference, ",d")]
        table.add_row(*cells)
    return table
