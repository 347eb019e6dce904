"""What a card may name as a file, and where zoo may write.

A card names files (an artifact's ``file``, ``conformance.golden``, a dataset's files) that zoo
joins to its cache, a mirror or the card's folder. Those names are checked twice: by the card
schema (:data:`PlainName`, :data:`SafeRelativePath`), and again by :func:`confined` right before
any read, write or unlink, which resolves the joined path (symbolic links included) and refuses
it unless it lies inside its root.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from zoo.errors import ArtifactError

__all__ = ["PlainName", "SafeRelativePath", "check_plain_name", "check_relative_path", "confined"]

MAX_NAME = 255  # bytes of one path component on Linux file systems (NAME_MAX)
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*")
_RESERVED_SUFFIXES = (".lock", ".part")  # zoo's own lock and temporary files beside cached files


def check_plain_name(name: str) -> str:
    """Return `name` if it is a plain file name: letters, digits, ``_.+=-``, no leading dot, no separator.

    Raises:
        ValueError: anything else (``..``, ``/``, ``\\``, an absolute path, a hidden or reserved name).
    """
    if not isinstance(name, str) or len(name.encode("utf-8", "replace")) > MAX_NAME or not _PLAIN.fullmatch(name):
        raise ValueError(f"must be a plain file name (letters, digits, '_', '.', '+', '=', '-'; no '/', no '..', "
                         f"not starting with '.'), at most {MAX_NAME} bytes; got {_short(name)}")
    if name.endswith(_RESERVED_SUFFIXES):
        raise ValueError(f"must not end with {' or '.join(_RESERVED_SUFFIXES)} (zoo's own lock and temporary "
                         f"files); got {_short(name)}")
    return name


def check_relative_path(path: str) -> str:
    """Return `path` if it is '/'-separated plain names (see :func:`check_plain_name`), e.g. ``data/x.csv``.

    Raises:
        ValueError: an absolute path, an empty part, ``..``, a backslash, or a part that is not a plain name.
    """
    if not isinstance(path, str) or not path or len(path) > 4 * MAX_NAME:
        raise ValueError(f"must be a relative path of plain file names, got {_short(path)}")
    for part in path.split("/"):
        try:
            check_plain_name(part)
        except ValueError:
            raise ValueError(f"must be a relative path of plain file names separated by '/' (no '..', no leading "
                             f"'/', no '.'-names); got {_short(path)}") from None
    return path


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


PlainName = Annotated[str, AfterValidator(check_plain_name)]
SafeRelativePath = Annotated[str, AfterValidator(check_relative_path)]


def confined(root: Path, *parts: str) -> Path:
    """``root / parts...``, resolved, and confirmed to lie inside ``root`` (resolved too).

    Call it on every path zoo is about to write, replace or unlink (and on the mirror paths it reads).

    Args:
        root: the folder the path must stay in (the cache, a mirror, a card's folder).
        parts: names or relative paths below it.

    Returns:
        The resolved path.

    Raises:
        ArtifactError: the path escapes ``root`` (``..``, an absolute part, a symbolic link leading out).

    Example:
        >>> confined(Path("/tmp/cache"), "artifacts", "m", "model.tflite")
        PosixPath('/tmp/cache/artifacts/m/model.tflite')
    """
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and not path.is_relative_to(base):
        raise ArtifactError(f"refusing to use {path}: {'/'.join(map(str, parts))} leads outside {base}; "
                            "a card's file names must be plain names inside the cache or the card's folder")
    return path
