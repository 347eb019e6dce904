"""Figures for reports and cards (matplotlib, headless, without timestamps in the files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.atomic import atomic_file
from zoo.errors import BackendUnavailableError

__all__ = ["confusion_png", "image_grid_png"]

_NO_STAMP = {"Software": None, "Creation Time": None}


def _pyplot():  # noqa: ANN202 - matplotlib is an optional, heavy import
    try:
        import matplotlib
    except ImportError:
        raise BackendUnavailableError("drawing figures needs matplotlib: pip install 'zoo[report]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> None:  # noqa: ANN001 - matplotlib objects
    try:
        with atomic_file(path, "figure") as f:
            fig.savefig(f, format="png", metadata=_NO_STAMP)
    finally:
        plt.close(fig)


def confusion_png(matrix: np.ndarray, labels: Sequence[str], title: str, path: Path) -> None:
    """Save a row-normalised confusion matrix (rows: true class, columns: prediction)."""
    plt = _pyplot()
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(4.0, 0.25 * len(labels))
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=100)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    _save(plt, fig, path)


def image_grid_png(images: np.ndarray, captions: Sequence[str], title: str, path: Path, columns: int = 8) -> None:
    """Save images ``(N, H, W[, 1])`` as a captioned grid."""
    plt = _pyplot()
    n = max(len(images), 1)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.4 + 0.4), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        ax.imshow(np.asarray(image).squeeze(), cmap="gray", vmin=0, vmax=255)
        ax.set_title(caption, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(plt, fig, path)
