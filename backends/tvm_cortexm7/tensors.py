"""The tensors of a model library: their description (:class:`TensorSpec`), how a batch is packed into
the ``<prefix>_run_buffers`` layout and back, and the check that a card states the model's own tensors.
Nothing here converts a dtype: a tensor of the wrong type or shape is an error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.errors import BackendError, InputError

__all__ = ["TensorSpec", "packed_offsets", "pack", "unpack", "card_tensor_specs", "check_against_card", "CTYPES"]

CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "float32": "float"}
_ITEMSIZE = {"int8": 1, "uint8": 1, "float32": 4}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor of a library: the model's own name, shape, dtype and quantization."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "uint8" or "float32"
    scale: float = 0.0
    zero_point: int = 0

    @property
    def count(self) -> int:
        """Elements."""
        return _prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes."""
        return self.count * _ITEMSIZE[self.dtype]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form in ``metadata.json``."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "scale": self.scale,
                "zero_point": self.zero_point}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorSpec:
        """Read the JSON form."""
        return cls(d["name"], tuple(d["shape"]), d["dtype"], float(d.get("scale", 0.0)), int(d.get("zero_point", 0)))


def packed_offsets(specs: list[TensorSpec]) -> tuple[list[int], int]:
    """Offsets of tensors packed one after another on 4-byte boundaries, and the total bytes."""
    offsets, pos = [], 0
    for t in specs:
        offsets.append(pos)
        pos += (t.nbytes + 3) // 4 * 4
    return offsets, pos


def pack(specs: list[TensorSpec], arrays: list[Any]) -> Any:
    """Pack a batch of tensors (each ``(N, *spec.shape[1:])`` in the spec's dtype) into ``(N, bytes)`` uint8 rows.

    Raises:
        InputError: a tensor is missing, or has another dtype or shape (nothing is converted).
    """
    if len(arrays) != len(specs):
        raise InputError(f"the model takes {len(specs)} input(s) ({', '.join(t.name for t in specs)}), got {len(arrays)}")
    offsets, total = packed_offsets(specs)
    n = len(arrays[0]) if arrays else 0
    out = np.zeros((n, total), np.uint8)
    for t, off, a in zip(specs, offsets, arrays, strict=True):
        a = np.asarray(a)
        if a.dtype != np.dtype(t.dtype) or tuple(a.shape[1:]) != tuple(t.shape[1:]) or len(a) != n:
            raise InputError(f"input {t.name!r} must be {t.dtype} of shape (N, {', '.join(map(str, t.shape[1:]))}) "
                             f"with N={n}, got {a.dtype} {a.shape}; convert it yourself (the model's own dtype)")
        out[:, off:off + t.nbytes] = np.ascontiguousarray(a).reshape(n, -1).view(np.uint8)
    return out


def unpack(specs: list[TensorSpec], raw: Any) -> list[Any]:
    """The tensors of packed ``(N, bytes)`` uint8 rows, each ``(N, *spec.shape[1:])`` in its dtype."""
    offsets, _ = packed_offsets(specs)
    n = len(raw)
    return [np.ascontiguousarray(raw[:, off:off + t.nbytes]).view(np.dtype(t.dtype).newbyteorder("<"))
            .astype(np.dtype(t.dtype)).reshape(n, *t.shape[1:]) for t, off in zip(specs, offsets, strict=True)]


def card_tensor_specs(card: Any) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The card's inputs and outputs as library :class:`TensorSpec` (quantization where the card states it)."""
    def spec(t: Any) -> TensorSpec:
        q = getattr(t, "quantization", None)
        return TensorSpec(t.name, tuple(t.shape), t.dtype, float(q.scale) if q else 0.0, int(q.zero_point) if q else 0)

    return tuple(spec(t) for t in card.inputs), tuple(spec(t) for t in card.outputs)


def check_against_card(lib: Any, card_tensors: tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]],
                       model: str) -> None:
    """Require the card's tensors to be the model's own: count, shape, dtype, quantization (inputs by name too).

    Raises:
        BackendError: naming every disagreement and the card field to fix.
    """
    problems = []
    for kind, ours, theirs in (("input", lib.inputs, card_tensors[0]), ("output", lib.outputs, card_tensors[1])):
        if not theirs:
            continue
        if len(ours) != len(theirs):
            problems.append(f"{len(ours)} {kind}(s), the card lists {len(theirs)}")
            continue
        for k, (m, c) in enumerate(zip(ours, theirs, strict=True)):
            where = f"{kind} {k} ({m.name!r})"
            if kind == "input" and m.name != c.name:
                problems.append(f"{where}: the card names it {c.name!r}")
            if tuple(m.shape[1:]) != tuple(c.shape[1:]) or m.dtype != c.dtype:
                problems.append(f"{where} is {m.dtype}{list(m.shape)}, the card says {c.dtype}{list(c.shape)}")
            elif m.dtype != "float32" and c.scale and (np.float32(m.scale) != np.float32(c.scale)
                                                       or m.zero_point != c.zero_point):
                problems.append(f"{where} is quantized scale {m.scale!r} zero point {m.zero_point}, the card says "
                                f"{c.scale!r} / {c.zero_point}")
    if problems:
        raise BackendError(f"{model} disagrees with its card: " + "; ".join(problems) +
                           "; fix the card's inputs/outputs (zoo card init writes them from the model)")


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n
