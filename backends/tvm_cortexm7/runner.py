"""The runner of the ``tvm-<target>`` backends: batches through the harness firmware on a
:class:`~.device.DeviceRunner`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from zoo.backend import LOGITS, Footprint, Runner
from zoo.card import Card
from zoo.errors import BackendError, InputError

from .device import DeviceRunner, Result
from .footprint import FIT
from .library import ModelLibrary

__all__ = ["CortexM7Runner", "MEASUREMENTS", "FOOTPRINT"]

MEASUREMENTS = "measurements.json"
FOOTPRINT = "footprint.json"
CHUNK = 2000  # images per emulator start


class CortexM7Runner(Runner):
    """Runs a compiled folder's firmware: ``run`` sends the whole batch through one emulator start.

    Args:
        card: the model card (tensor names and shapes).
        compiled_dir: the folder :meth:`TVMCortexM7Backend.compile` wrote.
        target: the device runner the firmware runs on.
    """

    def __init__(self, card: Card, compiled_dir: Path, target: DeviceRunner) -> None:
        self.card = card
        self.dir = Path(compiled_dir)
        self.target = target
        self.library = ModelLibrary.load(self.dir / "library")
        self.elf = self.dir / "fw.elf"
        if not self.elf.is_file():
            raise BackendError(f"compiled folder {self.dir} has no fw.elf; delete it so it is rebuilt")
        self.last_result: Result | None = None  # per-image records of the latest batch (stack; no instruction counts)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a batch on the target.

        Args:
            inputs: ``{card.input.name: uint8 array (N, *card.input.shape[1:])}``.

        Returns:
            ``{card.output.name: float32 (N, *card.output.shape[1:])}``, plus ``LOGITS`` (int8) when the
            library exposes them.

        Raises:
            InputError: the input tensor is missing or has the wrong dtype/shape.
            BackendError: the model returned an error status on an image.
            ToolchainError: the emulator failed, hung or the firmware faulted.
        """
        spec = self.card.input
        if spec.name not in inputs:
            raise InputError(f"missing input {spec.name!r}; the card's input is {spec.name!r}")
        x = np.asarray(inputs[spec.name])
        if x.dtype != np.uint8 or x.shape[1:] != tuple(spec.shape[1:]):
            raise InputError(f"input {spec.name!r} must be uint8 of shape (N, {', '.join(map(str, spec.shape[1:]))}), "
                             f"got {x.dtype} {x.shape}")
        flat = x.reshape(len(x), -1)
        count = int(np.prod(self.card.output.shape[1:]))
        parts = [self.target.run_batch(self.elf, flat[i:i + CHUNK], output_count=count,
                                       has_logits=self.library.has_logits) for i in range(0, len(flat), CHUNK)]
        result = _concat(parts, count, self.library.has_logits)
        bad = np.flatnonzero(result.status)
        if bad.size:
            raise BackendError(f"{self.library.prefix}_run returned status {int(result.status[bad[0]])} on image "
                               f"{int(bad[0])} ({bad.size} of {len(flat)} images failed); the library is broken - "
                               "rebuild it and report the model")
        self.last_result = result
        out = {self.card.output.name: result.outputs.reshape(len(x), *self.card.output.shape[1:])}
        if result.logits is not None:
            out[LOGITS] = result.logits
        return out

    def footprint(self) -> Footprint | None:
        """Model flash/RAM from the linked image (stack measured at compile time, see ``measurements.json``), with
        the target's part and whether the image fits it (:meth:`fit`)."""
        data = json.loads((self.dir / FOOTPRINT).read_text(encoding="utf-8"))["footprint"]
        fit = self.fit()
        return Footprint(**{k: v for k, v in data.items() if k not in ("part", "fits", "regions")},
                         part=fit["part"], fits=fit["fits"], regions=tuple(fit["regions"]))

    def fit(self) -> dict:
        """Whether the image fits the target's part: per memory region its size, use, bytes used, free and
        overflow (``fit.json``; see :func:`~.footprint.fit_record`)."""
        return json.loads((self.dir / FIT).read_text(encoding="utf-8"))

    def instructions_per_inference(self) -> int | None:
        """Instructions retired per inference under emulation (QEMU -icount), the median over the compile-time
        calibration images (batches run without ``-icount``, which would make them several times slower)."""
        return int(json.loads((self.dir / MEASUREMENTS).read_text(encoding="utf-8"))["instructions_per_inference"])


def _concat(parts: list[Result], count: int, has_logits: bool) -> Result:
    if not parts:
        empty = np.zeros(0, np.int64)
        return Result(np.zeros(0, np.int32), np.zeros((0, count), np.float32),
                      np.zeros((0, count), np.int8) if has_logits else None, empty, empty)
    return Result(status=np.concatenate([p.status for p in parts]),
                  outputs=np.concatenate([p.outputs for p in parts]),
                  logits=np.concatenate([p.logits for p in parts]) if has_logits else None,
                  instructions=None if parts[0].instructions is None else np.concatenate([p.instructions for p in parts]),
                  stack_bytes=np.concatenate([p.stack_bytes for p in parts]))
