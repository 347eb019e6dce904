"""Issue 15, findings 2 and 5: outputs are atomic, never replace what is not a regular file, and a full
disk, a read-only folder or a read-only (warm) cache is a clean error naming the path, or just works.

Full and read-only file systems are real: a small tmpfs mounted for the test (root only).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hostile import card_data, fill, read_only, small_fs, write_card

import zoo
from zoo import artifacts
from zoo.cli import main
from zoo.errors import ArtifactError

REPO = Path(__file__).resolve().parents[1]
VALIDATION = REPO / "model_cards" / "stmnist_v1.validation.json"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert not result.exception or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".")]


def test_golden_on_a_full_disk_keeps_the_old_pair(tmp_path: Path) -> None:
    card = write_card(tmp_path, card_data())
    with small_fs(1024) as fs:
        out = fs / "golden.npz"
        code, text = run("--card", str(card), "golden", "hostile_model", "--out", str(out))
        assert code == 0, text
        before = out.read_bytes(), (fs / "golden.npz.sha256").read_bytes()
        out.with_name("golden.npz.sha256").write_text("0" * 64 + "  golden.npz\n")  # make the rewrite differ
        stale = (fs / "golden.npz.sha256").read_bytes()
        fill(fs)
        code, text = run("--card", str(card), "golden", "hostile_model", "--out", str(out))
        assert code == 2 and str(out) in text and "full" in text, text
        assert out.read_bytes() == before[0] and (fs / "golden.npz.sha256").read_bytes() == stale
        assert not _leftovers(fs)


def test_card_on_a_full_disk_keeps_the_old_markdown(tmp_path: Path) -> None:
    with small_fs(2048) as fs:
        data = card_data()
        card = write_card(fs, data)
        shutil.copy(VALIDATION, fs / "hostile_model.validation.json")
        code, text = run("--card", str(card), "card", "hostile_model")
        assert code == 0, text
        md = fs / "hostile_model.md"
        old = md.read_bytes()
        card.write_text(card.read_text().replace(data["description"].split()[0], "Changed", 1))
        fill(fs)
        code, text = run("--card", str(card), "card", "hostile_model")
        assert code == 2 and str(fs) in text and "full" in text, text
        assert md.read_bytes() == old and not _leftovers(fs)


def _device(tmp_path: Path) -> Path:
    """A character device like /dev/full (root), else a FIFO: neither may be replaced by a regular file."""
    node = tmp_path / "node"
    if os.geteuid() == 0:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    else:
        os.mkfifo(node)
    return node


def test_json_to_a_device_is_refused_and_the_device_kept(tmp_path: Path) -> None:
    node = _device(tmp_path)
    kind = stat.S_IFMT(node.lstat().st_mode)
    code, text = run("validate", "stmnist_v1", "-b", "tflite", "--limit", "20", "--no-timing", "--json", str(node))
    assert code == 2 and "not a regular file" in text, text
    assert stat.S_IFMT(node.lstat().st_mode) == kind


def test_write_json_directly_to_a_device_is_refused(tmp_path: Path) -> None:
    from zoo.conformance.validate import ValidationReport
    from zoo.errors import OutputError

    node = _device(tmp_path)
    with pytest.raises(OutputError, match="not a regular file"):
        ValidationReport(zoo.get_card("stmnist_v1"), None, None, {}).write_json(node)
    assert not stat.S_ISREG(node.lstat().st_mode)


def test_unwritable_outputs_are_clean_errors(tmp_path: Path) -> None:
    card = write_card(tmp_path, card_data())
    with small_fs(64) as fs:
        read_only(fs)
        cases = [("validate", "stmnist_v1", "-b", "tflite", "--limit", "20", "--no-timing", "--json", str(fs / "r.json")),
                 ("validate", "stmnist_v1", "-b", "tflite", "--limit", "20", "--no-timing", "--report", str(fs / "rep")),
                 ("--card", str(card), "golden", "hostile_model", "--out", str(fs / "g.npz"))]
        for args in cases:
            code, text = run(*args)
            assert code == 2 and str(fs) in text and "not writable" in text, (args, text)
        assert not list(fs.iterdir())


def test_export_to_an_unwritable_folder_is_a_clean_error(tmp_path: Path) -> None:
    if not zoo.backend_availability("tvm-cortexm7"):
        pytest.skip(zoo.backend_availability("tvm-cortexm7").message())
    with small_fs(64) as fs:
        read_only(fs)
        code, text = run("export", "stmnist_v1", str(fs / "lib"))
        assert code == 2 and "not writable" in text and str(fs / "lib") in text, text


def test_warm_read_only_cache_serves_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          sample_images: np.ndarray) -> None:
    with small_fs(4096) as fs:
        monkeypatch.setenv("ZOO_CACHE_DIR", str(fs))
        expected = zoo.load("stmnist_v1", backend="tflite").predict(sample_images)  # fills the cache
        read_only(fs)
        monkeypatch.setenv("ZOO_OFFLINE", "1")
        np.testing.assert_array_equal(zoo.load("stmnist_v1", backend="tflite").predict(sample_images), expected)


def test_cold_read_only_cache_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with small_fs(64) as fs:
        read_only(fs)
        monkeypatch.setenv("ZOO_CACHE_DIR", str(fs))
        with pytest.raises(ArtifactError, match="ZOO_CACHE_DIR") as info:
            zoo.load("stmnist_v1", backend="tflite")
        assert str(fs) in str(info.value)


def test_cache_root_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache-is-a-file"
    root.write_text("not a folder")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(root))
    with pytest.raises(ArtifactError, match="ZOO_CACHE_DIR"):
        zoo.load("stmnist_v1", backend="tflite")
    code, text = run("predict", "stmnist_v1", str(tmp_path / "cache-is-a-file"))  # any exit but a traceback
    assert code == 2


def test_full_cache_is_a_clean_error_and_leaves_no_part_file(monkeypatch: pytest.MonkeyPatch) -> None:
    with small_fs(16) as fs:  # smaller than the model file
        monkeypatch.setenv("ZOO_CACHE_DIR", str(fs))
        with pytest.raises(ArtifactError, match="cache") as info:
            artifacts.fetch("stmnist_v1", zoo.get_card("stmnist_v1").artifact("int8"))
        assert "space" in str(info.value)
        assert not [p for p in fs.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


PROBE = """
import sys, numpy as np, zoo
m = zoo.load("stmnist_v1", backend="tvm")
print(m.predict(np.zeros((2, 28, 28), np.uint8)).argmax(1).tolist())
"""


def test_truncated_compiled_library_is_rebuilt_not_loaded(fresh_cache: Path) -> None:
    if not zoo.backend_availability("tvm"):
        pytest.skip(zoo.backend_availability("tvm").message())
    env = {**os.environ, "ZOO_CACHE_DIR": str(fresh_cache)}
    first = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    (lib,) = fresh_cache.glob("compiled/tvm/stmnist_v1/*/model.so")
    lib.write_bytes(lib.read_bytes()[: lib.stat().st_size // 2])  # as a full disk or a killed copy leaves it
    again = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, f"exit {again.returncode}: {again.stderr[-2000:]}"  # SIGBUS would be -7
    assert again.stdout == first.stdout


def test_compiled_form_missing_a_file_is_rebuilt(fresh_cache: Path) -> None:
    built = artifacts.cached_build("compiled/t", ["k"], lambda out: (out / "a.bin").write_bytes(b"abc"))
    (built / "a.bin").unlink()
    again = artifacts.cached_build("compiled/t", ["k"], lambda out: (out / "a.bin").write_bytes(b"abc"))
    assert (again / "a.bin").read_bytes() == b"abc"
    assert json.dumps(sorted(p.name for p in again.iterdir())) == '["KEY", "MANIFEST.sha256", "a.bin"]'
