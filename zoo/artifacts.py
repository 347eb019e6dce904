"""Artifacts and compiled forms: fetched or built once, verified, cached, never corrupt.

Where files come from, in order: the per-user cache (valid files are never fetched again),
a local mirror (``ZOO_MIRROR=<dir>`` laid out ``<model>/<file>``), then the artifact's URL
through pooch. Every file is checked against the card's sha256 before it lands in the
cache; a download or copy goes to a temporary file that is moved into place only once
its hash matches, under a file lock so that two processes never fill one entry at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import filelock
import platformdirs
import pooch

from zoo.errors import ArtifactError, HashMismatchError, OfflineError
from zoo.paths import confined

__all__ = ["Fetchable", "cache_dir", "cache_error", "fetch", "cached_build", "is_offline", "local_source", "locked",
           "no_download", "sha256_of"]

LOCK_TIMEOUT_S = 600
MANIFEST = "MANIFEST.sha256"  # of a compiled form: written last, checked before every use
_NO_DOWNLOAD = contextvars.ContextVar("zoo_no_download", default=False)


def cache_dir() -> Path:
    """The cache root: ``ZOO_CACHE_DIR`` if set, else the per-user cache folder."""
    return Path(os.environ.get("ZOO_CACHE_DIR") or platformdirs.user_cache_dir("zoo"))


class Fetchable(Protocol):
    """What fetch needs of a file: a model card's Artifact, or a dataset card's file."""

    file: str  # file name in the cache and the mirror
    url: str  # where to download it (or a local path / file:// URL)
    sha256: str  # the pinned hash


def is_offline() -> bool:
    """Whether downloads are off: ``ZOO_OFFLINE`` is set, or inside :func:`no_download`."""
    return _NO_DOWNLOAD.get() or os.environ.get("ZOO_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def no_download() -> Iterator[None]:
    """Within this block, fetch only from the cache or the mirror, as if ZOO_OFFLINE were set."""
    token = _NO_DOWNLOAD.set(True)
    try:
        yield
    finally:
        _NO_DOWNLOAD.reset(token)


def sha256_of(path: Path) -> str:
    """The sha256 of a file, hex."""
    return pooch.file_hash(str(path), alg="sha256")


def _mismatch(what: str, expected: str, actual: str) -> HashMismatchError:
    return HashMismatchError(
        f"{what} has sha256 {actual}, but the card pins {expected}. The file is corrupt, "
        "truncated, or a different version; it was not put in the cache. Check the source "
        "(mirror, URL or local file) or the card's sha256.")


def cache_error(path: Path, exc: OSError) -> ArtifactError:
    """An ArtifactError for an OSError met in the cache: names the path and the fix."""
    return ArtifactError(f"cannot write to zoo's cache at {path}: {exc.strerror or exc}. Free some space, make "
                         f"{cache_dir()} a writable folder, or set ZOO_CACHE_DIR to one (a read-only cache can "
                         "only serve files and compiled forms that are already in it)")


@contextlib.contextmanager
def locked(target: Path) -> Iterator[None]:
    """Hold `target`'s file lock; waiting too long for another process, or an unwritable cache, is an ArtifactError."""
    lock = filelock.FileLock(str(target) + ".lock", timeout=LOCK_TIMEOUT_S)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as exc:
        raise cache_error(target.parent, exc) from None
    except filelock.Timeout:
        raise ArtifactError(f"{lock.lock_file} has been held for over {LOCK_TIMEOUT_S} s: another zoo process is "
                            "fetching or building this entry; wait for it, or delete the lock file if no zoo "
                            "process is running") from None
    try:
        yield
    finally:
        lock.release()


