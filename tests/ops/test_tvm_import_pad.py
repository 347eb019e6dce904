"""The shared tflite -> Relax importer (backends/tvm_tflite.py) takes quantized PAD, which TVM 0.27's
frontend refuses on its own; the host ``tvm`` backend's path (import, LLVM build, Relax VM) then
pads exactly like TFLM."""

from __future__ import annotations

import numpy as np
import pytest
from opmodels import Case, structured
from tflm_ref import tflm_run

from zoo.errors import BackendError

tvm = pytest.importorskip("tvm")


def _pad_conv(keras, tf, x):  # noqa: ANN001, ANN202
    y = keras.layers.Lambda(lambda t: tf.pad(t, [[0, 0], [1, 2], [2, 0], [0, 0]]))(x[0])
    return keras.layers.MaxPooling2D(2)(y)


CASES = [Case("pad_pool", [(6, 5, 3)], _pad_conv)]


def test_quantized_pad_imports_and_runs_on_the_host_tvm_path(op_models) -> None:  # noqa: ANN001
    import tflite
    from tvm import relax
    from tvm.relax.frontend.tflite import from_tflite
    from zoo.backends.tvm_tflite import import_tflite

    path = op_models.model("tvm_pad", CASES)
    with pytest.raises(Exception, match="PAD"):  # TVM's own frontend, without the project's converter
        from_tflite(tflite.Model.GetRootAsModel(path.read_bytes(), 0))
    mod = import_tflite(path)
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    x = structured((1, 6, 5, 3), "int8", 16, seed=4)
    ours = np.stack([vm["main"](tvm.runtime.tensor(x[i:i + 1])).numpy()[0] for i in range(len(x))])
    ref, _ = tflm_run(path, [x])
    assert ours.dtype == np.int8 and np.array_equal(ours, ref[0])


def test_import_errors_stay_backend_errors(tmp_path) -> None:  # noqa: ANN001
    from zoo.backends.tvm_tflite import import_tflite

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(BackendError):
        import_tflite(bad)
