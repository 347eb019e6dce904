"""Adversarial runs of the real `zoo` command: hypothesis-drawn cards, model files, images and output paths.

Whatever is drawn, every run must end in a clean exit (0, 1 or 2; never a raw traceback), write nothing
outside the cache and the output it was asked for, leave no temporary file, no partial output and no
child process. Bounded: a few hundred examples in all, well under a minute.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hostile import MIRROR_MODEL, card_data, children, tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from zoo import registry
from zoo.cli import main


def bounded(examples: int) -> settings:
    """Reproducible, bounded runs: the same examples on every CI run, none remembered between runs."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
HOSTILE_TEXT = ["../../victim.txt", "../" * 12 + "tmp/x", "/etc/passwd", "a/b", ".hidden", "x.lock", "[/x]",
                "[link=javascript:alert(1)]x[/link]", "<script>alert(1)</script>", "a | b", "a\nb\r\nc", "\x00",
                "x" * 5000, "\u202egnp.exe", "[z](javascript:alert(2))", "`", "${HOME}", "%s%n", "-rf"]
TEXT = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
YAML_TAILS = ["", "name: twice\n", "extra_key: 1\n", "description: " + "[" * 3000 + "\n",
              "input:\n  quantization: {scale: 1.0e+309, zero_point: 0}\n",
              "a0: &a0 [x, x, x, x, x, x, x, x]\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 8)}]\n"
                                                             for i in range(1, 8)) + "bomb: *a7\n"]


