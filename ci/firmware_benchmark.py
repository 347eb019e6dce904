"""Firmware benchmark of the device backends: every registered model x every available device backend
(tvm-cortexm0, -m4, -m7, -m33, -m55 and any other registered target).

For each: flash (weights, code), RAM (arena, other static data, stack), instructions per inference,
the ratio to the card's TensorFlow Lite Micro + CMSIS-NN anchor measured on the same core, and whether
the project's performance targets are met. Below each model, the publisher's / MLPerf Tiny board
figures as cycles at the board's clock, labelled as such.

Instructions are retired instructions under QEMU emulation (each target's machine, -icount), not
cycles; TFLM + CMSIS-NN's anchors in the cards were measured the same way on the same emulator.
Board figures are cycles on real parts (wait states included) and only stand beside ours for scale.

Targets (the performance issue, #14): "model weights" are the model's own int8/int32 constants.
  stmnist_v1   M4, M7: flash <= 16,384 B, RAM <= 10,488 B, <= 900,000 instructions
  mlperf_*     M4, M7: flash <= weights + 16 KiB (ad01: + 8 KiB), RAM <= the row's limit,
               instructions <= 0.6 x TFLM + CMSIS-NN on that core
  every model  M55: flash and RAM as on M7, instructions <= 0.4 x our own M7 figure
  M0, M33: reported, no target.

Usage: python ci/firmware_benchmark.py [--models stmnist_v1 ...] [--backends tvm-cortexm4 ...]
       [--lowerings int8 [float]] [--json FILE] [--summary]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.backends.tvm_cortexm7.firmware import ModelTooLargeError
from zoo.backends.tvm_cortexm7.int8.tflite_model import TFLiteModel
from zoo.backends.tvm_cortexm7.targets import load_target, target_names

import zoo
from zoo import artifacts, perftable, registry
from zoo.perftable import anchor
from zoo.registry import backend_class, backend_names


@dataclass(frozen=True)
class Target:
    """Limits for one model on M4/M7 (None: no limit on that figure)."""

    flash_over_weights: int | None = None  # flash <= model weights + this
    flash: int | None = None  # or an absolute flash limit
    ram: int | None = None
    instructions: int | None = None  # absolute
    anchor_ratio: float | None = None  # instructions <= ratio x TFLM + CMSIS-NN on the same core


TARGETS = {
    "stmnist_v1": Target(flash=16_384, ram=10_488, instructions=900_000),
    "mlperf_kws01": Target(flash_over_weights=16_384, ram=18_000, anchor_ratio=0.6),
    "mlperf_ic01": Target(flash_over_weights=16_384, ram=52_000, anchor_ratio=0.6),
    "mlperf_vww01": Target(flash_over_weights=16_384, ram=60_000, anchor_ratio=0.6),
    "mlperf_ad01": Target(flash_over_weights=8_192, ram=2_048, anchor_ratio=0.6),
}
TARGET_CORES = ("Cortex-M4F", "Cortex-M7")
M55_RATIO = 0.4  # instructions on M55 <= this x our own M7 figure


def device_backends() -> dict[str, Any]:
    """Available registered backends that build firmware for a device target, with their target."""
    targets = {load_target(t).backend_name: load_target(t) for t in target_names()}
    return {n: targets[n] for n in backend_names() if n in targets and zoo.backend_availability(n)
            and getattr(backend_class(n), "exports_library", False)}


def model_weights_bytes(card: Any) -> int:
    """Bytes of the model's own int8/int32 weights and biases, as its int8 .tflite holds them."""
    art = next(a for a in card.artifacts.values() if a.precision == "int8" and a.format == "tflite")
    model = TFLiteModel.from_file(artifacts.fetch(card.name, art, base_dir=registry.card_path(card.name).parent))
    return sum(t.data.nbytes for t in model.tensors if t.data is not None and t.dtype in ("int8", "int32")
               and t.size > 4)  # not the shape operands of RESHAPE and the like


def measure(model: str, backend: str, lowering: str) -> dict[str, Any]:
    """One model on one device backend: footprint, instructions and fit (only the fit when it does not link)."""
    row: dict[str, Any] = {"model": model, "backend": backend, "lowering": lowering}
    try:
        m = zoo.load(model, backend=backend, lowering=lowering)
    except ModelTooLargeError as exc:
        fit = exc.fit()
        over = ", ".join(f"{r['region']} +{r['overflow_bytes']:,} B" for r in fit["regions"] if r["overflow_bytes"])
        return row | {"fits": f"does not fit {fit['part']} ({over})"}
    fp, fit = m.footprint(), m.runner.fit()
    return row | {"flash_bytes": fp.flash_bytes, "weights_bytes": fp.weights_bytes, "code_bytes": fp.code_bytes,
                  "ram_bytes": fp.ram_bytes, "arena_bytes": fp.arena_bytes, "stack_bytes": fp.stack_bytes,
                  "static_bytes": fp.ram_bytes - fp.arena_bytes - fp.stack_bytes,
                  "instructions": m.instructions_per_inference(),
                  "fits": f"fits {fit['part']}" if fit["fits"] else f"does not fit {fit['part']}"}


