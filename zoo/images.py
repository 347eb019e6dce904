"""Reading image files for `zoo predict`: PNG (and other Pillow formats) or NumPy .npy.

Files are checked before they are decoded: a picture's size and a ``.npy`` header (shape and
dtype against the file's length) are read first, so a 20000x20000 PNG or an ``.npy`` that claims
terabytes is a clean InputError, not a memory blow-up.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from zoo.errors import InputError

__all__ = ["MAX_PIXELS", "read_images"]

MAX_PIXELS = 4096 * 4096  # per picture: a model input is a few thousand pixels; far larger files are a mistake
MAX_NPY_BYTES = 1 << 30
MAX_NPY_HEADER = 10_000  # numpy's own default bound (numpy.lib.format.read_array_header_1_0)
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an .npy header, checked against the file's size before anything is allocated."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04":
            raise InputError(f"{path} is a .npz archive, not a .npy array; save one array with np.save, "
                             "or rename it .npz and extract the images from it")
        f.seek(0)
        try:
            version = fmt.read_magic(f)
            reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _fortran, dtype = reader(f, max_header_size=MAX_NPY_HEADER)
        except (ValueError, OSError, EOFError, SyntaxError) as exc:
            raise InputError(f"{path} is not a readable .npy array: its header is malformed or larger than "
                             f"{MAX_NPY_HEADER:,} bytes ({str(exc).splitlines()[0][:120]})") from None
        data_bytes = path.stat().st_size - f.tell()
    if dtype.hasobject:
        raise InputError(f"{path} holds Python objects ({dtype}); save numeric pixels (uint8)")
    need = math.prod(shape) * dtype.itemsize
    if need > MAX_NPY_BYTES:
        raise InputError(f"{path} holds {need:,} bytes of images (shape {shape}); zoo predict reads at most "
                         f"{MAX_NPY_BYTES:,}: split it into smaller files")
    if need != data_bytes:
        raise InputError(f"{path} is truncated or damaged: its header says shape {shape} {dtype} ({need:,} bytes) "
                         f"but it holds {data_bytes:,}")
    return shape, dtype


def _read_npy(path: Path) -> np.ndarray:
    _npy_header(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path} is not a readable .npy array: {str(exc)[:200]}") from None
    if arr.ndim < 2:
        raise InputError(f"{path} holds an array of shape {arr.shape}; expected images (H, W[, C]) or (N, H, W[, C])")
    return arr if arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)) else arr[None]


def _rgb(img, path: Path) -> np.ndarray:  # noqa: ANN001 - a PIL image
    """Three 8-bit channels: colour pictures as they are (alpha dropped), grey and palette pictures expanded."""
    if img.mode in _SIXTEEN_BIT or img.mode in ("I", "F"):
        raise InputError(f"{path} is a {img.mode} picture; the model takes 8-bit RGB. Save it as an 8-bit "
                         "RGB PNG first (e.g. PIL's Image.convert('RGB')).")
    return np.asarray(img.convert("RGB"))


def _grey(img, path: Path) -> np.ndarray:  # noqa: ANN001 - a PIL image
    """One 8-bit grey channel: 16-bit grey is rescaled as the PNG specification says
    (https://www.w3.org/TR/png-3/#13Sample-depth-rescaling: round(v x 255 / 65535)), never clipped."""
    if img.mode in _SIXTEEN_BIT:
        wide = np.asarray(img).astype(np.uint32)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    if img.mode not in ("L", "1"):
        raise InputError(f"{path} is a {img.mode} image; the model takes one 8-bit grey channel. "
                         "Convert it to greyscale first (e.g. PIL's Image.convert('L')).")
    return np.asarray(img.convert("L"))


def _read_picture(path: Path, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # the size is checked below, against a much smaller bound
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise InputError(f"{path} is {width}x{height} pixels; zoo reads pictures of at most {MAX_PIXELS:,} "
                                 "pixels: resize it to the model's input size first")
            img.load()
            arr = _grey(img, path) if channels == 1 else _rgb(img, path)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path} is too large to decode safely ({exc}); resize it first") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path} is not an image file Pillow can read (PNG, BMP, ...) nor a .npy array: "
                         f"{str(exc)[:200]}") from None
    return arr[None]


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an image file; give the image files in it (e.g. {path}/*.png)")
    if not path.exists():
        raise InputError(f"image file {path} does not exist")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file; give PNG or .npy files")


def read_images(paths: list[Path], channels: int = 1) -> tuple[np.ndarray, list[str]]:
    """Read image files into one batch ``(N, H, W[, C])``.

    Args:
        paths: PNG (or any Pillow format) files, or .npy files holding one image ``(H, W[, C])`` or a
            batch ``(N, H, W[, C])``.
        channels: what pictures are read as: 1, one grey channel (16-bit grey rescaled to 8 bits;
            colour pictures refused); 3, RGB (grey and palette pictures expanded, alpha dropped).

    Returns:
        One batch ``(N, H, W, C)``, dtype as read, and where each image came from
        (``path`` for a single image, ``path[i]`` for the images of a batch file).

    Raises:
        InputError: a file is missing, a folder, unreadable, too large, not an image, or the images
            differ in shape.

    Example:
        >>> batch, sources = read_images([Path("digit.png")])  # doctest: +SKIP
        >>> batch.shape, sources
        ((1, 28, 28, 1), ['digit.png'])
    """
    batches, sources = [], []
    for path in paths:
        _check_file(path)
        batch = _read_npy(path) if path.suffix.lower() == ".npy" else _read_picture(path, channels)
        batches.append(batch[..., None] if batch.ndim == 3 else batch)
        single = batch.shape[0] == 1 and path.suffix.lower() != ".npy"
        sources += [str(path)] if single else [f"{path}[{i}]" for i in range(batch.shape[0])]
    shapes = {b.shape[1:] for b in batches}
    if len(shapes) > 1:
        raise InputError(f"the images have different shapes {sorted(shapes)}; give images of one size")
    try:
        return np.concatenate(batches), sources
    except MemoryError:
        raise InputError(f"{len(sources):,} images do not fit in memory; pass fewer files at a time") from None

