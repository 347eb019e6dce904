"""Build a model library into firmware for a device target with arm-none-eabi-gcc.

The image has two parts, kept apart so the footprint can be attributed: the *model* (every
object compiled from the library folder, plus the libm/libc/libgcc members they pull in)
and the *harness* (``fw_*.c`` of this package: start-up, semihosting I/O, the batch loop,
and the generated ``fw_binding.c`` that adapts the library's header to the harness).
Every CPU flag, start-up option and memory size comes from the target's data
(:class:`~.targets.TargetSpec`); the linker script is generated from its regions (:mod:`.linker`).
A model that does not fit the part fails the link with a :class:`ModelTooLargeError` naming the
region and the overflow.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zoo.errors import DoesNotFitError, ToolchainError
from zoo.proc import run as proc_run

from .footprint import fit_record
from .library import ModelLibrary
from .linker import linker_script
from .targets import TargetSpec

__all__ = ["Firmware", "ModelTooLargeError", "build_firmware", "build_elf", "compile_objects", "gcc_version",
           "harness_flags", "write_linker_script"]

OPT_FLAGS = ("-O2", "-ffunction-sections", "-fdata-sections")
HARNESS_WARNINGS = ("-ffreestanding", "-fno-tree-loop-distribute-patterns", "-Wall", "-Wextra")
HARNESS_SOURCES = ("fw_startup.c", "fw_semihost.c", "fw_main.c")
HARNESS_HEADERS = ("fw_semihost.h", "fw_binding.h", "fw_ticks.h", "fw_layers.h")
#: Harness sources of an instrumented build only (``instrument=``): the layer hook and its records.
INSTRUMENT_SOURCES = ("fw_layers.c",)
#: ``instrument=`` -> the defines of an instrumented build (model: hooks on; harness: what the hook does).
INSTRUMENT_MODES = {"tensors": 1, "profile": 2}
GCC = "arm-none-eabi-gcc"
_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


class ModelTooLargeError(ToolchainError, DoesNotFitError):
    """The image does not fit the target's part: ``overflow`` maps each region to the bytes it lacks."""

    def __init__(self, message: str, target: TargetSpec, overflow: dict[str, int]) -> None:
        super().__init__(message)
        self.target = target
        self.overflow = overflow

    def fit(self) -> dict:
        """The same record a fitting model's ``fit.json`` holds, with ``fits`` false and the overflows."""
        return fit_record(self.target, {}, self.overflow)


def harness_flags(target: TargetSpec) -> tuple[str, ...]:
    """Flags of the harness sources: freestanding, warnings, and the target's start-up options."""
    return (*HARNESS_WARNINGS, f"-DFW_ENABLE_FPU={int(target.startup.enable_fpu)}")


@dataclass(frozen=True)
class Firmware:
    """A linked image: the ELF, its map file, and which objects are the model."""

    elf: Path
    map: Path
    model_objects: tuple[str, ...]  # object file names of the library
    weights_objects: tuple[str, ...]  # subset holding only weights


def _run(cmd: list[str], what: str, timeout_s: float, cwd: Path | None = None,
         target: TargetSpec | None = None) -> str:
    try:
        proc = proc_run(cmd, timeout=timeout_s, cwd=cwd)
    except FileNotFoundError:
        raise ToolchainError(f"{cmd[0]} not found while {what}; install it: apt-get install -y "
                             "gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi") from None
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{cmd[0]} did not finish within {timeout_s:g} s while {what}; "
                             "the machine is overloaded or the source is pathological") from None
    if proc.returncode != 0:
        overflow = {region: int(n) for region, n in _OVERFLOW.findall(proc.stderr)}
        if overflow and target is not None:
            raise ModelTooLargeError(_too_large(target, overflow, what), target, overflow)
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ToolchainError(f"{cmd[0]} failed while {what} (exit status nonzero):\n{tail}\ncommand: {' '.join(cmd)}")
    return proc.stdout


