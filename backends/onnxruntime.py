"""ONNX Runtime backend: the card's artifact converted to ONNX with tf2onnx, run by ORT on the CPU.

- int8 ``tflite`` artifacts become a QDQ graph (``tf2onnx.convert.from_tflite``), with the
  int8 pre-softmax logits (the QuantizeLinear that feeds the Softmax's DequantizeLinear)
  added as an extra graph output, returned under :data:`zoo.backend.LOGITS`.
- float ``keras_h5`` artifacts are loaded with Keras 3 (a Keras 2.8 HDF5 needs one shim:
  Keras 2 wrote ``groups`` into DepthwiseConv2D configs), wrapped with the card's
  preprocessing (``x_uint8 * scale + offset``) so the graph takes the card's uint8 input,
  and converted with ``tf2onnx.convert.from_function``.

Both graphs take a symbolic batch dimension ``N``: one ``session.run`` per batch of any size.

Graph optimization level, pinned to ``basic`` (``ORT_ENABLE_BASIC``). Measured with ORT 1.32
on this project's CPU (AMD EPYC, AVX2+FMA, no AVX-512/VNNI) against LiteRT's builtin kernels
on 5,000 MNIST digits and 48 synthetic images (seeded random, all-0, all-255):

- ``disable`` and ``basic`` give bit-identical outputs: QDQ stays DequantizeLinear -> float
  Conv/Gemm -> QuantizeLinear, i.e. the ONNX graph's own semantics.
- ``extended`` and ``all`` give outputs identical to each other but not to ``basic``: they fuse
  QDQ into QLinearConv/QLinearSoftmax, i.e. MLAS integer kernels, which MLAS picks by CPU
  feature (AVX2 vs AVX-VNNI/AVX-512 paths), so their results can change with the CPU
  (FACTS.md saw large int8 errors from ORT with full optimizations on this CPU). Here they
  differ from ``basic`` in 0.03% of the logits, by one step (up to 20 output steps); on the
  48 synthetic images all levels agree.
- Against LiteRT builtin every level gives max 46 output steps, 2.56% elements differing,
  98.72% top-1 agreement on the 5,000 digits: the levels are equally far from the reference.

``basic`` keeps the reference semantics of the graph without the CPU-dependent integer
kernels. It is slower: 5,000 images took ~1.6-2.0 s at ``disable``/``basic`` and ~0.9-1.3 s
at ``all``/``extended`` (2 shared cores, noisy). Choose another level with the
``optimization`` option; it is a session option, so it is not part of the cache key.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.backend import LOGITS, YES, Availability, Backend, Runner
from zoo.card import Artifact, Card
from zoo.errors import BackendError
from zoo.tflite_model import TFLiteInfo, read_tflite

if TYPE_CHECKING:  # type hints only: onnx is imported inside the methods
    import onnx

__all__ = ["OPSET", "OPTIMIZATIONS", "OnnxRuntimeBackend", "OnnxRuntimeRunner"]

OPSET = 17  # ONNX opset tf2onnx targets (QDQ with per-channel axes needs >= 13)
MODEL_FILE = "model.onnx"
BATCH_DIM = "N"
#: option value -> name of the onnxruntime.GraphOptimizationLevel member
OPTIMIZATIONS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                 "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
DEFAULT_OPTIMIZATION = "basic"


def _version(*dists: str) -> str:
    """The installed version of the first distribution found, or "none"."""
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "none"


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a tensor everywhere in `graph` (node inputs/outputs, graph inputs/outputs)."""
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.name == old:
            value.name = new


