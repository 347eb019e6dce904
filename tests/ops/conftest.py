"""Per-operator tests: TensorFlow-generated single-operator int8 models, checked against TFLM."""

from __future__ import annotations

import shutil

import pytest
from opmodels import OpModels


@pytest.fixture(scope="session")
def op_models(tmp_path_factory: pytest.TempPathFactory) -> OpModels:
    """The session's model cache (each family converted once)."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    if shutil.which("gcc") is None:
        pytest.skip("needs host gcc")
    return OpModels(tmp_path_factory.mktemp("op_models"))
