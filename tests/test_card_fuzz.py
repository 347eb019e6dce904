"""Fuzzing the card loader: whatever the YAML holds, loading raises only zoo's own CardError."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from helpers import autoencoder_card_data, regression_card_data, timeseries_card_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.card import load_card, parse_card
from zoo.errors import CardError
from zoo.registry import card_path

# Every packaged card, and variants for the tasks and tensor kinds no packaged card has (a float
# output measured by rtol, two inputs of different ranks): each key path of each is a place to break.
BASES = {path.stem: yaml.safe_load(path.read_text()) for path in sorted(card_path("stmnist_v1").parent.glob("*.yaml"))}
BASES |= {"regression": regression_card_data(), "timeseries": timeseries_card_data(),
          "autoencoder": autoencoder_card_data()}
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [(name, path) for name, base in BASES.items() for path in _paths(base)[1:]]


def _set(data: dict, path: tuple, value: object, delete: bool) -> None:
    node = data
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def test_every_base_is_a_valid_card() -> None:
    """The mutations start from valid cards, so each error found is the mutation's."""
    assert {"stmnist_v1", "regression", "timeseries", "autoencoder"} <= set(BASES)
    for name, data in BASES.items():
        parse_card(copy.deepcopy(data), Path(f"{name}.yaml"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(PATHS), value=VALUES, delete=st.booleans())
def test_mutated_card_raises_only_card_error(where: tuple[str, tuple], value: object, delete: bool) -> None:
    name, path = where
    data = copy.deepcopy(BASES[name])
    _set(data, path, value, delete)
    try:
        parse_card(data, Path("fuzz.yaml"))
    except CardError as exc:
        assert "fuzz.yaml" in str(exc)


@settings(max_examples=200, deadline=None)
@given(data=VALUES)
def test_arbitrary_yaml_document_raises_only_card_error(data: object) -> None:
    try:
        parse_card(data, Path("fuzz.yaml"))
    except CardError as exc:
        assert "fuzz.yaml" in str(exc)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_raises_only_card_error(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "card.yaml"
    path.write_text(text)
    try:
        load_card(path)
    except CardError:
        pass