def _add_logits_output(model: onnx.ModelProto) -> bool:
    """Expose the int8 tensor quantized right before Softmax's DequantizeLinear as output ``LOGITS``.

    Returns:
        Whether the QuantizeLinear -> DequantizeLinear -> Softmax chain was found.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    softmax = next((n for n in graph.node if n.op_type == "Softmax"), None)
    dq = producer.get(softmax.input[0]) if softmax is not None else None
    q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
    if q is None or q.op_type != "QuantizeLinear":
        return False
    graph.node.append(helper.make_node("Identity", [q.output[0]], [LOGITS], name="zoo_logits"))
    graph.output.append(helper.make_tensor_value_info(LOGITS, TensorProto.INT8, [BATCH_DIM, None]))
    return True


def _finalize(model: onnx.ModelProto, card: Card, artifact: Artifact) -> None:
    """Name the graph's inputs and outputs after the artifact's tensors in the card and make the batch dim symbolic."""
    graph = model.graph
    ins, outs = card.tensors(artifact)
    for value, spec in zip(list(graph.input), ins, strict=False):
        _rename(graph, value.name, spec.name)
    for value, spec in zip(list(graph.output), outs, strict=False):
        _rename(graph, value.name, spec.name)
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_param = BATCH_DIM


def _quiet_tensorflow() -> None:
    """TensorFlow (imported by tf2onnx) logs and warns a lot at import and conversion; keep the CLI readable."""
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")


def _convert_tflite(artifact_path: Path) -> onnx.ModelProto:
    """QDQ ONNX of an int8 tflite flatbuffer, with the logits output added where found."""
    _quiet_tensorflow()
    from tf2onnx import convert

    model, _ = convert.from_tflite(str(artifact_path), opset=OPSET)
    _add_logits_output(model)
    return model


def _load_keras(path: Path) -> Any:
    """Load a Keras 2.x HDF5 model with Keras 3 (no tf_keras needed).

    Keras 2 serialized ``groups: 1`` into DepthwiseConv2D configs; Keras 3 rejects the key.
    """
    _quiet_tensorflow()
    import keras

    class _DepthwiseConv2D(keras.layers.DepthwiseConv2D):
        def __init__(self, *args: Any, groups: int = 1, **kwargs: Any) -> None:
            if groups != 1:
                raise ValueError(f"DepthwiseConv2D with groups={groups} is not supported")
            super().__init__(*args, **kwargs)

    return keras.models.load_model(str(path), compile=False,
                                   custom_objects={"DepthwiseConv2D": _DepthwiseConv2D})


def _convert_keras(card: Card, artifact_path: Path) -> onnx.ModelProto:
    """ONNX of a float Keras model wrapped with the card's preprocessing, uint8 input, batch N."""
    import tensorflow as tf
    from tf2onnx import convert

    pre = card.input.preprocessing
    if pre is None:
        raise BackendError(f"card {card.name!r} has no preprocessing on input {card.input.name!r}; a Keras float "
                           "artifact needs it to map the card's input to floats (add `preprocessing: {scale, offset}` "
                           "to inputs[0])")
    net = _load_keras(artifact_path)
    scale, offset = np.float32(pre.scale), np.float32(pre.offset)
    spec = tf.TensorSpec((None, *card.input.shape[1:]), tf.as_dtype(card.input.dtype), name="input")

    @tf.function(input_signature=[spec])
    def wrapped(x: Any) -> Any:
        return net(tf.cast(x, tf.float32) * scale + offset, training=False)

    model, _ = convert.from_function(wrapped, input_signature=[spec], opset=OPSET)
    return model


#: ONNX operators whose outputs are NCHW by the operator's definition (the tflite tensors are NHWC).
_NCHW_OPS = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                       "QLinearConv", "BatchNormalization"})
#: Operators whose output keeps the axis order of their inputs.
_SAME_LAYOUT = frozenset({"QuantizeLinear", "DequantizeLinear", "Relu", "Clip", "Add", "Sub", "Mul", "Div", "Max",
                          "Min", "Sigmoid", "Tanh", "LeakyRelu", "PRelu", "HardSigmoid", "HardSwish", "Identity",
                          "Cast", "Pad", "Concat"})
_TRANSPOSES = {("nhwc", (0, 3, 1, 2)): "nchw", ("nchw", (0, 2, 3, 1)): "nhwc"}


def _layouts(graph: onnx.GraphProto) -> dict[str, str]:
    """``"nhwc"`` or ``"nchw"`` for each value whose axis order follows from the graph (inputs are NHWC)."""
    layout = {value.name: "nhwc" for value in graph.input}
    for node in graph.node:
        if node.op_type in _NCHW_OPS:
            got = "nchw"
        elif node.op_type == "Transpose":
            perm = tuple(next((a.ints for a in node.attribute if a.name == "perm"), ()))
            got = _TRANSPOSES.get((layout.get(node.input[0], ""), perm))
        elif node.op_type in _SAME_LAYOUT:
            got = next((layout[i] for i in node.input if i in layout), None)
        else:
            got = None
        for name in node.output:
            if got is not None:
                layout[name] = got
    return layout


