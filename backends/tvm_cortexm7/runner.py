"""The runner of the ``tvm-<target>`` backends: batches through the harness firmware on a
:class:`~.device.DeviceRunner` (which cuts them into shards: :class:`~.qemu.QemuRunner`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from zoo.backend import LOGITS, Availability, Footprint, LayerProfile, Runner
from zoo.card import Card
from zoo.errors import BackendError, InputError

from . import instrumented
from .device import DeviceRunner, Result
from .footprint import FIT
from .library import ModelLibrary, pack, unpack
from .records import RecordLayout

__all__ = ["CortexM7Runner", "MEASUREMENTS", "FOOTPRINT", "card_tensor_names"]

MEASUREMENTS = "measurements.json"
FOOTPRINT = "footprint.json"


class CortexM7Runner(Runner):
    """Runs a compiled folder's firmware: ``run`` hands the whole batch to the device runner.

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
        self.last_result: Result | None = None  # per-image records of the latest batch (no instruction counts)
        self.test_defines: tuple[str, ...] = ()  # tests only: defines of the instrumented builds (FW_TEST_NUDGE_OP=k)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a batch on the target.

        Args:
            inputs: ``{card input name: array (N, *shape[1:])}`` in the model's own dtype (nothing is converted).

        Returns:
            ``{card output name: array (N, *shape[1:])}`` in the model's own dtypes, plus ``LOGITS`` (int8)
            when the library exposes them.

        Raises:
            InputError: an input is missing, or has the wrong dtype or shape.
            BackendError: the model returned an error status on an input.
            ToolchainError: the emulator failed, hung, the firmware faulted or its results are corrupt.
        """
        in_names, out_names = card_tensor_names(self.card, self.library)
        missing = [n for n in in_names if n not in inputs]
        if missing:
            raise InputError(f"missing input(s) {missing}; the card's inputs are {in_names}")
        flat = pack(self.library.inputs, [np.asarray(inputs[n]) for n in in_names])
        layout = RecordLayout(self.library.output_bytes, self.library.logits.count if self.library.logits else 0)
        result = self.target.run_batch(self.elf, flat, layout=layout)
        bad = np.flatnonzero(result.status)
        if bad.size:
            raise BackendError(f"{self.library.prefix}_run returned status {int(result.status[bad[0]])} on input "
                               f"{int(bad[0])} ({bad.size} of {len(flat)} inputs failed); the library is broken - "
                               "rebuild it and report the model")
        self.last_result = result
        out = dict(zip(out_names, unpack(self.library.outputs, result.outputs), strict=True))
        if result.logits is not None:
            out[LOGITS] = result.logits
        return out

    def intermediates(self) -> Availability:
        """Yes for the int8 lowering: an instrumented build writes every layer's output (see :mod:`.instrumented`)."""
        return instrumented.availability(self.library)

    def run_intermediates(self, inputs: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
        """Every operator output of the .tflite, keyed by its tensor index, from the instrumented ``tensors`` build
        (built into the cache on first use; an alias such as RESHAPE gives its input's bytes under its own index).

        Raises:
            InputError, BackendError, ToolchainError: as for :meth:`run`, or the build has no layer hooks.
        """
        in_names, _ = card_tensor_names(self.card, self.library)
        missing = [n for n in in_names if n not in inputs]
        if missing:
            raise InputError(f"missing input(s) {missing}; the card's inputs are {in_names}")
        flat = pack(self.library.inputs, [np.asarray(inputs[n]) for n in in_names])
        _, tensors = instrumented.run_tensors(self.library, self.target, self.instrumented_elf(instrumented.TENSORS), flat)
        return tensors

    def layer_instructions(self) -> LayerProfile | None:
        """Instructions per layer of one inference (instrumented ``profile`` build under ``-icount``, hook cost
        subtracted), beside the normal build's per-inference figure for the same calibration image."""
        if not instrumented.availability(self.library):
            return None
        normal = json.loads((self.dir / MEASUREMENTS).read_text(encoding="utf-8"))["instructions"]
        return instrumented.layer_profile(self.library, self.target, self.instrumented_elf(instrumented.PROFILE), normal)

    def instrumented_elf(self, mode: str) -> Path:
        """The instrumented firmware (``instrumented.TENSORS`` or ``PROFILE``) of this library, built once into the
        cache apart from the normal build (see :func:`.instrumented.instrumented_elf`)."""
        return instrumented.instrumented_elf(self.library, self.target, mode, test_defines=self.test_defines,
                                             timeout_s=float(getattr(self.target, "timeout_s", 120.0)))

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


def card_tensor_names(card: Card, library: ModelLibrary) -> tuple[list[str], list[str]]:
    """The card's input and output names, in the model's order (the card lists them in that order)."""
    ins, outs = [t.name for t in card.inputs], [t.name for t in card.outputs]
    if len(ins) != len(library.inputs) or len(outs) != len(library.outputs):
        raise BackendError(f"the card lists {len(ins)} input(s) and {len(outs)} output(s), the model has "
                           f"{len(library.inputs)} and {len(library.outputs)}; fix the card")
    return ins, outs
