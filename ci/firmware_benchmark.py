"""Firmware benchmark for the tvm-cortexm7 backend: RAM, flash (weights and code apart) and
instructions per inference of each lowering, next to the figures the card cites (ST's published
STM32Cube.AI figures, TensorFlow Lite Micro + CMSIS-NN's), with the ratios.

Instructions are retired instructions under QEMU emulation (mps2-an500 Cortex-M7, -icount),
not cycles. ST's figures are cycles on a real STM32H747 at 400 MHz; the two are shown side by
side for scale only.

Usage: python ci/firmware_benchmark.py [--model stmnist_v1] [--lowerings int8 float] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import zoo
from zoo.cardgen import comparison_rows


def measure(model: str, lowering: str) -> dict[str, Any]:
    m = zoo.load(model, backend="tvm-cortexm7", lowering=lowering)
    fp = m.footprint()
    return {"source": f"zoo tvm-cortexm7, lowering={lowering} (instructions, emulated)", "ram_bytes": fp.ram_bytes,
            "flash_bytes": fp.flash_bytes, "weights_bytes": fp.weights_bytes, "code_bytes": fp.code_bytes,
            "arena_bytes": fp.arena_bytes, "stack_bytes": fp.stack_bytes,
            "instructions": m.instructions_per_inference()}


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:,}"


def table(rows: list[dict[str, Any]], ours: dict[str, Any]) -> str:
    cols = ("ram_bytes", "flash_bytes", "weights_bytes", "code_bytes", "arena_bytes", "instructions")
    lines = ["| source | RAM B | flash B | weights B | code B | arena B | instr. or cycles / inference | "
             "ours ÷ this (RAM, flash, instr.) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = ", ".join("—" if not r.get(k) or ours.get(k) is None else f"{ours[k] / r[k]:.2f}"
                          for k in ("ram_bytes", "flash_bytes", "instructions"))
        lines.append(f"| {r['source']} | " + " | ".join(_fmt(r.get(k)) for k in cols) + f" | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="stmnist_v1")
    parser.add_argument("--lowerings", nargs="+", default=["int8", "float"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    card = zoo.get_card(args.model)
    ours = [measure(args.model, lowering) for lowering in args.lowerings]
    others = [{"source": f"{c['name']} ({c['per_inference']})", "instructions": c["count"]}
              | {k: c.get(k) for k in ("ram_bytes", "flash_bytes", "weights_bytes", "code_bytes", "arena_bytes")}
              for c in comparison_rows(card)]
    print(table(ours + others, ours[0]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ours": ours, "others": others}, f, indent=2)


if __name__ == "__main__":
    main()