def _string_paths(node: object, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _string_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _string_paths(v, (*prefix, i))
    elif isinstance(node, str):
        yield prefix


BASE = card_data()
STRING_PATHS = sorted(_string_paths(BASE), key=str)


class Sandbox:
    """A folder with the cache, the card, a victim file and an output folder; it checks every run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache, self.cards, self.out = root / "cache", root / "cards", root / "out"
        for p in (self.cache, self.cards, self.out):
            p.mkdir(parents=True, exist_ok=True)
        (root / "victim.txt").write_text("precious")
        self.image = root / "digit.png"
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(self.image)
        self.allowed = [self.cache]

    def run(self, *args: str, outputs: tuple[Path, ...] = ()) -> tuple[int, str]:
        """Run zoo in-process and check the invariants; `outputs` are the files this run may write."""
        registry._opened.clear()  # each run registers its card afresh
        before = {k: v for k, v in tree(self.root).items() if not self._allowed(self.root / k, outputs)}
        kids = set(children(os.getpid()))
        result = CliRunner().invoke(main, list(args))
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            f"raw {type(result.exception).__name__} from zoo {' '.join(args)}"
        assert result.exit_code in (0, 1, 2) and "Traceback" not in result.output, result.output
        after = {k: v for k, v in tree(self.root).items() if not self._allowed(self.root / k, outputs)}
        assert after == before, f"zoo {' '.join(args)} wrote outside the cache and its outputs: " \
                                f"{sorted(set(after.items()) ^ set(before.items()))[:5]}"
        assert not [p for p in self.root.rglob("*") if p.name.endswith(".part")], "a temporary file was left"
        assert set(children(os.getpid())) <= kids, "a child process was left running"
        assert (self.root / "victim.txt").read_text() == "precious"
        return result.exit_code, result.output

    def _allowed(self, path: Path, outputs: tuple[Path, ...]) -> bool:
        return any(path == o or o in path.parents for o in (*self.allowed, *outputs)) or path.name.endswith(".lock")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path_factory.mktemp("adversarial"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_CACHE_DIR", str(box.cache))
        mp.setenv("ZOO_OFFLINE", "1")
        yield box


def _set(data: dict, path: tuple, value: object) -> None:
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@bounded(40)
@given(edits=st.lists(st.tuples(st.sampled_from(STRING_PATHS), TEXT), min_size=1, max_size=3),
       tail=st.sampled_from(YAML_TAILS))
def test_hostile_cards(sandbox: Sandbox, edits: list[tuple[tuple, str]], tail: str) -> None:
    data = copy.deepcopy(BASE)
    for path, value in edits:
        _set(data, path, value)
    card = sandbox.cards / "card.yaml"
    card.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + tail)
    md = sandbox.cards / f"{data['name']}.md" if isinstance(data["name"], str) and "/" not in data["name"] else None
    outputs = (md, md.with_name(f"{data['name']}_confusion.png")) if md else ()
    name = str(data["name"])
    sandbox.run("--card", str(card), "info", name)
    sandbox.run("--card", str(card), "card", name, outputs=outputs)
    sandbox.run("--card", str(card), "predict", name, str(sandbox.image), "--json")


def _mutate(content: bytes, kind: str, at: int, value: int) -> bytes:
    at %= len(content)
    if kind == "truncate":
        return content[:at]
    if kind == "flip":
        return content[:at] + bytes([content[at] ^ (value | 1)]) + content[at + 1:]
    if kind == "splice":
        return content[:at] + content[at + 64 + value:]
    return content[:at] + bytes([value]) * 32 + content[at + 32:]


@bounded(20)
@given(kind=st.sampled_from(["truncate", "flip", "splice", "smear"]), at=st.integers(0, 10**6),
       value=st.integers(0, 255))
def test_hostile_model_files(sandbox: Sandbox, kind: str, at: int, value: int) -> None:
    model = sandbox.cards / "m.tflite"
    model.write_bytes(_mutate(MIRROR_MODEL.read_bytes(), kind, at, value))
    data = card_data("fuzzed_model", model)  # pinned to the mangled bytes: only zoo's checks can refuse them
    data["conformance"]["reference_backend"] = "tflite"  # LiteRT: golden vectors in a fraction of TFLM's time
    card = sandbox.cards / "fuzzed.yaml"
    card.write_text(yaml.safe_dump(data))
    out = sandbox.out / "fuzzed_golden.npz"
    stamp = out.with_name(out.name + ".sha256")
    code, _ = sandbox.run("--card", str(card), "golden", "fuzzed_model", "--out", str(out), outputs=(out, stamp))
    if code == 0:  # complete, and its hash beside it
        assert stamp.read_text().split()[0] == hashlib.sha256(out.read_bytes()).hexdigest()
    sandbox.run("--card", str(card), "predict", "fuzzed_model", str(sandbox.image))


def _picture(mode: str, width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        img = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    else:
        img = Image.new(mode, (width, height))
        img.putdata([tuple(rng.integers(0, 256, len(mode))) if len(mode) > 1 else int(rng.integers(0, 256))
                     for _ in range(width * height)])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _array(shape: tuple[int, ...], dtype: str, seed: int) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(seed).integers(0, 256, shape).astype(dtype))
    return buf.getvalue()


def _crafted(kind: str, size: int) -> bytes:
    """Files that claim more than they hold: a PNG header of size x size pixels, an .npy header of size**3 images,
    an .npz archive, an .npy whose header is padded past numpy's bound."""
    if kind == "png":
        def chunk(tag: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    if kind == "npz":
        buf = io.BytesIO()
        np.savez(buf, images=np.zeros((2, 28, 28), np.uint8))
        return buf.getvalue()
    shape = (size**3, 28, 28) if kind == "npy-shape" else (1, 28, 28)
    header = repr({"descr": "|u1", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (size * 20 if kind == "npy-header" else 0)
    header += b" " * (63 - (len(header) + 12) % 64) + b"\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header + b"\0" * 784


IMAGES = st.one_of(
    st.builds(_crafted, st.sampled_from(["png", "npz", "npy-shape", "npy-header"]), st.integers(1000, 30000)),
    st.builds(_picture, st.sampled_from(["L", "RGB", "RGBA", "LA", "1", "I;16", "P"]), st.integers(1, 40),
              st.integers(1, 40), st.integers(0, 9)),
    st.builds(_array, st.lists(st.integers(0, 30), min_size=0, max_size=5).map(tuple),
              st.sampled_from(["uint8", "int16", "float32", "float64", "bool", "uint64"]), st.integers(0, 9)),
    st.binary(max_size=300),
)


@bounded(100)
@given(content=IMAGES, cut=st.integers(0, 4000), suffix=st.sampled_from([".png", ".npy", ".bmp", ""]))
def test_hostile_images(sandbox: Sandbox, content: bytes, cut: int, suffix: str) -> None:
    path = sandbox.root / f"image{suffix}"
    path.write_bytes(content[: max(cut, 1)] if cut < len(content) and cut % 3 == 0 else content)
    sandbox.run("predict", "stmnist_v1", str(path), "--json")
    path.unlink()


def _make_target(root: Path, kind: str, name: str) -> Path:
    base = root / "targets"
    base.mkdir(exist_ok=True)
    target = base / name
    with contextlib.suppress(FileNotFoundError, OSError):
        if target.is_dir() and not target.is_symlink():
            os.rmdir(target)
        else:
            target.unlink()
    if len(name) > 255 and kind != "none":
        return target  # too long for any file system to hold: only zoo's own attempt is of interest
    if kind == "file":
        target.write_text("old contents")
    elif kind == "dir":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "device" and os.geteuid() == 0:
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    elif kind == "link":
        (base / "link-target").write_text("old contents")
        target.symlink_to(base / "link-target")
    elif kind == "under-a-file":
        (base / "plain").write_text("x")
        return base / "plain" / name
    return target


def _kind(path: Path) -> int | None:
    try:
        return stat.S_IFMT(os.lstat(path).st_mode)
    except OSError:  # absent, or a name too long to exist
        return None


@bounded(20)
@given(kind=st.sampled_from(["none", "file", "dir", "fifo", "device", "link", "under-a-file"]),
       name=st.sampled_from(["g.npz", "[red]g[x].npz", "a b\nc.npz", "x" * 300, "-g.npz", "ünï.npz"]))
def test_hostile_output_paths(sandbox: Sandbox, kind: str, name: str) -> None:
    card = sandbox.cards / "plain.yaml"
    data = card_data("plain_model")  # no evaluation dataset, LiteRT as the reference: golden is quick
    data["conformance"]["reference_backend"] = "tflite"
    card.write_text(yaml.safe_dump(data))
    target = _make_target(sandbox.root, kind, name)
    real = target.resolve() if kind == "link" else target
    kind_before = _kind(real)
    outputs = (real, target, target.with_name(target.name + ".sha256"))  # a link: the file it names is replaced
    code, _ = sandbox.run("--card", str(card), "golden", "plain_model", "--out", str(target), outputs=outputs)
    if kind_before is not None and not stat.S_ISREG(kind_before):
        assert code == 2 and _kind(real) == kind_before  # refused, never replaced
    if code == 0:
        with np.load(real) as z:
            assert [z[k].shape[1:] for k in z.files if k.startswith("input:")] == [(28, 28, 1)]
