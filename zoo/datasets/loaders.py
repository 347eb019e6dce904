"""Loaders: plain functions that read a dataset's verified files into arrays, chosen by a card's
``loader:`` key through the LOADERS table. Nothing runs at import.

Every loader returns images (N, 28, 28, 1) uint8 upright and labels (N,) int64 class indices,
after the card's label map (source labels outside it are dropped), the split's order and
`limit` (the first `limit` images of that order, read without loading the rest where the
format allows).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from zoo.datasets.files import dataset_file
from zoo.datasets.idx import IdxFile, read_idx
from zoo.errors import ArtifactError

if TYPE_CHECKING:
    from zoo.datasets.card import DatasetCard

__all__ = ["LOADERS", "Loaded", "Loader", "select"]

PIXELS = 28 * 28
CHUNK_ITEMS = 16384  # images read at a time from an idx file (12.8 MB)


class Loaded(NamedTuple):
    images: np.ndarray  # (N, 28, 28, 1) uint8, upright
    labels: np.ndarray  # (N,) int64 class indices
    source: str  # where the data came from, for people


@dataclass(frozen=True)
class Loader:
    function: Callable[[DatasetCard, str, int | None], Loaded]
    roles: tuple[str, ...]  # the file roles each split must name
    description: str


def select(card: DatasetCard, split: str, source_labels: np.ndarray,
           limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Which rows to keep, in the split's order, and their class indices.

    Args:
        card: the dataset card (its label map and the split's order).
        split: the split's name.
        source_labels: the labels as stored in the source, one per row.
        limit: keep only the first `limit` rows of that order (None: all).

    Returns:
        (row indices into the source, int64 class indices), both of the same length.

    Example:
        >>> rows, classes = select(card, "test", np.array([0, 40, 35]), None)  # doctest: +SKIP
        >>> rows, classes  # label 40 (a lowercase letter) is dropped
        (array([0, 2]), array([ 0, 35]))
    """
    table = np.full(max(card.labels.map, default=0) + 1, -1, dtype=np.int64)
    for source_label, class_index in card.labels.map.items():
        table[source_label] = class_index
    src = source_labels.astype(np.int64)
    inside = (src >= 0) & (src < len(table))
    mapped = np.where(inside, table[np.clip(src, 0, len(table) - 1)], -1)
    rows = np.flatnonzero(mapped >= 0)
    if card.splits[split].order == "round_robin":
        classes = mapped[rows]
        rank = np.empty(len(rows), dtype=np.int64)  # how many earlier rows share this row's class
        for c in np.unique(classes):
            where = np.flatnonzero(classes == c)
            rank[where] = np.arange(len(where))
        rows = rows[np.lexsort((rows, classes, rank))]
    if limit is not None:
        rows = rows[:limit]
    return rows, mapped[rows]


def _check_counts(card: DatasetCard, split: str, source_rows: int, kept: int, limit: int | None, what: str) -> None:
    spec = card.splits[split]
    if source_rows != spec.source_size or (limit is None and kept != spec.size):
        raise ArtifactError(f"{what} holds {source_rows} rows ({kept} kept after the label map), but dataset card "
                            f"{card.name!r} says split {split!r} has {spec.source_size} ({spec.size} kept). "
                            "The file is a different release, or the card is wrong.")


def _upright(card: DatasetCard, images: np.ndarray) -> np.ndarray:
    return images.transpose(0, 2, 1) if card.images.stored == "transposed" else images


def load_csv_pixels_label(card: DatasetCard, split: str, limit: int | None) -> Loaded:
    """A gzip csv, one image a row: 784 pixel values (row-major) then the source label."""
    path = dataset_file(card, card.splits[split].files["data"])
    try:
        with gzip.open(path, "rt", encoding="ascii") as f:
            text = f.read()
        values = np.array(text.replace("\n", ",").rstrip(",").split(","), dtype=np.int64)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"cannot read {path} as a gzip csv of integers: {exc}") from None
    if values.size % (PIXELS + 1) or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise ArtifactError(f"{path} is not rows of {PIXELS} pixels (0..255) and a label: {values.size} values")
    rows = values.reshape(-1, PIXELS + 1)
    keep, classes = select(card, split, rows[:, -1], limit)
    _check_counts(card, split, len(rows), len(keep), limit, str(path))
    images = _upright(card, rows[keep, :PIXELS].astype(np.uint8).reshape(-1, 28, 28))
    return Loaded(np.ascontiguousarray(images)[..., None], classes, f"{path} (sha256 verified)")


