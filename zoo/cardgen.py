"""`zoo card MODEL`: render the Markdown model card from the YAML card and the latest validation.

The YAML card is the source of truth; the validation results are the JSON that
``zoo validate MODEL --json model_cards/MODEL.validation.json`` writes. Rendering reads only
those two files, so ``--check`` can tell whether the committed Markdown is stale.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from zoo import registry
from zoo.atomic import atomic_write
from zoo.card import Card, ReportedFigure, TensorSpec, Tolerance
from zoo.conformance.checks import CheckDef
from zoo.conformance.results_file import read_results
from zoo.errors import ArtifactError
from zoo.perftable import HEADER, board_figures, device_row

__all__ = ["render_card", "validation_path", "write_card"]

MISSING = "[More Information Needed]"


def validation_path(card: Card) -> Path:
    """Where a card's latest validation results live: beside the YAML card."""
    return registry.card_path(card.name).with_name(f"{card.name}.validation.json")


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return MISSING
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.2f} %"


def _fig(f: ReportedFigure) -> str:
    unit = "" if f.unit == "ratio" else (f.unit if f.unit == "%" else f" {f.unit}")
    return f"{'~' if f.approx else ''}{f.value:g}{unit}"


def _flips(r: dict[str, Any]) -> str:
    parts = [r.get(k) for k in ("golden", "data") if r.get(k)]
    if not parts or all(p.get("top1_agreement") is None for p in parts):
        return MISSING
    return f"{sum(p['flips'] for p in parts)} ({sum(p['near_tie_flips'] for p in parts)})"


def _worst(r: dict[str, Any], key: str) -> str:
    values = [p[key] for p in (r.get("golden"), r.get("data")) if p and p.get(key) is not None]
    return MISSING if not values else f"{max(values):.3g}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def _text(value: Any) -> str:
    """User text as a Markdown paragraph: one line, Markdown and HTML characters escaped, no script links."""
    text = " ".join(str(value).split())
    text = re.sub(r"(?i)javascript:", "javascript&#58;", text)
    return _MD_SPECIAL.sub(r"\\\1", text)


def _table_text(text: Any) -> str:
    """Text for one Markdown table cell: one line, escaped like :func:`_text` (pipes included)."""
    return _text(text)


def _code(value: Any) -> str:
    """Text for a Markdown code span: one line, no backticks (escapes do not work inside code spans), pipes
    escaped (GitHub's tables split cells at a pipe even inside a code span; ``\\|`` shows as ``|`` there)."""
    return "`" + " ".join(str(value).split()).replace("`", "'").replace("|", "\\|") + "`"


def _gap_rows(card: Card) -> list[tuple[tuple[str, str], list[str]]]:
    """The card's known gaps grouped by (backend, reason), with the checks each covers."""
    groups: dict[tuple[str, str], list[str]] = {}
    for g in card.conformance.known_gaps:
        groups.setdefault((g.backend, g.reason), []).append(g.check)
    return list(groups.items())


def _link(title: Any, url: Any) -> str:
    """A Markdown link, only for http(s) URLs; anything else is shown as escaped text."""
    url = str(url)
    if re.fullmatch(r"https?://[^\s()<>]+", url):
        return f"[{_text(title)}]({url})"
    return f"{_text(title)} ({_text(url)})"


def _steps(spec: TensorSpec) -> str:
    if spec.dtype != "float32":
        q = spec.quantization
        return f"raw {spec.dtype} steps (scale {q.scale:.6g}, zero point {q.zero_point})"
    if spec.source_quantization is not None:
        q = spec.source_quantization
        return f"steps of its int8 source (scale {q.scale:.6g}, zero point {q.zero_point})"
    if spec.step is not None:
        return f"{spec.step:.6g} (rtol {spec.rtol:g} of its range)"
    return "—"


