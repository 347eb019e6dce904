"""A deliberately altered device backend for `zoo diff` (tests/test_diff_device.py), registered through the
real ``zoo.backends`` entry-point group: the Cortex-M7 firmware whose instrumented build raises one
operator's int8 output by one step on the device (``FW_TEST_NUDGE_OP``, a test-only define of
``fw_layers.c``), so that every later layer computes on a wrong input."""

from __future__ import annotations

from zoo.backends.tvm_cortexm7 import backend_for


class NudgedCortexM7Op3(backend_for("cortexm7")):
    """tvm-cortexm7 whose instrumented firmware puts operator 3's output (stmnist_v1: the 16 -> 32 CONV_2D)
    one step up; the normal build, and so ``run``, is untouched."""

    name = "test-m7-nudge-op3"
    OPERATOR = 3

    def load(self, card, artifact, artifact_path, compiled_dir):
        runner = super().load(card, artifact, artifact_path, compiled_dir)
        runner.test_defines = (f"FW_TEST_NUDGE_OP={self.OPERATOR}",)
        return runner
