"""Backends ``tvm-<target>`` (``tvm-cortexm0``, ``-m4``, ``-m7``, ``-m33``, ``-m55``): TVM compiles the int8
tflite to a standalone C model library, which runs as firmware on the target's emulated core.

A target is data (:mod:`.targets`: ``targets/<name>.yaml``); :class:`TVMCortexMBackend` is the one
backend class, and :func:`backend_for` makes its per-target subclass. The entry point of a target's
backend is this module's attribute of the target's name (``tvm-cortexm4 =
"zoo.backends.tvm_cortexm7:cortexm4"``), so adding a core is one data file plus one entry point.

Pipeline: a *lowering* (registry :data:`LOWERINGS`: "int8", the default, or "float") writes a model library folder
(contract: :mod:`.library`) -> :mod:`.firmware` builds it with the test harness for the target ->
a :class:`~.device.DeviceRunner` (:class:`~.qemu.QemuRunner`) runs batches -> :mod:`.footprint` attributes
flash/RAM from the map file and says whether the model fits the target's part.

Example:
    >>> backend = backend_for("cortexm4")(lowering="int8")                  # doctest: +SKIP
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
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from zoo.backend import Availability, Backend, Runner
from zoo.card import Artifact, Card
from zoo.errors import BackendError, UnknownNameError, ZooError

from .device import DeviceRunner
from .firmware import Firmware, build_firmware, gcc_version
from .footprint import FIT, fit_from_elf, footprint_from_map
from .library import LoweringFn, LoweringRequest, ModelLibrary, c_identifier, card_tensor_specs
from .qemu import QemuRunner
from .records import RecordLayout
from .runner import FOOTPRINT, MEASUREMENTS, CortexM7Runner
from .targets import TargetSpec, load_target, target_names

__all__ = ["TVMCortexMBackend", "TVMCortexM7Backend", "backend_for", "LOWERINGS", "register_lowering",
           "calibration_images", "source_files"]

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


#: Sources outside this folder that a lowering uses (paths relative to the ``backends`` package).
SHARED_SOURCES = ("__init__.py", "tvm_tflite.py")
_SOURCE_SUFFIXES = (".py", ".c", ".h", ".S", ".yaml")


def source_files() -> list[Path]:
    """Every file whose change can change a compiled form: this package (lowerings, kernels, harness, target
    data) and the shared modules in :data:`SHARED_SOURCES`."""
    root = Path(__file__).parent
    own = [p for p in root.rglob("*") if p.is_file() and p.suffix in _SOURCE_SUFFIXES and "__pycache__" not in p.parts]
    return sorted(own) + [root.parent / name for name in SHARED_SOURCES]


class TVMCortexMBackend(Backend):
    """TVM 0.27 -> standalone C -> firmware for one device target (instructions and footprint measured).

    Use a per-target subclass (:func:`backend_for`); ``target_name`` names its ``targets/<name>.yaml``.

    Args:
        lowering: a name in :data:`LOWERINGS` ("float": TVM lowers the QDQ graph to float math).
        timeout_s: limit for each compiler run and each emulator start (plus 0.5 s per image).
        runner: where the firmware runs (default: QEMU on the target's machine).
        emulators: QEMU processes a batch is sharded over (default: ``ZOO_EMULATORS``, else one per usable
            core); ignored with `runner`.
    """

    target_name: str = ""
    exports_library = True  # `zoo export -b <backend>` copies the C model library out
    extra = "cortexm7"
    formats = ("tflite",)
    python_modules = ("tvm", "tflite")
    executables = ("arm-none-eabi-gcc", "qemu-system-arm")
    system_packages = ("apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi "
                       "binutils-arm-none-eabi qemu-system-arm")

    def __init__(self, lowering: str = DEFAULT_LOWERING, timeout_s: float = 120.0,
                 runner: DeviceRunner | None = None, emulators: int | None = None) -> None:
        if lowering not in LOWERINGS:  # ValueError: zoo.load reports bad options as an InputError
            raise ValueError(f"unknown lowering {lowering!r} for {self.name}; choose one of {sorted(LOWERINGS)}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.lowering = lowering
        self.timeout_s = float(timeout_s)
        self.target: TargetSpec = load_target(self.target_name)
        self.emulators = emulators
        self.runner = runner or QemuRunner(self.target, timeout_s=self.timeout_s, emulators=emulators)

    def supports(self, card: Card, artifact: Artifact) -> Availability:
        """int8 tflite files; tensors int8, uint8 or float32 in and out (the C contract takes the model's own types)."""
        base = super().supports(card, artifact)
        if not base:
            return base
        if artifact.precision != "int8":
            return Availability(False, f"{self.name} compiles int8 tflite models, {artifact.file} is "
                                f"{artifact.precision}", "choose the card's int8 tflite artifact")
        if self.lowering == "float" and (card.input.dtype != "uint8" or card.output.dtype != "float32"):
            return Availability(False, f"the float lowering takes a uint8 input and gives float32 outputs; the card "
                                f"has {card.input.dtype} -> {card.output.dtype}", "use lowering='int8'")
        return Availability(True)

    def cache_key(self) -> str:
        """The target (its whole description), TVM and gcc versions, the device runner's (QEMU's: it measures the
        instruction figures kept with the build), the lowering, and a hash of every source the lowering and the
        firmware use (:func:`source_files`)."""
        digest = hashlib.sha256()
        root = Path(__file__).parent.parent
        for path in source_files():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        target = hashlib.sha256(self.target.model_dump_json().encode()).hexdigest()[:16]
        try:
            tvm_version = importlib.metadata.version("apache-tvm")
        except importlib.metadata.PackageNotFoundError:
            tvm_version = "missing"
        return (f"{self.name}/target={self.target.name}:{target}/lowering={self.lowering}/tvm={tvm_version}/"
                f"gcc={gcc_version(self.timeout_s)}/device={self.runner.version()}/src={digest.hexdigest()[:16]}")

    def compile(self, card: Card, artifact: Artifact, artifact_path: Path, out_dir: Path) -> None:
        """Write ``library/`` (the model library), ``fw.elf`` + ``fw.map``, ``measurements.json``, ``footprint.json``
        and ``fit.json`` (the target's regions, what the image uses of each).

        Raises:
            BackendError: the lowering fails or the firmware reports an error on the calibration images.
            ModelTooLargeError: the model does not fit the target's part (names each region and its overflow).
            ToolchainError: the compiler, linker or emulator fails or hangs.
        """
        out_dir = Path(out_dir)
        lib_dir = out_dir / "library"
        lib_dir.mkdir(parents=True, exist_ok=True)
        request = LoweringRequest(Path(artifact_path), c_identifier(card.name), card.input.name,
                                  tuple(card.input.shape), tuple(card.output.shape), lib_dir,
                                  card_tensors=card_tensor_specs(card), mve=self.target.mve)
        lib = _resolve(self.lowering)(request)
        fw = build_firmware(lib, out_dir / "build", self.target, timeout_s=self.timeout_s)
        shutil.copy2(fw.elf, out_dir / "fw.elf")
        shutil.copy2(fw.map, out_dir / "fw.map")
        self._measure(card, lib, fw, out_dir)

    def _measure(self, card: Card, lib: ModelLibrary, fw: Firmware, out_dir: Path) -> None:
        images = calibration_images((1, lib.input_bytes))  # raw bytes of the packed inputs
        layout = RecordLayout(lib.output_bytes, lib.logits.count if lib.logits else 0)
        result = self.runner.run_batch(fw.elf, images, layout=layout, count_instructions=True)
        if np.any(result.status):
            raise BackendError(f"{lib.prefix}_run returned status {result.status.tolist()} on the calibration "
                               f"images on {self.runner.describe()}; the generated library is broken")
        stack = int(result.stack_bytes.max())
        fp, breakdown = footprint_from_map(fw.map, set(fw.model_objects), set(fw.weights_objects),
                                           arena_bytes=int(lib.metadata["buffers"]["arena_bytes"]),
                                           stack_bytes=stack, stack_reserved=self.target.startup.stack_bytes)
        emu = self.target.emulator
        measurements = {"instructions_per_inference": int(np.median(result.instructions)),
                        "instructions": result.instructions.tolist(), "stack_bytes": result.stack_bytes.tolist(),
                        "images": "all-0, all-255, seeded uniform noise", "target": self.target.name,
                        "method": f"SysTick ticks x {emu.instructions_per_tick} under qemu-system-arm -M {emu.machine} "
                                  f"-icount shift={emu.icount_shift} (instructions retired under emulation, not cycles)",
                        "lowering": self.lowering}
        (out_dir / MEASUREMENTS).write_text(json.dumps(measurements, indent=2) + "\n", encoding="utf-8")
        (out_dir / FOOTPRINT).write_text(json.dumps({"footprint": fp.as_dict(), "breakdown": breakdown}, indent=2)
                                         + "\n", encoding="utf-8")
        (out_dir / FIT).write_text(json.dumps(fit_from_elf(fw.elf, self.target, fp), indent=2) + "\n", encoding="utf-8")

    def load(self, card: Card, artifact: Artifact, artifact_path: Path, compiled_dir: Path) -> Runner:
        """A runner over the compiled firmware (see :class:`~.runner.CortexM7Runner`)."""
        return CortexM7Runner(card, Path(compiled_dir), self.runner)

    def options(self) -> dict[str, Any]:
        """The options this instance was made with."""
        return {"lowering": self.lowering, "timeout_s": self.timeout_s, "emulators": self.emulators}


@cache
def backend_for(target: str) -> type[TVMCortexMBackend]:
    """The backend class of a target (``targets/<target>.yaml`` or a file in ``ZOO_TARGET_PATH``).

    Raises:
        UnknownNameError: no such target.
        CardError: its file is malformed.
    """
    spec = load_target(target)
    summary = (f"TVM 0.27 -> C model library -> {spec.core} firmware on QEMU {spec.emulator.machine}, sized to the "
               f"{spec.part} (instructions, flash, RAM)")
    return type(f"TVM{spec.name.capitalize()}Backend", (TVMCortexMBackend,),
                {"name": spec.backend_name, "target_name": spec.name, "summary": summary, "__module__": __name__,
                 "core": spec.core, "measures_cores": tuple(spec.measures),
                 "__doc__": f"{summary}.\n\nArgs: see :class:`TVMCortexMBackend`."})


TVMCortexM7Backend = backend_for("cortexm7")


def __getattr__(name: str) -> type[TVMCortexMBackend]:
    """``zoo.backends.tvm_cortexm7.<target>`` is that target's backend class (what the entry points name)."""
    if not name.startswith("_") and name in target_names():
        try:
            return backend_for(name)
        except ZooError as exc:  # a malformed target file: the registry reports the backend unavailable, with why
            raise AttributeError(f"target {name!r} cannot be loaded: {exc}") from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (targets: {', '.join(target_names())})")