def _budget(tol: Tolerance, check: CheckDef) -> str:
    value = getattr(tol, check.budget)
    if value is None:
        return "—"
    return check.fmt.format(value) if "%" in check.fmt or isinstance(value, int) else f"{value:g}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("zoo", "templates"), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False)
    env.filters.update(num=_num, pct=_pct, fig=_fig, flips=_flips, table=_table_text, text=_text, link=_link,
                       steps=_steps, budget=_budget, worst=_worst, code=_code)
    return env


def _io_bytes(card: Card) -> dict[str, int]:
    """Bytes of the inputs and of the outputs (the buffers a caller of the device model provides)."""
    import numpy as np

    return {role: sum(spec.elements * np.dtype(spec.dtype).itemsize for spec in specs)
            for role, specs in (("input", card.inputs), ("output", card.outputs))}


def _publisher_row(card: Card) -> dict[str, Any] | None:
    """The publisher's device figures for the default artifact as one comparison row (KiB -> bytes;
    cycles from time x clock, which are not emulated instructions)."""
    art = card.default_artifact
    fig = {m: next(iter(card.figures(m, art)), None) for m in ("total_ram", "total_flash", "latency")}
    if fig["total_ram"] is None and fig["total_flash"] is None:
        return None
    t = fig["latency"]
    cycles = round(t.value * 1e-3 * t.clock_mhz * 1e6) if t is not None and t.clock_mhz and t.unit == "ms" else None
    any_fig = next(f for f in fig.values() if f is not None)
    return {"name": " ".join(x for x in (any_fig.tool, any_fig.tool_version) if x) or card.publisher,
            "target": t.board if t is not None and t.board else (any_fig.series or MISSING),
            "ram_bytes": fig["total_ram"].bytes if fig["total_ram"] else None,
            "flash_bytes": fig["total_flash"].bytes if fig["total_flash"] else None, "count": cycles,
            "per_inference": f"{cycles:,} cycles ({t.value:g} ms at {t.clock_mhz:g} MHz)" if cycles else MISSING,
            "source": f"{card.publisher}: {card.sources[any_fig.source].title} (approximate totals)"}


def comparison_rows(card: Card) -> list[dict[str, Any]]:
    """Device figures to compare with: the publisher's and the card's cited comparisons."""
    rows = [r for r in [_publisher_row(card)] if r is not None]
    for c in card.comparisons:
        rows.append({"name": c.name, "target": c.target, "ram_bytes": c.ram_bytes, "flash_bytes": c.flash_bytes,
                     "count": c.instructions_per_inference, "source": c.source,
                     "per_inference": MISSING if c.instructions_per_inference is None
                     else f"{c.instructions_per_inference:,} instructions"})
    return rows


LITERT = ("tflite", "tflite-ref", "tflite-xnnpack")


def _fit(validation: dict[str, Any], core: str | None) -> str:
    found = registry.backends_for_core(core)  # the first one the validation ran, else the first registered
    name = next((b for b in found if b in validation["backends"]), found[0] if found else None)
    r = validation["backends"].get(name or "")
    if r is None:
        return f"not measured ({core or 'no core given'})" if name is None else f"not measured ({name} not run)"
    fp = r.get("footprint")
    unfit = r.get("fit")
    if not fp and unfit:
        over = ", ".join(f"{g['region']} by {g['overflow_bytes']:,} B of {g['bytes']:,}" for g in unfit.get("regions", [])
                         if g.get("overflow_bytes"))
        return f"no: {name} overflows {_table_text(unfit.get('part') or 'the part')}'s {over}"
    if not fp:
        return f"{name}: {r.get('status')}" + (f" ({_table_text(r.get('reason', ''))[:200]})" if r.get("reason") else "")
    part = fp.get("part")
    fits = fp.get("fits")
    verdict = "yes" if fits else ("no" if fits is False else "measured")
    where = f" of {part}" if part else ""
    return f"{verdict}: {name}, {fp['flash_bytes']:,} B flash, {fp['ram_bytes']:,} B RAM{where}"