def _tflite_values(model: onnx.ModelProto, info: TFLiteInfo, renamed: Mapping[str, str]) -> dict[int, tuple[str, str]]:
    """tflite operator output tensor index -> (ONNX value name, layout) where tf2onnx kept the tensor.

    tf2onnx names a QuantizeLinear output after the tflite tensor it stands for; where it moved the
    int8 value through a layout change it still names the float copy ``<name>_dequant``, whose
    DequantizeLinear input is the int8 value. `renamed`: tflite name -> graph output name.
    """
    graph = model.graph
    values = {name for node in graph.node for name in node.output} | {v.name for v in graph.input}
    dequantized = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    layout = _layouts(graph)
    found = {}
    for t in info.operator_outputs():
        name = renamed.get(info.tensors[t].name, info.tensors[t].name)
        onnx_name = name if name in values else dequantized.get(name + "_dequant")
        if onnx_name is not None:
            found[t] = (onnx_name, layout.get(onnx_name, ""))
    return found


def _to_tflite_layout(value: np.ndarray, layout: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """An ONNX value in the tflite tensor's shape ``(N, *shape[1:])``, or None if it cannot be mapped."""
    if value.ndim == 4 and layout == "nchw":
        value = value.transpose(0, 2, 3, 1)
    want = (value.shape[0], *shape[1:])
    if value.shape == want:
        return value
    return value.reshape(want) if value.size == int(np.prod(want)) and (value.ndim < 4 or len(want) < 4) else None


class OnnxRuntimeRunner(Runner):
    """One ``InferenceSession``; a whole batch per ``run`` call.

    Attributes:
        session: the ``onnxruntime.InferenceSession``.
        optimization: the graph optimization level option it was made with.
    """

    def __init__(self, card: Card, artifact: Artifact, model_path: Path, optimization: str,
                 threads: int | None, tflite_path: Path | None = None) -> None:
        import onnxruntime as ort

        self._model_path, self._tflite_path = model_path, tflite_path
        self._inspect: Any = None  # (session, {tensor index: (ONNX name, layout)}), made on first use
        options = self._options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATIONS[optimization])
        options.intra_op_num_threads = threads or 0  # 0: ORT's default (physical cores)
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
            raise BackendError(f"ONNX Runtime cannot load {model_path}: {exc}; "
                               "delete the cache folder to recompile") from None
        self.optimization = optimization
        ins, outs = card.tensors(artifact)
        self._inputs = [s.name for s in ins]
        names = [o.name for o in self.session.get_outputs()]
        self._outputs = [n for n in (*(s.name for s in outs), LOGITS) if n in names]
        missing = [s.name for s in outs if s.name not in names]
        if missing:
            raise BackendError(f"{model_path} has outputs {names}, not the card's {missing}; "
                               "delete the cache folder to recompile")
        self._out_specs = outs

    def intermediates(self) -> Availability:
        if self._tflite_path is None:
            return Availability(False, "the ONNX graph was converted from Keras, so its tensors have no TFLite names",
                                "diff the int8 tflite artifact")
        return YES

    def _inspector(self) -> tuple[Any, dict[int, tuple[str, str]]]:
        """A session on the QDQ graph with every int8 tensor that tf2onnx kept added as a graph output."""
        if self._inspect is None:
            import onnx
            import onnxruntime as ort
            from onnx import helper

            info = read_tflite(self._tflite_path)
            model = onnx.load(str(self._model_path))
            renamed = {t.name: s.name for t, s in zip(info.outputs, self._out_specs, strict=False)}
            found = _tflite_values(model, info, renamed)
            present = {o.name for o in model.graph.output}
            for name, _ in dict.fromkeys(found.values()):
                if name not in present:
                    model.graph.output.append(helper.make_empty_tensor_value_info(name))
            try:
                session = ort.InferenceSession(model.SerializeToString(), self._options,
                                               providers=["CPUExecutionProvider"])
            except Exception as exc:  # ORT raises its own exception types
                raise BackendError(f"ONNX Runtime cannot expose the intermediates of {self._model_path}: {exc}") from None
            self._inspect = (session, found)
        return self._inspect

    def run_intermediates(self, inputs: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
        """The tflite tensors tf2onnx kept, from a second session whose graph outputs them all.

        At the ``extended``/``all`` levels extra outputs can stop ORT fusing QDQ into integer
        kernels, so that session may compute differently from :meth:`run`: ``zoo diff`` checks.
        """
        session, found = self._inspector()
        info = read_tflite(self._tflite_path)
        names = list(dict.fromkeys(name for name, _ in found.values()))
        feeds = {name: np.ascontiguousarray(inputs[name]) for name in self._inputs}
        try:
            values = dict(zip(names, session.run(names, feeds), strict=True))
        except Exception as exc:
            raise BackendError(f"ONNX Runtime failed exposing intermediates: {exc}") from None
        out = {}
        for t, (name, layout) in found.items():
            value = _to_tflite_layout(values[name], layout, info.tensors[t].shape)
            if value is not None and value.dtype == np.dtype(info.tensors[t].dtype):
                out[t] = value
        return out

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {name: np.ascontiguousarray(inputs[name]) for name in self._inputs}
        try:
            values = self.session.run(self._outputs, feeds)
        except Exception as exc:
            raise BackendError(f"ONNX Runtime failed on a batch of {len(next(iter(feeds.values())))}: {exc}") from None
        return dict(zip(self._outputs, values, strict=True))


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime on the host CPU, via tf2onnx.

    Options:
        optimization: graph optimization level, one of ``OPTIMIZATIONS`` (default ``"basic"``,
            see the module docstring for why).
        threads: ``intra_op_num_threads`` (default: ORT's choice).

    Example:
        >>> m = zoo.load("stmnist_v1", backend="onnxruntime")  # doctest: +SKIP
        >>> m.predict(np.zeros((2, 28, 28), np.uint8)).shape  # doctest: +SKIP
        (2, 36)
    """

    name = "onnxruntime"
    summary = "ONNX Runtime (CPU) on a tf2onnx conversion: QDQ graph for int8, float graph for Keras"
    extra = "onnxruntime"
    formats = ("tflite", "keras_h5")
    python_modules = ("onnxruntime", "tf2onnx", "onnx")

    def __init__(self, optimization: str | None = None, threads: int | None = None) -> None:
        optimization = optimization or DEFAULT_OPTIMIZATION
        if optimization not in OPTIMIZATIONS:
            raise ValueError(f"optimization={optimization!r} is not one of {tuple(OPTIMIZATIONS)}")
        if threads is not None and (not isinstance(threads, int) or threads < 0):
            raise ValueError(f"threads={threads!r} must be a non-negative int (0: ORT's default)")
        self.optimization = optimization
        self.threads = threads

    def cache_key(self) -> str:
        """Converter and runtime versions and the opset; the session options do not change the file.

        TensorFlow is included because tf2onnx converts through TensorFlow's graph tooling.
        """
        return (f"tf2onnx-{_version('tf2onnx')}-onnx-{_version('onnx')}-ort-{_version('onnxruntime')}"
                f"-tf-{_version('tensorflow', 'tensorflow-cpu')}-opset{OPSET}")

    def compile(self, card: Card, artifact: Artifact, artifact_path: Path, out_dir: Path) -> None:
        """Convert the artifact to ``model.onnx`` in `out_dir`, checked with ``onnx.checker``.

        Raises:
            BackendError: the conversion or the ONNX check failed (the message gives the cause).
        """
        import onnx

        try:
            if artifact.format == "tflite":
                model = _convert_tflite(artifact_path)
            else:
                model = _convert_keras(card, artifact_path)
            _finalize(model, card, artifact)
            onnx.checker.check_model(model, full_check=True)
        except BackendError:
            raise
        except Exception as exc:  # converters raise anything from ValueError to TF errors
            raise BackendError(f"tf2onnx cannot convert {artifact.file} ({artifact.format}) to ONNX: "
                               f"{type(exc).__name__}: {exc}") from exc
        onnx.save(model, str(out_dir / MODEL_FILE))

    def load(self, card: Card, artifact: Artifact, artifact_path: Path, compiled_dir: Path) -> Runner:
        return OnnxRuntimeRunner(card, artifact, compiled_dir / MODEL_FILE, self.optimization, self.threads,
                                 artifact_path if artifact.format == "tflite" else None)
