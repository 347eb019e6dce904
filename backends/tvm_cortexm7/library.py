"""The model-library contract: what every lowering of ``tvm-cortexm7`` hands to the firmware.

A *model library* is a folder a user drops into a Make or STM32CubeIDE project. It builds
with nothing but ``arm-none-eabi-gcc`` (plus newlib's libm for ``expf``/``nearbyintf``): no
TVM runtime, no heap, no stdio. Every lowering ("float" here, "int8" in ``int8/``) writes
the same contract, so the firmware, the emulator runner and the footprint code work on any
of them unchanged.

Folder layout::

    <dir>/
      <prefix>.h        the public header (the only file a user includes)
      *.c, *.h          all sources; every .c is compiled with the same flags
      metadata.json     what was built from what (see :func:`write_metadata`)

``<prefix>`` is the card name made a C identifier (:func:`c_identifier`), e.g.
``stmnist_v1``; ``<PREFIX>`` is the same in upper case.

The header declares, with C linkage, for a model with inputs ``in0..`` and outputs ``out0..`` in
the .tflite file's order, each in the model's own element type (``int8_t``, ``uint8_t`` or
``float``; shapes, quantization and offsets in ``#define`` lines and comments of the header):

``int32_t <prefix>_run(const <t> *in0, ..., <t> *out0, ...);``
    One inference. Returns 0 on success, non-zero on failure (a NULL pointer). Not re-entrant
    (static arena).

``int32_t <prefix>_run_buffers(const uint8_t *inputs, uint8_t *outputs);``
    The same on packed buffers: every input (output) tensor one after another, each starting on a
    multiple of 4 bytes (``<PREFIX>_INPUT<k>_OFFSET``), ``<PREFIX>_INPUT_BYTES`` /
    ``<PREFIX>_OUTPUT_BYTES`` in all. The harness firmware uses this entry point.

``int32_t <prefix>_run_logits(const uint8_t *inputs, int8_t *logits);`` (optional)
    The int8 input of the model's last SOFTMAX, ``<PREFIX>_LOGITS_COUNT`` values. Present exactly
    when ``<PREFIX>_HAS_LOGITS`` is 1 and ``metadata.json`` has ``"has_logits": true``.

``int32_t <prefix>_run_buffers_logits(const uint8_t *inputs, uint8_t *outputs, int8_t *logits);`` (optional)
    ``_run_buffers`` and ``_run_logits`` in one inference (present exactly when ``_run_logits`` is): the
    harness firmware's validation batches use it, so a model with logits runs once per input, not twice.

``#define`` lines: ``<PREFIX>_NUM_INPUTS``, ``<PREFIX>_NUM_OUTPUTS``, per tensor ``_COUNT``, ``_BYTES``,
``_OFFSET``; ``<PREFIX>_INPUT_BYTES``, ``<PREFIX>_OUTPUT_BYTES``, ``<PREFIX>_LOGITS_COUNT``,
``<PREFIX>_ARENA_BYTES`` (static activation arena + kernel workspace, bytes, all in .bss),
``<PREFIX>_HAS_LOGITS``. ``metadata.json`` holds the same facts under ``"io"``
(:class:`TensorSpec` fields).

Sections: weights live in ``<prefix>_weights.c`` (``const``, so .rodata = flash); the
arena is ``static`` in .bss. The footprint code counts every object of the library as
the model, and everything in ``<prefix>_weights.c`` as weights.

Compile every .c with the same flags and no project-specific defines; the firmware uses
``-mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard -mthumb -O2 -ffunction-sections
-fdata-sections`` (GNU C default dialect, so no ``-std=c11``: it would hide GCC built-ins and
turn off FMA contraction) and links ``-lm -lc -lgcc`` (newlib nano).

A lowering is a function ``LoweringRequest -> ModelLibrary`` (:data:`LoweringFn`) that writes
the folder into ``request.out_dir`` (use :func:`render_header` and :func:`write_metadata` so
the contract stays in one place); it is registered by name in ``LOWERINGS`` of the backend
package as ``"module:function"`` and picked with ``TVMCortexM7Backend(lowering=name)``.

Example:
    >>> lib = ModelLibrary.load(Path("build/stmnist_v1"))   # doctest: +SKIP
    >>> lib.prefix, lib.header.name                       # doctest: +SKIP
    ('stmnist_v1', 'stmnist_v1.h')
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.artifacts import sha256_of
from zoo.errors import BackendError, ToolchainError

from .tensors import CTYPES, TensorSpec, card_tensor_specs, check_against_card, pack, packed_offsets, unpack

__all__ = ["ModelLibrary", "LoweringRequest", "LoweringFn", "TensorSpec", "c_identifier", "render_header",
           "write_metadata", "tool_versions", "packed_offsets", "pack", "unpack", "card_tensor_specs",
           "check_against_card", "WEIGHTS_SUFFIX"]

#: Sources whose name ends with this (before ``.c``) hold only weights: the footprint counts them as weights.
WEIGHTS_SUFFIX = "_weights"
METADATA = "metadata.json"


@dataclass(frozen=True)
class ModelLibrary:
    """A written model-library folder (see the module docstring for the contract)."""

    dir: Path  # the folder
    prefix: str  # C identifier prefix, e.g. "stmnist_v1"
    header: Path  # <dir>/<prefix>.h
    sources: tuple[Path, ...]  # every .c of the library
    metadata: dict[str, Any] = field(default_factory=dict)  # contents of metadata.json

    @property
    def has_logits(self) -> bool:
        """Whether the library exports ``<prefix>_run_logits``."""
        return bool(self.metadata.get("has_logits", False))

    @property
    def inputs(self) -> list[TensorSpec]:
        """The input tensors, in the model's order."""
        return [TensorSpec.from_dict(d) for d in self.metadata["io"]["inputs"]]

    @property
    def outputs(self) -> list[TensorSpec]:
        """The output tensors, in the model's order."""
        return [TensorSpec.from_dict(d) for d in self.metadata["io"]["outputs"]]

    @property
    def logits(self) -> TensorSpec | None:
        """The int8 logits tensor (input of the last SOFTMAX), when the library exposes it."""
        d = self.metadata["io"].get("logits")
        return TensorSpec.from_dict(d) if d else None

    @property
    def input_bytes(self) -> int:
        """Bytes of the packed inputs (``<prefix>_run_buffers``)."""
        return packed_offsets(self.inputs)[1]

    @property
    def output_bytes(self) -> int:
        """Bytes of the packed outputs (``<prefix>_run_buffers``)."""
        return packed_offsets(self.outputs)[1]

    @property
    def weights_sources(self) -> tuple[Path, ...]:
        """The sources that hold only weights."""
        return tuple(s for s in self.sources if s.stem.endswith(WEIGHTS_SUFFIX))

    @classmethod
    def load(cls, folder: Path) -> ModelLibrary:
        """Read a library folder written by any lowering.

        Args:
            folder: the library folder.

        Returns:
            The library.

        Raises:
            BackendError: ``metadata.json`` or the header is missing or malformed.
        """
        folder = Path(folder)
        try:
            meta = json.loads((folder / METADATA).read_text(encoding="utf-8"))
            prefix = meta["prefix"]
            [TensorSpec.from_dict(d) for d in (*meta["io"]["inputs"], *meta["io"]["outputs"])]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"{folder} is not a model library ({METADATA} unreadable: {exc}); "
                               "delete the compiled folder so it is rebuilt") from None
        header = folder / f"{prefix}.h"
        if not header.is_file():
            raise BackendError(f"model library {folder} has no header {header.name}; rebuild it")
        return cls(folder, prefix, header, tuple(sorted(folder.glob("*.c"))), meta)


