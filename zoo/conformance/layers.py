"""The per-layer instructions of device backends in `zoo validate --report DIR`.

For each backend that measures instructions (``instructions_per_inference``), the report shows where
one inference's instructions go: each layer's operator, instructions retired under emulation, share
of the normal build's per-inference figure, MACs where the operator's unit knows them, and how the sum compares with the
normal build's per-inference figure (:meth:`zoo.Model.layer_instructions`). These are instructions,
not cycles.
"""

from __future__ import annotations

import zoo
from zoo.backend import LayerProfile
from zoo.card import Card
from zoo.conformance.harness import BackendResult
from zoo.errors import ZooError

__all__ = ["layer_profile", "layer_lines"]

NAME_WIDTH = 48


def layer_profile(card: Card, result: BackendResult) -> tuple[LayerProfile | None, str]:
    """The backend's per-layer instructions, or None and why not ("" when it does not measure instructions)."""
    if result.instructions_per_inference is None or result.artifact is None:
        return None, ""
    try:
        with zoo.load(card.name, backend=result.backend, artifact=result.artifact) as model:
            prof = model.layer_instructions()
    except ZooError as exc:
        return None, f"per-layer instructions could not be measured: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the validation has finished: a report line, never a traceback
        return None, (f"per-layer instructions could not be measured ({type(exc).__name__}: {str(exc)[:200]}); "
                      "delete the compiled form under the zoo cache (ZOO_CACHE_DIR) and run again")
    return prof, "" if prof is not None else f"{result.backend} does not measure per-layer instructions"


def _cell(text: str) -> str:
    """A tensor name as a Markdown table cell: pipes and newlines escaped, long names cut at the front."""
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= NAME_WIDTH else "…" + text[-(NAME_WIDTH - 1):]


def layer_lines(name: str, prof: LayerProfile) -> list[str]:
    """The Markdown of one backend's per-layer instructions (a table, then the sum and the method)."""
    lines = [f"### {name}: instructions per layer", "",
             "| # | operator | tensor | instructions | share | MACs | instructions / MAC |",
             "|---:|---|---|---:|---:|---:|---:|"]
    for x in prof.layers:
        per_mac = f"{x.instructions / x.macs:.2f}" if x.macs else ""
        lines.append(f"| {x.operator} | {x.op} | {_cell(x.name)} | {x.instructions:,} | {x.share:.1%} | "
                     f"{f'{x.macs:,}' if x.macs else ''} | {per_mac} |")
    lines += ["", f"Sum of the layers {prof.layer_sum:,}; the normal build's figure for the same input "
              f"{prof.per_inference:,} (unattributed {prof.unattributed:+,}: the driver's entry and return, and what "
              "the hooks changed in the compiler's arrangement of the driver). "
              f"Method: {prof.method}.", ""]
    return lines

