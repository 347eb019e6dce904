"""What the int8 lowering refuses, and how: one error for a model with operators it lacks, naming
each TFLite operator with its index; and the portable C kernels (no DSP, no FPU) build for an
ARMv6-M Cortex-M0."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from opmodels import Case
from zoo.backends.tvm_cortexm7.int8 import generate_int8_library
from zoo.backends.tvm_cortexm7.int8.operators import UnsupportedOperatorError, supported_operators

from zoo.errors import BackendError


def _upsample_transpose(keras, tf, x):  # noqa: ANN001, ANN202
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x[0])
    y = keras.layers.UpSampling2D(2)(y)
    return keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same")(y)


def test_missing_operators_are_one_error_naming_each(op_models, tmp_path) -> None:  # noqa: ANN001
    path = op_models.model("unsupported", [Case("up", [(6, 6, 2)], _upsample_transpose)])
    with pytest.raises(UnsupportedOperatorError) as info:
        generate_int8_library(path, tmp_path / "lib", "m")
    msg = str(info.value)
    assert isinstance(info.value, BackendError)
    # TF 2.21 lowers UpSampling2D to RESHAPE + TILE pairs: ops 1-5, TRANSPOSE_CONV is op 6
    for line in ("operator #2 (TILE) is not supported", "operator #4 (TILE) is not supported",
                 "operator #6 (TRANSPOSE_CONV) is not supported"):
        assert line in msg
    assert "cannot compile 3 operator(s)" in msg and "lowering='float'" in msg
    assert ", ".join(supported_operators()) in msg
    assert not (tmp_path / "lib").exists(), "nothing is written for a refused model"


def test_damaged_file_is_a_clear_error(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 20)
    with pytest.raises(BackendError, match="cut.tflite is not a readable TFLite model"):
        generate_int8_library(bad, tmp_path / "lib", "m")


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("level", ["-O0", "-Og", "-O3"])
def test_kernels_build_at_every_optimization_level(tmp_path, level) -> None:  # noqa: ANN001
    """A library's kernels go into the user's own firmware build, at whatever -O it uses (-O0 for a
    debug build): every kernel file compiles with every target's CPU flags at each level (warnings are
    not errors here: at -O3 GCC's flow analysis flags a field of zoo_int8_conv_3x3.c's block state that
    build_patch always sets; the -O2 builds are -Werror-clean, test_portable_kernels_build_for_cortex_m0
    and tests/test_targets.py's export)."""
    from concurrent.futures import ThreadPoolExecutor

    from zoo.backends.tvm_cortexm7.int8.codegen import KERNEL_DIR
    from zoo.backends.tvm_cortexm7.targets import load_target, target_names

    def build(job: tuple[str, object]) -> str:
        name, src = job
        cmd = ["arm-none-eabi-gcc", *load_target(name).cflags, level, "-std=c99", "-Wall", "-Wextra", f"-I{KERNEL_DIR}",
               "-c", str(src), "-o", str(tmp_path / f"{name}-{src.stem}.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        return f"{src.name} for {name} at {level}:\n{proc.stderr[-800:]}" if proc.returncode else ""

    jobs = [(name, src) for name in target_names() for src in sorted(KERNEL_DIR.glob("*.c"))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        failed = [msg for msg in pool.map(build, jobs) if msg]
    assert not failed, "\n".join(failed)


def test_portable_kernels_build_for_cortex_m0(op_models, tmp_path) -> None:  # noqa: ANN001
    """Every kernel file and a generated driver, -mcpu=cortex-m0 soft-float: the plain-C tier that the
    host build (bit-exact with TFLM in every test here) also compiles."""
    import test_conv2d
    import test_elementwise
    import test_pool

    path = op_models.model("m0", [*test_conv2d.CONV[:2], *test_pool.CASES[:2], *test_elementwise.CASES[:1]])
    lib = generate_int8_library(path, tmp_path / "lib", "m")
    for src in lib.sources:
        cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", "-O2", "-std=c99", "-Wall",
               "-Wextra", "-Werror", f"-I{lib.dir}", "-c", str(src), "-o", str(tmp_path / f"{src.stem}.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, f"{src.name} for cortex-m0:\n{proc.stderr[-2000:]}"
        nm = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / f"{src.stem}.o")], capture_output=True,
                            text=True, timeout=60, check=False).stdout
        assert "smlad" not in nm and "sxtb16" not in nm, f"{src.name}: DSP instructions in the ARMv6-M build"
