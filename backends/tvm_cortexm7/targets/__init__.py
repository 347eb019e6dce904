"""Device targets as data: one YAML file per target (``<name>.yaml`` in this folder), loaded into a
frozen :class:`TargetSpec` (core, compiler flags, features, the memory regions of the real part it is
sized to, the emulator machine and its instruction-count factor, start-up options).

More folders of target files can be named in ``ZOO_TARGET_PATH`` (separated like ``PATH``): a
target defined there joins zoo with one entry point (``tvm-<name> = "zoo.backends.tvm_cortexm7:<name>"``).

Example:
    >>> spec = load_target("cortexm4")
    >>> spec.part, spec.emulator.machine, spec.cflags[:2]
    ('STM32L4R5', 'mps2-an386', ('-mcpu=cortex-m4', '-mthumb'))
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from zoo.card import Seq
from zoo.errors import UnknownNameError
from zoo.strict import Strict, read_yaml, validate_document

__all__ = ["MemoryRegion", "Emulator", "Startup", "TargetSpec", "load_target", "target_for_core", "target_names",
           "target_file"]

ENV_PATH = "ZOO_TARGET_PATH"
_SIZE = re.compile(r"^(\d+)\s*([KM]?)$")


def _size(value: Any) -> Any:
    """``"640K"`` / ``"2M"`` / ``"4096"`` -> bytes; an int stays an int."""
    if isinstance(value, str):
        m = _SIZE.match(value.strip())
        if not m:
            raise ValueError(f"a size is bytes or <n>K / <n>M, got {value!r}")
        return int(m[1]) * {"": 1, "K": 1024, "M": 1024 * 1024}[m[2]]
    return value


Bytes = Annotated[int, BeforeValidator(_size), Field(gt=0)]
Use = Literal["code", "data", "stack"]
Ident = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class MemoryRegion(Strict):
    """One memory of the real part, placed at an address the emulated machine maps."""

    name: Ident  # linker region name, e.g. FLASH, SRAM, DTCM
    origin: Annotated[int, Field(ge=0)]  # address on the emulated machine
    length: Bytes  # the real part's size
    uses: Seq[Use]  # code: vectors, .text, .rodata, .data load image; data: .data, .bss; stack
    part_address: Annotated[int, Field(ge=0)] | None = None  # where the real part has it, when elsewhere
    note: str = ""

    @property
    def end(self) -> int:
        return self.origin + self.length


class Emulator(Strict):
    """The QEMU machine the target runs on and how SysTick counts instructions there."""

    machine: str  # qemu-system-arm -M
    boot_address: Annotated[int, Field(ge=0)]  # where the core reads its vector table at reset
    icount_shift: Annotated[int, Field(ge=0, le=10)] = 6  # -icount shift=N: 2**N ns per instruction
    instructions_per_tick: Annotated[str, Field(pattern=r"^\d+/\d+$")]  # SysTick ticks -> instructions
    maps: str  # what the machine maps (for the reader: code and data memories, sizes)

    @property
    def factor(self) -> Fraction:
        num, den = self.instructions_per_tick.split("/")
        return Fraction(int(num), int(den))


class Startup(Strict):
    """Options of the harness start-up code (``fw_startup.c``)."""

    enable_fpu: bool  # set CP10/CP11 full access in CPACR before any C code (FPU and MVE registers)
    stack_bytes: Bytes  # stack the linker reserves (the footprint reports the measured high-water mark)


class TargetSpec(Strict):
    """A device target: everything core-specific the backend, the linker script and the runner need."""

    name: Ident  # file name and backend suffix: backend "tvm-<name>"
    core: str  # e.g. "Cortex-M4F"
    measures: Seq[str] = ()  # the cores of cards' platforms this target measures the fit for, e.g. "Cortex-M0+"
    arch: str  # e.g. "armv7e-m"
    part: str  # the real part the memory regions are sized to, e.g. "STM32L4R5"
    part_note: str = ""
    cflags: Seq[str]  # CPU flags for every compile and link: -mcpu, -mfpu, -mfloat-abi, -mthumb
    dsp: bool  # ARMv7E-M/ARMv8-M DSP extension (__ARM_FEATURE_DSP)
    mve: bool  # M-profile vector extension, Helium (__ARM_FEATURE_MVE)
    fpu: str | None  # the FPU's name, None when there is none (soft float)
    memory: Seq[MemoryRegion]
    emulator: Emulator
    startup: Startup

    @model_validator(mode="after")
    def _check(self) -> TargetSpec:
        names = [r.name for r in self.memory]
        if len(set(names)) != len(names):
            raise ValueError(f"memory region names repeat: {names}")
        for use in ("code", "data", "stack"):
            n = sum(use in r.uses for r in self.memory)
            if n != 1:
                raise ValueError(f"exactly one memory region must have use {use!r}, found {n}")
        spans = sorted((r.origin, r.end, r.name) for r in self.memory)
        for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
            if start < end:
                raise ValueError(f"memory regions {a} and {b} overlap")
        if self.region("code").origin != self.emulator.boot_address:
            raise ValueError(f"the code region starts at {self.region('code').origin:#x} but {self.emulator.machine} "
                             f"boots from {self.emulator.boot_address:#x}: the vector table goes first in the code region")
        soft = "-mfloat-abi=soft" in self.cflags
        if (self.fpu is None) != soft or (self.startup.enable_fpu and self.fpu is None):
            raise ValueError("fpu, -mfloat-abi and startup.enable_fpu disagree: a target without an FPU uses "
                             "-mfloat-abi=soft and does not enable one")
        return self

    def region(self, use: Use) -> MemoryRegion:
        """The memory region holding `use` (code, data or stack)."""
        return next(r for r in self.memory if use in r.uses)

    @property
    def backend_name(self) -> str:
        return f"tvm-{self.name}"



def _folders() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p]
    return [Path(str(resources.files(__package__))), *extra]


def target_file(name: str) -> Path:
    """The YAML file of target `name` (this package's folder first, then ``ZOO_TARGET_PATH``).

    Raises:
        UnknownNameError: no folder has ``<name>.yaml``.
    """
    for folder in _folders():
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    raise UnknownNameError(f"no target named {name!r}; known: {', '.join(target_names())}. Add <name>.yaml to "
                           f"{_folders()[0]} or to a folder in {ENV_PATH}")


def target_names() -> list[str]:
    """Every target defined in the searched folders, sorted."""
    return sorted({p.stem for folder in _folders() if folder.is_dir() for p in folder.glob("*.yaml")})


@cache
def _load(path: Path, mtime_ns: int) -> TargetSpec:
    spec = validate_document(TargetSpec, read_yaml(path, "target description"), path, "target description")
    if spec.name != path.stem:
        raise UnknownNameError(f"target file {path} names itself {spec.name!r}; the name must be the file's stem")
    return spec


def load_target(name: str) -> TargetSpec:
    """The target named `name`, validated.

    Raises:
        UnknownNameError: no such target.
        CardError: its file is malformed (the message names the file and the key).
    """
    path = target_file(name)
    return _load(path.resolve(), path.stat().st_mtime_ns)


def target_for_core(core: str) -> TargetSpec | None:
    """The target that measures a card platform's core (its ``core`` or one of its ``measures``), if any.

    Example:
        >>> target_for_core("Cortex-M0+").name
        'cortexm0'
    """
    return next((t for t in map(load_target, target_names()) if core == t.core or core in t.measures), None)