def verdicts(row: dict[str, Any], core: str, card: Any, weights: int, m7: dict[str, Any] | None) -> list[str]:
    """Each target that applies to this row: 'flash ok', 'instr. MISSED (limit ...)', ..."""
    t = TARGETS.get(row["model"])
    if t is None or "instructions" not in row or core not in TARGET_CORES + ("Cortex-M55",):
        return []
    limits: dict[str, int | None] = {
        "flash": t.flash if t.flash is not None else (weights + t.flash_over_weights if t.flash_over_weights else None),
        "ram": t.ram}
    if core == "Cortex-M55":
        limits["instructions"] = round(M55_RATIO * m7["instructions"]) if m7 and m7.get("instructions") else None
    elif t.instructions is not None:
        limits["instructions"] = t.instructions
    else:
        a = anchor(card, row["backend"])
        limits["instructions"] = round(t.anchor_ratio * a.instructions_per_inference) if a and t.anchor_ratio else None
    out = []
    for key, limit in limits.items():
        if limit is not None:
            ok = row[f"{key}_bytes" if key != "instructions" else key] <= limit
            out.append(f"{key} {'ok' if ok else 'MISSED'} (<= {limit:,})")
    return out


def model_table(card: Any, rows: list[dict[str, Any]], cores: dict[str, str]) -> str:
    """Markdown table of one model's rows (zoo.perftable's columns, plus lowering, targets and fit) and the board
    figures."""
    weights = model_weights_bytes(card)
    m7 = next((r for r in rows if cores[r["backend"]] == "Cortex-M7" and r["lowering"] == "int8"), None)
    header = [perftable.HEADER[0], "lowering", *perftable.HEADER[1:], "targets", "fit"]
    lines = [f"### {card.name} (model weights {weights:,} B)", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for r in rows:
        cells = perftable.device_row(card, r["backend"], r, r.get("instructions")).cells()
        targets = "; ".join(verdicts(r, cores[r["backend"]], card, weights, m7)) or "—"
        lines.append("| " + " | ".join([cells[0], r["lowering"], *cells[1:], targets, r["fits"]]) + " |")
    boards = perftable.board_figures(card)
    if boards:
        lines += ["", "Board figures (cycles at the board's clock on real parts, not emulated instructions):", ""]
        lines += [f"- {b.name}, {b.target}: {b.text()}" for b in boards]
    return "\n".join(lines)


def summary_table(results: dict[str, list[dict[str, Any]]], cores: dict[str, str]) -> str:
    """One row per model and core (the README's performance table): figures and the targets each row misses."""
    lines = ["| model | core | flash B (weights + code) | RAM B | instructions / inference | "
             "÷ TFLM + CMSIS-NN (same core) | targets missed |", "|---|---|---|---|---|---|---|"]
    for model, rows in sorted(results.items()):
        card = zoo.get_card(model)
        weights = model_weights_bytes(card)
        m7 = next((r for r in rows if cores[r["backend"]] == "Cortex-M7" and r["lowering"] == "int8"), None)
        for r in sorted(rows, key=lambda r: cores[r["backend"]]):
            core = cores[r["backend"]]
            if "instructions" not in r:
                lines.append(f"| {model} | {core} | {r['fits']} | | | | |")
                continue
            a = perftable.anchor(card, r["backend"])
            ratio = f"{r['instructions'] / a.instructions_per_inference:.2f}" if a else "—"
            checks = verdicts(r, core, card, weights, m7)
            missed = "; ".join(v.replace(" MISSED", "") for v in checks if "MISSED" in v)
            lines.append(f"| {model} | {core} | {r['flash_bytes']:,} ({r['weights_bytes']:,} + {r['code_bytes']:,}) | "
                         f"{r['ram_bytes']:,} | {r['instructions']:,} | {ratio} | "
                         f"{missed or ('none' if checks else 'no target')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, help="registered models (default: all)")
    parser.add_argument("--backends", nargs="+", default=None, help="device backends (default: every available one)")
    parser.add_argument("--lowerings", nargs="+", default=["int8"])
    parser.add_argument("--json", default=None)
    parser.add_argument("--summary", action="store_true", help="end with one row per model and core (the README's)")
    args = parser.parse_args()
    available = device_backends()
    backends = args.backends or list(available)
    cores = {b: available[b].core if b in available else "?" for b in backends}
    results = {}
    for model in args.models or zoo.list_models():
        card = zoo.get_card(model)
        rows = [measure(model, b, lw) for b in backends for lw in args.lowerings]
        results[model] = rows
        print(model_table(card, rows, cores), end="\n\n", flush=True)
    if args.summary:
        print(summary_table(results, cores))
    if args.json:  # written whole or not at all
        with tempfile.NamedTemporaryFile("w", dir=Path(args.json).parent or ".", delete=False) as f:
            json.dump(results, f, indent=2)
        Path(f.name).replace(args.json)


if __name__ == "__main__":
    main()
