"""Instructions per layer of a model's int8 firmware under QEMU -icount (a development tool).

The generated driver is copied and instrumented: after each layer call the SysTick count is kept,
and at the end of the inference the marks are written through semihosting to a file beside the
build. Each layer's figure is the difference of two marks (minus the cost of one mark, measured
between two adjacent marks), converted with the target's instructions-per-tick factor; the total
is what ``ci/firmware_benchmark.py`` reports within a few hundred instructions.

Usage: python ci/layer_profile.py MODEL [--backends tvm-cortexm7 tvm-cortexm55] [--images 4]
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
from zoo.backends.tvm_cortexm7.firmware import build_firmware
from zoo.backends.tvm_cortexm7.int8 import generate_int8_library
from zoo.backends.tvm_cortexm7.library import ModelLibrary, pack
from zoo.backends.tvm_cortexm7.qemu import QemuRunner
from zoo.backends.tvm_cortexm7.records import RecordLayout
from zoo.backends.tvm_cortexm7.targets import load_target

import zoo
from zoo import artifacts, registry

_CALL = re.compile(r"^    (?P<call>.+;)  /\* #(?P<index>\d+) (?P<op>\S+) \*/$", re.MULTILINE)
_PROF = """
#define ZOO_PROF_N {n}
extern volatile uint32_t fw_systick_wraps;
int32_t sh_open(const char *name, int32_t mode);
int32_t sh_write(int32_t fd, const void *buf, uint32_t len);
int32_t sh_close(int32_t fd);
static uint32_t s_prof[ZOO_PROF_N + 2][2];
static void zoo_prof_mark(int k)
{{
    s_prof[k][0] = fw_systick_wraps;
    s_prof[k][1] = *(volatile uint32_t *)0xE000E018u;
    if (k == ZOO_PROF_N + 1) {{
        int32_t fd = sh_open("{path}", 9);
        sh_write(fd, s_prof, sizeof s_prof);
        sh_close(fd);
    }}
}}
"""


def instrument(lib: ModelLibrary, out: Path) -> list[tuple[int, str]]:
    """Insert a mark before the first and after every layer call of the driver; the layers, in order."""
    model_c = lib.dir / f"{lib.prefix}_model.c"
    text = model_c.read_text()
    layers = [(int(m["index"]), m["op"]) for m in _CALL.finditer(text)]
    count = iter(range(1, len(layers) + 1))
    text = _CALL.sub(lambda m: f"{m[0]}\n    zoo_prof_mark({next(count)});", text)
    text = text.replace("    (void)out;\n", "    (void)out;\n    zoo_prof_mark(0);\n", 1)
    text = text.replace("static void forward(", _PROF.format(n=len(layers), path=out) + "\nstatic void forward(", 1)
    # a last mark right after the one before it: the cost of one mark
    last = f"zoo_prof_mark({len(layers)});"
    text = text.replace(last, f"{last}\n    zoo_prof_mark({len(layers) + 1});", 1)
    model_c.write_text(text)
    return layers


def profile(model: str, backend: str, images: int, work: Path) -> tuple[list[tuple[int, str]], np.ndarray]:
    """Per-layer instructions (median over `images` golden inputs) of `model` on a tvm-* backend."""
    card = zoo.get_card(model)
    art = next(a for a in card.artifacts.values() if a.precision == "int8" and a.format == "tflite")
    path = artifacts.fetch(card.name, art, base_dir=registry.card_path(card.name).parent)
    target = load_target(backend.removeprefix("tvm-"))
    lib = generate_int8_library(path, work / "lib", "m", mve=target.mve)
    marks = work / "marks.bin"
    layers = instrument(lib, marks)
    fw = build_firmware(ModelLibrary.load(lib.dir), work / "fw", target)
    golden = np.load(registry.card_path(model).parent / f"{model}_golden.npz")
    x = next(golden[k] for k in golden.files if k.startswith("input"))
    layout = RecordLayout(lib.output_bytes, lib.logits.count if lib.logits else 0)
    per = []
    for i in range(images):
        one = x[i:i + 1].reshape(1, *lib.inputs[0].shape[1:]).astype(lib.inputs[0].dtype)
        QemuRunner(target).run_batch(fw.elf, pack(lib.inputs, [one]), layout=layout, count_instructions=True)
        raw = np.frombuffer(marks.read_bytes(), "<u4").reshape(-1, 2).astype(np.int64)
        d = np.diff(raw[:, 0] * 0x1000000 + (0xFFFFFF - raw[:, 1]))
        per.append((d[:-1] - d[-1]) * float(target.emulator.factor))  # d[-1]: two adjacent marks
    return layers, np.median(np.array(per), axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--backends", nargs="+", default=["tvm-cortexm7", "tvm-cortexm55"])
    ap.add_argument("--images", type=int, default=1)
    args = ap.parse_args()
    cols = {}
    layers: list[tuple[int, str]] = []
    for b in args.backends:
        work = Path(tempfile.mkdtemp(prefix="zoo-prof-"))
        try:
            layers, cols[b] = profile(args.model, b, args.images, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"| # | op | {' | '.join(args.backends)} |")
    print("|---|---|" + "---|" * len(args.backends))
    for k, (idx, op) in enumerate(layers):
        print(f"| {idx} | {op} | " + " | ".join(f"{cols[b][k]:,.0f}" for b in args.backends) + " |")
    print("| | total | " + " | ".join(f"{cols[b].sum():,.0f}" for b in args.backends) + " |")


if __name__ == "__main__":
    main()
