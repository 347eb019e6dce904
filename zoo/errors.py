"""One error hierarchy for everything zoo raises on purpose.

Every message names the value that was wrong, what was expected, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ZooError",
    "CardError",
    "UnknownNameError",
    "ArtifactError",
    "HashMismatchError",
    "OfflineError",
    "BackendUnavailableError",
    "BackendError",
    "InputError",
    "OutputError",
    "ToolchainError",
]


class ZooError(Exception):
    """Base class of every error zoo raises on purpose."""


class CardError(ZooError):
    """A model card (YAML) is malformed: the message names the file and the key."""


class UnknownNameError(ZooError, KeyError):
    """A model, backend, dataset or format name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ArtifactError(ZooError):
    """An artifact cannot be provided (missing, unreadable, wrong content)."""


class HashMismatchError(ArtifactError):
    """A downloaded or mirrored file does not have the sha256 the card pins."""


class OfflineError(ArtifactError):
    """The file is not cached and the network may not (or cannot) be used."""


class BackendUnavailableError(ZooError):
    """A backend cannot run here: a package or toolchain is missing, or it cannot run this card."""


class BackendError(ZooError):
    """A backend failed while compiling or running a model."""


class DoesNotFitError(BackendError):
    """The model does not fit the device a backend targets; ``fit()`` gives the per-region record."""

    def fit(self) -> dict:
        return {"fits": False}


class ToolchainError(BackendError):
    """An external tool (compiler, emulator) failed, hung or is broken."""


class InputError(ZooError, ValueError):
    """Images or other user input do not match what the model card specifies."""


class OutputError(ZooError):
    """An output file or folder cannot be written (not a regular file, not writable, disk full)."""
