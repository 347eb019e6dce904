"""`zoo diff`: the first layer where two backends part (see :mod:`zoo.diff.run`)."""

from zoo.diff.compare import LayerDiff
from zoo.diff.run import DiffReport, diff, load_inputs

__all__ = ["DiffReport", "LayerDiff", "diff", "load_inputs"]
