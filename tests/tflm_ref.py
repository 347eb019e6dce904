"""TensorFlow Lite Micro's own Python interpreter as the reference in tests: outputs and the logits
(the input of the last SOFTMAX), one invoke per input, as a microcontroller runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _facts(path: Path) -> tuple[int | None, int]:
    """(tensor index of the last SOFTMAX's input or None, number of outputs)."""
    from zoo.backends.tvm_cortexm7.int8.tflite_model import TFLiteModel

    model = TFLiteModel.from_file(path)
    softmax = [op for op in model.operators if op.name == "SOFTMAX"]
    return (softmax[-1].inputs[0] if softmax else None), len(model.outputs)


def tflm_run(path: Path, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray | None]:
    """(outputs in the model's order, int8 logits or None) of TFLM on a batch.

    Args:
        path: the .tflite file.
        inputs: one array per model input, ``(N, *shape[1:])`` in the model's dtype.
    """
    from tflite_micro.python.tflite_micro import runtime

    logits_index, n_out = _facts(Path(path))
    it = runtime.Interpreter.from_file(str(path), intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    outs: list[list[np.ndarray]] = [[] for _ in range(n_out)]
    logits = []
    for i in range(len(inputs[0])):
        for k, x in enumerate(inputs):
            it.set_input(np.ascontiguousarray(x[i:i + 1]), k)
        it.invoke()
        for k in range(n_out):
            outs[k].append(it.get_output(k)[0].copy())
        if logits_index is not None:
            logits.append(np.asarray(it.GetTensor(logits_index, 0)["tensor_data"]).reshape(-1).copy())
    return [np.array(o) for o in outs], (np.array(logits) if logits_index is not None else None)
