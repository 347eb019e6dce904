"""Strict loading of YAML documents into frozen pydantic models (model cards, dataset cards).

The YAML is bounded before it is built: at most :data:`MAX_BYTES` of text, :data:`MAX_DEPTH`
levels of nesting, :data:`MAX_ALIASES` aliases and :data:`MAX_NODES` nodes once aliases are
expanded (an alias bomb in a few kilobytes would otherwise cost exponential time and memory).
Duplicate keys are refused (YAML would keep the last one silently); non-finite numbers (``.inf``,
``.nan``, ``1.0e+309``) are refused by the schema (``allow_inf_nan=False``), naming the key. Error
messages quote at most a few dozen characters of any value, never the whole input.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from zoo.errors import CardError

__all__ = ["MAX_BYTES", "Strict", "read_yaml", "short_errors", "validate_document"]

M = TypeVar("M", bound=BaseModel)

MAX_BYTES = 1 << 20  # a card is a few kilobytes
MAX_DEPTH = 32  # the stmnist_v1 card nests 5 deep
MAX_ALIASES = 64
MAX_NODES = 100_000  # after expanding aliases
_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 60, 60, 4, 4, 2


class Strict(BaseModel):
    """Frozen, no unknown keys, no type coercion, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def short_errors(exc: ValidationError) -> str:
    """One line per pydantic error: where, what, and a bounded excerpt of the offending value."""
    lines = []
    for err in exc.errors()[:20]:
        loc = ".".join(str(p) for p in err["loc"])[:120] or "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "missing required key"
        else:
            msg = err["msg"][:2000] + (f" (got {_REPR.repr(err['input'])})" if "input" in err else "")
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def validate_document(model: type[M], data: Any, path: Path, what: str) -> M:
    """Validate parsed YAML as `model`; every problem becomes one CardError naming `path` and each key."""
    if not isinstance(data, dict):
        raise CardError(f"invalid {what} {path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CardError(f"invalid {what} {path}:\n{short_errors(exc)}") from None
    except (TypeError, ValueError, RecursionError) as exc:  # pydantic may surface these for odd inputs
        raise CardError(f"invalid {what} {path}: {str(exc)[:300]}") from None


_LIBYAML = getattr(yaml, "__with_libyaml__", False)
_Base: type = yaml.CSafeLoader if _LIBYAML else yaml.SafeLoader


class _BoundedLoader(_Base):
    """PyYAML's safe loader (libyaml's parser where installed), refusing deep nesting, alias bombs and duplicate
    keys. With libyaml, nesting and aliases are counted by :func:`_prescan`; the
    pure-Python composer counts them itself in :meth:`compose_node`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} aliases (*name)")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the constructor reports it below
                if duplicate:
                    raise _Refused(f"duplicate key {_REPR.repr(key)} (line {key_node.start_mark.line + 1}); "
                                   "YAML would silently keep the last one: keep one")
        return super().construct_mapping(node, deep=deep)


class _Refused(Exception):
    pass


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """Nodes in the document once every alias is expanded (memoised: linear in the composed graph)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = MAX_NODES + 1  # a node inside itself (a recursive alias) counts as too large
    children: list[Any] = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    size = 1
    for child in children:
        size += _expanded_size(child, memo)
        if size > MAX_NODES:
            break
    memo[id(node)] = size
    return size


def _prescan(text: str) -> None:
    """Count nesting and aliases on the event stream before anything is built.

    PyYAML's pure-Python scanner is quadratic in flow nesting (``[[[[...``: every level stays a possible
    simple key), so nesting is bounded before it runs: on libyaml's linear event stream where installed,
    else by counting flow openers.
    """
    if not _LIBYAML:
        if text.count("[") + text.count("{") > 64 * MAX_DEPTH:
            raise _Refused(f"more than {64 * MAX_DEPTH} flow collections ([ or {{)")
        return
    depth = aliases = 0
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise _Refused(f"more than {MAX_ALIASES} aliases (*name)")
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels") from None
        raise


def _parse(text: str) -> Any:
    _prescan(text)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES:,} values once its aliases are expanded (an alias bomb?)")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path, what: str) -> Any:
    """Read and parse a YAML file within the bounds above.

    Raises:
        CardError: unreadable, too large, not UTF-8, not YAML, or refused (depth, aliases, duplicate
            keys); the message names the file and the reason.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CardError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise CardError(f"{what} {path} is larger than {MAX_BYTES:,} bytes; a card is a few kilobytes of YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CardError(f"{what} {path} is not UTF-8 text") from None
    try:
        return _parse(text)
    except _Refused as exc:
        raise CardError(f"{what} {path} is refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise CardError(f"{what} {path} is not valid YAML: {str(exc)[:500]}") from None
    except RecursionError:
        raise CardError(f"{what} {path} is nested too deeply") from None
