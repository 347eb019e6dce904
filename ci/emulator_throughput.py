"""Emulator throughput of validation batches on a device backend (issue 14): 1 QEMU process vs N.

Runs a model's firmware (default stmnist_v1 on tvm-cortexm7) on a batch of real inputs repeated to
the size of the card's test set (default 89,264: EMNIST byclass digits + upper case, ST's figure),
through the same runner `zoo validate` uses, once per emulator count, and prints images/s, the time
for the whole batch and the emulators' CPU time per image. Where the time goes is measured apart:

- QEMU start and exit: the harness alone (the model replaced by an empty ``fw_run``), one input;
- semihosting file I/O and record framing per input: the same harness firmware on the whole batch;
- the inference: the rest of the one-process run, beside the instructions it retires (``-icount``).

And the host-side cost `zoo validate` adds on the same images: the reference backend (TFLM's
interpreter), timed on a sample and given per image; with ``--reference-cache``, the reference's
outputs on the whole batch through the cache `zoo validate` uses (``reference_outputs``): once
computed and stored (an empty entry), once read back (what a second validation of the same images
pays; the entry is removed afterwards).

Wall times depend on what else the machine runs; the emulators' CPU seconds (RUSAGE_CHILDREN) and the
load average are printed beside them.

With ``--repeat N`` each emulator count runs the batch N times (interleaved: 1, 2, 1, 2, ...) and the
spread is printed: the same instructions cost this shared host 3.0-4.9 ms of CPU per inference from one
run to the next, so one run neither meets nor misses a limit near its figure.

Usage: python ci/emulator_throughput.py [--model stmnist_v1] [--backend tvm-cortexm7] [--images 89264]
       [--emulators 1 2] [--repeat 1] [--reference-sample 2000] [--reference-cache] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from zoo.backends.tvm_cortexm7.firmware import build_elf, compile_objects, harness_flags, write_linker_script
from zoo.backends.tvm_cortexm7.library import ModelLibrary, pack
from zoo.backends.tvm_cortexm7.qemu import QemuRunner, shards
from zoo.backends.tvm_cortexm7.records import RecordLayout
from zoo.backends.tvm_cortexm7.targets import TargetSpec

import zoo
from zoo.conformance.golden import load_golden

PKG = Path(zoo.backends.tvm_cortexm7.__file__).parent
EMNIST_TEST = 89_264  # EMNIST byclass test images of classes 0-9, A-Z (FACTS.md)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """fn's result, its wall seconds and the CPU seconds of the child processes it ran."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    value = fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return value, wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def real_inputs(model: zoo.Model, count: int) -> np.ndarray:
    """The card's evaluation images (else its golden inputs) repeated to `count`."""
    card = model.card
    if card.conformance.evaluation_dataset:
        from zoo.datasets import load_dataset

        images = load_dataset(card.conformance.evaluation_dataset, split="test").images
    else:
        images = load_golden(card).inputs
    return np.resize(images, (count, *images.shape[1:]))


def harness_only(lib: ModelLibrary, target: TargetSpec, folder: Path) -> Path:
    """The harness firmware with the library's tensor sizes and a model that does nothing."""
    binding = folder / "fw_binding_empty.c"
    binding.write_text(f"""#include "fw_binding.h"
const uint32_t fw_input_bytes = {lib.input_bytes}u;
const uint32_t fw_output_bytes = {lib.output_bytes}u;
const uint32_t fw_logits_bytes = {lib.logits.count if lib.logits else 0}u;
uint8_t fw_input_buf[{lib.input_bytes}] __attribute__((aligned(16)));
uint8_t fw_output_buf[{lib.output_bytes} + 4] __attribute__((aligned(16)));
int8_t fw_logits_buf[{(lib.logits.count if lib.logits else 0) + 8}] __attribute__((aligned(16)));
int32_t fw_run(const uint8_t *input, uint8_t *output) {{ (void)input; (void)output; return 0; }}
int32_t fw_run_logits(const uint8_t *input, uint8_t *output, int8_t *logits) {{
  (void)input; (void)output; (void)logits; return 0; }}
""", encoding="utf-8")
    sources = [PKG / "fw_startup.c", PKG / "fw_semihost.c", PKG / "fw_main.c", binding]
    objs = compile_objects(sources, folder / "obj", target, include_dirs=[PKG], extra_flags=harness_flags(target))
    build_elf(objs, folder / "empty.elf", target, linker_script=write_linker_script(target, folder))
    return folder / "empty.elf"


