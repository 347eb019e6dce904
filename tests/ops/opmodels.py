"""Small int8 models generated in the test with TensorFlow, one per operator family, and the checks
that run them: the C library built for the host against TensorFlow Lite Micro's interpreter, bit
for bit, on every output.

A family's cases become one model (each case its own input(s) and output), so one conversion and
one firmware run cover them all. Models are cached for the session (``OpModels``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tflm_ref import tflm_run


@dataclass(frozen=True)
class Case:
    """One single-operator (or two-operator) model fragment.

    ``build(keras, tf, inputs) -> output`` gets Keras input tensors of ``shapes`` (batch 1) and
    returns the output tensor; ``spread`` is the float range of the calibration data of each input.
    """

    name: str
    shapes: Sequence[tuple[int, ...]]
    build: Callable
    spread: Sequence[float] = (1.0,)


@dataclass
class OpModels:
    """Converts families of cases to int8 .tflite files, once per session."""

    folder: Path
    cache: dict[str, Path] = field(default_factory=dict)

    def model(self, family: str, cases: Sequence[Case], in_type: str = "int8", out_type: str = "int8",
              per_tensor_dense: bool = False) -> Path:
        """The .tflite of a family (all cases side by side), converted on first use."""
        key = f"{family}-{in_type}-{out_type}" + ("-per-tensor-dense" if per_tensor_dense else "")
        if key not in self.cache:
            self.cache[key] = convert(cases, self.folder / f"{key}.tflite", in_type, out_type,
                                      per_tensor_dense=per_tensor_dense)
        return self.cache[key]


def convert(cases: Sequence[Case], path: Path, in_type: str, out_type: str, seed: int = 1,
            per_tensor_dense: bool = False) -> Path:
    """Build the Keras model of ``cases`` and convert it with full int8 quantization
    (`per_tensor_dense`: one weight scale per Dense layer, as older converters and many deployed models have)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    inputs, outputs, spreads = [], [], []
    for c, case in enumerate(cases):
        ins = [keras.Input(s, batch_size=1, name=f"c{c}_{case.name}_in{j}") for j, s in enumerate(case.shapes)]
        outputs.append(case.build(keras, tf, ins))
        inputs += ins
        spreads += list(case.spread) * (len(ins) // len(case.spread) or 1)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(48):
            yield {t.name: (rng.standard_normal((1, *t.shape[1:])) * s).astype(np.float32)
                   for t, s in zip(inputs, spreads, strict=True)}

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    types = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}
    conv.inference_input_type = types[in_type]
    conv.inference_output_type = types[out_type]
    conv._experimental_disable_per_channel_quantization_for_dense_layers = per_tensor_dense
    path.write_bytes(conv.convert())
    return path


