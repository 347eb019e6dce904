"""Where cards and backends are found: the package's model_cards/, ``ZOO_CARDS``, explicit paths,
and the ``zoo.backends`` entry-point group (built-in and third-party backends alike).

Nothing is imported at start-up: a backend's module is imported the first time it is used.
"""

from __future__ import annotations

import difflib
import importlib.resources
import os
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from zoo.backend import Availability, Backend
from zoo.card import Card, load_card
from zoo.errors import BackendUnavailableError, CardError, UnknownNameError

__all__ = ["card_paths", "get_card", "list_models", "backend_names", "backend_class", "backend_availability",
           "device_cores", "backend_for_core", "backends_for_core"]

ENTRY_POINT_GROUP = "zoo.backends"


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} Known: {', '.join(sorted(known)) or '(none)'}."


_opened: list[Path] = []  # cards opened by path in this process: found by name afterwards too


def card_paths(extra: list[str | Path] | None = None) -> list[Path]:
    """The card files in search order: package cards, ``ZOO_CARDS`` entries, cards opened by path, `extra`.

    ``ZOO_CARDS`` holds files or folders separated by the OS path separator.
    """
    _opened[:] = [p for p in _opened if p.is_file()]  # a card opened earlier and deleted since is forgotten
    paths = [Path(str(p)).resolve() for p in importlib.resources.files("zoo.model_cards").iterdir()
             if p.name.endswith(".yaml")]
    entries = [e for e in os.environ.get("ZOO_CARDS", "").split(os.pathsep) if e]
    entries += [str(e) for e in [*_opened, *(extra or [])]]
    for entry in entries:
        p = Path(entry)
        if p.is_dir():
            paths.extend(sorted(q.resolve() for q in p.glob("*.yaml")))
        elif p.is_file():
            paths.append(p.resolve())
        else:
            raise CardError(f"card path {entry} (from ZOO_CARDS or --card) does not exist")
    return sorted(set(paths), key=paths.index)


@cache
def _load(path: Path, mtime_ns: int) -> Card:
    return load_card(path)


def _cards(extra: list[str | Path] | None = None) -> dict[str, tuple[Card, Path]]:
    found: dict[str, tuple[Card, Path]] = {}
    for path in card_paths(extra):
        card = _load(path.resolve(), path.stat().st_mtime_ns)
        if card.name in found:
            raise CardError(f"model name {card.name!r} is defined twice: {found[card.name][1]} and {path}; "
                            "rename one of them")
        found[card.name] = (card, path)
    return found


def list_models(extra: list[str | Path] | None = None) -> list[str]:
    """Names of every registered model card, sorted."""
    return sorted(_cards(extra))


def get_card(name: str | Path, extra: list[str | Path] | None = None) -> Card:
    """A card by registered name, or by the path of a YAML file.

    Raises:
        UnknownNameError: no card has this name (the message suggests close matches).
        CardError: a card file is malformed.
    """
    text = str(name)
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        path = Path(text).resolve()
        card = load_card(path)
        if path not in _opened:
            _cards([*(extra or []), path])  # a name clash with a registered card is an error now, not later
            _opened.append(path)
        return card
    cards = _cards(extra)
    if text not in cards:
        raise UnknownNameError(f"no model named {text!r}.{_suggest(text, list(cards))} "
                               "Add your own with a YAML card (a path, or ZOO_CARDS=<dir>).")
    return cards[text][0]


def add_cards(paths: list[str | Path]) -> list[str]:
    """Register card files, or every ``*.yaml`` of folders, for this process; returns their names.

    Raises:
        CardError: a file is missing or malformed, or a name clashes with a registered card.
    """
    files: list[Path] = []
    for entry in map(Path, paths):
        files += sorted(entry.glob("*.yaml")) if entry.is_dir() else [entry]
    return [get_card(str(f.resolve())).name for f in files]


def card_path(name: str) -> Path:
    """The YAML file a registered card was loaded from."""
    return _cards()[get_card(name).name][1]


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> list[str]:
    """Every backend registered in the ``zoo.backends`` entry-point group, sorted."""
    return sorted(_entry_points())


def backend_class(name: str) -> type[Backend]:
    """The backend class registered under `name` (imported now, on first use).

    Raises:
        UnknownNameError: no backend has this name.
        BackendUnavailableError: its module cannot be imported.
    """
    eps = _entry_points()
    if name not in eps:
        raise UnknownNameError(f"no backend named {name!r}.{_suggest(name, list(eps))}")
    try:
        cls = eps[name].load()
    except (ImportError, AttributeError) as exc:
        raise BackendUnavailableError(f"backend {name!r} ({eps[name].value}) cannot be imported: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise BackendUnavailableError(f"entry point {name!r} = {eps[name].value} is not a zoo.backend.Backend subclass")
    return cls


def backend_availability(name: str) -> Availability:
    """Whether a backend can run here, without raising."""
    try:
        return backend_class(name).availability()
    except BackendUnavailableError as exc:
        return Availability(False, str(exc), "reinstall the package that provides it")


def device_cores() -> dict[str, str]:
    """Every registered device backend and the core its firmware runs on (``Backend.core``), by name; a backend
    whose module cannot be imported is left out."""
    found = {}
    for name in backend_names():
        try:
            core = backend_class(name).core
        except BackendUnavailableError:
            continue
        if core:
            found[name] = core
    return found


def backend_for_core(core: str | None) -> str | None:
    """The registered device backend that measures a card platform's core: the one running that core, else
    one listing it in ``measures_cores`` (e.g. "Cortex-M0+" -> "tvm-cortexm0"); None when no backend does.

    Example:
        >>> backend_for_core("Cortex-M7")
        'tvm-cortexm7'
    """
    found = backends_for_core(core)
    return found[0] if found else None


def backends_for_core(core: str | None) -> list[str]:
    """Every registered device backend that measures a core, best first: those running it, then those listing
    it in ``measures_cores``; by name within each."""
    if not core:
        return []
    cores = device_cores()
    return ([name for name, c in cores.items() if c == core]
            + [name for name, c in cores.items() if c != core and core in backend_class(name).measures_cores])