def _read_rows(images: IdxFile, rows: np.ndarray, card: DatasetCard) -> np.ndarray:
    """The given rows (ascending) of an idx image file, upright, read chunk by chunk."""
    out = np.empty((len(rows), 28, 28, 1), dtype=np.uint8)
    stop = int(rows[-1]) + 1 if len(rows) else 0
    done = 0
    for start in range(0, stop, CHUNK_ITEMS):
        block = images.read(min(CHUNK_ITEMS, stop - start))
        end = int(np.searchsorted(rows, start + len(block)))
        out[done:end, :, :, 0] = _upright(card, block[rows[done:end] - start])
        done = end
    return out


def load_idx_images_labels(card: DatasetCard, split: str, limit: int | None) -> Loaded:
    """An idx3 image file (N, 28, 28) uint8 and an idx1 label file (N,) uint8, gzip or plain."""
    files = card.splits[split].files
    labels_path, images_path = dataset_file(card, files["labels"]), dataset_file(card, files["images"])
    source_labels = read_idx(labels_path)
    if source_labels.ndim != 1 or source_labels.dtype != np.uint8:
        raise ArtifactError(f"{labels_path} holds {source_labels.dtype} {source_labels.shape}, expected uint8 (N,)")
    keep, classes = select(card, split, source_labels, limit)
    _check_counts(card, split, len(source_labels), len(keep), limit, str(labels_path))
    order = np.argsort(keep, kind="stable")  # read in file order, then put back in the split's order
    with IdxFile(images_path) as f:
        if f.shape != (len(source_labels), 28, 28) or f.dtype != np.uint8:
            raise ArtifactError(f"{images_path} holds {f.dtype} {f.shape}, expected uint8 "
                                f"({len(source_labels)}, 28, 28) to match {labels_path}")
        ordered = _read_rows(f, keep[order], card)
        if limit is None:  # the rest of the file, to check it ends where its header says
            rest = f.shape[0] - (int(keep[order][-1]) + 1 if len(keep) else 0)
            for start in range(0, rest, CHUNK_ITEMS):
                f.read(min(CHUNK_ITEMS, rest - start))
            f.check_end()
    images = np.empty_like(ordered)
    images[order] = ordered
    return Loaded(images, classes, f"{images_path} and {labels_path} (sha256 verified)")


def _matlab_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 784) uint8, labels (N,)) of one split of an EMNIST .mat file."""
    try:
        import scipy.io
    except ImportError:
        raise ArtifactError(f"reading {path} needs scipy: pip install 'zoo[data]' (or pip install scipy)") from None
    try:
        part = scipy.io.loadmat(str(path))["dataset"][split][0, 0]
        images, labels = part["images"][0, 0], part["labels"][0, 0]
    except (OSError, ValueError, KeyError, IndexError, TypeError, NotImplementedError) as exc:
        raise ArtifactError(f"{path} is not an EMNIST matlab file with dataset.{split}.images/labels "
                            f"({type(exc).__name__}: {exc})") from None
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != PIXELS or labels.size != len(images):
        raise ArtifactError(f"{path}: dataset.{split} holds images {images.dtype} {images.shape} and "
                            f"{labels.size} labels, expected uint8 (N, {PIXELS}) and N labels")
    return images, labels.reshape(-1)


def load_emnist_matlab(card: DatasetCard, split: str, limit: int | None) -> Loaded:
    """NIST's EMNIST matlab release: one .mat with dataset.<split>.images (N, 784) and .labels (N, 1).

    The whole file is read (scipy.io cannot read part of it): the byclass .mat needs about
    700 MB of memory whatever `limit` is.
    """
    path = dataset_file(card, card.splits[split].files["data"])
    pixels, source_labels = _matlab_split(path, split)
    keep, classes = select(card, split, source_labels, limit)
    _check_counts(card, split, len(source_labels), len(keep), limit, f"{path} (dataset.{split})")
    images = _upright(card, pixels[keep].reshape(-1, 28, 28))  # C-order rows of transposed images
    return Loaded(np.ascontiguousarray(images)[..., None], classes, f"{path}, dataset.{split} (sha256 verified)")


LOADERS: dict[str, Loader] = {
    "csv_pixels_label": Loader(load_csv_pixels_label, ("data",),
                               "gzip csv: 784 pixels then the label per row"),
    "idx_images_labels": Loader(load_idx_images_labels, ("images", "labels"),
                                "idx3 images + idx1 labels (MNIST/EMNIST format), gzip or plain"),
    "emnist_matlab": Loader(load_emnist_matlab, ("data",),
                            "EMNIST matlab release: dataset.<split>.images/labels in one .mat (needs scipy)"),
}

