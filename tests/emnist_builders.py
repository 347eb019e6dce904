"""Small EMNIST-format files for the dataset tests: idx files, NIST's zip of gzip members with the
real member names, and a copy of the real EMNIST card pinned to them."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import zoo

EMNIST = "emnist_byclass_digits_upper"
CARDS = Path(zoo.__file__).parent / "datasets" / "cards"



def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file (uint8 only) with the array's shape."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upright_images(labels: np.ndarray) -> np.ndarray:
    """Asymmetric test images: a bar along the top row of width 3 + i, and a short stroke down
    the left column; a transposed copy would have the long bar down the left instead."""
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 0, : 3 + i] = 255
        images[i, 1:4, 0] = 128
        images[i, 27, 27] = int(label)  # ties each image to its label
    return images


TEST_LABELS = np.array([3, 40, 35, 61, 0, 10, 36, 22, 9, 50], dtype=np.uint8)
TRAIN_LABELS = np.array([1, 2, 45, 33], dtype=np.uint8)


def emnist_members(**override: bytes) -> dict[str, bytes]:
    """Member file name -> gzip bytes, as in NIST's gzip.zip (images stored transposed)."""
    members = {}
    for split, labels in (("test", TEST_LABELS), ("train", TRAIN_LABELS)):
        stored = upright_images(labels).transpose(0, 2, 1)
        members[f"emnist-byclass-{split}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(stored), mtime=0)
        members[f"emnist-byclass-{split}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels), mtime=0)
    members.update(override)
    return members


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("gzip/emnist-balanced-test-images-idx3-ubyte.gz", b"other members exist")
        for name, data in members.items():
            zf.writestr(f"gzip/{name}", data)
    return buffer.getvalue()


def real_card_data(name: str) -> dict[str, Any]:
    return yaml.safe_load((CARDS / f"{name}.yaml").read_text())


def emnist_test_card(tmp_path: Path, url: str, members: dict[str, bytes], zip_sha256: str | None = None,
                     pins: dict[str, bytes] | None = None) -> Path:
    """The real EMNIST card, pointed at `url` and pinned to the small files (or to `pins`)."""
    data = real_card_data(EMNIST)
    data["archives"]["gzip"]["url"] = url
    data["archives"]["gzip"]["sha256"] = zip_sha256
    for f in data["files"].values():
        pinned = (pins or {}).get(f["file"], members[f["file"]])
        f["sha256"], f["size"] = sha(pinned), len(pinned)
    for split, labels in (("test", TEST_LABELS), ("train", TRAIN_LABELS)):
        data["splits"][split]["source_size"] = len(labels)
        data["splits"][split]["size"] = int((labels <= 35).sum())
    path = tmp_path / "cards" / f"{EMNIST}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def expected(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = labels <= 35
    return upright_images(labels)[keep][..., None], labels[keep].astype(np.int64)
