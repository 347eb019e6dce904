"""Backend ``tvm-cortexm7``: TVM compiles the int8 tflite to a standalone C model library, which
runs as firmware on an emulated Cortex-M7 (QEMU mps2-an500).

Pipeline: a *lowering* (registry :data:`LOWERINGS`: "int8", the default, or "float") writes a model library folder
(contract: :mod:`.library`) -> :mod:`.firmware` builds it with the test harness -> :mod:`.qemu`
runs batches -> :mod:`.footprint` attributes flash/RAM from the map file.

Example:
    >>> backend = TVMCortexM7Backend(lowering="float", timeout_s=120)   # doctest: +SKIP
    >>> backend.compile(card, card.artifact(), path, out)                # doctest: +SKIP
    >>> runner = backend.load(card, card.artifact(), path, out)          # doctest: +SKIP
    >>> runner.run({card.input.name: images})[card.output.name].shape    # doctest: +SKIP
    (50, 36)
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zoo.backend import Availability, Backend, Runner
from zoo.card import Artifact, Card
from zoo.errors import BackendError, UnknownNameError

from .firmware import STACK_RESERVED, build_firmware, gcc_version
from .footprint import footprint_from_map
from .library import LoweringFn, LoweringRequest, ModelLibrary, c_identifier
from .qemu import QemuTarget, Target
from .records import RecordLayout
from .runner import FOOTPRINT, MEASUREMENTS, CortexM7Runner

__all__ = ["TVMCortexM7Backend", "LOWERINGS", "register_lowering", "calibration_images"]

#: Lowering name -> "module:function" (imported on first use) or the function itself.
LOWERINGS: dict[str, str | LoweringFn] = {
    "float": "zoo.backends.tvm_cortexm7.lowering_float:lower_float",
    "int8": "zoo.backends.tvm_cortexm7.int8:lower_int8",
}
DEFAULT_LOWERING = "int8"  # integer-only, bit-exact with TFLite Micro; "float" is TVM's own QDQ lowering


def register_lowering(name: str, fn: str | LoweringFn) -> None:
    """Add a lowering (a callable ``LoweringRequest -> ModelLibrary`` or its "module:function" path).

    Raises:
        BackendError: the name is taken.
    """
    if name in LOWERINGS:
        raise BackendError(f"lowering {name!r} is already registered; choose another name")
    LOWERINGS[name] = fn


def _resolve(name: str) -> LoweringFn:
    if name not in LOWERINGS:
        raise UnknownNameError(f"unknown lowering {name!r} for tvm-cortexm7; choose one of {sorted(LOWERINGS)}")
    fn = LOWERINGS[name]
    if callable(fn):
        return fn
    module, _, attr = fn.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise BackendError(f"lowering {name!r} is not available ({fn}: {exc}); use lowering="
                           f"{DEFAULT_LOWERING!r}") from None


def calibration_images(shape: tuple[int, ...], count: int = 3) -> np.ndarray:
    """Fixed uint8 images for the compile-time measurements: all-0, all-255, then seeded noise."""
    rng = np.random.default_rng(20261123)
    imgs = rng.integers(0, 256, size=(count, *shape[1:]), dtype=np.uint8)
    imgs[0], imgs[1 % count] = 0, 255
    return imgs


class TVMCortexM7Backend(Backend):
    """TVM 0.27 -> standalone C -> Cortex-M7 firmware under QEMU (instructions and footprint measured).

    Args:
        lowering: a name in :data:`LOWERINGS` ("float": TVM lowers the QDQ graph to float math).
        timeout_s: limit for each compiler run and each emulator start (plus 0.5 s per image).
    """

    name = "tvm-cortexm7"
    summary = "TVM 0.27 -> C model library -> Cortex-M7 firmware on QEMU mps2-an500 (instructions, flash, RAM)"
    extra = "cortexm7"
    formats = ("tflite",)
    python_modules = ("tvm", "tflite")
    executables = ("arm-none-eabi-gcc", "qemu-system-arm")
    system_packages = ("apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi "
                       "binutils-arm-none-eabi qemu-system-arm")

    def __init__(self, lowering: str = DEFAULT_LOWERING, timeout_s: float = 120.0, target: Target | None = None) -> None:
        if lowering not in LOWERINGS:  # ValueError: zoo.load reports bad options as an InputError
            raise ValueError(f"unknown lowering {lowering!r} for tvm-cortexm7; choose one of {sorted(LOWERINGS)}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.lowering = lowering
        self.timeout_s = float(timeout_s)
        self.target = target or QemuTarget(timeout_s=self.timeout_s)

    def supports(self, card: Card, artifact: Artifact) -> Availability:
        """int8 tflite files; tensors int8, uint8 or float32 in and out (the library's C contract takes the model's own)."""
        base = super().supports(card, artifact)
        if not base:
            return base
        if artifact.precision != "int8":
            return Availability(False, f"tvm-cortexm7 compiles int8 tflite models, {artifact.file} is "
                                f"{artifact.precision}", "choose the card's int8 tflite artifact")
        specs = [*(getattr(card, "inputs", None) or [card.input]), *(getattr(card, "outputs", None) or [card.output])]
        odd = sorted({t.dtype for t in specs} - {"int8", "uint8", "float32"})
        if odd:
            return Availability(False, f"the C contract takes int8, uint8 and float32 tensors; the card has {odd}",
                                "use a backend for host runtimes")
        return Availability(True)

    def cache_key(self) -> str:
        """TVM and gcc versions, the lowering, and a hash of this package's sources and C templates."""
        digest = hashlib.sha256()
        root = Path(__file__).parent
        files = [*root.glob("*"), *(root / self.lowering).rglob("*")]  # a lowering's own folder, if it has one
        for path in sorted(p for p in files if p.is_file() and p.suffix in (".py", ".c", ".h", ".ld", ".S")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        try:
            tvm_version = importlib.metadata.version("apache-tvm")
        except importlib.metadata.PackageNotFoundError:
            tvm_version = "missing"
        return (f"{self.name}/lowering={self.lowering}/tvm={tvm_version}/gcc={gcc_version(self.timeout_s)}/"
                f"src={digest.hexdigest()[:16]}")

    def compile(self, card: Card, artifact: Artifact, artifact_path: Path, out_dir: Path) -> None:
        """Write ``library/`` (the model library), ``fw.elf`` + ``fw.map``, ``measurements.json``, ``footprint.json``.

        Raises:
            BackendError: the lowering fails or the firmware reports an error on the calibration images.
            ToolchainError: the compiler, linker or emulator fails, hangs, or the model does not fit.
        """
        out_dir = Path(out_dir)
        lib_dir = out_dir / "library"
        lib_dir.mkdir(parents=True, exist_ok=True)
        request = LoweringRequest(Path(artifact_path), c_identifier(card.name), card.input.name,
                                  tuple(card.input.shape), tuple(card.output.shape), lib_dir)
        lib = _resolve(self.lowering)(request)
        fw = build_firmware(lib, out_dir / "build", timeout_s=self.timeout_s)
        shutil.copy2(fw.elf, out_dir / "fw.elf")
        shutil.copy2(fw.map, out_dir / "fw.map")
        self._measure(card, lib, fw, out_dir)

    def _measure(self, card: Card, lib: ModelLibrary, fw, out_dir: Path) -> None:
        images = calibration_images((1, lib.input_bytes))  # raw bytes of the packed inputs
        layout = RecordLayout(lib.output_bytes, lib.logits.count if lib.logits else 0)
        result = self.target.run_batch(fw.elf, images, layout=layout, count_instructions=True)
        if np.any(result.status):
            raise BackendError(f"{lib.prefix}_run returned status {result.status.tolist()} on the calibration "
                               "images; the generated library is broken")
        stack = int(result.stack_bytes.max())
        fp, breakdown = footprint_from_map(fw.map, set(fw.model_objects), set(fw.weights_objects),
                                           arena_bytes=int(lib.metadata["buffers"]["arena_bytes"]),
                                           stack_bytes=stack, stack_reserved=STACK_RESERVED)
        measurements = {"instructions_per_inference": int(np.median(result.instructions)),
                        "instructions": result.instructions.tolist(), "stack_bytes": result.stack_bytes.tolist(),
                        "images": "all-0, all-255, seeded uniform noise",
                        "method": "SysTick ticks x 40 / 64 under qemu-system-arm -icount shift=6 (instructions "
                                  "retired under emulation, not cycles)", "lowering": self.lowering}
        (out_dir / MEASUREMENTS).write_text(json.dumps(measurements, indent=2) + "\n", encoding="utf-8")
        (out_dir / FOOTPRINT).write_text(json.dumps({"footprint": fp.as_dict(), "breakdown": breakdown}, indent=2)
                                         + "\n", encoding="utf-8")

    def load(self, card: Card, artifact: Artifact, artifact_path: Path, compiled_dir: Path) -> Runner:
        """A runner over the compiled firmware (see :class:`~.runner.CortexM7Runner`)."""
        return CortexM7Runner(card, Path(compiled_dir), self.target)

    def options(self) -> dict[str, Any]:
        """The options this instance was made with."""
        return {"lowering": self.lowering, "timeout_s": self.timeout_s}
