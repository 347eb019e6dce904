"""Issue 14: a device batch is sharded over parallel QEMU processes (backends/tvm_cortexm7/qemu.py, zoo/proc.py).

Real parts: stmnist_v1's int8 firmware built with arm-none-eabi-gcc, run on QEMU mps2-an500, against
TFLM's own interpreter; a firmware that hangs, for the failures. Sharded results must equal the
unsharded ones record for record, the one-inference logits path must equal the measuring path, and a
shard that dies, hangs or fails must stop the batch with an error naming it and leave no emulator.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hostile import default_signals, live_processes, wait_until
from target_firmware import tiny_firmware

import zoo
from zoo.errors import InputError, ToolchainError
from zoo.proc import Tools, ToolTimeout

pytestmark = pytest.mark.emulator

if not all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm")):
    pytest.skip("arm-none-eabi-gcc and qemu-system-arm are needed", allow_module_level=True)

from zoo.backends.tvm_cortexm7.library import pack  # noqa: E402
from zoo.backends.tvm_cortexm7.qemu import ENV_EMULATORS, SHARD_BYTES, QemuRunner, emulator_count, shards  # noqa: E402
from zoo.backends.tvm_cortexm7.records import RecordLayout  # noqa: E402
from zoo.backends.tvm_cortexm7.targets import load_target  # noqa: E402

M7 = load_target("cortexm7")
HANG_C = 'int main(void) { for (;;) { __asm__ volatile("nop"); } }\n'


@pytest.fixture(scope="module")
def stmnist() -> zoo.Model:
    return zoo.load("stmnist_v1", backend="tvm-cortexm7", emulators=1)


@pytest.fixture(scope="module")
def digits(stmnist: zoo.Model) -> np.ndarray:
    """23 real digits of the card's golden vectors (an odd count: shards of unequal size)."""
    from zoo.conformance.golden import load_golden

    golden = load_golden(stmnist.card)
    return golden.inputs[golden.kinds == "real"][:23]


def _batch(model: zoo.Model, images: np.ndarray) -> tuple[np.ndarray, RecordLayout]:
    lib = model.runner.library
    return pack(lib.inputs, [images]), RecordLayout(lib.output_bytes, lib.logits.count if lib.logits else 0)


def test_sharded_results_equal_unsharded(stmnist: zoo.Model, digits: np.ndarray) -> None:
    flat, layout = _batch(stmnist, digits)
    elf = stmnist.runner.elf
    one = QemuRunner(M7, emulators=1).run_batch(elf, flat, layout=layout)
    two = QemuRunner(M7, emulators=2).run_batch(elf, flat, layout=layout)
    assert len(shards(len(flat), flat.shape[1], 2)) == 2
    for field in ("status", "outputs", "logits"):
        np.testing.assert_array_equal(getattr(two, field), getattr(one, field), err_msg=field)
    assert one.logits is not None and len(np.unique(one.logits, axis=0)) > 10, "the digits give distinct logits"
    assert one.instructions is None and one.stack_bytes is None  # validation batches measure nothing


def test_one_inference_logits_equal_the_measuring_path(stmnist: zoo.Model, digits: np.ndarray) -> None:
    """Validation batches take outputs and logits from one inference (<prefix>_run_buffers_logits); the measuring
    loop times fw_run alone and takes the logits from a second inference. Both must agree, and with TFLM."""
    flat, layout = _batch(stmnist, digits[:6])
    fast = QemuRunner(M7, emulators=2).run_batch(stmnist.runner.elf, flat, layout=layout)
    measured = QemuRunner(M7, emulators=2).run_batch(stmnist.runner.elf, flat, layout=layout, count_instructions=True)
    np.testing.assert_array_equal(fast.outputs, measured.outputs)
    np.testing.assert_array_equal(fast.logits, measured.logits)
    assert measured.instructions is not None and np.all(measured.instructions > 500_000)
    assert measured.stack_bytes is not None and np.all(measured.stack_bytes > 0)
    tflm = zoo.load("stmnist_v1", backend="tflm").predict(digits[:6])
    np.testing.assert_array_equal(stmnist.predict(digits[:6]), tflm)


def test_shard_plan_covers_the_batch_in_order() -> None:
    assert shards(0, 784, 2) == []
    assert shards(3, 784, 8) == [(0, 1), (1, 2), (2, 3)]
    plan = shards(89_264, 784, 2)
    assert plan[0][0] == 0 and plan[-1][1] == 89_264
    assert all(a[1] == b[0] for a, b in zip(plan, plan[1:], strict=False))
    assert max(stop - start for start, stop in plan) <= 4096
    vww = 96 * 96 * 3  # bytes of one input: shards are bounded by bytes too
    assert max(stop - start for start, stop in shards(89_264, vww, 1)) == SHARD_BYTES // vww