def render_card(card: Card, validation: dict[str, Any] | None, confusion_png: str | None,
                validation_file: str) -> str:
    """The Markdown card as text.

    Args:
        card: the model card.
        validation: the parsed validation JSON, or None (measured sections then show as missing).
        confusion_png: relative path of the confusion-matrix image, or None.
        validation_file: the name of the validation file, for the header.
    """
    from zoo.conformance.checks import checks_for

    validation = validation or {"dataset": None, "reference": None, "backends": {}, "provenance": None}
    backends = list(validation["backends"].items())
    tolerances = [(f"default, {a}", t) for a, t in card.conformance.tolerances.items()]
    tolerances += [(f"{b}, {a}", t) for b, per in card.conformance.backend_tolerances.items() for a, t in per.items()]
    budget_columns = [c for c in checks_for(card.kind) if c.budget and hasattr(Tolerance, "model_fields")
                      and c.budget in Tolerance.model_fields]
    device_rows = [(n, r) for n, r in backends if r.get("footprint")]
    perf_rows = [[_table_text(c) for c in device_row(card, n, r["footprint"], r.get("instructions_per_inference")).cells()]
                 for n, r in device_rows]
    prov = validation.get("provenance") or {}
    context = {
        "card": card, "validation": validation, "missing": MISSING, "validation_file": validation_file,
        "tensors": [("input", s) for s in card.inputs] + [("output", s) for s in card.outputs],
        "backends": [(n, r) for n, r in backends if r["status"] != "skipped"],
        "device_rows": device_rows, "perf_header": HEADER, "perf_rows": perf_rows, "boards": board_figures(card),
        "primary_device": next((n for n, _ in device_rows if n == "tvm-cortexm7"), device_rows[0][0] if device_rows else None),
        "litert_rows": [(n, validation["backends"][n]["golden"]) for n in LITERT
                        if (validation["backends"].get(n) or {}).get("golden")],
        "platforms": [(p, _fit(validation, p.core)) for p in card.platforms],
        "tolerances": tolerances, "budget_columns": budget_columns, "confusion_png": confusion_png,
        "machine": prov.get("machine", MISSING), "card_file": registry.card_path(card.name).name,
        "comparison_rows": comparison_rows(card), "io_bytes": _io_bytes(card), "gap_rows": _gap_rows(card),
    }
    try:
        return _environment().get_template("model_card.md.j2").render(**context)
    except (jinja2.TemplateError, TypeError, ValueError, KeyError) as exc:  # results of another shape than expected
        raise ArtifactError(f"cannot render the card of {card.name} from {validation_file}: {exc}; regenerate the "
                            f"validation with `zoo validate {card.name} --json ...`") from None


def _confusion_png(validation: dict[str, Any], card: Card, path: Path) -> None:
    from zoo.plots import confusion_png

    ref = validation["backends"][validation["reference"]]
    confusion_png(ref["confusion"], card.labels, f"{card.name}, {validation['reference']} on "
                  f"{validation['dataset']} (row-normalised)", path)


def write_card(card: Card, check: bool = False) -> tuple[Path, bool]:
    """Render the Markdown card (and its confusion-matrix PNG) beside the YAML card.

    Args:
        card: the model card.
        check: compare with the file on disk instead of writing it.

    Returns:
        (path of the Markdown file, whether it is up to date / was written).

    Raises:
        ArtifactError: the validation JSON exists but cannot be read or is malformed.
        OutputError: the Markdown card or its PNG cannot be written (each is replaced atomically).
    """
    vpath = validation_path(card)
    validation = read_results(vpath)
    md_path = vpath.with_name(f"{card.name}.md")
    png = vpath.with_name(f"{card.name}_confusion.png")
    confusion = (validation["backends"].get(validation.get("reference") or "") or {}).get("confusion") if validation \
        else None
    has_png = bool(confusion) and len(confusion) == card.num_classes and all(len(r) == card.num_classes
                                                                               for r in confusion)
    text = render_card(card, validation, png.name if has_png else None, vpath.name)
    if check:
        try:
            return md_path, md_path.is_file() and md_path.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            return md_path, False
    if has_png:
        _confusion_png(validation, card, png)
    atomic_write(md_path, text, "Markdown card")
    return md_path, True
