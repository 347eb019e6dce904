"""Reading back the validation JSON that ``zoo validate --json`` writes, for ``zoo card``.

The file may have been edited, truncated or written by someone else: it is parsed with bounds
(size, no NaN/Infinity), and the fields the Markdown card uses are checked for their types
before anything is rendered, so a hostile file is a clean :class:`~zoo.errors.ArtifactError`.
Fields the card does not use are kept as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.errors import ArtifactError
from zoo.strict import MAX_BYTES, short_errors

__all__ = ["read_results"]

Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Positive = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Flips(_Loose):
    flips: Count
    near_tie_flips: Count


class _Footprint(_Loose):
    flash_bytes: Count
    ram_bytes: Count
    weights_bytes: Count
    code_bytes: Count
    stack_bytes: Count
    arena_bytes: Count


class _Backend(_Loose):
    status: str
    artifact: str | None = None
    accuracy: Share | None = None
    top5_accuracy: Share | None = None
    max_abs_lsb: Count | None = None
    mismatch_fraction: Share | None = None
    top1_agreement: Share | None = None
    latency_ms: Positive | None = None
    throughput_ips: Positive | None = None
    golden: _Flips | None = None
    data: _Flips | None = None
    confusion: list[list[Count]] | None = None
    footprint: _Footprint | None = None
    instructions_per_inference: Annotated[int, Field(gt=0)] | None = None


class _Provenance(_Loose):
    date: str
    python: str
    machine: str
    packages: dict[str, str | None]


class _Results(_Loose):
    dataset: str | None = None
    reference: str | None = None
    backends: dict[str, _Backend]
    provenance: _Provenance | None = None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_results(path: Path) -> dict[str, Any] | None:
    """The parsed validation results at `path`, or None when there is no such file.

    Raises:
        ArtifactError: the file cannot be read, is larger than the bound, is not JSON, or a field the
            Markdown card uses has the wrong type; the message names the file, the field and the fix.
    """
    if not path.exists():
        return None
    fix = f"regenerate it with `zoo validate MODEL --json {path}`"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ArtifactError(f"validation results {path} are larger than {MAX_BYTES:,} bytes; {fix}")
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except OSError as exc:
        raise ArtifactError(f"cannot read validation results {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"validation results {path} are not valid JSON ({str(exc)[:200]}); {fix}") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"validation results {path} are not a JSON object; {fix}")
    try:
        _Results.model_validate(data)
    except ValidationError as exc:
        raise ArtifactError(f"validation results {path} are malformed:\n{short_errors(exc)}\n{fix}") from None
    return data
