"""Strict loading of YAML documents into frozen pydantic models (model cards, dataset cards)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from zoo.errors import CardError

__all__ = ["Strict", "read_yaml", "validate_document"]

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Frozen, no unknown keys, no type coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _format_errors(what: str, path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "missing required key"
        else:
            msg = err["msg"] + (f" (got {err['input']!r:.80})" if "input" in err else "")
        lines.append(f"  {loc}: {msg}")
    return f"invalid {what} {path}:\n" + "\n".join(lines)


def validate_document(model: type[M], data: Any, path: Path, what: str) -> M:
    """Validate parsed YAML as `model`; every problem becomes one CardError naming `path` and each key."""
    if not isinstance(data, dict):
        raise CardError(f"invalid {what} {path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CardError(_format_errors(what, path, exc)) from None
    except (TypeError, ValueError) as exc:  # pydantic may surface these for odd inputs (e.g. unhashable keys)
        raise CardError(f"invalid {what} {path}: {exc}") from None


def read_yaml(path: Path, what: str) -> Any:
    """Read and parse a YAML file; unreadable, non-UTF-8 or invalid YAML is a CardError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CardError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CardError(f"{what} {path} is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CardError(f"{what} {path} is not valid YAML: {exc}") from None
