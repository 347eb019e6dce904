"""A model's performance table on device backends, one implementation for the Markdown card (``zoo card``)
and ``ci/firmware_benchmark.py``.

One row per device backend: flash (weights + code), RAM (activation arena + other static data + stack
high-water mark), instructions per inference, and the ratio to the card's TensorFlow Lite Micro +
CMSIS-NN anchor measured on the same core (a ``comparisons`` entry with instructions). Beside it, the
publisher's and MLPerf Tiny's board figures as cycles at the board's clock (published latency x clock).

Instructions are retired instructions under QEMU emulation (``-icount``), the anchors were measured the
same way on the same emulator; board figures are cycles on real parts and stand beside ours for scale
only. Which core a backend runs on comes from the backend registry (``Backend.core``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zoo import registry
from zoo.card import Card, Comparison

__all__ = ["HEADER", "BoardFigure", "DeviceRow", "anchor", "board_figures", "device_row"]

ANCHOR_RUNTIME = "TensorFlow Lite Micro"  # the anchors: TFLM (+ CMSIS-NN) comparisons with instructions
#: Column titles of :meth:`DeviceRow.cells`.
HEADER = ("Backend (core)", "Flash B (weights + code)", "RAM B (arena + static + stack)",
          "Instructions / inference (emulated)", "÷ TFLM + CMSIS-NN, same core (its instructions)")
NONE = "—"


def _n(value: int | None) -> str:
    return NONE if value is None else f"{value:,}"


def anchor(card: Card, backend: str) -> Comparison | None:
    """The card's TFLM + CMSIS-NN figures measured on the core `backend` runs (None when it has none)."""
    return next((c for c in card.comparisons if c.instructions_per_inference and ANCHOR_RUNTIME in c.name
                 and "CMSIS-NN" in c.name and backend in registry.backends_for_core(c.core)), None)


@dataclass(frozen=True)
class DeviceRow:
    """One device backend's measured figures (bytes; None where not measured) and its anchor."""

    backend: str
    core: str | None
    flash_bytes: int | None
    weights_bytes: int | None
    code_bytes: int | None
    ram_bytes: int | None
    arena_bytes: int | None
    stack_bytes: int | None
    instructions: int | None
    anchor: Comparison | None

    @property
    def static_bytes(self) -> int | None:
        """RAM other than the arena and the stack (.data and .bss of the model's code)."""
        parts = (self.ram_bytes, self.arena_bytes, self.stack_bytes)
        return None if None in parts else self.ram_bytes - self.arena_bytes - self.stack_bytes

    @property
    def ratio(self) -> float | None:
        """Our instructions per inference ÷ the anchor's, on the same core."""
        if self.instructions is None or self.anchor is None or not self.anchor.instructions_per_inference:
            return None
        return self.instructions / self.anchor.instructions_per_inference

    def cells(self) -> list[str]:
        """The row's cells under :data:`HEADER` (plain text: escape them for Markdown where names are untrusted)."""
        ratio = NONE if self.ratio is None else f"{self.ratio:.2f} ({self.anchor.instructions_per_inference:,})"
        return [f"{self.backend} ({self.core or '?'})",
                f"{_n(self.flash_bytes)} ({_n(self.weights_bytes)} + {_n(self.code_bytes)})",
                f"{_n(self.ram_bytes)} ({_n(self.arena_bytes)} + {_n(self.static_bytes)} + {_n(self.stack_bytes)})",
                _n(self.instructions), ratio]


def device_row(card: Card, backend: str, figures: Mapping[str, Any] | None, instructions: int | None) -> DeviceRow:
    """A backend's row from its footprint figures (the keys of :meth:`zoo.backend.Footprint.as_dict`, e.g. a
    validation's ``footprint``; None when it did not link) and its instructions per inference."""
    f = figures or {}
    return DeviceRow(backend, registry.device_cores().get(backend), f.get("flash_bytes"), f.get("weights_bytes"),
                     f.get("code_bytes"), f.get("ram_bytes"), f.get("arena_bytes"), f.get("stack_bytes"),
                     instructions, anchor(card, backend))


@dataclass(frozen=True)
class BoardFigure:
    """A published latency on a real board, as cycles at its clock."""

    name: str  # the tool or runtime that was measured, e.g. "STM32Cube.AI 7.3.0"
    target: str  # the board (or series)
    cycles: int
    ms: float
    clock_mhz: float

    def text(self) -> str:
        return f"{self.cycles:,} cycles ({self.ms:g} ms at {self.clock_mhz:g} MHz)"


def board_figures(card: Card) -> list[BoardFigure]:
    """Every published latency of the card's default artifact that names its clock, as cycles at that clock."""
    return [BoardFigure(" ".join(x for x in (f.tool, f.tool_version) if x) or card.publisher,
                        f.board or f.series or NONE, round(f.value * 1e3 * f.clock_mhz), f.value, f.clock_mhz)
            for f in card.figures("latency", card.default_artifact) if f.clock_mhz and f.unit == "ms"]