def _too_large(target: TargetSpec, overflow: dict[str, int], what: str) -> str:
    sizes = {r.name: r for r in target.memory}
    parts = "; ".join(f"{region} ({sizes[region].length:,} B, holds {', '.join(sizes[region].uses)}) overflowed by "
                      f"{n:,} bytes" if region in sizes else f"{region} overflowed by {n:,} bytes"
                      for region, n in overflow.items())
    return (f"the model does not fit the {target.part} ({target.core}, target {target.name!r}) while {what}: {parts}; "
            f"choose a target with more memory or a smaller model (memory sizes: targets/{target.name}.yaml)")


def gcc_version(timeout_s: float = 30) -> str:
    """The first line of ``arm-none-eabi-gcc --version``.

    Raises:
        ToolchainError: the compiler is missing or does not answer.
    """
    lines = _run([GCC, "--version"], "asking the compiler's version", timeout_s).strip().splitlines()
    if not lines:
        raise ToolchainError(f"{GCC} --version printed nothing; the compiler is broken: reinstall it "
                             "(apt-get install -y gcc-arm-none-eabi)")
    return lines[0].strip()


def compile_objects(sources: list[Path], obj_dir: Path, target: TargetSpec, *, include_dirs: list[Path],
                    extra_flags: tuple[str, ...] = (), timeout_s: float = 120) -> list[Path]:
    """Compile C sources one object each with the target's CPU flags.

    Args:
        sources: .c files.
        obj_dir: where the objects go (created).
        target: whose ``cflags`` are used.
        include_dirs: ``-I`` folders.
        extra_flags: more compiler flags.
        timeout_s: limit per compiler run.

    Returns:
        The object files, in the order of ``sources``.

    Raises:
        ToolchainError: the compiler fails or hangs.
    """
    obj_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for src in sources:
        obj = obj_dir / (src.stem + ".o")
        cmd = [GCC, *target.cflags, *OPT_FLAGS, *extra_flags, *[f"-I{d}" for d in include_dirs], "-c", str(src), "-o", str(obj)]
        _run(cmd, f"compiling {src.name}", timeout_s)
        objects.append(obj)
    return objects


