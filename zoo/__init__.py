"""zoo: a model zoo for microcontroller models.

Registry cards describe models; pluggable backends compile and run them; a conformance
suite checks every backend against the reference.

Example:
    >>> import zoo
    >>> model = zoo.load("stmnist_v1", backend="tflite")
    >>> probs = model.predict(images)  # (N, 36) float32
"""

from __future__ import annotations

from zoo.backend import Availability
from zoo.card import Card, load_card
from zoo.errors import (
    ArtifactError,
    BackendError,
    BackendUnavailableError,
    CardError,
    HashMismatchError,
    InputError,
    OfflineError,
    ToolchainError,
    UnknownNameError,
    ZooError,
)
from zoo.model import Model, load
from zoo.registry import backend_availability, backend_names, get_card, list_models

__all__ = [
    "ArtifactError", "Availability", "BackendError", "BackendUnavailableError", "Card", "CardError",
    "HashMismatchError", "InputError", "Model", "OfflineError", "ToolchainError", "UnknownNameError",
    "ZooError", "get_card", "list_backends", "list_models", "load", "load_card",
]

__version__ = "0.1.0"


def list_backends() -> dict[str, Availability]:
    """Every registered backend and whether it can run here (with the reason and the fix if not)."""
    return {name: backend_availability(name) for name in backend_names()}