def test_emulator_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_EMULATORS, raising=False)
    assert emulator_count() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(ENV_EMULATORS, "3")
    assert emulator_count() == 3 and emulator_count(1) == 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(ENV_EMULATORS, bad)
        with pytest.raises(InputError, match=f"{ENV_EMULATORS}=.* is not a positive integer"):
            emulator_count()
    with pytest.raises(ValueError, match="emulators must be a positive integer"):
        QemuRunner(M7, emulators=0)


@pytest.fixture(scope="module")
def hang_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hang")
    (folder / "hang.c").write_text(HANG_C)
    return tiny_firmware(M7, folder / "hang.c", folder)


def _emulators(elf: Path) -> list[str]:
    return [p for p in live_processes(str(elf)) if "qemu-system-arm" in p]


def test_killed_shard_fails_the_batch_and_stops_the_others(hang_elf: Path, tmp_path: Path) -> None:
    elf = tmp_path / "killed.elf"  # a unique command line to find this test's emulators by
    shutil.copy(hang_elf, elf)
    killed: list[int] = []

    def kill_one() -> None:
        if wait_until(lambda: len(_emulators(elf)) == 2, 60):
            pid = int(_emulators(elf)[0].split(":")[0])
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_one)
    killer.start()
    try:
        with pytest.raises(ToolchainError, match=r"shard [12] of 2 \(input [01] of the batch\): QEMU was killed by "
                                                 r"SIGKILL"):
            QemuRunner(M7, timeout_s=300, per_image_s=0, emulators=2).run_batch(
                elf, np.zeros((2, 4), np.uint8), layout=RecordLayout(4))
    finally:
        killer.join()
    assert killed, "both emulators never ran at once"
    assert not _emulators(elf), f"left running: {_emulators(elf)}"


def test_hanging_shards_time_out_and_leave_no_emulator(hang_elf: Path, tmp_path: Path) -> None:
    elf = tmp_path / "hung.elf"
    shutil.copy(hang_elf, elf)
    start = time.monotonic()
    with pytest.raises(ToolchainError, match=r"did not finish within 2 s under QEMU on shard [123] of 3"):
        QemuRunner(M7, timeout_s=2, per_image_s=0, emulators=3).run_batch(elf, np.zeros((3, 4), np.uint8),
                                                                          layout=RecordLayout(4))
    assert time.monotonic() - start < 30
    assert not _emulators(elf), f"left running: {_emulators(elf)}"


def test_signalled_sharded_batch_leaves_no_emulator(hang_elf: Path, tmp_path: Path) -> None:
    """SIGTERM reaching zoo while two shards run: zoo exits with 128 + 15 and takes both emulators with it."""
    elf = tmp_path / "term.elf"
    shutil.copy(hang_elf, elf)
    child_code = ("import sys, numpy as np\nfrom zoo.backends.tvm_cortexm7.qemu import QemuRunner\n"
                  "from zoo.backends.tvm_cortexm7.records import RecordLayout\n"
                  "from zoo.backends.tvm_cortexm7.targets import load_target\n"
                  "QemuRunner(load_target('cortexm7'), timeout_s=600, emulators=2).run_batch(sys.argv[1], "
                  "np.zeros((2, 4), np.uint8), layout=RecordLayout(4))\n")
    child = subprocess.Popen([sys.executable, "-c", child_code, str(elf)], stderr=subprocess.PIPE, text=True,
                             preexec_fn=default_signals)
    try:
        assert wait_until(lambda: len(_emulators(elf)) == 2, 60), "the two emulators never ran"
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
        assert child.returncode == 128 + signal.SIGTERM and "Traceback" not in child.stderr.read()
        assert wait_until(lambda: not _emulators(elf), 10), f"left running: {_emulators(elf)}"
    finally:
        child.kill()
        child.wait()


def test_tools_kill_the_rest_when_one_fails() -> None:
    marker = f"zoo-tools-test-{os.getpid()}"
    with pytest.raises(RuntimeError, match="shard failed"), Tools() as tools:
        tools.start(["sh", "-c", f"sleep 60; echo {marker}"], timeout=120, tag="slow")
        tools.start(["sh", "-c", "exit 3"], timeout=120, tag="bad")
        tag, proc = tools.wait_any()
        assert (tag, proc.returncode) == ("bad", 3)
        raise RuntimeError("shard failed")
    assert not live_processes(marker)
    with pytest.raises(ToolTimeout) as info, Tools() as tools:
        tools.start(["sleep", "30"], timeout=0.5, tag=7)
        tools.wait_any()
    assert info.value.tag == 7
