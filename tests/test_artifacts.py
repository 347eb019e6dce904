"""Artifacts: verified before they land in the cache, fetched once, clear errors offline."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

import zoo
from zoo import artifacts
from zoo.errors import ArtifactError, HashMismatchError, OfflineError

CARD = zoo.get_card("stmnist_v1")
INT8 = CARD.artifact("int8")


def test_fetch_from_mirror_verifies_and_caches(fresh_cache: Path) -> None:
    path = artifacts.fetch(CARD.name, INT8)
    assert path == fresh_cache / "artifacts" / "stmnist_v1" / INT8.file
    assert artifacts.sha256_of(path) == INT8.sha256


def test_cache_hit_does_not_fetch_again(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = artifacts.fetch(CARD.name, INT8)
    mtime = first.stat().st_mtime_ns
    monkeypatch.setenv("ZOO_MIRROR", str(fresh_cache / "no-mirror"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    again = artifacts.fetch(CARD.name, INT8)
    assert again == first and again.stat().st_mtime_ns == mtime


def test_mirror_hash_mismatch_is_refused(tmp_path: Path, fresh_cache: Path, mirror: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "mirror" / "stmnist_v1"
    bad.mkdir(parents=True)
    data = (mirror / "stmnist_v1" / INT8.file).read_bytes()
    (bad / INT8.file).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(HashMismatchError) as info:
        artifacts.fetch(CARD.name, INT8)
    assert INT8.sha256 in str(info.value) and INT8.file in str(info.value)
    folder = fresh_cache / "artifacts" / "stmnist_v1"
    assert not (folder / INT8.file).exists()
    assert not [p for p in folder.iterdir() if p.suffix == ".part"]


def test_corrupt_cached_file_is_replaced(fresh_cache: Path) -> None:
    path = artifacts.fetch(CARD.name, INT8)
    path.write_bytes(path.read_bytes()[:100])  # e.g. a half-written file from an old tool
    again = artifacts.fetch(CARD.name, INT8)
    assert artifacts.sha256_of(again) == INT8.sha256


def test_corrupt_cached_file_offline_is_an_error(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = artifacts.fetch(CARD.name, INT8)
    path.write_bytes(b"garbage")
    monkeypatch.delenv("ZOO_MIRROR")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError, match="ZOO_MIRROR"):
        artifacts.fetch(CARD.name, INT8)
    assert not path.exists()  # the corrupt entry is gone, not served


def test_offline_error_says_how_to_provide(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_MIRROR")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        artifacts.fetch(CARD.name, INT8)
    msg = str(info.value)
    assert "ZOO_MIRROR" in msg and INT8.sha256 in msg and INT8.file in msg


def test_download_through_http(http_root: tuple[Path, str], fresh_cache: Path, mirror: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    root, base = http_root
    shutil.copy(mirror / "stmnist_v1" / INT8.file, root / INT8.file)
    monkeypatch.delenv("ZOO_MIRROR")
    served = INT8.model_copy(update={"url": f"{base}/{INT8.file}"})
    path = artifacts.fetch(CARD.name, served)
    assert artifacts.sha256_of(path) == INT8.sha256


def test_download_hash_mismatch_is_not_cached(http_root: tuple[Path, str], fresh_cache: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root, base = http_root
    (root / INT8.file).write_bytes(b"not the model")
    monkeypatch.delenv("ZOO_MIRROR")
    served = INT8.model_copy(update={"url": f"{base}/{INT8.file}"})
    with pytest.raises(HashMismatchError, match=INT8.sha256):
        artifacts.fetch(CARD.name, served)
    folder = fresh_cache / "artifacts" / "stmnist_v1"
    assert sorted(p.name for p in folder.iterdir()) == [INT8.file + ".lock"]


def test_no_network_is_an_offline_error(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_MIRROR")
    unreachable = INT8.model_copy(update={"url": "http://127.0.0.1:9/stmnist_v1_int8.tflite"})
    with pytest.raises(OfflineError, match="download of http://127.0.0.1:9"):
        artifacts.fetch(CARD.name, unreachable)


def _fetch_in_child(cache: str, url: str) -> str:
    import os

    os.environ["ZOO_CACHE_DIR"] = cache
    os.environ.pop("ZOO_MIRROR", None)
    return str(artifacts.fetch(CARD.name, INT8.model_copy(update={"url": url})))


def test_processes_filling_the_cache_at_once_download_once(http_server, fresh_cache: Path, mirror: Path) -> None:
    shutil.copy(mirror / "stmnist_v1" / INT8.file, http_server.root / INT8.file)
    http_server.delay_s = 3.0  # every process is waiting for the file while the first one downloads it
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        paths = pool.starmap(_fetch_in_child, [(str(fresh_cache), f"{http_server.base}/{INT8.file}")] * 8)
    assert len(set(paths)) == 1
    assert artifacts.sha256_of(Path(paths[0])) == INT8.sha256
    assert http_server.requests == [f"/{INT8.file}"]  # one download, whatever the number of processes
    leftovers = [p.name for p in Path(paths[0]).parent.iterdir() if p.name.endswith(".part")]
    assert leftovers == []


def test_failed_build_leaves_no_cache_entry(fresh_cache: Path) -> None:
    def build(out: Path) -> None:
        (out / "half.bin").write_bytes(b"x")
        raise RuntimeError("compiler crashed")

    with pytest.raises(RuntimeError):
        artifacts.cached_build("compiled/test", ["k"], build)
    assert [p for p in (fresh_cache / "compiled" / "test").iterdir() if not p.name.endswith(".lock")] == []
    calls = []
    first = artifacts.cached_build("compiled/test", ["k"], lambda out: calls.append(out))
    second = artifacts.cached_build("compiled/test", ["k"], lambda out: calls.append(out))
    assert first == second and len(calls) == 1


def test_local_file_url_is_copied_verified(tmp_path: Path, fresh_cache: Path, mirror: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_MIRROR")
    local = tmp_path / "mine.tflite"
    shutil.copy(mirror / "stmnist_v1" / INT8.file, local)
    for url in (local.as_uri(), str(local)):
        path = artifacts.fetch(CARD.name, INT8.model_copy(update={"url": url}))
        assert artifacts.sha256_of(path) == INT8.sha256
        path.unlink()
    local.write_bytes(b"changed")
    with pytest.raises(HashMismatchError, match="mine.tflite"):
        artifacts.fetch(CARD.name, INT8.model_copy(update={"url": local.as_uri()}))


def test_unsupported_url_scheme_is_not_a_hash_mismatch(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_MIRROR")
    with pytest.raises(ArtifactError, match="unsupported URL scheme 's3'") as info:
        artifacts.fetch(CARD.name, INT8.model_copy(update={"url": "s3://bucket/model.tflite"}))
    assert not isinstance(info.value, HashMismatchError)


def test_local_file_offline_with_a_mirror_set(tmp_path: Path, fresh_cache: Path, mirror: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cards").mkdir()
    shutil.copy(mirror / "stmnist_v1" / INT8.file, tmp_path / "cards" / "mine.tflite")
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    mine = INT8.model_copy(update={"url": "mine.tflite"})  # relative: to the card's folder
    path = artifacts.fetch("mine", mine, base_dir=tmp_path / "cards")
    assert artifacts.sha256_of(path) == INT8.sha256
