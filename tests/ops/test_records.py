"""The firmware frames every result record (magic, index, payload size, FNV-1a checksum): a record
zeroed, altered, reordered or cut between the emulator and the parser is refused with a clear
error, never read as outputs (a QEMU returning zeroed records once gave all-zero probabilities)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import test_fully_connected
from opmodels import inputs_for

from zoo.errors import ToolchainError

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs arm-none-eabi-gcc and qemu-system-arm")]


class _Tampering:
    """A QEMU target that alters output.bin after the firmware wrote it and before it is parsed."""

    def __init__(self, alter) -> None:  # noqa: ANN001
        from zoo.backends.tvm_cortexm7.qemu import QemuRunner
        from zoo.backends.tvm_cortexm7.targets import load_target

        class Target(QemuRunner):
            def _read_output(self, work: Path) -> bytes:
                return alter(bytearray(super()._read_output(work)))

        self.target = Target(load_target("cortexm7"), emulators=1)  # one shard: the record numbers are the batch's


@pytest.fixture(scope="module")
def firmware(op_models, tmp_path_factory):  # noqa: ANN001, ANN201
    from zoo.backends.tvm_cortexm7.firmware import build_firmware
    from zoo.backends.tvm_cortexm7.int8 import generate_int8_library
    from zoo.backends.tvm_cortexm7.library import pack
    from zoo.backends.tvm_cortexm7.records import RecordLayout
    from zoo.backends.tvm_cortexm7.targets import load_target

    folder = tmp_path_factory.mktemp("records")
    lib = generate_int8_library(op_models.model("fully_connected", test_fully_connected.CASES), folder / "lib", "m")
    fw = build_firmware(lib, folder / "fw", load_target("cortexm7"))
    batch = pack(lib.inputs, inputs_for(lib, 4, seed=9))
    return fw.elf, batch, RecordLayout(lib.output_bytes, 0)


def _run(firmware, alter=None):  # noqa: ANN001, ANN202
    from zoo.backends.tvm_cortexm7.qemu import QemuRunner
    from zoo.backends.tvm_cortexm7.targets import load_target

    elf, batch, layout = firmware
    target = QemuRunner(load_target("cortexm7")) if alter is None else _Tampering(alter).target
    return target.run_batch(elf, batch, layout=layout)


def _zero_record(k: int, size: int):  # noqa: ANN202
    def alter(raw: bytearray) -> bytes:
        raw[k * size:(k + 1) * size] = bytes(size)
        return bytes(raw)
    return alter


def test_intact_records_parse(firmware) -> None:  # noqa: ANN001
    res = _run(firmware)
    assert np.all(res.status == 0) and res.outputs.shape == (4, firmware[2].output_bytes)
    assert res.outputs.any(), "the FC outputs are not all zero"


@pytest.mark.parametrize(("kind", "match"), [
    ("zeroed", "record 2 of 4 is corrupt: its magic word is wrong"),
    ("flipped", "record 1 of 4 is corrupt: its checksum does not match"),
    ("index_flipped", "record 1 of 4 is corrupt: its checksum does not match"),
    ("swapped", "record 0 of 4 is corrupt: its index is out of order"),
    ("cut", "wrote .* bytes of results for 4 inputs"),
])
def test_damaged_records_are_refused(firmware, kind: str, match: str) -> None:  # noqa: ANN001
    size = firmware[2].record_bytes

    def flipped(raw: bytearray) -> bytes:
        raw[size + 4 * 7 + 3] ^= 0x10  # a payload byte of record 1
        return bytes(raw)

    def index_flipped(raw: bytearray) -> bytes:
        raw[size + 4] ^= 0x04  # record 1's index field: damaged, not a reordered record
        return bytes(raw)

    def swapped(raw: bytearray) -> bytes:
        return bytes(raw[size:2 * size] + raw[:size] + raw[2 * size:])

    alter = {"zeroed": _zero_record(2, size), "flipped": flipped, "index_flipped": index_flipped, "swapped": swapped,
             "cut": lambda raw: bytes(raw[:-5])}[kind]
    with pytest.raises(ToolchainError, match=match):
        _run(firmware, alter)


def test_profile_record_holds_every_layer_of_a_deep_model(op_models, tmp_path: Path) -> None:
    """A profile build holds one span per layer hook, sized for the model: 140 layers (the firmware's
    default bound was 128, where the run failed as a semihosting error) are each timed, in order, and
    add up to the normal build's instructions within an instruction per hook (measured: 51 of 106,566; the
    code around 140 hook statements is not exactly the normal build's)."""
    from opmodels import Case
    from zoo.backends.tvm_cortexm7 import calibration_images, instrumented
    from zoo.backends.tvm_cortexm7.firmware import build_firmware
    from zoo.backends.tvm_cortexm7.int8 import generate_int8_library
    from zoo.backends.tvm_cortexm7.qemu import QemuRunner
    from zoo.backends.tvm_cortexm7.targets import load_target

    deep = 140
    path = op_models.model("deep_dense", [Case("deep", [(8,)], test_fully_connected._dense(*[8] * deep))])
    lib = generate_int8_library(path, tmp_path / "lib", "m")
    device = QemuRunner(load_target("cortexm7"), per_image_s=0.5)
    normal = device.run_batch(build_firmware(lib, tmp_path / "fw", device.target).elf,
                              calibration_images((1, lib.input_bytes)), layout=instrumented.record_layout(lib),
                              count_instructions=True)
    prof = instrumented.layer_profile(lib, device, instrumented.instrumented_elf(lib, device, instrumented.PROFILE),
                                      normal.instructions.tolist())
    assert [x.op for x in prof.layers] == ["FULLY_CONNECTED"] * deep
    assert all(x.instructions > 0 for x in prof.layers)
    assert abs(prof.per_inference - prof.layer_sum) <= deep, prof.as_dict()
