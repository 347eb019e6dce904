"""Attribute a linked image's bytes to the model, its weights and the test harness (from the map file).

Every input section the linker placed is read from the GNU ld map file with its object file:

* objects compiled from the model library -> *model* (``<prefix>_weights.o`` -> *weights*);
* members of libm/libc/libgcc -> *model* as well (only the library calls them: the harness
  is built freestanding without libc), reported apart as ``libs`` in the breakdown;
* everything else (start-up, semihosting, batch loop, binding) -> *harness*.

Flash = .text + .rodata + .data (its load image); RAM = .data + .bss + the stack
high-water mark the firmware measured during inference.

:func:`fit_from_elf` says, per memory region of the target's part, what the whole image uses
(harness and reserved stack included): the figures behind "fits the part" in reports.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from zoo.backend import Footprint
from zoo.errors import ToolchainError
from zoo.proc import run as proc_run

from .targets import TargetSpec

__all__ = ["FIT", "SectionSizes", "read_map", "footprint_from_map", "fit_from_elf", "fit_record"]

FIT = "fit.json"
OBJDUMP = "arm-none-eabi-objdump"
_SECTION = re.compile(r"^\s*\d+\s+(?P<name>\S+)\s+(?P<size>[0-9a-f]{8})\s+(?P<vma>[0-9a-f]{8})\s+(?P<lma>[0-9a-f]{8})"
                      r"\s+[0-9a-f]{8}\s+\S+\n\s+(?P<flags>.*)$", re.MULTILINE)

_INPUT = re.compile(r"^ (?P<sec>\.\S+|COMMON)\s+0x(?P<addr>[0-9a-f]+)\s+0x(?P<size>[0-9a-f]+) (?P<obj>\S.*)$",
                    re.MULTILINE)
_KINDS = (("text", (".text", ".isr_vector", ".glue", ".vfp11", ".v4_bx", ".ARM.exidx", ".ARM.extab")), ("rodata", (".rodata",)),
          ("data", (".data",)), ("bss", (".bss", "COMMON")))


@dataclass
class SectionSizes:
    """Bytes per section kind (text, rodata, data, bss) for one group of objects."""

    text: int = 0
    rodata: int = 0
    data: int = 0
    bss: int = 0
    objects: set[str] = field(default_factory=set)

    @property
    def flash(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss

    def as_dict(self) -> dict[str, int]:
        return {"text": self.text, "rodata": self.rodata, "data": self.data, "bss": self.bss,
                "flash": self.flash, "ram": self.ram}


def _kind(section: str) -> str | None:
    for kind, prefixes in _KINDS:
        if section.startswith(prefixes):
            return kind
    return None


def _group(obj: str, model: set[str], weights: set[str]) -> str:
    name = Path(obj.split("(")[0]).name if "(" not in obj else obj
    if ".a(" in obj:
        return "libs"
    if name in weights:
        return "weights"
    if name in model:
        return "model"
    return "harness"


def read_map(map_file: Path, model_objects: set[str], weights_objects: set[str]) -> dict[str, SectionSizes]:
    """Sum the placed input sections of a GNU ld map file by group.

    Args:
        map_file: the ``-Wl,-Map`` output.
        model_objects: object file names of the model library.
        weights_objects: those that hold only weights.

    Returns:
        ``{"model", "weights", "libs", "harness"}`` -> sizes.

    Raises:
        ToolchainError: the file is not a GNU ld map file.
    """
    text = Path(map_file).read_text(encoding="utf-8", errors="replace")
    start = text.find("Linker script and memory map")
    if start < 0:
        raise ToolchainError(f"{map_file} is not a GNU ld map file (no memory map section); relink the firmware")
    groups = {g: SectionSizes() for g in ("model", "weights", "libs", "harness")}
    for m in _INPUT.finditer(text, start):
        size, kind = int(m["size"], 16), _kind(m["sec"])
        obj = m["obj"].strip()
        if size == 0 or kind is None or obj == "linker stubs":
            continue
        g = groups[_group(obj, model_objects, weights_objects)]
        setattr(g, kind, getattr(g, kind) + size)
        g.objects.add(obj)
    return groups


def footprint_from_map(map_file: Path, model_objects: set[str], weights_objects: set[str], *,
                       arena_bytes: int, stack_bytes: int, stack_reserved: int) -> tuple[Footprint, dict]:
    """The model's device footprint, with the harness apart.

    Args:
        map_file: the firmware's map file.
        model_objects: object file names of the model library.
        weights_objects: those that hold only weights.
        arena_bytes: the library's static arena + workspace (from its metadata).
        stack_bytes: measured stack high-water mark of one inference.
        stack_reserved: stack the linker script reserves (harness figure).

    Returns:
        (footprint, breakdown by group as plain dicts).

    Raises:
        ToolchainError: the map file cannot be read as one.
    """
    g = read_map(map_file, model_objects, weights_objects)
    model, weights, libs, harness = g["model"], g["weights"], g["libs"], g["harness"]
    code = model.text + model.rodata + libs.text + libs.rodata
    weights_bytes = weights.text + weights.rodata + weights.data
    model_data = model.data + libs.data
    fp = Footprint(flash_bytes=code + weights_bytes + model_data,
                   ram_bytes=model_data + model.bss + libs.bss + weights.bss + stack_bytes,
                   weights_bytes=weights_bytes, code_bytes=code, stack_bytes=stack_bytes, arena_bytes=arena_bytes,
                   harness={"flash_bytes": harness.flash, "ram_bytes": harness.ram,
                            "stack_reserved_bytes": stack_reserved})
    breakdown = {name: sizes.as_dict() for name, sizes in g.items()}
    breakdown["libs"]["members"] = sorted(o.split("(")[-1].rstrip(")") for o in libs.objects)
    return fp, breakdown


def _region_use(elf: Path, target: TargetSpec, timeout_s: float = 60) -> dict[str, int]:
    """Bytes of each region the linked image occupies: every allocated section at its run address, and a loaded
    section whose load address differs (.data) at its load address too (``objdump -h``)."""
    try:
        proc = proc_run([OBJDUMP, "-h", str(elf)], timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"{OBJDUMP} -h {elf} failed ({exc}); install binutils-arm-none-eabi") from None
    if proc.returncode != 0:
        raise ToolchainError(f"{OBJDUMP} cannot read {elf}: {proc.stderr.strip()[-300:]}; relink the firmware")
    used = {r.name: 0 for r in target.memory}
    for m in _SECTION.finditer(proc.stdout):
        size, vma, lma, flags = int(m["size"], 16), int(m["vma"], 16), int(m["lma"], 16), m["flags"]
        if "ALLOC" not in flags or size == 0:
            continue
        for addr in {vma, lma} if "LOAD" in flags else {vma}:
            region = next((r for r in target.memory if r.origin <= addr < r.end), None)
            if region is not None:
                used[region.name] += size
    return used


def fit_record(target: TargetSpec, used: dict[str, int], overflow: dict[str, int]) -> dict:
    """Plain data: the part, and each region's size, use, bytes used, free and overflow, and whether it fits."""
    regions = []
    for r in target.memory:
        over = overflow.get(r.name, 0)
        taken = r.length + over if over else used.get(r.name, 0)
        regions.append({"region": r.name, "bytes": r.length, "uses": list(r.uses), "used_bytes": taken,
                        "free_bytes": max(r.length - taken, 0), "overflow_bytes": over})
    return {"target": target.name, "core": target.core, "part": target.part, "machine": target.emulator.machine,
            "fits": not overflow, "regions": regions,
            "includes": f"the whole image: model, test harness and the reserved stack ({target.startup.stack_bytes:,} B)"}


def fit_from_elf(elf: Path, target: TargetSpec, footprint: Footprint | None = None) -> dict:
    """The fit of a linked image (it linked, so it fits): :func:`fit_record` plus the model's own footprint.

    Raises:
        ToolchainError: the ELF cannot be read.
    """
    record = fit_record(target, _region_use(elf, target), {})
    if footprint is not None:
        record["model"] = footprint.as_dict()
    return record
