"""Issue 14: the performance table (zoo/perftable.py) in the Markdown card and in ci/firmware_benchmark.py.

The card's committed validation (real device runs) and the card's own anchors are the inputs; the expected
cells are derived from them here, not typed in.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import zoo
from zoo import registry
from zoo.backend import Backend
from zoo.cardgen import render_card, validation_path
from zoo.perftable import anchor, board_figures, device_row

REPO = Path(__file__).resolve().parents[1]


class AcmeH7Backend(Backend):
    """A third-party device backend, as an entry point would register it."""

    name, summary, formats, core = "acme-h7", "a vendor's Cortex-M7 runtime", ("tflite",), "Cortex-M7"

    def compile(self, card, artifact, artifact_path, out_dir) -> None:  # noqa: ANN001
        raise NotImplementedError

    def load(self, card, artifact, artifact_path, compiled_dir) -> None:  # noqa: ANN001
        raise NotImplementedError


def _validation(model: str) -> dict:
    return json.loads(validation_path(zoo.get_card(model)).read_text(encoding="utf-8"))


@pytest.mark.parametrize("model", ["stmnist_v1", "mlperf_kws01"])
def test_card_markdown_carries_every_device_backends_row(model: str) -> None:
    card, validation = zoo.get_card(model), _validation(model)
    text = render_card(card, validation, None, "v.json")
    device = {n: r for n, r in validation["backends"].items() if r.get("footprint")}
    assert device, "the committed validation ran device backends"
    for name, r in device.items():
        fp, instr = r["footprint"], r["instructions_per_inference"]
        core = registry.device_cores()[name]
        static = fp["ram_bytes"] - fp["arena_bytes"] - fp["stack_bytes"]
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {name} ({core}) |"))
        assert f"| {fp['flash_bytes']:,} ({fp['weights_bytes']:,} + {fp['code_bytes']:,}) |" in line
        assert f"| {fp['ram_bytes']:,} ({fp['arena_bytes']:,} + {static:,} + {fp['stack_bytes']:,}) |" in line
        assert f"| {instr:,} |" in line
        anchors = [c for c in card.comparisons if c.core and c.instructions_per_inference
                   and "TensorFlow Lite Micro + CMSIS-NN" in c.name and registry.backend_for_core(c.core) == name]
        if anchors:
            a = anchors[0].instructions_per_inference
            assert f"| {instr / a:.2f} ({a:,}) |" in line
        else:
            assert "| — |" in line
    assert any("(Cortex-M7)" in ln and "| 0." in ln for ln in text.splitlines()), "the M7 row has its TFLM ratio"


def test_board_figures_are_cycles_at_the_clock_labelled_as_such() -> None:
    card = zoo.get_card("mlperf_kws01")
    text = render_card(card, _validation("mlperf_kws01"), None, "v.json")
    figures = [f for f in card.figures("latency", card.default_artifact) if f.clock_mhz and f.unit == "ms"]
    assert len(board_figures(card)) == len(figures) > 1
    assert "Board figures, as cycles at the board's clock" in text and "not emulated instructions" in text
    for f, b in zip(figures, board_figures(card), strict=True):
        assert b.cycles == round(f.value * 1e-3 * f.clock_mhz * 1e6)
        assert f"{b.cycles:,} cycles ({f.value:g} ms at {f.clock_mhz:g} MHz)" in text


def test_platform_fit_asks_the_backend_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform's core is matched to whichever registered backend runs it (third-party ones too), not to a
    name made from the core's number."""
    card = zoo.get_card("stmnist_v1")
    validation = _validation("stmnist_v1")
    assert f"yes: tvm-cortexm7, {validation['backends']['tvm-cortexm7']['footprint']['flash_bytes']:,} B flash" in \
        render_card(card, validation, None, "v.json")
    real = registry._entry_points()
    acme = EntryPoint("acme-h7", f"{__name__}:AcmeH7Backend", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: {**real, "acme-h7": acme})
    assert registry.backend_for_core("Cortex-M7") == "acme-h7"  # the first registered backend running that core
    assert registry.backends_for_core("Cortex-M7") == ["acme-h7", "tvm-cortexm7"]
    text = render_card(card, validation, None, "v.json")  # the one the validation ran is the measured one
    assert f"yes: tvm-cortexm7, {validation['backends']['tvm-cortexm7']['footprint']['flash_bytes']:,} B flash" in text
    assert anchor(card, "tvm-cortexm7") is not None  # a second M7 backend takes no anchor away
    without_m7 = {**validation, "backends": {k: v for k, v in validation["backends"].items() if k != "tvm-cortexm7"}}
    assert "not measured (acme-h7 not run)" in render_card(card, without_m7, None, "v.json")


def test_firmware_benchmark_prints_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("firmware_benchmark", REPO / "ci" / "firmware_benchmark.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "firmware_benchmark", bench)  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    card, validation = zoo.get_card("stmnist_v1"), _validation("stmnist_v1")
    r = validation["backends"]["tvm-cortexm7"]
    row = {"model": "stmnist_v1", "backend": "tvm-cortexm7", "lowering": "int8", "fits": "fits STM32H747",
           "instructions": r["instructions_per_inference"], **{k: v for k, v in r["footprint"].items()
                                                                if k.endswith("_bytes")}}
    table = bench.model_table(card, [row], {"tvm-cortexm7": "Cortex-M7"})
    cells = device_row(card, "tvm-cortexm7", r["footprint"], r["instructions_per_inference"]).cells()
    line = next(ln for ln in table.splitlines() if ln.startswith("| tvm-cortexm7"))
    assert line.startswith(f"| {cells[0]} | int8 | {' | '.join(cells[1:])} |")
    assert all(f"{b.text()}" in table for b in board_figures(card))
