"""Firmware benchmark for the device backends (tvm-cortexm0, -m4, -m7, -m33, -m55, and any other
registered target): RAM, flash (weights and code apart), instructions per inference and whether the
model fits the target's part, for each lowering, next to the figures the card cites (ST's published
STM32Cube.AI figures, TensorFlow Lite Micro + CMSIS-NN's), with the ratios of the Cortex-M7 int8 row
(the first row when it is not measured) to each row.

Instructions are retired instructions under QEMU emulation (each target's machine, -icount),
not cycles. ST's figures are cycles on a real STM32H747 at 400 MHz; the two are shown side by
side for scale only.

Usage: python ci/firmware_benchmark.py [--model stmnist_v1] [--backends tvm-cortexm4 ...]
       [--lowerings int8 float] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from zoo.backends.tvm_cortexm7.firmware import ModelTooLargeError

import zoo
from zoo.cardgen import comparison_rows
from zoo.registry import backend_class, backend_names


def device_backends() -> list[str]:
    """Registered backends that build firmware for a device target."""
    return [n for n in backend_names() if zoo.backend_availability(n) and getattr(backend_class(n), "exports_library", False)]


def _fit_text(fit: dict[str, Any]) -> str:
    if fit["fits"]:
        return f"fits {fit['part']}"
    over = ", ".join(f"{r['region']} +{r['overflow_bytes']:,} B" for r in fit["regions"] if r["overflow_bytes"])
    return f"does not fit {fit['part']} ({over})"


def measure(model: str, backend: str, lowering: str) -> dict[str, Any]:
    """One device backend and lowering: footprint, instructions and fit (or only the fit when it does not link)."""
    source = f"zoo {backend}, lowering={lowering} (instructions, emulated)"
    try:
        m = zoo.load(model, backend=backend, lowering=lowering)
    except ModelTooLargeError as exc:
        return {"source": source, "fit": exc.fit(), "fits": _fit_text(exc.fit())}
    fp, fit = m.footprint(), m.runner.fit()
    return {"source": source, "ram_bytes": fp.ram_bytes, "flash_bytes": fp.flash_bytes,
            "weights_bytes": fp.weights_bytes, "code_bytes": fp.code_bytes, "arena_bytes": fp.arena_bytes,
            "stack_bytes": fp.stack_bytes, "instructions": m.instructions_per_inference(), "fit": fit,
            "fits": _fit_text(fit)}


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:,}"


def table(rows: list[dict[str, Any]], ours: dict[str, Any]) -> str:
    cols = ("ram_bytes", "flash_bytes", "weights_bytes", "code_bytes", "arena_bytes", "instructions")
    lines = ["| source | RAM B | flash B | weights B | code B | arena B | instr. or cycles / inference | "
             "M7 int8 ÷ this (RAM, flash, instr.) | fit |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = ", ".join("—" if not r.get(k) or ours.get(k) is None else f"{ours[k] / r[k]:.2f}"
                          for k in ("ram_bytes", "flash_bytes", "instructions"))
        lines.append(f"| {r['source']} | " + " | ".join(_fmt(r.get(k)) for k in cols) + f" | {ratio} | "
                     f"{r.get('fits', '—')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="stmnist_v1")
    parser.add_argument("--backends", nargs="+", default=None, help="device backends (default: every available one)")
    parser.add_argument("--lowerings", nargs="+", default=["int8", "float"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    card = zoo.get_card(args.model)
    ours = [measure(args.model, backend, lowering) for backend in args.backends or device_backends()
            for lowering in args.lowerings]
    others = [{"source": f"{c['name']} ({c['per_inference']})", "instructions": c["count"]}
              | {k: c.get(k) for k in ("ram_bytes", "flash_bytes", "weights_bytes", "code_bytes", "arena_bytes")}
              for c in comparison_rows(card)]
    base = next((r for r in ours if r["source"].startswith("zoo tvm-cortexm7, lowering=int8")), ours[0])
    print(table(ours + others, base))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ours": ours, "others": others}, f, indent=2)


if __name__ == "__main__":
    main()
