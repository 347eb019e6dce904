"""Build a model library into Cortex-M7 firmware with arm-none-eabi-gcc.

The image has two parts, kept apart so the footprint can be attributed: the *model* (every
object compiled from the library folder, plus the libm/libc/libgcc members they pull in)
and the *harness* (``fw_*.c`` of this package: start-up, semihosting I/O, the batch loop,
and the generated ``fw_binding.c`` that adapts the library's header to the harness).
The linker script gives STM32H747 memory sizes (see ``fw_cortexm7.ld``): a model that does
not fit fails the link with a :class:`~zoo.errors.ToolchainError` that says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zoo.errors import ToolchainError
from zoo.proc import run as proc_run

from .library import ModelLibrary

__all__ = ["CPU_FLAGS", "Firmware", "build_firmware", "build_elf", "compile_objects", "gcc_version"]

CPU_FLAGS = ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb")
C_FLAGS = (*CPU_FLAGS, "-O2", "-ffunction-sections", "-fdata-sections")
HARNESS_FLAGS = ("-ffreestanding", "-fno-tree-loop-distribute-patterns", "-Wall", "-Wextra")
HARNESS_SOURCES = ("fw_startup.c", "fw_semihost.c", "fw_main.c")
HARNESS_HEADERS = ("fw_semihost.h", "fw_binding.h")
LINKER_SCRIPT = "fw_cortexm7.ld"
GCC = "arm-none-eabi-gcc"


@dataclass(frozen=True)
class Firmware:
    """A linked image: the ELF, its map file, and which objects are the model."""

    elf: Path
    map: Path
    model_objects: tuple[str, ...]  # object file names of the library
    weights_objects: tuple[str, ...]  # subset holding only weights


def _run(cmd: list[str], what: str, timeout_s: float, cwd: Path | None = None) -> str:
    try:
        proc = proc_run(cmd, timeout=timeout_s, cwd=cwd)
    except FileNotFoundError:
        raise ToolchainError(f"{cmd[0]} not found while {what}; install it: apt-get install -y "
                             "gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi") from None
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{cmd[0]} did not finish within {timeout_s:g} s while {what}; "
                             "the machine is overloaded or the source is pathological") from None
    if proc.returncode != 0:
        raise ToolchainError(_explain(proc.stderr, what, cmd))
    return proc.stdout


def _explain(stderr: str, what: str, cmd: list[str]) -> str:
    overflow = re.findall(r"region `(\w+)' overflowed by (\d+) bytes", stderr)
    if overflow:
        parts = ", ".join(f"{region} by {int(n):,} bytes" for region, n in overflow)
        return (f"the firmware does not fit the STM32H747 memory map ({parts}) while {what}; "
                f"the model is too large for this target (see {LINKER_SCRIPT}): use a smaller model or lowering")
    tail = "\n".join(stderr.strip().splitlines()[-15:])
    return f"{cmd[0]} failed while {what} (exit status nonzero):\n{tail}\ncommand: {' '.join(cmd)}"


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


def compile_objects(sources: list[Path], obj_dir: Path, *, include_dirs: list[Path], extra_flags: tuple[str, ...] = (),
                    timeout_s: float = 120) -> list[Path]:
    """Compile C sources one object each with the Cortex-M7 flags.

    Args:
        sources: .c files.
        obj_dir: where the objects go (created).
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
        cmd = [GCC, *C_FLAGS, *extra_flags, *[f"-I{d}" for d in include_dirs], "-c", str(src), "-o", str(obj)]
        _run(cmd, f"compiling {src.name}", timeout_s)
        objects.append(obj)
    return objects