def _copy_verified(source: Path, target: Path, artifact: Fetchable) -> None:
    """Copy a mirror or local file to `target` through a temporary file, only if its hash matches."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
    except OSError as exc:
        raise cache_error(target.parent, exc) from None
    try:
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed below; a read error is the source's, not the cache's
        except OSError as exc:
            raise ArtifactError(f"cannot read {source}: {exc.strerror or exc}") from None
        try:
            with src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except OSError as exc:
            raise cache_error(target.parent, exc) from None
        actual = sha256_of(Path(tmp))
        if actual != artifact.sha256:
            raise _mismatch(f"{source}", artifact.sha256, actual)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


DOWNLOAD_SCHEMES = ("http", "https", "ftp", "sftp", "doi")


def _download(url: str, target: Path, artifact: Fetchable) -> None:
    scheme = urlparse(url).scheme
    if scheme not in DOWNLOAD_SCHEMES:
        raise ArtifactError(f"cannot download {artifact.file} from {url!r}: unsupported URL scheme {scheme!r}; "
                            f"use one of {', '.join(DOWNLOAD_SCHEMES)}, a local path or a file:// URL")
    try:
        pooch.retrieve(url, known_hash=f"sha256:{artifact.sha256}", fname=target.name,
                       path=target.parent, progressbar=False)
    except ValueError as exc:  # pooch's hash mismatch (it names both hashes); its temporary file is gone
        raise HashMismatchError(f"download of {url} for {artifact.file} was refused and not cached: {exc}. "
                                "Check the URL or the card's sha256.") from None
    except OSError as exc:  # includes requests' ConnectionError and HTTP errors
        raise OfflineError(_how_to_provide(artifact, target, f"download of {url} failed: {exc}")) from None


def _how_to_provide(artifact: Fetchable, target: Path, why: str) -> str:
    model = target.parent.name
    return (f"{why}. To provide {artifact.file} (sha256 {artifact.sha256}): put it in a mirror "
            f"folder as <dir>/{model}/{artifact.file} and set ZOO_MIRROR=<dir>, or copy it to {target}, "
            f"or unset ZOO_OFFLINE and allow access to {artifact.url}")


def fetch(model: str, artifact: Fetchable, base_dir: Path | None = None) -> Path:
    """Return a local, verified path to an artifact, fetching it into the cache if needed.

    Args:
        model: the card's name (the cache and mirror folder).
        artifact: the file to fetch: a model card's artifact entry, or any object with
            ``file``, ``url`` and ``sha256``.
        base_dir: where a relative local ``url`` is resolved (the card's folder).

    Returns:
        The path of the verified file in the cache.

    Raises:
        HashMismatchError: the mirror or the download does not match the pinned sha256.
        OfflineError: the file is not cached and cannot be fetched (offline, or no network).
        ArtifactError: a local url names no file, the url's scheme is not downloadable, or another
            process holds the entry's lock for too long.

    Example:
        >>> card = zoo.get_card("stmnist_v1")
        >>> fetch(card.name, card.artifact("int8"))  # doctest: +SKIP
        PosixPath('/root/.cache/zoo/artifacts/stmnist_v1/stmnist_v1_int8.tflite')
    """
    target = confined(cache_dir() / "artifacts", model, artifact.file)
    if _valid(target, artifact.sha256):  # files land by rename: a hit needs no lock (and works read-only)
        return target
    with locked(target):
        if _valid(target, artifact.sha256):
            return target
        if os.path.lexists(target):
            _unlink(target)  # corrupt or stale entry: drop it and fetch again below
        mirror = os.environ.get("ZOO_MIRROR")
        if mirror:
            source = confined(Path(mirror), model, artifact.file)
            if source.is_file():
                _copy_verified(source, target, artifact)
                return target
        local = local_source(artifact.url, base_dir)
        if local is not None:
            if not local.is_file():
                raise ArtifactError(f"{artifact.url} (the card's url for {artifact.file}) does not exist")
            _copy_verified(local, target, artifact)
            return target
        if is_offline():
            where = f"not in the mirror ZOO_MIRROR={mirror}" if mirror else "not cached"
            raise OfflineError(_how_to_provide(artifact, target, f"{artifact.file} is {where} and downloads are off "
                                                                 "(ZOO_OFFLINE, or a run that never downloads)"))
        _download(artifact.url, target, artifact)
        return target


def _valid(target: Path, sha256: str) -> bool:
    return target.is_file() and not target.is_symlink() and sha256_of(target) == sha256


def _unlink(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as exc:
        raise cache_error(path, exc) from None


def local_source(url: str, base_dir: Path | None = None) -> Path | None:
    """A card's url that names a local file (``file://`` URL or plain path, relative to `base_dir`), else None."""
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    if "://" in url:
        return None
    return (base_dir or Path.cwd()) / url


def cached_build(kind: str, key_parts: list[str], build: Callable[[Path], None]) -> Path:
    """A folder built once per key and reused: e.g. a backend's compiled form of an artifact.

    `build(tmp_dir)` fills an empty temporary folder; only when it returns is a manifest of every
    file's sha256 written (last) and the folder moved into place, so an interrupted or failed
    build never leaves an entry. Each use checks the manifest first: a damaged entry (a truncated
    shared library would crash the process that loads it) is rebuilt, never loaded.

    Args:
        kind: a sub-folder of the cache, e.g. ``compiled/tflite``.
        key_parts: strings that together identify the build (artifact hash, versions, options).
        build: fills the folder it is given.

    Returns:
        The cached, verified folder.

    Raises:
        ArtifactError: the cache cannot be written (the entry is missing or damaged and the cache is
            read-only or full), or another process holds the entry's lock for too long.
    """
    digest = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()[:20]
    target = confined(cache_dir(), *kind.split("/"), digest)
    if _intact(target):  # entries land by rename: a hit needs no lock (and works in a read-only cache)
        return target
    with locked(target):
        if _intact(target):
            return target
        if os.path.lexists(target):
            _unlink(target)  # damaged, or from before manifests: build it again
        try:
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{digest}.", suffix=".part"))
        except OSError as exc:
            raise cache_error(target.parent, exc) from None
        try:
            try:
                build(tmp)
            except OSError as exc:
                if exc.errno not in _CACHE_ERRNOS:
                    raise
                raise cache_error(target.parent, exc) from None
            (tmp / "KEY").write_text("\n".join(key_parts) + "\n")
            _write_manifest(tmp)
            os.replace(tmp, target)
        except OSError as exc:
            raise cache_error(target.parent, exc) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target


_CACHE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def _write_manifest(folder: Path) -> None:
    lines = [f"{sha256_of(folder / rel)}  {rel}" for rel in _files(folder)]
    with open(folder / MANIFEST, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _intact(folder: Path) -> bool:
    """Whether a compiled form holds exactly the files its manifest lists, each with its sha256."""
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
        listed = dict(reversed(line.split("  ", 1)) for line in text.splitlines() if line)
        return (folder.is_dir() and not folder.is_symlink() and sorted(listed) == _files(folder)
                and all(sha256_of(folder / rel) == digest for rel, digest in listed.items()))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