@dataclass(frozen=True)
class LoweringRequest:
    """What a lowering gets: one tflite file and the card's tensor facts."""

    artifact_path: Path  # the .tflite file
    prefix: str  # C prefix (already a C identifier)
    input_name: str  # card.input.name (the tensor name in the artifact)
    input_shape: tuple[int, ...]  # card.input.shape, batch 1
    output_shape: tuple[int, ...]  # card.output.shape, batch 1
    out_dir: Path  # the library folder to write (exists, empty)
    #: every input and output tensor the card states, in order: the lowering checks the model agrees
    card_tensors: tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]] = ((), ())
    mve: bool = False  # the target has Helium (MVE): a lowering may lay weights out for its kernels

    @property
    def input_bytes(self) -> int:
        """Bytes of one uint8 input tensor."""
        return _prod(self.input_shape)

    @property
    def output_count(self) -> int:
        """Values of one output tensor."""
        return _prod(self.output_shape)


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


#: A lowering writes a library folder for a request: registered by name in ``LOWERINGS`` (backend module).
LoweringFn = Callable[[LoweringRequest], ModelLibrary]


def c_identifier(name: str) -> str:
    """Make a card name a C identifier: ``stmnist-v1.2`` -> ``stmnist_v1_2``.

    Args:
        name: any card name.

    Returns:
        A lower-case identifier that starts with a letter or underscore.
    """
    ident = re.sub(r"[^0-9a-zA-Z_]", "_", name).lower()
    return ident if ident and not ident[0].isdigit() else f"m_{ident}"


def _tensor_defines(up: str, kind: str, specs: list[TensorSpec]) -> list[str]:
    offsets, total = packed_offsets(specs)
    lines = [f"#define {up}_NUM_{kind}S {len(specs)}u"]
    for k, (t, off) in enumerate(zip(specs, offsets, strict=True)):
        quant = f", scale {t.scale!r}, zero point {t.zero_point}" if t.scale else ""
        lines.append(f"/* {kind.lower()} {k}: {t.name!r}, {CTYPES[t.dtype]}[{']['.join(map(str, t.shape))}]{quant} */")
        lines.append(f"#define {up}_{kind}{k}_COUNT {t.count}u")
        lines.append(f"#define {up}_{kind}{k}_BYTES {t.nbytes}u")
        lines.append(f"#define {up}_{kind}{k}_OFFSET {off}u")
    lines.append(f"#define {up}_{kind}_BYTES {total}u  /* all {kind.lower()}s packed (<prefix>_run_buffers) */")
    return lines


