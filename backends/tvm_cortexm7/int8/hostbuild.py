"""Build an int8 model library for the host (tests) or for a device target (size check).

The host build compiles the same C sources with the portable (non-DSP) code paths into a
shared object driven through ctypes, so the library can be compared bit for bit with
TensorFlow Lite Micro before it ever runs on a device.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from zoo.errors import ToolchainError
from zoo.proc import run as proc_run

from ..library import ModelLibrary, pack, unpack
from ..targets import load_target

__all__ = ["HostLibrary", "build_host", "build_arm_objects", "arm_size"]

_COMMON = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off"]


def _run(cmd: list[str], timeout: float = 180) -> str:
    if shutil.which(cmd[0]) is None:
        raise ToolchainError(f"{cmd[0]} is not on PATH; install it (apt-get install gcc / gcc-arm-none-eabi)")
    try:
        done = proc_run(cmd, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"{cmd[0]} timed out after {timeout}s: {' '.join(cmd)}") from exc
    if done.returncode != 0:
        raise ToolchainError(f"{' '.join(cmd[:3])}... failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def build_host(lib_dir: Path, out: Path, cc: str = "gcc", defines: tuple[str, ...] = ()) -> Path:
    """Compile every .c of a library folder into a host shared object (``defines``: extra ``-D`` macros)."""
    sources = sorted(str(p) for p in Path(lib_dir).glob("*.c"))
    _run([cc, *_COMMON, *(f"-D{d}" for d in defines), "-O2", "-fPIC", "-shared", f"-I{lib_dir}", *sources,
          "-o", str(out), "-lm"])
    return Path(out)


def build_arm_objects(lib_dir: Path, obj_dir: Path, target: str = "cortexm7", cc: str = "arm-none-eabi-gcc") -> list[Path]:
    """Compile each .c of a library folder for a device target (its CPU flags from ``targets/<target>.yaml``)."""
    flags = [*load_target(target).cflags, "-O2"]
    obj_dir = Path(obj_dir)
    obj_dir.mkdir(parents=True, exist_ok=True)
    objs = []
    for src in sorted(Path(lib_dir).glob("*.c")):
        obj = obj_dir / (src.stem + ".o")
        _run([cc, *flags, *_COMMON, "-ffunction-sections", "-fdata-sections", f"-I{lib_dir}",
              "-c", str(src), "-o", str(obj)])
        objs.append(obj)
    return objs


def arm_size(objects: list[Path], size_tool: str = "arm-none-eabi-size") -> dict[str, dict[str, int]]:
    """``arm-none-eabi-size`` (Berkeley format) of each object: text/data/bss bytes."""
    out = _run([size_tool, *map(str, objects)])
    sizes = {}
    for line in out.splitlines()[1:]:
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\w+\s+(\S+)", line)
        if m:
            sizes[Path(m.group(4)).name] = {"text": int(m.group(1)), "data": int(m.group(2)),
                                            "bss": int(m.group(3))}
    return sizes


class HostLibrary:
    """A host build of a model library, run through ctypes on packed buffers (``<prefix>_run_buffers``).

    Example:
        >>> host = HostLibrary(build_host(lib.dir, tmp / "m.so"), lib)  # doctest: +SKIP
        >>> outputs, logits = host.run([images])  # doctest: +SKIP
    """

    def __init__(self, so_path: Path, lib: ModelLibrary) -> None:
        self._dll = ctypes.CDLL(str(so_path))
        self.lib = lib
        self._run = getattr(self._dll, f"{lib.prefix}_run_buffers")
        self._logits = getattr(self._dll, f"{lib.prefix}_run_logits") if lib.logits else None
        for fn in (self._run, self._logits):
            if fn is not None:
                fn.restype = ctypes.c_int32
                fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

    def run(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Run a batch: each input ``(N, *shape[1:])`` in the model's dtype; returns (outputs, int8 logits or None)."""
        packed = pack(self.lib.inputs, inputs)
        out = np.zeros((len(packed), self.lib.output_bytes), np.uint8)
        logits_spec = self.lib.logits
        logits = np.zeros((len(packed), logits_spec.count), np.int8) if logits_spec else None
        for i, row in enumerate(packed):
            x = np.ascontiguousarray(row)
            if self._run(x.ctypes.data, out[i].ctypes.data) != 0:
                raise ToolchainError(f"model run failed on input {i}")
            if logits is not None and self._logits(x.ctypes.data, logits[i].ctypes.data) != 0:
                raise ToolchainError(f"model run_logits failed on input {i}")
        return unpack(self.lib.outputs, out), logits
