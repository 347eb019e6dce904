"""What zoo meets in the wild: broken model files, killed processes, broken toolchains.

Each test removes nothing but exercises one guard; without the guard the test fails.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import signal
import stat
import time
from pathlib import Path

import pytest
import yaml

import zoo
from zoo import artifacts
from zoo.errors import ArtifactError, BackendUnavailableError, ToolchainError
from zoo.registry import card_path

BASE = yaml.safe_load(card_path("stmnist_v1").read_text())


def _user_card(tmp_path: Path, model_bytes: bytes, name: str = "broken_model") -> Path:
    """A card for a user's own file, pinned to whatever bytes it holds (so only the format check can refuse it)."""
    model = tmp_path / f"{name}.tflite"
    model.write_bytes(model_bytes)
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["name"] = name
    data["artifacts"] = {"int8": {**BASE["artifacts"]["int8"], "file": model.name, "url": str(model),
                                  "sha256": hashlib.sha256(model_bytes).hexdigest(), "size": len(model_bytes)}}
    data.pop("reported")
    data["conformance"]["tolerances"].pop("float")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mangle", "needle"),
    [
        (lambda b: b[: len(b) // 3], "truncated or corrupt TFLite"),
        (lambda b: b"\x89PNG\r\n\x1a\n" + b[8:], "not a TFLite flatbuffer"),
        (lambda b: b[:4] + b"TFL3" + b"\xff" * 64, "truncated or corrupt TFLite"),
        (lambda b: b"this is a text file, not a model", "not a TFLite flatbuffer"),
    ],
)
@pytest.mark.parametrize("backend", ["tflite", "onnxruntime", "tvm", "tvm-cortexm7"])
def test_broken_model_file_is_refused_before_any_runtime(tmp_path: Path, mirror: Path, mangle, needle: str,
                                                         backend: str) -> None:
    good = (mirror / "stmnist_v1" / "stmnist_v1_int8.tflite").read_bytes()
    card = _user_card(tmp_path, mangle(good))
    if not zoo.backend_availability(backend):
        pytest.skip(zoo.backend_availability(backend).message())
    with pytest.raises(ArtifactError, match=needle):
        zoo.load(str(card), backend=backend)


def _slow_build_then_killed(cache: str) -> None:
    os.environ["ZOO_CACHE_DIR"] = cache

    def build(out: Path) -> None:
        (out / "half-written.bin").write_bytes(b"x" * 1000)
        time.sleep(60)

    artifacts.cached_build("compiled/killed", ["key"], build)


def _kill_once_written(target, args: tuple, folder: Path, pattern: str) -> None:  # noqa: ANN001
    """Run `target` in a child process and SIGKILL it as soon as `folder` holds a file matching `pattern`."""
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    deadline = time.time() + 60
    while not list(folder.glob(pattern)) and time.time() < deadline:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()


def test_build_killed_midway_leaves_no_entry(fresh_cache: Path) -> None:
    _kill_once_written(_slow_build_then_killed, (str(fresh_cache),), fresh_cache / "compiled" / "killed",
                       "*.part/half-written.bin")
    built = artifacts.cached_build("compiled/killed", ["key"], lambda out: (out / "ok").write_text("done"))
    assert (built / "ok").read_text() == "done" and not (built / "half-written.bin").exists()


def _fetch_killed_midway(cache: str, mirror: str) -> None:
    os.environ["ZOO_CACHE_DIR"], os.environ["ZOO_MIRROR"] = cache, mirror
    original = shutil.copyfileobj

    def slow_copy(src, dst, *args):  # noqa: ANN001, ANN002
        dst.write(src.read(5000))  # part of the file is on disk...
        dst.flush()
        time.sleep(60)  # ...when the process dies
        return original(src, dst, *args)

    shutil.copyfileobj = slow_copy
    artifacts.fetch("stmnist_v1", zoo.get_card("stmnist_v1").artifact("int8"))


def test_fetch_killed_midway_never_serves_half_a_file(fresh_cache: Path, mirror: Path) -> None:
    folder = fresh_cache / "artifacts" / "stmnist_v1"
    _kill_once_written(_fetch_killed_midway, (str(fresh_cache), str(mirror)), folder, "*.part")
    artifact = zoo.get_card("stmnist_v1").artifact("int8")
    assert not (folder / artifact.file).exists()  # only the .part file was left behind
    path = artifacts.fetch("stmnist_v1", artifact)
    assert artifacts.sha256_of(path) == artifact.sha256


def _fake_tool(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def cortexm7() -> None:
    if not zoo.backend_availability("tvm-cortexm7"):
        pytest.skip(zoo.backend_availability("tvm-cortexm7").message())


def test_missing_toolchain_says_how_to_install(cortexm7: None, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tool(tmp_path / "bin", "qemu-system-arm", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no arm-none-eabi-gcc anywhere
    avail = zoo.backend_availability("tvm-cortexm7")
    assert not avail and "arm-none-eabi-gcc" in avail.reason and "apt-get install" in avail.fix
    with pytest.raises(BackendUnavailableError, match="gcc-arm-none-eabi"):
        zoo.load("stmnist_v1", backend="tvm-cortexm7")


def test_broken_compiler_is_a_toolchain_error(cortexm7: None, tmp_path: Path, fresh_cache: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real = {t: shutil.which(t) for t in ("arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm")}
    for tool, path in real.items():
        if path:
            _fake_tool(tmp_path / "bin", tool, f'exec {path} "$@"')
    _fake_tool(tmp_path / "bin", "arm-none-eabi-gcc", "echo 'internal compiler error: Segmentation fault' >&2; exit 4")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ToolchainError, match="internal compiler error"):
        zoo.load("stmnist_v1", backend="tvm-cortexm7")
    assert not [p for p in (fresh_cache / "compiled").rglob("*") if p.is_dir() and not p.name.endswith(".part")
                and p.parent.name == "stmnist_v1"]


def test_hanging_emulator_is_stopped(cortexm7: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.backends.tvm_cortexm7 import TVMCortexM7Backend
    from zoo.backends.tvm_cortexm7.qemu import QemuRunner

    from zoo.conformance.golden import load_golden

    model = zoo.load("stmnist_v1", backend="tvm-cortexm7")  # compiled and measured with the real QEMU
    _fake_tool(tmp_path / "bin", "qemu-system-arm", "sleep 600 & sleep 600")  # hangs, with a child holding the pipes
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    model.runner.target = QemuRunner(model.backend.target, timeout_s=1.0, per_image_s=0.0)
    start = time.monotonic()
    with pytest.raises(ToolchainError, match="did not finish within"):
        model.predict(load_golden(model.card).inputs[:2])
    assert time.monotonic() - start < 30
    assert isinstance(model.backend, TVMCortexM7Backend)
