"""Emit the C model library of a lowered int8 graph.

Files: ``<prefix>.h`` (the shared library contract), ``<prefix>_weights.c`` (const
data only), ``<prefix>_model.c`` (layer parameters, static arena, the driver) and
the kernel sources copied from ``kernels/``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import BackendError

from . import layout, ops
from .planner import ArenaPlan

__all__ = ["CSources", "emit_sources", "KERNEL_DIR"]

KERNEL_DIR = Path(__file__).parent / "kernels"
_CTYPE = {np.dtype(np.int8): "int8_t", np.dtype(np.int16): "int16_t",
          np.dtype(np.int32): "int32_t", np.dtype(np.float32): "float"}


@dataclass
class CSources:
    """Generated C text and what it holds."""

    weights_c: str = ""
    model_c: str = ""
    weights_bytes: int = 0
    arrays: list[str] = field(default_factory=list)


def _literal(v: object, dtype: np.dtype) -> str:
    if dtype == np.float32:
        return f"{float(v).hex()}f" if np.isfinite(v) else "0.0f"
    return str(int(v))


class _Emitter:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.src = CSources()
        self.weights: list[str] = []
        self.externs: list[str] = []

    def array(self, name: str, values: np.ndarray) -> str:
        """Add a const array to the weights file; returns its C name."""
        values = np.ascontiguousarray(values).reshape(-1)
        ctype = _CTYPE[values.dtype]
        cname = f"{self.prefix}_{name}"
        rows = [", ".join(_literal(v, values.dtype) for v in values[i:i + 16])
                for i in range(0, values.size, 16)]
        body = ",\n    ".join(rows)
        self.weights.append(f"const {ctype} {cname}[{values.size}] __attribute__((aligned(8))) = {{\n"
                            f"    {body}\n}};\n")
        self.externs.append(f"extern const {ctype} {cname}[{values.size}];")
        self.src.weights_bytes += values.nbytes
        self.src.arrays.append(cname)
        return cname


def _ptr(graph: ops.Graph, plan: ArenaPlan, name: str, ctype: str = "int8_t") -> str:
    if name == graph.input:  # the caller's buffer, declared const uint8_t *
        return "input" if ctype == "uint8_t" else f"(const {ctype} *)input"
    if name == graph.output:
        return "output"
    return f"({ctype} *)(s_arena.bytes + {plan.offsets[name]})"


def _conv_call(em: _Emitter, i: int, layer: ops.Conv2D, graph: ops.Graph, plan: ArenaPlan,
               wide: bool) -> tuple[str, str]:
    if not all(-128 <= v <= 127 for v in (layer.in_zp, layer.out_zp, layer.act_min, layer.act_max)):
        raise BackendError(f"{layer.op}: zero points and activation bounds must be int8 values")
    rec = layout.c1_records(layer)
    if rec is not None:  # one input channel, <= 9 taps: zoo_conv2d_s8_c1
        r = em.array(f"l{i}_rec", rec)
        (ih, iw, ic), (oh, ow, oc) = layer.in_hwc, layer.out_hwc
        decl = (f"static const zoo_conv_t s_l{i} = {{{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, "
                f"{layer.kernel[0]}, {layer.kernel[1]}, {layer.stride[0]}, {layer.stride[1]}, "
                f"{layer.pad[0]}, {layer.pad[1]}, 1, {layout.FLAG_C1 | layout.FLAG_FULL8}, {layer.in_zp}, "
                f"{layer.out_zp}, -128, 127, 0, 0, 0, 0, 0, 0, {r}, {oc}}};")
        x, y = _ptr(graph, plan, layer.inputs[0]), _ptr(graph, plan, layer.output)
        return decl, f"zoo_conv2d_s8_c1(&s_l{i}, {x}, {y}, 0);"
    data = layout.conv_data(layer, wide)
    fast = data.rq is not None and bool(data.flags & layout.FLAG_FULL8)
    if not layer.depthwise and fast and layer.out_hwc[2] % 2 == 0:
        # zoo_conv2d_s8_fast_w16/_w8: bias, weights and requantization in one stream per channel pair
        stream = layout.packed(data)
        if data.flags & layout.FLAG_W16:
            data.weights16 = stream
        else:
            data.weights = stream
        data.flags |= layout.FLAG_PACKED
        data.bias, data.rq = None, None
    if layer.depthwise and fast and data.weights16 is not None and tuple(layer.kernel) == (3, 3):
        data.weights16, data.flags = layout.packed_dw(data), data.flags | layout.FLAG_PACKED
        data.bias, data.rq = None, None
    w = em.array(f"l{i}_w", data.weights) if data.weights is not None else "0"
    w16 = em.array(f"l{i}_w16", data.weights16) if data.weights16 is not None else "0"
    b = em.array(f"l{i}_bias", data.bias) if data.bias is not None else "0"
    if data.flags & layout.FLAG_PACKED:
        m = s = rq = "0"
    elif data.rq is not None:
        m = s = "0"
        rq = em.array(f"l{i}_rq", data.rq)
    else:
        m, s, rq = em.array(f"l{i}_mult", data.mult), em.array(f"l{i}_shift", data.shift), "0"
    pad = "0"
    if data.weights16 is not None and layer.depthwise:
        pad = em.array(f"l{i}_pad", np.full(layer.in_hwc[2], layer.in_zp, np.int8))
    (ih, iw, ic), (oh, ow, oc) = layer.in_hwc, layer.out_hwc
    decl = (f"static const zoo_conv_t s_l{i} = {{{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, "
            f"{layer.kernel[0]}, {layer.kernel[1]}, {layer.stride[0]}, {layer.stride[1]}, "
            f"{layer.pad[0]}, {layer.pad[1]}, {layer.depth_multiplier}, {data.flags}, {layer.in_zp}, "
            f"{layer.out_zp}, {layer.act_min}, {layer.act_max}, {w}, {w16}, {pad}, {b}, {m}, {s}, {rq}, "
            f"{layout.up_channels(layer)}}};")
    x, y = _ptr(graph, plan, layer.inputs[0]), _ptr(graph, plan, layer.output)
    if layer.depthwise:
        fn = "zoo_dwconv_s8_fast" if fast and data.weights16 is not None else "zoo_dwconv_s8"
        if data.flags & layout.FLAG_PACKED:
            fn = "zoo_dwconv_s8_3x3"
        return decl, f"{fn}(&s_l{i}, {x}, {y});"
    fn = "zoo_conv2d_s8"
    if data.flags & layout.FLAG_PACKED:
        fn += "_fast_w16" if data.flags & layout.FLAG_W16 else "_fast_w8"
    scratch = plan.scratch(i)
    return decl, f"{fn}(&s_l{i}, {x}, {y}, (int16_t *)(s_arena.bytes + {scratch}));"


def _macs(layer: ops.Layer) -> int:
    if isinstance(layer, ops.Conv2D):
        oh, ow, oc = layer.out_hwc
        per = layer.kernel[0] * layer.kernel[1] * (1 if layer.depthwise else layer.in_hwc[2])
        return oh * ow * oc * per
    if isinstance(layer, ops.FullyConnected):
        return layer.in_features * layer.out_features
    return 0


def wide_layers(graph: ops.Graph, share: float = 0.5, small: int = 256) -> set[int]:
    """Regular convolutions worth int16 weights (2x flash, no sign extension in the loop):
    those doing at least `share` of all MACs, and those with at most `small` weight bytes."""
    total = sum(_macs(layer) for layer in graph.layers) or 1
    return {i for i, layer in enumerate(graph.layers) if isinstance(layer, ops.Conv2D)
            and not layer.depthwise and (_macs(layer) >= share * total or layer.weights.size <= small)}


def _layer_call(em: _Emitter, i: int, layer: ops.Layer, graph: ops.Graph,
                plan: ArenaPlan, wide: set[int]) -> tuple[str, str]:
    """(static declaration, call statement) of one layer."""
    x = _ptr(graph, plan, layer.inputs[0],
             "uint8_t" if isinstance(layer, ops.Requantize) and layer.in_dtype == "uint8" else "int8_t")
    if isinstance(layer, ops.Conv2D):
        return _conv_call(em, i, layer, graph, plan, i in wide)
    y = _ptr(graph, plan, layer.output, "float" if isinstance(layer, ops.Dequantize) else "int8_t")
    if isinstance(layer, ops.Requantize):
        if (layer.in_dtype == "uint8" and layer.multiplier == 1 << 30 and layer.shift == 1
                and layer.in_zp - layer.out_zp == 128):  # equal scales: flip the sign bit
            return "", f"zoo_flip_u8({x}, {y}, {layer.count});"
        fn = "zoo_requantize_u8" if layer.in_dtype == "uint8" else "zoo_requantize_s8"
        return "", (f"{fn}({x}, {y}, {layer.count}, {layer.in_zp}, {layer.out_zp}, "
                    f"{layer.multiplier}, {layer.shift});")
    if isinstance(layer, ops.Mean):
        h, w, c = layer.in_hwc
        return "", (f"zoo_mean_hw_s8({x}, {y}, {h * w}, {c}, {layer.in_zp}, {layer.out_zp}, "
                    f"{layer.multiplier}, {layer.shift});")
    if isinstance(layer, ops.FullyConnected):
        data = layout.fc_data(layer)
        w, b = em.array(f"l{i}_w", data.weights), em.array(f"l{i}_bias", data.bias)
        per_channel = int(len(set(zip(layer.multipliers, layer.shifts))) > 1)
        n = len(layer.multipliers) if per_channel else 1
        m = em.array(f"l{i}_mult", data.mult[:n])
        s = em.array(f"l{i}_shift", data.shift[:n])
        return "", (f"zoo_fc_s8({x}, {w}, {b}, {y}, {layer.in_features}, {layer.out_features}, "
                    f"{layer.out_zp}, {m}, {s}, {per_channel}, {layer.act_min}, {layer.act_max});")
    if isinstance(layer, ops.Softmax):
        t = em.array(f"l{i}_exp", layer.table.astype(np.float32))
        return "", (f"zoo_softmax_s8({x}, {y}, {layer.rows}, {layer.depth}, {t}, "
                    f"{_literal(np.float32(layer.out_scale), np.dtype(np.float32))}, {layer.out_zp});")
    if isinstance(layer, ops.Dequantize):
        return "", (f"zoo_dequantize_s8({x}, {y}, {layer.count}, "
                    f"{_literal(np.float32(layer.scale), np.dtype(np.float32))}, {layer.zp});")
    raise BackendError(f"no C emitter for layer {type(layer).__name__}")


_DRIVER = """/* {prefix}_model.c - generated by zoo (int8 lowering). Do not edit. */
#include <stdint.h>
#include <string.h>
#include "{prefix}.h"
#include "zoo_int8.h"

