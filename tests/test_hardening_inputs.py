"""Issue 15, findings 4 and 6: hostile YAML, images, arrays, batches and tensor names are clean errors (or,
for 16-bit pictures and batches larger than a runtime takes, correct behaviour)."""

from __future__ import annotations

import os
import resource
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hostile import MIRROR_MODEL, card_data, write_card
from PIL import Image

import zoo
from zoo.card import load_card
from zoo.cli import main
from zoo.errors import ArtifactError, CardError, InputError, ToolchainError


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert not result.exception or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


def _alias_bomb(levels: int = 9) -> str:
    text = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels + 1):
        text += f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n"
    return text


def _limited(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a child capped at 2 GB of memory and 30 s, so a bomb fails the test instead of the machine."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=30,
                          preexec_fn=cap)


LOAD = "import sys\nfrom zoo.card import load_card\nfrom zoo.errors import CardError\n" \
       "try:\n    load_card(sys.argv[1])\nexcept CardError as e:\n    print('CardError', str(e)[:300])\n"


def test_alias_bomb_in_a_small_card_is_refused_quickly(tmp_path: Path) -> None:
    data = card_data()
    text = yaml.safe_dump({k: v for k, v in data.items() if k != "description"}, sort_keys=False)
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb() + text + "description: *l9\n")
    assert len(_alias_bomb()) < 1024  # the bomb: under a kilobyte of YAML
    start = time.monotonic()
    done = _limited(LOAD, str(path))
    assert done.stdout.startswith("CardError") and "alias" in done.stdout, done.stderr[-500:]
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("depth", [5000, 500_000])
def test_deep_nesting_is_a_card_error(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("description: " + "[" * depth + "]" * depth + "\n")  # half a megabyte: PyYAML's own scanner
    done = _limited(LOAD, str(path))  # is quadratic in flow nesting, so the bound comes first
    assert done.stdout.startswith("CardError") and "nested deeper" in done.stdout, done.stderr[-500:]


@pytest.mark.parametrize(("text", "needle"), [
    ("name: a\nname: b\n", "duplicate key 'name'"),
    ("inputs:\n  - quantization:\n      scale: 1.0\n      scale: 2\n", "duplicate key 'scale'"),
])
def test_duplicate_keys_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(CardError, match=needle):
        load_card(path)


@pytest.mark.parametrize("number", ["1.0e+309", ".inf", "-.Inf", ".nan"])
def test_non_finite_numbers_are_refused_naming_the_key(tmp_path: Path, number: str) -> None:
    path = write_card(tmp_path, card_data())
    text = path.read_text()
    assert "scale: 0.003921568859368563" in text
    path.write_text(text.replace("scale: 0.003921568859368563", f"scale: {number}", 1))
    with pytest.raises(CardError, match=r"inputs\.0\.quantization\.scale.*finite"):
        load_card(path)


def test_non_finite_scale_is_refused_by_the_schema_too(tmp_path: Path) -> None:
    data = card_data()
    data["inputs"][0]["quantization"]["scale"] = float("inf")
    from zoo.card import parse_card

    with pytest.raises(CardError, match="inputs.0.quantization.scale"):
        parse_card(data, tmp_path / "c.yaml")


def test_error_message_never_quotes_a_whole_huge_value(tmp_path: Path) -> None:
    from zoo.card import parse_card

    class Counted:
        calls = 0

        def __repr__(self) -> str:
            Counted.calls += 1
            return "item"

    data = card_data()
    data["description"] = [Counted() for _ in range(100_000)]  # what an alias-expanded document may hold
    with pytest.raises(CardError) as info:
        parse_card(data, tmp_path / "c.yaml")
    assert "description" in str(info.value) and len(str(info.value)) < 2000
    assert Counted.calls < 100  # an excerpt was formatted, not the whole value


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def _npy_claiming(shape: tuple[int, ...], pad: int = 0) -> bytes:
    header = repr({"descr": "|u1", "fortran_order": False, "shape": shape}).encode() + b" " * pad
    header += b" " * (63 - (len(header) + 12) % 64) + b"\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header + b"\0" * 64


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("huge.png", _png_header_only(20000, 20000), "too large"),
    ("wide.png", _png_header_only(8000, 8000), "resize it"),
    ("arch.npy", "npz", ".npz archive"),
    ("claims.npy", _npy_claiming((10**12, 28, 28)), "split it"),
    ("header.npy", _npy_claiming((1, 28, 28), pad=200_000), "header"),
    ("short.npy", _npy_claiming((3, 28, 28)), "truncated"),
    ("folder.png", "dir", "is a folder"),
])
def test_hostile_image_files_are_clean_errors(tmp_path: Path, name: str, content: object, needle: str) -> None:
    path = tmp_path / name
    if content == "npz":
        with open(path, "wb") as f:
            np.savez(f, images=np.zeros((2, 28, 28), np.uint8))
    elif content == "dir":
        path.mkdir()
    else:
        path.write_bytes(content)
    code, text = run("predict", "stmnist_v1", str(path))
    assert code == 2 and needle in text, text
    assert "allow_pickle" not in text


