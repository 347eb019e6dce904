"""Instrumented builds of the device firmware: each layer's output tensor, and each layer's instructions.

The int8 library calls ``ZOO_LAYER_HOOK`` after every operator (:func:`.int8.codegen.layer_hooks`);
a normal build compiles it to nothing, so the footprint and the instruction figures always come from
the normal build. An instrumented build (:func:`.firmware.build_firmware` ``instrument=``) is a second
compiled form in the cache, keyed by the library it was built from, the harness sources, the target
and the mode, never mixed with the normal one:

- ``tensors``: the hook writes the tensor from the arena to ``layers.bin`` (records of
  :mod:`.layer_records`), giving :meth:`~.runner.CortexM7Runner.run_intermediates`, keyed by the
  .tflite's tensor indices exactly as the host backends key them. An alias the compiler folds away
  (RESHAPE, SQUEEZE, EXPAND_DIMS: no call, no memory) reports its input's bytes under its own
  operator and tensor: the same bytes, under the alias's name and shape.
- ``profile``: the hook (a ``bl`` that keeps every register but ``lr``, so the driver's code around it
  stays as the compiler arranges it without hooks, and every hook costs the same) reads SysTick at
  each layer boundary; run under ``-icount`` on the compile-time calibration images, each layer's
  span minus the hook's measured cost gives its instructions
  (:meth:`~.runner.CortexM7Runner.layer_instructions`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zoo import artifacts
from zoo.backend import Availability, LayerInstructions, LayerProfile
from zoo.errors import BackendError

from .device import DeviceRunner, Result
from .firmware import HARNESS_HEADERS, HARNESS_SOURCES, INSTRUMENT_SOURCES, build_firmware
from .layer_records import Hook, parse_profile, parse_tensors
from .library import ModelLibrary
from .qemu import ticks_to_instructions
from .records import RecordLayout

__all__ = ["TENSORS", "PROFILE", "LAYERS_FILE", "BATCH_BYTES", "availability", "hooks", "instrumented_elf",
           "record_layout", "run_tensors", "layer_profile"]

TENSORS, PROFILE = "tensors", "profile"
LAYERS_FILE = "layers.bin"
PROFILE_FILE = "profile.json"
#: Host modules an instrumented entry depends on (its build, and the profile.json it holds).
_HOST_SOURCES = ("firmware.py", "instrumented.py", "layer_records.py", "qemu.py", "records.py")
#: Layer records per emulator start: a batch whose intermediates are larger runs in chunks of inputs.
BATCH_BYTES = 32 * 2**20


def availability(library: ModelLibrary) -> Availability:
    """Whether the library has layer hooks (the int8 lowering writes them; the float lowering does not)."""
    if not library.metadata.get("layers"):
        return Availability(False, f"the {library.metadata.get('lowering', '?')} lowering's library has no layer "
                            "hooks (only the int8 lowering writes them)", "use lowering='int8'")
    return Availability(True)


def hooks(library: ModelLibrary) -> list[Hook]:
    """The hook calls of one inference, in execution order (from the library's ``metadata.json``).

    Raises:
        BackendError: the library has no layer hooks.
    """
    ok = availability(library)
    if not ok:
        raise BackendError(f"{library.prefix}: {ok.message()}")
    return [Hook(layer["operator"], out["tensor"], out["bytes"])
            for layer in library.metadata["layers"] for out in layer["outputs"]]


def _key(library: ModelLibrary, device: DeviceRunner, mode: str, test_defines: tuple[str, ...]) -> list[str]:
    """What an instrumented build depends on: the library's files, the harness sources, the target, the mode."""
    digest = hashlib.sha256()
    pkg = Path(__file__).parent
    files = [*sorted(p for p in library.dir.iterdir() if p.is_file()),
             *(pkg / name for name in (*HARNESS_SOURCES, *INSTRUMENT_SOURCES, *HARNESS_HEADERS, *_HOST_SOURCES))]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    # the profile build's figures (profile.json) are the emulator's: a new version measures them anew
    measured_by = device.version() if mode == PROFILE else ""
    return [library.prefix, digest.hexdigest(), device.target.model_dump_json(), mode, measured_by, *test_defines]


def instrumented_elf(library: ModelLibrary, device: DeviceRunner, mode: str, *, timeout_s: float = 120.0,
                     test_defines: tuple[str, ...] = ()) -> Path:
    """The instrumented firmware of a library for `device`'s target, built once into the cache.

    A ``profile`` build is also run once on the calibration images under ``-icount`` (``profile.json``
    beside the ELF; see :func:`layer_profile`).

    Raises:
        BackendError: the library has no layer hooks, or the firmware reports an error.
        ToolchainError: compiling, linking or the emulator fails.
    """
    expected = hooks(library)

    # a profile record holds one span per hook, sized for this model (fw_layers.c's FW_MAX_SPANS; at least the
    # two of fw_layers_open's calibration)
    spans = (f"FW_MAX_SPANS={max(len(expected), 2)}u",) if mode == PROFILE else ()

    def build(out: Path) -> None:
        fw = build_firmware(library, out / "build", device.target, timeout_s=timeout_s, instrument=mode,
                            test_defines=(*spans, *test_defines))
        shutil.copy2(fw.elf, out / "fw.elf")
        shutil.rmtree(out / "build")
        if mode == PROFILE:
            (out / PROFILE_FILE).write_text(json.dumps(_profile_run(library, device, out / "fw.elf", expected),
                                                       indent=1) + "\n", encoding="utf-8")

    entry = artifacts.cached_build(f"instrumented/{device.target.name}/{library.prefix}",
                                   _key(library, device, mode, test_defines), build)
    return entry / "fw.elf"


def record_layout(library: ModelLibrary) -> RecordLayout:
    """The result-record layout of the library's firmware (the same in every build)."""
    return RecordLayout(library.output_bytes, library.logits.count if library.logits else 0)


def _checked(result: Result, library: ModelLibrary, offset: int) -> Result:
    bad = np.flatnonzero(result.status)
    if bad.size:
        raise BackendError(f"{library.prefix}_run returned status {int(result.status[bad[0]])} on input "
                           f"{offset + int(bad[0])} in the instrumented build; rebuild it and report the model")
    return result


def run_tensors(library: ModelLibrary, device: DeviceRunner, elf: Path,
                flat: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Run a tensors build on packed inputs, in chunks of at most :data:`BATCH_BYTES` of layer records.

    Args:
        library: the library the firmware was built from.
        device: where it runs.
        elf: :func:`instrumented_elf` in mode ``tensors``.
        flat: packed inputs (N, input_bytes), uint8.

    Returns:
        The packed outputs (N, output_bytes) of the instrumented run, and TFLite tensor index -> array
        ``(N, *shape[1:])`` of the tensor's own dtype, for every operator output.

    Raises:
        BackendError: the model returned an error status.
        ToolchainError: the emulator failed, or a result or layer record is corrupt.
    """
    expected = hooks(library)
    per_input = sum(h.nbytes for h in expected) or 1
    step = max(1, BATCH_BYTES // per_input)
    outputs, parts = [], [[] for _ in expected]
    for i in range(0, len(flat), step):
        result = _checked(device.run_batch(elf, flat[i:i + step], layout=record_layout(library), collect=(LAYERS_FILE,)),
                          library, i)
        outputs.append(result.outputs)
        for k, part in enumerate(parse_tensors(result.files[LAYERS_FILE], len(result.status), expected, elf)):
            parts[k].append(part)
    specs = {out["tensor"]: out for layer in library.metadata["layers"] for out in layer["outputs"]}
    tensors = {}
    for h, chunks in zip(expected, parts, strict=True):
        spec = specs[h.tensor]
        raw = np.concatenate(chunks) if chunks else np.zeros((0, h.nbytes), np.uint8)
        tensors[h.tensor] = raw.view(np.dtype(spec["dtype"]).newbyteorder("<")).astype(spec["dtype"]).reshape(
            len(raw), *spec["shape"][1:])
    packed = np.concatenate(outputs) if outputs else np.zeros((0, library.output_bytes), np.uint8)
    return packed, tensors


def _profile_run(library: ModelLibrary, device: DeviceRunner, elf: Path, expected: list[Hook]) -> dict[str, Any]:
    """Run a profile build on the calibration images under ``-icount``: instructions per layer and image."""
    from . import calibration_images  # noqa: PLC0415 - the package imports this module

    images = calibration_images((1, library.input_bytes))
    result = _checked(device.run_batch(elf, images, layout=record_layout(library), count_instructions=True,
                                       collect=(LAYERS_FILE,)), library, 0)
    prof = parse_profile(result.files[LAYERS_FILE], len(images), expected, elf)
    # converted cumulatively, so that ticks -> instructions rounds once per inference, not once per layer
    net = np.cumsum(np.maximum(prof.spans - prof.overhead_ticks[:, None], 0), axis=1)
    layers = np.diff(ticks_to_instructions(net, device.target), axis=1, prepend=0)
    return {"layers": layers.tolist(), "hook_overhead": ticks_to_instructions(prof.overhead_ticks, device.target).tolist(),
            "instrumented_total": result.instructions.tolist(), "outputs_sha256": [
                hashlib.sha256(row.tobytes()).hexdigest() for row in result.outputs],
            "images": "all-0, all-255, seeded uniform noise"}


def layer_profile(library: ModelLibrary, device: DeviceRunner, elf: Path, normal: list[int]) -> LayerProfile:
    """Each layer's instructions on the calibration image whose normal-build count is the median.

    Args:
        library: the library.
        device: its device runner (for the target's instruction-count factor and description).
        elf: :func:`instrumented_elf` in mode ``profile`` (its ``profile.json`` beside it).
        normal: the normal build's instructions per calibration image (``measurements.json``).

    Returns:
        The layers, the normal build's figure for that image, and what the layers leave unattributed.
    """
    data = json.loads((elf.parent / PROFILE_FILE).read_text(encoding="utf-8"))
    hooks = sum(len(layer["outputs"]) for layer in library.metadata["layers"])
    if len(data.get("layers", ())) != len(normal) or any(len(c) != hooks for c in data["layers"]):
        raise BackendError(f"{elf.parent / PROFILE_FILE} does not match this build ({len(normal)} calibration "
                           f"images, {hooks} layers): delete {elf.parent} (a compiled form in the zoo cache) and "
                           "run again")
    pick = int(np.argsort(normal, kind="stable")[len(normal) // 2])
    counts = data["layers"][pick]
    total = int(normal[pick]) or 1
    rows, k = [], 0
    for layer in library.metadata["layers"]:
        for out in layer["outputs"]:
            rows.append(LayerInstructions(layer["operator"], layer["op"], out["tensor"], out.get("name", ""),
                                          int(counts[k]), counts[k] / total, layer.get("macs") or None))
            k += 1
    emu = device.target.emulator
    method = (f"SysTick at each layer boundary under qemu-system-arm -M {emu.machine} -icount "
              f"shift={emu.icount_shift}, ticks x {emu.instructions_per_tick}; each layer minus one hook's own cost "
              f"({data['hook_overhead'][pick]} instructions, measured by two back-to-back hooks); calibration image "
              f"{pick} of {len(normal)} ({data['images']}: the median of the normal build's); instructions retired "
              "under emulation, not cycles")
    return LayerProfile(tuple(rows), int(normal[pick]), int(normal[pick]) - sum(counts),
                        int(data["hook_overhead"][pick]), method)
