"""Reading image files for `zoo predict`: PNG (and other Pillow formats) or NumPy .npy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.errors import InputError

__all__ = ["read_images"]


def _read_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path} is not a readable .npy array: {exc}") from None
    return arr if arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)) else arr[None]


def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode not in ("L", "I;16", "1"):
                raise InputError(f"{path} is a {mode} image; the model takes one grey channel. "
                                 "Convert it to greyscale first (e.g. PIL's Image.convert('L')).")
            arr = np.asarray(img.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path} is not an image file Pillow can read (PNG, BMP, ...) nor a .npy array: {exc}") from None
    return arr[None]


def read_images(paths: list[Path]) -> tuple[np.ndarray, list[str]]:
    """Read image files into one batch ``(N, H, W[, C])``.

    Args:
        paths: PNG (or any single-channel Pillow format) files, or .npy files holding one
            image ``(H, W[, C])`` or a batch ``(N, H, W[, C])``.

    Returns:
        One batch ``(N, H, W, C)``, dtype as read, and where each image came from
        (``path`` for a single image, ``path[i]`` for the images of a batch file).

    Raises:
        InputError: a file is missing, unreadable, not an image, or the images differ in shape.
    """
    batches, sources = [], []
    for path in paths:
        if not path.is_file():
            raise InputError(f"image file {path} does not exist")
        batch = _read_npy(path) if path.suffix.lower() == ".npy" else _read_picture(path)
        batches.append(batch[..., None] if batch.ndim == 3 else batch)
        single = batch.shape[0] == 1 and path.suffix.lower() != ".npy"
        sources += [str(path)] if single else [f"{path}[{i}]" for i in range(batch.shape[0])]
    shapes = {b.shape[1:] for b in batches}
    if len(shapes) > 1:
        raise InputError(f"the images have different shapes {sorted(shapes)}; give images of one size")
    return np.concatenate(batches), sources
