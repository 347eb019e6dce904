"""Write the MLPerf Tiny registry cards (model_cards/mlperf_*.yaml) with `zoo card init`, plus what the
model files cannot say: labels, publisher, upstream, the benchmark's quality targets and the published
board latencies (cited), and the TFLM + CMSIS-NN figures measured on the emulated cores.

Usage: python ci/make_mlperf_cards.py [--mirror DIR]    (then `zoo validate NAME --json ...` and `zoo card NAME`)
Sources: ../shared/reference/mlperf_tiny.md and FACTS.md, which cite each figure's origin.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COMMIT = "1afd2c9820f795965a6134facd0b4dfae41ef23f"
RAW = f"https://github.com/mlcommons/tiny/raw/{COMMIT}/benchmark/training"
TREE = f"https://github.com/mlcommons/tiny/tree/{COMMIT}/benchmark/training"
RESULTS = "https://github.com/mlcommons/tiny_results_v{v}/tree/main/closed/{who}/results"

# (round, submitter folder, software, board, core, MHz): the published latencies per model (ms)
BOARDS = [
    ("0.5", "reference", "TFLM 2.3.1 + CMSIS-NN", "NUCLEO-L4R5ZI", "Cortex-M4", 120),
    ("1.2", "STMicroelectronics", "X-CUBE-AI 9.0", "NUCLEO-L4R5ZI", "Cortex-M4", 120),
    ("1.2", "STMicroelectronics", "X-CUBE-AI 9.0", "NUCLEO-H7A3ZI-Q", "Cortex-M7", 280),
    ("1.3", "STMicroelectronics", "X-CUBE-AI 10.2", "NUCLEO-U575ZI-Q", "Cortex-M33", 160),
    ("1.1", "Plumerai", "Plumerai Inference Engine", "NUCLEO-H7A3ZI-Q", "Cortex-M7", 280),
    ("1.0", "OctoML", "microTVM AOT + CMSIS-NN", "NUCLEO-L4R5ZI", "Cortex-M4", 120),
    ("1.2", "Renesas", "TFLM + CMSIS-NN (LLVM 17)", "EK-RA8D1", "Cortex-M85", 480),
]
LATENCY = {"ic": [704.2, 165.1, 40.8, 109.5, 50.9, 389.6, 8.48], "kws": [181.9, 43.2, 11.3, 29.0, 13.9, 99.8, 3.46],
           "vww": [600.6, 88.9, 23.8, 59.3, 26.8, 301.2, 13.39], "ad": [10.05, 5.26, 1.23, 3.21, 1.35, 8.61, 0.53]}
# TFLM 90b983c2 + CMSIS-NN 99f736a6 on QEMU (FACTS.md): instructions, arena, RAM, flash per core
TFLM = {"kws": {"M7": (7643506, 22824, 25180, 109976), "M4": (7697730, 22824, 25204, 111540)},
        "ic": {"M7": (30026668, 55000, 57356, 152568), "M4": (29863710, 55000, 57380, 153904)},
        "vww": {"M7": (24025119, 100712, 103068, 389328), "M4": (24101504, 100712, 103092, 390924)},
        "ad": {"M7": (583166, 3012, 3848, 304712), "M4": (582866, 3012, 3848, 307148)}}
MACHINE = {"M7": "QEMU mps2-an500 (Cortex-M7), emulated", "M4": "QEMU mps2-an386 (Cortex-M4), emulated"}

MODELS: dict[str, dict[str, Any]] = {
    "mlperf_kws01": dict(short="kws", folder="keyword_spotting", int8="kws_ref_model.tflite",
                         float="kws_ref_model_float32.tflite", task="audio-classification",
                         labels=["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence",
                                 "unknown"],
                         quality=("top1_accuracy", 90.0, "%", "Speech Commands v2", 1000),
                         description="MLPerf Tiny keyword spotting reference model: a DS-CNN on 49x10 MFCC features "
                                     "of one second of audio, 12 classes (ten words, silence, unknown), int8.",
                         inp="49 frames x 10 MFCC coefficients of one second of 16 kHz audio, int8-quantized.",
                         out="Per-class softmax, int8 (scale 1/256, zero point -128), in the order of labels.",
                         labels_source="the order of TensorFlow Datasets' speech_commands labels, which the "
                                       "benchmark's kws_util/get_dataset read (down ... yes, _silence_, _unknown_)"),
    "mlperf_ic01": dict(short="ic", folder="image_classification", int8="pretrainedResnet_quant.tflite",
                        float="pretrainedResnet.tflite", task="image-classification",
                        labels=["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                "truck"],
                        quality=("top1_accuracy", 85.0, "%", "CIFAR-10", 200),
                        description="MLPerf Tiny image classification reference model: ResNet-8 for 32x32 RGB "
                                    "CIFAR-10 images, 10 classes, int8.",
                        inp="One 32x32 RGB image, int8 (pixel value - 128: scale 1, zero point -128).",
                        pixels={"scale": 1.0, "source": f"{TREE}/image_classification/tflite_test.py (the int8 "
                                                       "input is test_imgs.astype(np.int64) - 128: pixels 0..255)"},
                        out="Per-class softmax, int8 (scale 1/256, zero point -128), in the order of labels.",
                        labels_source="CIFAR-10's class order"),
    "mlperf_vww01": dict(short="vww", folder="visual_wake_words", int8="vww_96_int8.tflite", float="vww_96_float.tflite",
                         task="image-classification", labels=["no_person", "person"],
                         quality=("top1_accuracy", 80.0, "%", "Visual Wake Words (COCO-derived)", 1000),
                         description="MLPerf Tiny visual wake words reference model: MobileNetV1 0.25 on 96x96 RGB "
                                     "images, person / no person, int8.",
                         inp="One 96x96 RGB image, int8-quantized.",
                         pixels={"scale": 1 / 255, "source": f"{TREE}/visual_wake_words/train_vww.py "
                                                             "(ImageDataGenerator(..., rescale=1. / 255))"},
                         out="Softmax over (no_person, person), int8 (scale 1/256, zero point -128).",
                         labels_source="the Visual Wake Words convention: label 1 is 'person'"),
    "mlperf_ad01": dict(short="ad", folder="anomaly_detection", int8="ad01_int8.tflite", float="ad01_fp32.tflite",
                        task="anomaly-detection", labels=None, quality=("auc", 0.85, "ratio", "ToyADMOS car", None),
                        description="MLPerf Tiny anomaly detection reference model: a fully connected autoencoder "
                                    "(640-128-128-128-128-8-128-128-128-128-640) on 5 frames x 128 log-mel "
                                    "energies of ToyADMOS car sounds; the anomaly score is the mean squared error "
                                    "of the reconstruction. int8.",
                        inp="5 consecutive frames x 128 log-mel energies, flattened to 640, int8-quantized.",
                        out="The reconstruction of the input, int8; anomaly score = mean squared error against it.",
                        labels_source=None),
}


TVM_FLOAT_QDQ = ("TVM 0.27's TFLite frontend lowers the int8 QDQ graph to float arithmetic (dequantize, float "
                 "operator, quantize), not TFLM's integer requantization, and lands further from TFLM than any of "
                 "LiteRT's kernel sets on this model ({figures}; `zoo validate {name} -b tvm`, 2026-12-01)")
# Measured host-backend gaps the cards declare (check ids of zoo/conformance/checks.py), with the figures.
KNOWN_GAPS = {
    "mlperf_kws01": [("tvm", ("golden.max_abs_lsb", "golden.mismatch_fraction", "golden.mismatch_gt1_fraction",
                              "golden.top1_agreement"),
                      TVM_FLOAT_QDQ.format(figures="max |Δ| 45 steps, 8.8% of elements, top-1 98.31%, against "
                                                   "XNNPACK's 14, 3.06%, 100%", name="mlperf_kws01")),
                     ("tvm:float", ("compile.ok",),
                      "TVM 0.27's TFLite frontend refuses this float model, taking its CONV_2D for dynamic-range "
                      "quantization (OpNotImplemented); LiteRT and ONNX Runtime run it")],
    "mlperf_ic01": [("tvm", ("golden.max_abs_lsb", "golden.mismatch_fraction", "golden.mismatch_gt1_fraction",
                             "golden.top1_agreement"),
                     TVM_FLOAT_QDQ.format(figures="max |Δ| 112 steps, 30.6% of elements off by more than a step, "
                                                  "top-1 88.28%, against XNNPACK's 66, 23.0%, 95.97%",
                                          name="mlperf_ic01"))],
}


def _gaps(name: str) -> list[dict[str, str]]:
    return [{"backend": backend, "check": check, "reason": reason}
            for backend, checks, reason in KNOWN_GAPS.get(name, []) for check in checks]


def _source_key(rnd: str, who: str, board: str) -> str:
    return f"results_v{rnd}_{who.lower()}_{board.split('-')[1].lower() if '-' in board else board.lower()}"


def _figures(short: str, quality: tuple[Any, ...]) -> list[dict[str, Any]]:
    metric, value, unit, dataset, samples = quality
    figs = [{"metric": metric, "value": value, "unit": unit, "artifact": "int8", "source": "mlperf_targets",
             "dataset": dataset, **({"samples": samples} if samples else {}),
             "notes": "the benchmark's quality target for a submission, not a measured figure"}]
    for (rnd, who, tool, board, core, mhz), ms in zip(BOARDS, LATENCY[short], strict=True):
        key = _source_key(rnd, who, board)
        figs.append({"metric": "latency", "value": ms, "unit": "ms", "artifact": "int8", "source": key, "tool": tool,
                     "board": board, "core": core, "clock_mhz": mhz,
                     "notes": "closed division, median throughput; latency = 1000 / throughput"})
    return figs


def _sources() -> dict[str, dict[str, str]]:
    out = {"mlperf_targets": {"title": f"mlcommons/tiny benchmark/evaluation/datasets/README.md at {COMMIT[:12]}",
                              "url": f"https://github.com/mlcommons/tiny/blob/{COMMIT}/benchmark/evaluation/datasets/README.md"}}
    for rnd, who, tool, board, *_ in BOARDS:
        out[_source_key(rnd, who, board)] = {
            "title": f"MLPerf Tiny v{rnd} results, closed division, {who} ({tool}, {board})",
            "url": RESULTS.format(v=rnd, who=who),
            "notes": "performance/results.txt per benchmark; cycles = ms x MHz x 1000 (wait states included)"}
    return out


def _comparisons(short: str) -> list[dict[str, Any]]:
    rows = []
    for core, (instr, arena, ram, flash) in TFLM[short].items():
        rows.append({"name": "TensorFlow Lite Micro + CMSIS-NN", "core": f"Cortex-{core}", "target": MACHINE[core],
                     "ram_bytes": ram, "flash_bytes": flash, "arena_bytes": arena, "instructions_per_inference": instr,
                     "source": "Measured by the zoo project (FACTS.md, 'TFLM + CMSIS-NN on the emulated cores'): TFLM "
                               "90b983c2 + CMSIS-NN 99f736a6, arm-none-eabi-gcc 12.2 -O2, only the model's ops, "
                               "smallest arena that runs, harness subtracted; median of 32 inputs."})
    return rows


def _float_artifact(meta: dict[str, Any], mirror: Path, name: str, card_inputs: list, card_outputs: list) -> dict:
    from zoo.artifacts import sha256_of
    from zoo.tflite_model import read_tflite

    path = mirror / name / meta["float"]
    info = read_tflite(path)

    def spec(t: Any, like: dict[str, Any], role: str) -> dict[str, Any]:
        q = like["quantization"]
        low, high = (-128 - q["zero_point"]) * q["scale"], (127 - q["zero_point"]) * q["scale"]
        out = {"name": t.name, "shape": like["shape"], "dtype": "float32", "layout": like["layout"],
               "description": f"The float model's {role}: the real values of the card's int8 {role}.",
               "value_range": [round(low, 6), round(high, 6)]}
        return out | ({"rtol": round(1 / 255, 8)} if role == "output" else {})

    return {"file": meta["float"], "format": "tflite", "precision": "float32",
            "url": f"{RAW}/{meta['folder']}/trained_models/{meta['float']}", "sha256": sha256_of(path),
            "size": path.stat().st_size,
            "inputs": [spec(t, c, "input") for t, c in zip(info.inputs, card_inputs, strict=True)],
            "outputs": [spec(t, c, "output") for t, c in zip(info.outputs, card_outputs, strict=True)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("ZOO_MIRROR", REPO.parent / "shared/mirror")))
    args = parser.parse_args()
    os.environ["ZOO_MIRROR"] = str(args.mirror)
    from zoo.cardinit import init_card

    for name, meta in MODELS.items():
        model = args.mirror / name / meta["int8"]
        labels_note = f" Labels in {meta['labels_source']}." if meta["labels_source"] else ""
        extra = {"description": meta["description"] + labels_note, "publisher": "MLCommons (MLPerf Tiny)", "license": "Apache-2.0",
                 "upstream": {"repo": "https://github.com/mlcommons/tiny", "commit": COMMIT,
                              "path": f"benchmark/training/{meta['folder']}", "license": "Apache-2.0"},
                 "references": [{"title": "MLPerf Tiny benchmark (Banbury et al., 2021)", "url": "https://arxiv.org/abs/2106.07597"},
                                {"title": f"mlcommons/tiny {meta['folder']} training code at {COMMIT[:12]}",
                                 "url": f"{TREE}/{meta['folder']}"}],
                 "sources": _sources(), "reported": _figures(meta["short"], meta["quality"]),
                 "comparisons": _comparisons(meta["short"]),
                 "conformance": {"notes": "The benchmark's dataset cannot be fetched here: conformance runs on the "
                                          "golden vectors only (structured inputs of the model's kind, not only noise).",
                                 "known_gaps": _gaps(name)}}
        result = init_card(model, name, REPO / "model_cards", task=meta["task"], labels=meta["labels"],
                           url=f"{RAW}/{meta['folder']}/trained_models/{meta['int8']}", extra=extra)
        print(f"wrote {result.card_path}")
        _add_float(result.card_path, meta, args.mirror, name)


def _add_float(card_path: Path, meta: dict[str, Any], mirror: Path, name: str) -> None:
    """Add the float artifact with its own float32 tensors and a budget measured with LiteRT."""
    import yaml

    from zoo.cardinit import measure_float_budget, write_card_data

    data = yaml.safe_load(card_path.read_text())
    for spec in data["inputs"] + data["outputs"]:
        spec["description"] = meta["inp"] if spec in data["inputs"] else meta["out"]
    if "pixels" in meta:  # how a picture's pixels become the int8 input (`zoo predict x.png`)
        data["inputs"][0]["pixels"] = meta["pixels"]
    data["artifacts"]["float"] = _float_artifact(meta, mirror, name, data["inputs"], data["outputs"])
    data["conformance"]["tolerances"]["float"] = data["conformance"]["tolerances"]["int8"] | {
        "derivation": "provisional"}
    write_card_data(data, card_path)
    data["conformance"]["tolerances"]["float"] = measure_float_budget(card_path, "float")
    write_card_data(data, card_path)
    print(f"  + float artifact {meta['float']}")


if __name__ == "__main__":
    main()
