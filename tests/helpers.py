"""Helpers shared by the backend test modules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Spread:
    """How far a backend's outputs are from the reference's, in output steps (1/256)."""

    max_lsb: int
    mismatch: float
    top1: float


def spread(ours: np.ndarray, ref: np.ndarray, label: str) -> Spread:
    """Max |Δ| in output steps, share of differing elements and top-1 agreement (printed; see ``-s``)."""
    steps = np.abs(ours.astype(np.float64) - ref) * 256
    result = Spread(int(np.rint(steps.max())), float(np.mean(steps > 0.5)),
                    float(np.mean(ours.argmax(1) == ref.argmax(1))))
    print(f"\n[{label}] n={len(ours)} max|Δ|={result.max_lsb} steps, differing={result.mismatch:.2%}, "
          f"top-1 agreement={result.top1:.2%}")
    return result


def litert_direct(tflite: Path, images: np.ndarray, kernels: str = "builtin") -> np.ndarray:
    """Outputs of LiteRT called directly, one image at a time: builtin kernels (no delegate) or XNNPACK."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = {"builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, "xnnpack": OpResolverType.AUTO}[kernels]
    interp = Interpreter(model_path=str(tflite), experimental_op_resolver_type=resolver, num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    rows = []
    for image in images:
        interp.set_tensor(inp, image[None])
        interp.invoke()
        rows.append(interp.get_tensor(out)[0].copy())
    return np.stack(rows)
