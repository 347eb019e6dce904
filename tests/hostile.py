"""Helpers for the hardening tests: user cards, a small (full, read-only) file system, and what processes run."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from zoo.registry import card_path

BASE = yaml.safe_load(card_path("stmnist_v1").read_text())
MIRROR_MODEL = Path(os.environ.get("ZOO_MIRROR", "")) / "stmnist_v1" / "stmnist_v1_int8.tflite"


def card_data(name: str = "hostile_model", model: Path | None = None) -> dict:
    """The stmnist_v1 card as a user card for the int8 file (a local copy, or the mirror's), with no golden file."""
    data = copy.deepcopy(BASE)
    source = model or MIRROR_MODEL
    content = source.read_bytes()
    data["name"] = name
    data["artifacts"] = {"int8": {**BASE["artifacts"]["int8"], "file": source.name, "url": str(source),
                                  "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}}
    data.pop("reported")
    data["conformance"]["tolerances"].pop("float")
    data["conformance"].pop("golden", None)
    data["conformance"].pop("evaluation_dataset", None)
    data.pop("dataset", None)
    return data


def write_card(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data.get('name', 'card')}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` (not following links): relative path -> (size, mtime_ns)."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            with contextlib.suppress(FileNotFoundError):
                st = p.lstat()
                found[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def small_fs(size_kib: int = 256) -> Iterator[Path]:
    """A fresh tmpfs of `size_kib` KiB, unmounted afterwards (root only; the test is skipped otherwise)."""
    if not _can_mount():
        pytest.skip("needs root to mount a small tmpfs (a real full or read-only file system)")
    point = Path(tempfile.mkdtemp(prefix="zoo-fs-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0777", "tmpfs", str(point)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)
        point.rmdir()


def fill(fs: Path) -> None:
    """Fill a file system until no byte is left."""
    for name, chunk in (("filler", 4096), ("filler2", 1)):
        with contextlib.suppress(OSError), open(fs / name, "wb") as f:
            while True:
                f.write(b"\0" * chunk)
                f.flush()


def read_only(fs: Path) -> None:
    """Remount a :func:`small_fs` read-only: even root cannot write to it."""
    subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True, capture_output=True, timeout=30)


def live_processes(marker: str) -> list[str]:
    """Command lines of live (not zombie) processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            found.append(f"{entry.name}: {cmd}")
    return found


def children(pid: int) -> list[int]:
    """Live (not zombie) direct children of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def default_signals() -> None:
    """``preexec_fn`` of a child that stands for zoo started from a terminal: SIGINT, SIGHUP and SIGTERM at
    their defaults. A test run under ``nohup`` or as a shell's background job inherits them ignored (and a
    zoo started so rightly keeps ignoring them), which would make a signal test pass or fail for the
    wrong reason."""
    import signal

    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def wait_until(predicate, timeout_s: float) -> bool:  # noqa: ANN001 - any callable returning a truth value
    """Poll `predicate` until it holds or `timeout_s` pass; its last value."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())

