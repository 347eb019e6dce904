"""Build your own int8 image classifier and its zoo card, then use zoo on it with no code change.

Usage:
    python examples/build_my_model.py /tmp/my_model

writes ``/tmp/my_model/my_model.tflite`` (a 20x20x1 uint8 -> 6-class shape classifier trained
for a few seconds with TensorFlow and quantized to full int8) and ``/tmp/my_model/my_model.yaml``
(its card: file hash and size, tensor names and quantizations read from the file, labels,
conformance budgets measured on it). The model-building code lives in
``tests/user_model_builder.py`` so that the test suite builds exactly the same model; copy it
and replace the training part with your own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from user_model_builder import build_user_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Write the model and its card into the folder given on the command line; print the card's path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write my_model.tflite and my_model.yaml")
    args = parser.parse_args(argv)
    card = build_user_model(args.folder)
    print(f"wrote {card.with_suffix('.tflite')} and {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
