"""Benchmark: per-image latency (batch 1) and batch throughput (batch 256) of each host backend,
through zoo (`model.predict`) and through the same runtime object called directly, in one run.

zoo's overhead = zoo time / raw time - 1. The two are measured interleaved, round by round, and
compared by their medians, so a noisy shared machine affects both alike.

For tflm (one invoke per image by design) the raw call is TFLM's interpreter looped the same way, so
the overhead is zoo's per-batch and per-image bookkeeping.

Usage: python ci/benchmark.py [--backends tflm tflite onnxruntime tvm] [--rounds 15] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import zoo

Call = Callable[[np.ndarray], Any]


def _raw_tflite(model: zoo.Model) -> Call:
    interp = model.runner._interp  # noqa: SLF001 - the LiteRT interpreter zoo holds
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    shape = {"n": 1}

    def call(batch: np.ndarray) -> Any:
        if batch.shape[0] != shape["n"]:
            interp.resize_tensor_input(inp, list(batch.shape), strict=False)
            interp.allocate_tensors()
            shape["n"] = batch.shape[0]
        interp.set_tensor(inp, batch)
        interp.invoke()
        return interp.get_tensor(out)

    return call


def _raw_onnxruntime(model: zoo.Model) -> Call:
    session = model.runner.session
    name = session.get_inputs()[0].name
    output = [session.get_outputs()[0].name]
    return lambda batch: session.run(output, {name: batch})


def _raw_tvm(model: zoo.Model) -> Call:
    main, tensor = model.runner._vm["main"], model.runner._tensor  # noqa: SLF001 - the Relax VM zoo holds
    return lambda batch: main(tensor(batch))[0].numpy()


def _raw_tflm(model: zoo.Model) -> Call:
    """TFLM's interpreter as its documentation uses it: one set_input/invoke/get_output per image."""
    interp = model.runner._interp  # noqa: SLF001 - the TFLM interpreter zoo holds

    def call(batch: np.ndarray) -> Any:
        out = []
        for i in range(batch.shape[0]):
            interp.set_input(batch[i:i + 1], 0)
            interp.invoke()
            out.append(interp.get_output(0))
        return out

    return call


RAW = {"tflm": _raw_tflm, "tflite": _raw_tflite, "tflite-ref": _raw_tflite, "tflite-xnnpack": _raw_tflite,
       "onnxruntime": _raw_onnxruntime, "tvm": _raw_tvm}


def _median_time(fn: Call, batch: np.ndarray, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(batch)
    return (time.perf_counter() - start) / calls


def measure(backend: str, images: np.ndarray, rounds: int) -> list[dict[str, Any]]:
    """zoo vs raw timings of one backend at batch 1 and at the full batch."""
    model = zoo.load("stmnist_v1", backend=backend)
    raw = RAW[backend](model)
    rows = []
    for batch, calls in ((images[:1], 200), (images, 3)):
        zoo_call: Call = model.predict
        for fn in (zoo_call, raw):  # warm up, and allocate for this batch size
            fn(batch)
        zoo_t, raw_t = [], []
        for _ in range(rounds):
            raw(batch)  # each timing starts from the same interpreter state
            raw_t.append(_median_time(raw, batch, calls))
            zoo_call(batch)
            zoo_t.append(_median_time(zoo_call, batch, calls))
        z, r = statistics.median(zoo_t), statistics.median(raw_t)
        rows.append({"backend": backend, "batch": len(batch), "zoo_ms": z * 1e3, "raw_ms": r * 1e3,
                     "zoo_images_per_s": len(batch) / z, "overhead_pct": (z / r - 1) * 100})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["tflm", "tflite", "tflite-xnnpack", "onnxruntime", "tvm"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    images = np.random.default_rng(0).integers(0, 256, (args.batch, 28, 28, 1), dtype=np.uint8)
    rows = []
    for backend in args.backends:
        if not zoo.backend_availability(backend):
            print(f"{backend}: skipped ({zoo.backend_availability(backend).message()})")
            continue
        rows += measure(backend, images, args.rounds)
    print(f"{'backend':16} {'batch':>5} {'zoo ms':>10} {'raw ms':>10} {'overhead':>9} {'images/s (zoo)':>15}")
    for r in rows:
        print(f"{r['backend']:16} {r['batch']:>5} {r['zoo_ms']:>10.4f} {r['raw_ms']:>10.4f} "
              f"{r['overhead_pct']:>8.1f}% {r['zoo_images_per_s']:>15,.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