def _harness_dir(build: Path) -> Path:
    """Copy the harness sources, headers and linker script out of the package into ``build/harness``."""
    dest = build / "harness"
    dest.mkdir(parents=True, exist_ok=True)
    pkg = resources.files(__package__)
    for name in (*HARNESS_SOURCES, *HARNESS_HEADERS, LINKER_SCRIPT):
        (dest / name).write_text(pkg.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
    return dest


def _binding_c(lib: ModelLibrary) -> str:
    p, up = lib.prefix, lib.prefix.upper()
    logits = (f"return {p}_run_logits(input, logits);" if lib.has_logits else "(void)input; (void)logits; return -100;")
    return f"""/* fw_binding.c - generated by zoo: adapts {p}.h to the test harness (harness, not model). */
#include "{p}.h"
#include "fw_binding.h"

const uint32_t fw_input_bytes = {up}_INPUT_BYTES;
const uint32_t fw_output_count = {up}_OUTPUT_COUNT;
const uint32_t fw_has_logits = {1 if lib.has_logits else 0}u;
uint8_t fw_input_buf[{up}_INPUT_BYTES] __attribute__((aligned(16)));
float fw_output_buf[{up}_OUTPUT_COUNT] __attribute__((aligned(16)));
int8_t fw_logits_buf[({up}_OUTPUT_COUNT + 3u) & ~3u] __attribute__((aligned(16)));

int32_t fw_run(const uint8_t *input, float *output) {{ return {p}_run(input, output); }}
int32_t fw_run_logits(const uint8_t *input, int8_t *logits) {{ {logits} }}
"""


#: Stack the harness linker script reserves (the footprint reports the measured high-water mark, not this).
STACK_RESERVED = 64 * 1024


def build_elf(objects: list[Path], elf: Path, *, linker_script: Path, timeout_s: float = 120,
              stack_bytes: int = STACK_RESERVED) -> Path:
    """Link objects into a bare-metal ELF with the harness linker script; writes ``<elf>.map`` too.

    Args:
        objects: every object of the image (harness start-up included).
        elf: the output file.
        linker_script: the ``.ld`` file.
        timeout_s: limit for the linker.
        stack_bytes: stack reserved in DTCM.

    Returns:
        The map file.

    Raises:
        ToolchainError: the link fails (e.g. the image does not fit: the message says by how much).
    """
    map_file = elf.with_suffix(".map")
    cmd = [GCC, *CPU_FLAGS, "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", f"-T{linker_script}",
           f"-Wl,--defsym=STACK_SIZE={stack_bytes}", f"-Wl,-Map={map_file}", "-o", str(elf),
           *[str(o) for o in objects], "-Wl,--start-group", "-lm", "-lc", "-lgcc", "-Wl,--end-group"]
    _run(cmd, f"linking {elf.name}", timeout_s)
    return map_file


def build_firmware(lib: ModelLibrary, build: Path, *, timeout_s: float = 120) -> Firmware:
    """Compile a model library with the test harness into ``build/fw.elf`` (+ ``fw.map``).

    Args:
        lib: the model library (any lowering).
        build: a folder for objects and the image (created).
        timeout_s: limit per compiler/linker run.

    Returns:
        The firmware.

    Raises:
        ToolchainError: compiling or linking fails, or the image does not fit the memory map.
    """
    if shutil.which(GCC) is None:
        raise ToolchainError(f"{GCC} is not on PATH; install it: apt-get install -y --no-install-recommends "
                             "gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi")
    harness = _harness_dir(build)
    (harness / "fw_binding.c").write_text(_binding_c(lib), encoding="utf-8")
    model_objs = compile_objects(list(lib.sources), build / "model", include_dirs=[lib.dir], timeout_s=timeout_s)
    harness_srcs = [harness / s for s in (*HARNESS_SOURCES, "fw_binding.c")]
    harness_objs = compile_objects(harness_srcs, build / "harness_obj", include_dirs=[harness, lib.dir],
                                   extra_flags=HARNESS_FLAGS, timeout_s=timeout_s)
    elf = build / "fw.elf"
    map_file = build_elf([*harness_objs, *model_objs], elf, linker_script=harness / LINKER_SCRIPT, timeout_s=timeout_s)
    weights = {s.stem + ".o" for s in lib.weights_sources}
    return Firmware(elf, map_file, tuple(o.name for o in model_objs),
                    tuple(o.name for o in model_objs if o.name in weights))