def overheads(model: zoo.Model, flat: np.ndarray, layout: RecordLayout) -> dict[str, float]:
    """QEMU start + exit (median of 5, one input) and file I/O + framing per input (the batch's emulator starts
    taken out), on the empty harness; and the emulator CPU time per input of that run, starts included."""
    target = model.runner.target.target
    with tempfile.TemporaryDirectory(prefix="zoo-throughput-") as tmp:
        elf = harness_only(model.runner.library, target, Path(tmp))
        runner = QemuRunner(target, emulators=1)
        starts = [timed(lambda: runner.run_batch(elf, flat[:1], layout=layout))[1] for _ in range(5)]
        _, wall, cpu = timed(lambda: runner.run_batch(elf, flat, layout=layout))
    start, starts_per_batch = statistics.median(starts), len(shards(len(flat), flat.shape[1], 1))
    return {"qemu_start_s": start, "io_per_input_ms": max(wall - start * starts_per_batch, 0.0) / len(flat) * 1e3,
            "io_cpu_per_input_ms": cpu / len(flat) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="stmnist_v1")
    parser.add_argument("--backend", default="tvm-cortexm7")
    parser.add_argument("--images", type=int, default=EMNIST_TEST)
    parser.add_argument("--emulators", type=int, nargs="+", default=[1, len(os.sched_getaffinity(0))])
    parser.add_argument("--repeat", type=int, default=1, help="runs of the batch per emulator count (interleaved)")
    parser.add_argument("--reference-sample", type=int, default=2000, help="images the reference is timed on")
    parser.add_argument("--reference-cache", action="store_true",
                        help="also time the reference's outputs on the whole batch through the cache, cold then warm")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    model = zoo.load(args.model, backend=args.backend)
    lib, target = model.runner.library, model.runner.target.target
    images = real_inputs(model, args.images)
    flat = pack(lib.inputs, [images])
    layout = RecordLayout(lib.output_bytes, lib.logits.count if lib.logits else 0)
    instr = model.instructions_per_inference()
    print(f"{args.model} on {args.backend} ({target.core}, QEMU {target.emulator.machine}): {len(flat):,} inputs, "
          f"{instr:,} instructions per inference; {len(os.sched_getaffinity(0))} usable cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    fixed = overheads(model, flat, layout)
    print(f"QEMU start + exit {fixed['qemu_start_s'] * 1e3:.0f} ms; semihosting I/O + record framing "
          f"{fixed['io_per_input_ms']:.4f} ms per input (starts and I/O: {fixed['io_cpu_per_input_ms']:.4f} ms "
          "emulator CPU per input)")
    runs, first = [], None
    for _ in range(args.repeat):
        for n in args.emulators:
            runner = QemuRunner(target, emulators=n)
            result, wall, cpu = timed(lambda r=runner: r.run_batch(model.runner.elf, flat, layout=layout))
            same = first is None or np.array_equal(result.outputs, first.outputs)
            first = first or result
            run = {"emulators": n, "wall_s": wall, "images_per_s": len(flat) / wall,
                   "cpu_per_input_ms": cpu / len(flat) * 1e3, f"seconds_for_{EMNIST_TEST}": wall / len(flat) * EMNIST_TEST,
                   "same_outputs_as_first": same, "load_average": os.getloadavg()[0]}
            runs.append(run)
            print(f"{n} emulator(s): {wall:.1f} s, {run['images_per_s']:.0f} images/s, {EMNIST_TEST:,} images in "
                  f"{run[f'seconds_for_{EMNIST_TEST}']:.0f} s ({'under' if run[f'seconds_for_{EMNIST_TEST}'] < 180 else 'over'}"
                  f" 180 s); emulator CPU {run['cpu_per_input_ms']:.3f} ms per input (inference "
                  f"~{run['cpu_per_input_ms'] - fixed['io_cpu_per_input_ms']:.3f} ms: "
                  f"{instr / (run['cpu_per_input_ms'] - fixed['io_cpu_per_input_ms']) / 1e3:.0f} M emulated instructions "
                  f"per CPU second); outputs {'identical' if same else 'DIFFER'}; load {run['load_average']:.2f}",
                  flush=True)
    if args.repeat > 1:
        for n in args.emulators:
            secs = sorted(r[f"seconds_for_{EMNIST_TEST}"] for r in runs if r["emulators"] == n)
            cpus = sorted(r["cpu_per_input_ms"] for r in runs if r["emulators"] == n)
            print(f"{n} emulator(s) over {len(secs)} runs: {EMNIST_TEST:,} images in {secs[0]:.0f} / "
                  f"{statistics.median(secs):.0f} / {secs[-1]:.0f} s (min / median / max; {sum(s < 180 for s in secs)} of "
                  f"{len(secs)} under 180 s); emulator CPU {cpus[0]:.3f}-{cpus[-1]:.3f} ms per input for the same "
                  "instructions")
    reference = zoo.load(args.model, backend=model.card.conformance.reference_backend)
    sample = images[:args.reference_sample]
    _, ref_wall, _ = timed(lambda: reference.run(sample, logits=True))
    ref_ms = ref_wall / len(sample) * 1e3
    print(f"`zoo validate` also runs the reference ({model.card.conformance.reference_backend}) on every image, in "
          f"this process: {ref_ms:.2f} ms per image here ({len(sample):,} timed), {ref_ms * EMNIST_TEST / 1e3:.0f} s "
          f"for {EMNIST_TEST:,}")
    cached = reference_cache(model.card, images) if args.reference_cache else {}
    if cached:
        print(f"the reference through the cache on all {len(images):,} images: {cached['cold_s']:.1f} s computed "
              f"and stored, {cached['warm_s']:.2f} s read back (a second `zoo validate` of these images)")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "backend": args.backend, "inputs": len(flat),
                                               "instructions_per_inference": instr, **fixed, "runs": runs,
                                               "reference_ms_per_image": ref_ms, "reference_cache": cached},
                                              indent=2) + "\n")