def _harness_dir(build: Path, target: TargetSpec) -> Path:
    """Copy the harness sources and headers out of the package into ``build/harness``, with the linker script."""
    dest = build / "harness"
    dest.mkdir(parents=True, exist_ok=True)
    pkg = resources.files(__package__)
    for name in (*HARNESS_SOURCES, *INSTRUMENT_SOURCES, *HARNESS_HEADERS):
        (dest / name).write_text(pkg.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
    write_linker_script(target, dest)
    return dest


def write_linker_script(target: TargetSpec, folder: Path) -> Path:
    """Write ``<folder>/<target>.ld`` (generated from the target's memory regions)."""
    path = Path(folder) / f"{target.name}.ld"
    path.write_text(linker_script(target), encoding="utf-8")
    return path


def _binding_c(lib: ModelLibrary) -> str:
    p, up = lib.prefix, lib.prefix.upper()
    logits = (f"return {p}_run_buffers_logits(input, output, logits);" if lib.has_logits
              else "(void)input; (void)output; (void)logits; return -100;")
    return f"""/* fw_binding.c - generated by zoo: adapts {p}.h to the test harness (harness, not model). */
#include "{p}.h"
#include "fw_binding.h"

const uint32_t fw_input_bytes = {up}_INPUT_BYTES;
const uint32_t fw_output_bytes = {up}_OUTPUT_BYTES;
const uint32_t fw_logits_bytes = {up}_LOGITS_COUNT;
uint8_t fw_input_buf[{up}_INPUT_BYTES] __attribute__((aligned(16)));
uint8_t fw_output_buf[{up}_OUTPUT_BYTES + 4u] __attribute__((aligned(16)));
int8_t fw_logits_buf[({up}_LOGITS_COUNT + 7u) & ~3u] __attribute__((aligned(16)));

int32_t fw_run(const uint8_t *input, uint8_t *output) {{ return {p}_run_buffers(input, output); }}
int32_t fw_run_logits(const uint8_t *input, uint8_t *output, int8_t *logits) {{ {logits} }}
"""


def build_elf(objects: list[Path], elf: Path, target: TargetSpec, *, linker_script: Path, timeout_s: float = 120) -> Path:
    """Link objects into a bare-metal ELF with the harness linker script; writes ``<elf>.map`` too.

    Args:
        objects: every object of the image (harness start-up included).
        elf: the output file.
        target: whose CPU flags select the libraries (multilib) and whose part the regions describe.
        linker_script: the ``.ld`` file (:func:`write_linker_script`).
        timeout_s: limit for the linker.

    Returns:
        The map file.

    Raises:
        ModelTooLargeError: the image does not fit (the message names each region and its overflow).
        ToolchainError: the link fails otherwise.
    """
    map_file = elf.with_suffix(".map")
    cmd = [GCC, *target.cflags, "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", f"-T{linker_script}",
           f"-Wl,-Map={map_file}", "-o", str(elf),
           *[str(o) for o in objects], "-Wl,--start-group", "-lm", "-lc", "-lgcc", "-Wl,--end-group"]
    _run(cmd, f"linking {elf.name}", timeout_s, target=target)
    return map_file


def build_firmware(lib: ModelLibrary, build: Path, target: TargetSpec, *, timeout_s: float = 120,
                   instrument: str | None = None, test_defines: tuple[str, ...] = ()) -> Firmware:
    """Compile a model library with the test harness into ``build/fw.elf`` (+ ``fw.map``) for `target`.

    Args:
        lib: the model library (any lowering).
        build: a folder for objects and the image (created).
        target: the device target (flags, start-up options, memory regions).
        timeout_s: limit per compiler/linker run.
        instrument: None (the normal build, whose footprint and instructions are reported), or an
            instrumented build of :data:`INSTRUMENT_MODES`: the library's layer hooks on
            (``-DZOO_LAYER_HOOKS=<mode>``) and ``fw_layers.c`` writing ``layers.bin`` (see ``fw_layers.h``).
        test_defines: more ``NAME=VALUE`` defines for the harness of an instrumented build (the profile
            record's ``FW_MAX_SPANS``; in tests e.g. ``FW_TEST_NUDGE_OP=3``).

    Returns:
        The firmware.

    Raises:
        ModelTooLargeError: the image does not fit the target's part.
        ToolchainError: compiling or linking fails.
    """
    if shutil.which(GCC) is None:
        raise ToolchainError(f"{GCC} is not on PATH; install it: apt-get install -y --no-install-recommends "
                             "gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi")
    if instrument is not None and instrument not in INSTRUMENT_MODES:
        raise ValueError(f"instrument={instrument!r}: choose None or one of {sorted(INSTRUMENT_MODES)}")
    harness = _harness_dir(build, target)
    (harness / "fw_binding.c").write_text(_binding_c(lib), encoding="utf-8")
    hooks = (f"-DZOO_LAYER_HOOKS={INSTRUMENT_MODES[instrument]}",) if instrument else ()
    model_objs = compile_objects(list(lib.sources), build / "model", target, include_dirs=[lib.dir],
                                 extra_flags=hooks, timeout_s=timeout_s)
    extra = INSTRUMENT_SOURCES if instrument else ()
    layers = (f"-DFW_LAYERS={INSTRUMENT_MODES[instrument]}", *(f"-D{d}" for d in test_defines)) if instrument else ()
    harness_srcs = [harness / s for s in (*HARNESS_SOURCES, *extra, "fw_binding.c")]
    harness_objs = compile_objects(harness_srcs, build / "harness_obj", target, include_dirs=[harness, lib.dir],
                                   extra_flags=(*harness_flags(target), *layers), timeout_s=timeout_s)
    elf = build / "fw.elf"
    map_file = build_elf([*harness_objs, *model_objs], elf, target, linker_script=harness / f"{target.name}.ld",
                         timeout_s=timeout_s)
    weights = {s.stem + ".o" for s in lib.weights_sources}
    return Firmware(elf, map_file, tuple(o.name for o in model_objs),
                    tuple(o.name for o in model_objs if o.name in weights))