{externs}

{decls}

/* one activation arena, offsets planned by liveness at compile time */
static union {{ uint64_t align; uint8_t bytes[{up}_ARENA_BYTES]; }} s_arena;

static void forward_logits(const uint8_t *input)
{{
{body}
}}

int32_t {prefix}_run_logits(const uint8_t *input, int8_t *logits)
{{
    if (input == 0 || logits == 0) return 1;
    forward_logits(input);
    memcpy(logits, {logits_ptr}, {n_logits});
    return 0;
}}

int32_t {prefix}_run(const uint8_t *input, float *output)
{{
    if (input == 0 || output == 0) return 1;
    forward_logits(input);
{head}
    return 0;
}}
"""


def emit_sources(graph: ops.Graph, plan: ArenaPlan, prefix: str) -> CSources:
    """Generate the weights file and the driver of a lowered graph.

    The driver runs every layer up to the logits in ``forward_logits``; ``<prefix>_run``
    continues with SOFTMAX and DEQUANTIZE, ``<prefix>_run_logits`` copies the logits out.
    """
    em = _Emitter(prefix)
    decls, calls = [], []
    wide = wide_layers(graph)
    for i, layer in enumerate(graph.layers):
        decl, call = _layer_call(em, i, layer, graph, plan, wide)
        decls.append(decl)
        calls.append(f"    {call}  /* {layer.op} */")
    split = next(i for i, layer in enumerate(graph.layers) if layer.output == graph.logits) + 1
    em.src.weights_c = (f"/* {prefix}_weights.c - generated by zoo (int8 lowering). Constant data "
                        "only (flash). */\n#include <stdint.h>\n\n" + "\n".join(em.weights))
    em.src.model_c = _DRIVER.format(
        prefix=prefix, up=prefix.upper(), externs="\n".join(em.externs),
        decls="\n".join(d for d in decls if d), body="\n".join(calls[:split]),
        head="\n".join(calls[split:]), logits_ptr=_ptr(graph, plan, graph.logits),
        n_logits=graph.tensors[graph.logits].nbytes)
    return em.src


def copy_kernels(out_dir: Path) -> list[Path]:
    """Copy the kernel sources into the library folder."""
    copied = []
    for src in sorted(KERNEL_DIR.glob("zoo_int8*.[ch]")):
        copied.append(Path(shutil.copy2(src, out_dir / src.name)))
    return copied