def reference_cache(card: Any, images: np.ndarray) -> dict[str, float]:
    """Seconds for the reference's outputs on `images` through `zoo validate`'s cache: computed and
    stored in a new cache entry, then read back; the entries made are removed."""
    from zoo.artifacts import cache_dir
    from zoo.conformance.validate import reference_outputs

    folder = cache_dir() / "reference" / card.conformance.reference_backend / card.name
    before = set(folder.iterdir()) if folder.is_dir() else set()
    notes: list[str] = []
    try:
        cold, cold_s, _ = timed(lambda: reference_outputs(card, images, notes.append))
        if any("from the cache" in n for n in notes):
            raise SystemExit(f"these images' reference outputs were already in {folder}: nothing was timed cold; "
                             "remove that entry and run again")
        if any("not cached" in n for n in notes):
            raise SystemExit(f"the reference's outputs could not be stored: {notes[-1]}")
        notes.clear()
        warm, warm_s, _ = timed(lambda: reference_outputs(card, images, notes.append))
        if not any("from the cache" in n for n in notes):
            raise SystemExit(f"the second call did not read the reference's outputs from the cache: {notes}")
        if sorted(cold) != sorted(warm) or any(cold[k].dtype != warm[k].dtype or not np.array_equal(cold[k], warm[k])
                                               for k in cold):
            raise SystemExit("the cached reference outputs differ from the computed ones")
    finally:
        made = set(folder.iterdir()) - before if folder.is_dir() else set()
        for entry in made:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    return {"cold_s": cold_s, "warm_s": warm_s}


if __name__ == "__main__":
    main()
