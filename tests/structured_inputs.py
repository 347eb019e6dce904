"""Structured test inputs for the real models, in each model's own input dtype and quantization:
images (smooth gradients, sparse blobs, saturated blocks, stripes, noise), MFCC-like feature maps
for keyword spotting, log-mel-like spectrogram slices for anomaly detection. Not only uniform
noise, which saturates classifiers."""

from __future__ import annotations

import numpy as np


def _quantize(real: np.ndarray, dtype: str, scale: float, zero_point: int) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.rint(real / scale) + zero_point, info.min, info.max).astype(dtype)


def images(shape: tuple[int, ...], dtype: str, n: int, seed: int) -> np.ndarray:
    """``n`` images (H, W, C) spanning the dtype's full range: 8 kinds in turn."""
    rng = np.random.default_rng(seed)
    h, w, c = shape[-3:]
    y, x = np.mgrid[0:h, 0:w] / max(h - 1, w - 1, 1)
    out = np.empty((n, h, w, c))
    for i in range(n):
        kind = i % 8
        if kind == 0:  # smooth gradient in a random direction, per channel
            a = rng.uniform(-1, 1, (2, c))
            img = a[0] * x[..., None] + a[1] * y[..., None]
        elif kind == 1:  # sparse blobs
            img = np.zeros((h, w, c))
            for _ in range(rng.integers(1, 6)):
                cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.2)
                img += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None] * rng.uniform(0.5, 1, c)
        elif kind == 2:  # saturated blocks
            bs = max(2, int(rng.integers(2, max(3, h // 3))))
            img = ((np.arange(h)[:, None] // bs + np.arange(w)[None, :] // bs) % 2)[..., None] * np.ones(c)
        elif kind == 3:  # stripes
            img = (np.sin(2 * np.pi * rng.uniform(1, 6) * (x if rng.random() < 0.5 else y)) > 0)[..., None] * np.ones(c)
        elif kind == 4:  # uniform noise
            img = rng.random((h, w, c))
        elif kind == 5:  # dark noise (low contrast)
            img = rng.random((h, w, c)) * rng.uniform(0.05, 0.3)
        elif kind == 6:  # a flat level
            img = np.full((h, w, c), rng.choice([0.0, 1.0, rng.random()]))
        else:  # smooth random field
            coarse = rng.random((4, 4, c))
            img = np.kron(coarse, np.ones((h // 4 + 1, w // 4 + 1, 1)))[:h, :w]
        lo, hi = img.min(), img.max()
        out[i] = (img - lo) / (hi - lo) if hi > lo else np.clip(img, 0, 1)
    info = np.iinfo(dtype)
    return np.rint(info.min + out * (info.max - info.min)).astype(dtype).reshape(n, *shape[1:])


def mfcc_like(shape: tuple[int, ...], dtype: str, scale: float, zero_point: int, n: int, seed: int) -> np.ndarray:
    """MFCC-like maps (frames x coefficients): a large first coefficient, smaller and signed higher
    ones, smooth over time, silence and loud frames included (values in the range a kws front end gives)."""
    rng = np.random.default_rng(seed)
    frames, coeffs = shape[1], shape[2]
    out = np.empty((n, frames, coeffs))
    for i in range(n):
        level = rng.uniform(-40, 30) if i % 4 else rng.choice([-60.0, 40.0])
        spread = 30.0 / (1 + np.arange(coeffs))
        walk = np.cumsum(rng.normal(0, 1, (frames, coeffs)), axis=0)
        walk = (walk - walk.mean(0)) / (walk.std(0) + 1e-9)
        env = np.exp(-((np.arange(frames) - rng.uniform(0, frames)) / rng.uniform(3, frames)) ** 2)[:, None]
        base = np.where(np.arange(coeffs) == 0, level, rng.normal(0, 1, coeffs) * spread)
        out[i] = base * (0.3 + env) + walk * spread * rng.uniform(0.1, 1.0)
    return _quantize(out, dtype, scale, zero_point).reshape(n, *shape[1:])


def spectrogram_like(shape: tuple[int, ...], dtype: str, scale: float, zero_point: int, n: int, seed: int,
                     bands: int = 128) -> np.ndarray:
    """Log-mel-like slices (frames of ``bands`` mel bins, flattened): a falling spectral tilt, harmonic
    ridges and stationary noise, from quiet to loud (the ToyADMOS front end's range)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape[1:]))
    frames = size // bands
    out = np.empty((n, frames, bands))
    mel = np.arange(bands) / bands
    for i in range(n):
        tilt = rng.uniform(-60, -10) * mel
        ridges = sum(rng.uniform(5, 25) * np.exp(-((mel - f) / 0.01) ** 2) for f in rng.uniform(0, 1, rng.integers(0, 6)))
        level = rng.uniform(-80, 20)
        out[i] = level + tilt + ridges + rng.normal(0, rng.uniform(0.5, 6), (frames, bands))
    return _quantize(out, dtype, scale, zero_point).reshape(n, *shape[1:])
