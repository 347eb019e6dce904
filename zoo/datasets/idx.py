"""A small strict reader of the idx format (MNIST, EMNIST), plain or gzip-compressed.

An idx file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the items in C order. Anything
else (a wrong magic, a short file, trailing bytes, a broken gzip stream) raises
ArtifactError naming the file.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from zoo.errors import ArtifactError

__all__ = ["IdxFile", "read_idx"]

# idx type code -> numpy dtype (multi-byte types are big-endian)
_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


class IdxFile:
    """An open idx file read item by item from the start, so large files need not fit in memory.

    Attributes:
        path: the file.
        dtype: the items' numpy dtype.
        shape: all dimensions, the item count first.

    Example:
        >>> with IdxFile(Path("emnist-byclass-test-images-idx3-ubyte.gz")) as f:  # doctest: +SKIP
        ...     first = f.read(100)  # (100, 28, 28) uint8
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stream: gzip.GzipFile | io.BufferedReader
        self._stream = gzip.GzipFile(self.path, "rb") if self.path.suffix == ".gz" else open(self.path, "rb")
        self._next = 0
        try:
            self.dtype, self.shape = self._header()
        except BaseException:
            self._stream.close()
            raise

    def _fail(self, what: str) -> ArtifactError:
        return ArtifactError(f"idx file {self.path} is corrupt: {what}. Delete it (and its cache entry) "
                             "and provide the file again.")

    def _bytes(self, n: int, what: str) -> bytes:
        try:
            data = self._stream.read(n)
        except _READ_ERRORS as exc:
            raise self._fail(f"cannot read {what} ({exc})") from None
        if len(data) != n:
            raise self._fail(f"truncated: {what} needs {n} bytes, the file has {len(data)}")
        return data

    def _header(self) -> tuple[np.dtype[Any], tuple[int, ...]]:
        zero0, zero1, code, ndim = self._bytes(4, "the magic number")
        if zero0 or zero1 or code not in _DTYPES or ndim == 0:
            raise self._fail(f"bad magic number {bytes([zero0, zero1, code, ndim]).hex()} "
                             f"(expected 0000 + a type code in {[hex(c) for c in _DTYPES]} + ndim >= 1)")
        shape = struct.unpack(f">{ndim}I", self._bytes(4 * ndim, f"the {ndim} dimension sizes"))
        return _DTYPES[code], tuple(int(d) for d in shape)

    @property
    def item_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def read(self, count: int) -> np.ndarray:
        """The next `count` items, shape (count, *shape[1:]), native byte order.

        Raises:
            ArtifactError: fewer than `count` items are left, or the file ends early.
        """
        if count < 0 or self._next + count > self.shape[0]:
            raise ArtifactError(f"idx file {self.path}: asked for items {self._next}..{self._next + count} "
                                f"of {self.shape[0]}")
        data = self._bytes(count * self.item_bytes, f"items {self._next}..{self._next + count}")
        self._next += count
        items = np.frombuffer(data, dtype=self.dtype).reshape((count, *self.shape[1:]))
        return items.astype(self.dtype.newbyteorder("="))

    def check_end(self) -> None:
        """Check that every item was read and nothing follows them.

        Raises:
            ArtifactError: items remain, or bytes follow the last item.
        """
        if self._next != self.shape[0]:
            raise ArtifactError(f"idx file {self.path}: {self.shape[0] - self._next} items not read yet")
        try:
            extra = self._stream.read(1)
        except _READ_ERRORS as exc:
            raise self._fail(f"cannot read past the last item ({exc})") from None
        if extra:
            raise self._fail(f"bytes follow the {self.shape[0]} items the header announces")

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> IdxFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_idx(path: Path) -> np.ndarray:
    """A whole idx file as an array, checked strictly (header, size, nothing trailing).

    Args:
        path: an idx file, gzip-compressed if its name ends in ``.gz``.

    Returns:
        The array with the header's shape and type (native byte order).

    Raises:
        ArtifactError: the file is missing, corrupt or truncated (the message names it).

    Example:
        >>> labels = read_idx(Path("emnist-byclass-test-labels-idx1-ubyte.gz"))  # doctest: +SKIP
        >>> labels.shape
        (116323,)
    """
    try:
        handle = IdxFile(path)
    except FileNotFoundError:
        raise ArtifactError(f"idx file {path} does not exist") from None
    with handle as f:
        data = f.read(f.shape[0])
        f.check_end()
    return data
