"""Build your own int8 image classifier, then give it a zoo card with `zoo card init`.

Usage:
    python examples/build_my_model.py /tmp/my_model

writes ``/tmp/my_model/my_model.tflite`` (a 20x20x1 uint8 -> 6-class shape classifier trained
for a few seconds with TensorFlow and quantized to full int8). The model-building code lives in
``tests/user_model_builder.py`` so that the test suite builds exactly the same model; copy it
and replace the training part with your own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from user_model_builder import LABELS, build_user_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Write the model and its card into the folder given on the command line; print the card's path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write my_model.tflite")
    args = parser.parse_args(argv)
    model = build_user_model(args.folder)
    print(f"wrote {model}; next: zoo card init {model} --name my_model --labels {','.join(LABELS)} -o {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