def structured(shape: tuple[int, ...], dtype: str, n: int, seed: int) -> np.ndarray:
    """``n`` inputs of one tensor: uniform noise, extremes, gradients, sparse blobs, saturated blocks,
    checkerboards, each in the tensor's own dtype (float32 inputs span about +-4)."""
    rng = np.random.default_rng(seed)
    flat = int(np.prod(shape[1:]))
    lo, hi = (-4.0, 4.0) if dtype == "float32" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    rows = []
    ramp = np.linspace(0, 1, flat)
    for i in range(n):
        kind = i % 8
        if kind == 0:
            v = rng.uniform(lo, hi, flat)
        elif kind == 1:
            v = np.full(flat, [lo, hi, 0, (lo + hi) / 2][(i // 8) % 4])
        elif kind == 2:
            v = lo + (hi - lo) * (ramp if (i // 8) % 2 else ramp[::-1])
        elif kind == 3:  # sparse blobs on a low background
            v = np.full(flat, lo + (hi - lo) * 0.1)
            v[rng.choice(flat, max(1, flat // 16), replace=False)] = hi
        elif kind == 4:  # saturated blocks
            v = np.where((np.arange(flat) // max(1, flat // 8)) % 2, hi, lo).astype(float)
        elif kind == 5:
            v = np.where(np.arange(flat) % 2, hi, lo).astype(float)
        elif kind == 6:  # narrow noise around a random level
            v = rng.uniform(lo, hi) + rng.normal(0, (hi - lo) / 40, flat)
        else:
            v = rng.normal((lo + hi) / 2, (hi - lo) / 6, flat)
        rows.append(np.clip(v, lo, hi))
    out = np.array(rows).reshape(n, *shape[1:])
    return out.astype(np.float32) if dtype == "float32" else np.rint(out).astype(dtype)


def inputs_for(lib, n: int, seed: int) -> list[np.ndarray]:  # noqa: ANN001 - library.ModelLibrary
    """Structured inputs for every input tensor of a library."""
    return [structured(tuple(t.shape), t.dtype, n, seed + k) for k, t in enumerate(lib.inputs)]


def host_library(path: Path, folder: Path, defines: tuple[str, ...] = (), mve: bool = False):  # noqa: ANN201
    """(ModelLibrary, HostLibrary) of a .tflite, generated and built for the host."""
    from zoo.backends.tvm_cortexm7.int8 import generate_int8_library
    from zoo.backends.tvm_cortexm7.int8.hostbuild import HostLibrary, build_host

    lib = generate_int8_library(path, folder / "lib", "m", mve=mve)
    return lib, HostLibrary(build_host(lib.dir, folder / "m.so", defines=defines), lib)


def differences(path: Path, outputs: list[np.ndarray], logits: np.ndarray | None,
                inputs: list[np.ndarray]) -> dict[str, int]:
    """Elements differing from TFLM, per output tensor (by its name in the model) and for the logits."""
    from zoo.backends.tvm_cortexm7.int8.tflite_model import TFLiteModel

    model = TFLiteModel.from_file(path)
    ref, ref_logits = tflm_run(path, inputs)
    diff = {model.tensor(i).name: int(np.sum(o != r)) for i, o, r in zip(model.outputs, outputs, ref, strict=True)}
    if logits is not None:
        diff["logits"] = int(np.sum(logits != ref_logits))
    return diff


def assert_host_bit_exact(path: Path, folder: Path, n: int = 64, seed: int = 0, mve: bool = False) -> dict:
    """Build ``path`` for the host and require every output (and the logits) equal to TFLM's (`mve`: with the
    Helium layouts, which the host runs through the kernels' portable C)."""
    lib, host = host_library(path, folder, mve=mve)
    inputs = inputs_for(lib, n, seed)
    outputs, logits = host.run(inputs)
    diff = differences(path, outputs, logits, inputs)
    bad = {k: v for k, v in diff.items() if v}
    assert not bad, f"{path.name}: elements differing from TFLM on {n} inputs: {bad}"
    return lib.metadata


def family_test_dir(tmp_path_factory, name: str) -> Path:  # noqa: ANN001
    """A per-test folder (kept small: libraries are tens of kB)."""
    return tmp_path_factory.mktemp(name)



def qemu_run(lib, inputs: list[np.ndarray], folder: Path,  # noqa: ANN001
             target: str = "cortexm7", per_image_s: float = 0.5) -> tuple[list[np.ndarray], np.ndarray | None, object]:
    """Build a library into the harness firmware, run a batch under QEMU: (outputs, logits, records)."""
    from zoo.backends.tvm_cortexm7.firmware import build_firmware
    from zoo.backends.tvm_cortexm7.library import pack, unpack
    from zoo.backends.tvm_cortexm7.qemu import QemuRunner
    from zoo.backends.tvm_cortexm7.records import RecordLayout
    from zoo.backends.tvm_cortexm7.targets import load_target

    fw = build_firmware(lib, folder / "fw", load_target(target))
    layout = RecordLayout(lib.output_bytes, lib.logits.count if lib.logits else 0)
    res = QemuRunner(load_target(target), per_image_s=per_image_s).run_batch(fw.elf, pack(lib.inputs, inputs), layout=layout)
    assert np.all(res.status == 0), f"the model returned status {res.status.max()}"
    return unpack(lib.outputs, res.outputs), res.logits, res


def assert_qemu_bit_exact(path: Path, folder: Path, n: int = 16, seed: int = 3, target: str = "cortexm7") -> None:
    """Build ``path`` into firmware for ``target`` (Cortex-M7: the DSP code paths; Cortex-M55: the MVE
    layouts and kernels), run it under QEMU, compare with TFLM."""
    from zoo.backends.tvm_cortexm7.int8 import generate_int8_library
    from zoo.backends.tvm_cortexm7.targets import load_target

    lib = generate_int8_library(path, folder / "lib", "m", mve=load_target(target).mve)
    inputs = inputs_for(lib, n, seed)
    outputs, logits, _ = qemu_run(lib, inputs, folder, target)
    bad = {k: v for k, v in differences(path, outputs, logits, inputs).items() if v}
    assert not bad, f"{path.name} on QEMU ({target}): elements differing from TFLM on {n} inputs: {bad}"
