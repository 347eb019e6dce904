"""LOGISTIC and TANH on int8, host build bit-exact with TFLM on every one of the 256 input values
(the inputs sweep the whole int8 range), at several input scales."""

from __future__ import annotations

import numpy as np
from opmodels import Case, host_library
from tflm_ref import tflm_run


def _act(name):  # noqa: ANN001, ANN202
    return lambda keras, tf, x: keras.layers.Activation(name)(x[0])


CASES = [Case(f"{fn}_{s}", [(256,)], _act(fn), spread=(s,)) for fn in ("sigmoid", "tanh") for s in (0.5, 3.0, 12.0)]


def test_logistic_tanh_bit_exact_on_every_int8_value(op_models, tmp_path) -> None:  # noqa: ANN001
    path = op_models.model("logistic_tanh", CASES)
    lib, host = host_library(path, tmp_path)
    assert sorted(set(lib.metadata["ops"])) == ["LOGISTIC", "TANH"]
    sweep = np.arange(-128, 128, dtype=np.int8)[None]
    inputs = [np.concatenate([sweep, sweep[:, ::-1]]) for _ in lib.inputs]
    ours, _ = host.run(inputs)
    ref, _ = tflm_run(path, inputs)
    bad = {t.name: int(np.sum(o != r)) for t, o, r in zip(lib.outputs, ours, ref, strict=True) if np.any(o != r)}
    assert not bad, f"elements differing from TFLM: {bad}"