def test_sixteen_bit_png_is_rescaled_not_clipped(tmp_path: Path) -> None:
    from zoo.images import read_images

    wide = (np.arange(28 * 28, dtype=np.uint32).reshape(28, 28) * 83).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "x16.png")
    batch, _ = read_images([tmp_path / "x16.png"])
    expected = np.floor(wide.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)  # PNG sample-depth rescaling
    np.testing.assert_array_equal(batch[0, ..., 0], expected)
    assert len(np.unique(batch)) > 200  # clipping would leave almost every pixel at 255


def test_huge_broadcast_batch_is_an_input_error(reference: zoo.Model) -> None:
    images = np.broadcast_to(np.zeros((28, 28, 1), np.uint8), (10**9, 28, 28, 1))
    start = time.monotonic()
    with pytest.raises(InputError, match="do not fit in memory|does not fit in memory"):
        reference.predict(images)
    assert time.monotonic() - start < 30


def test_litert_limit_is_real_and_batches_past_it_are_chunked(reference: zoo.Model,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    limit = reference.runner.max_batch
    assert limit == (2**31 - 1) // 28224  # stmnist_v1's largest CONV_2D im2col: 14 x 14 x 3 x 3 x 16 per image
    from zoo.errors import BackendError

    with pytest.raises(BackendError, match="im2col"):  # LiteRT itself refuses one image more, before allocating
        reference.runner.run({reference.card.input.name: np.zeros((limit + 1, 28, 28, 1), np.uint8)})
    images = np.random.default_rng(5).integers(0, 256, (23, 28, 28, 1), dtype=np.uint8)
    whole = reference.predict(images)
    seen: list[int] = []
    real = reference.runner.run
    monkeypatch.setattr(reference.runner, "run", lambda inputs: seen.append(len(next(iter(inputs.values()))))
                        or real(inputs))
    monkeypatch.setattr(reference.runner, "max_batch", 7)
    np.testing.assert_array_equal(reference.predict(images), whole)
    assert seen == [7, 7, 7, 2]


@pytest.mark.slow
def test_litert_batch_past_the_im2col_limit_end_to_end(reference: zoo.Model) -> None:
    """About 25 s and 5 GB: LiteRT's arena for 76,087 images."""
    images = np.random.default_rng(6).integers(0, 256, (reference.runner.max_batch + 10, 28, 28, 1), dtype=np.uint8)
    out = reference.predict(images)
    np.testing.assert_array_equal(out[-10:], reference.predict(images[-10:]))


def test_tensor_name_that_is_not_utf8(tmp_path: Path) -> None:
    content = bytearray(MIRROR_MODEL.read_bytes())
    at = content.find(b"serving_default_input_1:0")
    content[at + 3] = 0xFF
    model = tmp_path / "badname.tflite"
    model.write_bytes(bytes(content))
    card = write_card(tmp_path, card_data("badname_model", model))
    for backend in ("tflite", "onnxruntime", "tvm"):
        if zoo.backend_availability(backend):
            with pytest.raises(ArtifactError, match="not UTF-8"):
                zoo.load(str(card), backend=backend)


def test_gcc_printing_nothing_is_a_toolchain_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.backends.tvm_cortexm7.firmware import gcc_version

    fake = tmp_path / "bin" / "arm-none-eabi-gcc"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ToolchainError, match="printed nothing"):
        gcc_version()