def render_header(prefix: str, *, inputs: list[TensorSpec], outputs: list[TensorSpec], arena_bytes: int,
                  logits: TensorSpec | None, description: str) -> str:
    """The public header text every lowering writes as ``<prefix>.h``.

    Args:
        prefix: the C prefix.
        inputs: the model's input tensors, in order.
        outputs: the model's output tensors, in order.
        arena_bytes: static RAM the library reserves (arena + workspace).
        logits: the int8 logits tensor when ``<prefix>_run_logits`` exists, else None.
        description: one paragraph for the header comment (lowering, source model).

    Returns:
        The C header text.
    """
    up = prefix.upper()
    params = [f"const {CTYPES[t.dtype]} *in{k}" for k, t in enumerate(inputs)] + \
             [f"{CTYPES[t.dtype]} *out{k}" for k, t in enumerate(outputs)]
    logits_decl = (f"/* The int8 pre-softmax logits ({up}_LOGITS_COUNT values) from packed inputs. 0 on success. */\n"
                   f"int32_t {prefix}_run_logits(const uint8_t *inputs, int8_t *logits);\n"
                   "/* _run_buffers and _run_logits in one inference. 0 on success. */\n"
                   f"int32_t {prefix}_run_buffers_logits(const uint8_t *inputs, uint8_t *outputs, int8_t *logits);\n"
                   ) if logits else ""
    defines = "\n".join([*_tensor_defines(up, "INPUT", inputs), *_tensor_defines(up, "OUTPUT", outputs)])
    return f"""/* {prefix}.h - generated by zoo (backend tvm-cortexm7). Do not edit.
 *
 * {description}
 *
 * Build: compile every .c of this folder (e.g. -mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard
 * -mthumb -O2), link with -lm. No heap, no runtime, no stdio. Not re-entrant: one static arena.
 * Tensors are in the model's own element types; nothing is converted.
 */
#ifndef {up}_H
#define {up}_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {{
#endif

{defines}
#define {up}_LOGITS_COUNT {logits.count if logits else 0}u
#define {up}_ARENA_BYTES {arena_bytes}u  /* static RAM: activations + kernel workspace (.bss) */
#define {up}_HAS_LOGITS {1 if logits else 0}

/* One inference. Returns 0 on success. */
int32_t {prefix}_run({", ".join(params)});
/* The same on packed buffers ({up}_INPUT_BYTES in, {up}_OUTPUT_BYTES out). Returns 0 on success. */
int32_t {prefix}_run_buffers(const uint8_t *inputs, uint8_t *outputs);
{logits_decl}
#ifdef __cplusplus
}}
#endif
#endif /* {up}_H */
"""


def tool_versions() -> dict[str, str]:
    """Versions of the tools that shape a library: TVM, tflite, arm-none-eabi-gcc.

    Returns:
        A name -> version mapping (``"unavailable"`` where a tool is missing).
    """
    import tvm  # noqa: PLC0415 - heavy, only when compiling

    from .firmware import gcc_version

    try:
        gcc = gcc_version()
    except ToolchainError:
        gcc = "unavailable"
    return {"tvm": tvm.__version__, "arm-none-eabi-gcc": gcc}


def write_metadata(folder: Path, *, prefix: str, lowering: str, artifact_path: Path, ops: list[str],
                   buffers: dict[str, int], inputs: list[TensorSpec], outputs: list[TensorSpec],
                   logits: TensorSpec | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``metadata.json`` into a library folder.

    Args:
        folder: the library folder.
        prefix: the C prefix.
        lowering: the lowering's registry name ("float", "int8").
        artifact_path: the source model file (its sha256 is recorded).
        ops: the operators of the source model, in order.
        buffers: byte sizes: at least ``arena_bytes`` and ``weights_bytes``.
        inputs: the input tensors.
        outputs: the output tensors.
        logits: the logits tensor when ``<prefix>_run_logits`` exists.
        extra: further lowering-specific facts.

    Returns:
        The metadata written.

    Raises:
        BackendError: a required buffer size is missing.
    """
    required = {"arena_bytes", "weights_bytes"}
    if missing := required - set(buffers):
        raise BackendError(f"library metadata lacks buffer sizes {sorted(missing)}; the lowering must provide them")
    io = {"inputs": [t.as_dict() for t in inputs], "outputs": [t.as_dict() for t in outputs],
          "logits": logits.as_dict() if logits else None}
    buffers = {**buffers, "input_bytes": packed_offsets(inputs)[1], "output_bytes": packed_offsets(outputs)[1]}
    meta = {"prefix": prefix, "lowering": lowering, "has_logits": logits is not None,
            "artifact": {"file": Path(artifact_path).name,
                         "sha256": sha256_of(Path(artifact_path))},
            "ops": list(ops), "buffers": dict(buffers), "io": io, "tools": tool_versions(), **(extra or {})}
    (Path(folder) / METADATA).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta
