"""Checking user images against a card's input spec, with errors that say how to fix them."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.card import TensorSpec
from zoo.errors import InputError

__all__ = ["check_images", "check_tensor", "pixels_to_input"]


def _dtype_range(dtype: np.dtype) -> tuple[float, float]:
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.finfo(dtype)
    return float(info.min), float(info.max)


def _check_image_shape(arr: np.ndarray, spec: TensorSpec) -> np.ndarray:
    h, w, c = spec.shape[1:]
    want = f"(N, {h}, {w}, {c})" + (f" or (N, {h}, {w})" if c == 1 else "")
    if arr.ndim == 3 and c == 1 and arr.shape[1:] == (h, w):
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[1:] != (h, w, c):
        hint = ""
        if arr.shape in ((h, w), (h, w, c)):
            hint = " This looks like one image: add a batch axis, e.g. images[None]."
        elif arr.ndim == 4 and arr.shape[1:3] == (h, w) and arr.shape[3] != c:
            hint = f" The images have {arr.shape[3]} channel(s); the model takes {c}."
            if c == 1 and arr.shape[3] in (3, 4):
                hint += " Convert to greyscale first (e.g. PIL's Image.convert('L'))."
        elif arr.ndim >= 3 and arr.shape[-2:] != (w, c) and arr.shape[1:3] != (h, w):
            hint = f" Resize the images to {h}x{w} first."
        raise InputError(f"images have shape {arr.shape}; expected {want}.{hint}")
    return arr


def _check_shape(arr: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.layout == "NHWC":
        arr = _check_image_shape(arr, spec)
    elif arr.shape[1:] != tuple(spec.shape[1:]):
        per = tuple(spec.shape[1:])
        hint = " This looks like one example: add a batch axis, e.g. x[None]." if arr.shape == per else ""
        raise InputError(f"input {spec.name!r} has shape {arr.shape}; expected (N, {', '.join(map(str, per))}) "
                         f"({spec.layout}).{hint}")
    if arr.shape[0] == 0:
        raise InputError("got an empty batch (0 examples); pass at least one")
    return arr


_PLANS: dict[int, tuple[TensorSpec, np.dtype, tuple[int, ...], bool]] = {}


def _plan(spec: TensorSpec) -> tuple[np.dtype, tuple[int, ...], bool]:
    """The spec's dtype, per-image shape, and whether values need a range check beyond the dtype's.

    Memoised by identity (hashing a card is slower than the check itself).
    """
    hit = _PLANS.get(id(spec))
    if hit is None or hit[0] is not spec:
        want = np.dtype(spec.dtype)
        narrow = spec.value_range is not None and (want.kind == "f" or tuple(spec.value_range) != _dtype_range(want))
        hit = _PLANS[id(spec)] = (spec, want, tuple(spec.shape[1:]), narrow)
    return hit[1:]


def check_images(images: Any, spec: TensorSpec) -> np.ndarray:
    """Validate and normalise a batch of images for a model input.

    Accepts a batch ``(N, H, W, C)`` or, for one-channel models, ``(N, H, W)``; for an integer
    spec, integer arrays of another dtype are accepted when every value fits the spec's range.

    Args:
        images: array-like batch of images.
        spec: the card's input spec.

    Returns:
        A C-contiguous array of the spec's dtype and shape ``(N, H, W, C)``.

    Raises:
        InputError: wrong type, shape, dtype, channel count, NaN, or values out of range;
            the message says what was expected and how to convert.
    """
    want, image_shape, narrow = _plan(spec)
    if (type(images) is np.ndarray and images.dtype == want and images.shape[1:] == image_shape
            and images.shape[0] > 0 and not narrow and images.flags.c_contiguous):
        return images  # the common case, checked in a few microseconds
    if not isinstance(images, np.ndarray):
        try:
            images = np.asarray(images)
        except (ValueError, TypeError) as exc:
            raise InputError(f"images must be an array of shape (N, ...); cannot convert {type(images).__name__}: {exc}") from None
    if images.dtype == object or not (np.issubdtype(images.dtype, np.number) or images.dtype == bool):
        raise InputError(f"images have dtype {images.dtype}; expected numeric {spec.dtype} pixels")
    arr = _check_shape(images, spec)
    low, high = spec.value_range or _dtype_range(want)
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InputError(f"input {spec.name!r} contains NaN or infinity; expected {spec.dtype} values in "
                         f"[{low:g}, {high:g}]")
    float_ok = want.kind == "f" and (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool)
    if arr.dtype != want and not float_ok and not (np.issubdtype(arr.dtype, np.integer)
                                                   and np.issubdtype(want, np.integer)):
        if want.kind != "u" or spec.layout != "NHWC":
            raise InputError(f"input {spec.name!r} has dtype {arr.dtype}; the model takes {spec.dtype} in "
                             f"[{low:g}, {high:g}]"
                             + (f" (quantized: real = (q - {spec.quantization.zero_point}) x {spec.quantization.scale:g}; "
                                f"quantize with np.clip(np.rint(x / {spec.quantization.scale:g}) + "
                                f"{spec.quantization.zero_point}, {low:g}, {high:g}).astype(np.{spec.dtype}))"
                                if spec.quantization is not None and want.kind != "f" else ""))
        raise InputError(
            f"images have dtype {arr.dtype}; the model takes {spec.dtype} in [{low:g}, {high:g}]. "
            f"If your values are floats in [0, 1], convert with (x * 255).round().astype(np.{spec.dtype}); "
            f"if they are in [0, 255], with x.round().astype(np.{spec.dtype}).")
    distinct = arr[tuple(slice(0, 1) if st == 0 else slice(None) for st in arr.strides)]  # a broadcast axis: once
    lo, hi = distinct.min(), distinct.max()
    if lo < low or hi > high:
        raise InputError(f"image values span [{lo}, {hi}]; expected [{low:g}, {high:g}] ({spec.dtype}). "
                         "Rescale or clip the images first.")
    try:
        return np.ascontiguousarray(arr, dtype=want)
    except MemoryError:
        raise InputError(f"a batch of {arr.shape[0]:,} images ({arr.shape[0] * int(np.prod(arr.shape[1:])):,} "
                         f"{spec.dtype} values) does not fit in memory; pass smaller batches") from None


check_tensor = check_images  # any input tensor: images are the NHWC case with image-specific hints


def pixels_to_input(batch: np.ndarray, spec: TensorSpec, model: str) -> np.ndarray:
    """Picture pixels ``(N, H, W, C)`` as the values of an image input, by the card's ``pixels`` mapping.

    An array already in the input's dtype (other than uint8 pixels) is taken as tensor values, unchanged.
    Without a mapping, uint8 pixels feed a uint8 input as they are.

    Raises:
        InputError: the pictures are not the input's size or channels, or the card does not say how
            pixels map to the input.
    """
    if batch.dtype != np.uint8 and batch.dtype == np.dtype(spec.dtype):
        return batch  # tensor values (e.g. int8 .npy), not pixels
    batch = _check_image_shape(batch, spec)
    if batch.dtype != np.uint8:
        raise InputError(f"the images hold {batch.dtype} values; give 8-bit pixels (uint8) or {spec.dtype} values "
                         f"of {model}'s input {spec.name!r}")
    if spec.pixels is None:
        if spec.dtype == "uint8":
            return batch
        raise InputError(f"{model}'s input {spec.name!r} is {spec.dtype} and its card does not say how picture pixels "
                         f"map to it (inputs: pixels: {{scale, offset, source}}); give .npy files of {spec.dtype} "
                         "values instead")
    real = batch.astype(np.float64) * spec.pixels.scale + spec.pixels.offset
    if spec.dtype == "float32":
        return real.astype(np.float32)
    q = real / spec.quantization.scale
    q = np.sign(q) * np.floor(np.abs(q) + 0.5) + spec.quantization.zero_point  # half away from zero
    info = np.iinfo(spec.dtype)
    return np.clip(q, info.min, info.max).astype(spec.dtype)
