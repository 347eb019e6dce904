"""Static activation-arena planning by liveness, for any DAG of layers.

Every intermediate tensor and every kernel scratch buffer gets a fixed offset in one arena.
Buffers whose lifetimes overlap never overlap in memory. A RESHAPE-like layer's output is its
input (an alias); an elementwise layer that reads each element before writing it runs in place
when its input dies with it, and so does a depthwise layer on ``zoo_dwconv_s8_rows`` in one pass
(it reads each input row once, into its row buffer, before it writes the output rows over it).
Model inputs and outputs are the caller's buffers; the logits stay alive to the end so they can
be read after the SOFTMAX.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Graph

__all__ = ["ArenaPlan", "plan_arena", "ALIGN"]

ALIGN = 8


@dataclass(frozen=True)
class _Buffer:
    key: str  # tensor name, or "scratch:<layer index>"
    size: int
    first: int  # layer index that writes it
    last: int  # last layer index that reads it


@dataclass
class ArenaPlan:
    """Offsets (bytes) into the arena for tensors and per-layer scratch, and what aliases what."""

    offsets: dict[str, int] = field(default_factory=dict)
    root: dict[str, str] = field(default_factory=dict)  # tensor -> the tensor whose memory it uses
    size: int = 0

    def scratch(self, layer_index: int) -> int | None:
        """Offset of a layer's scratch buffer, if it has one."""
        return self.offsets.get(f"scratch:{layer_index}")


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _roots(graph: Graph) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """(tensor -> memory root, root -> first writer, root -> last reader)."""
    external = set(graph.inputs) | set(graph.outputs)
    end = len(graph.layers)
    last_use: dict[str, int] = {}
    for i, layer in enumerate(graph.layers):
        for name in layer.inputs:
            last_use[name] = i
    if graph.logits is not None:
        last_use[graph.logits] = end
    root: dict[str, str] = {name: name for name in graph.inputs}
    first: dict[str, int] = {}
    last: dict[str, int] = {}

    def touch(name: str, i: int) -> None:
        r = root[name]
        last[r] = max(last.get(r, i), last_use.get(name, i))

    for i, layer in enumerate(graph.layers):
        src = root.get(layer.inputs[0]) if layer.inputs else None
        out = layer.outputs[0]
        if layer.alias and out not in external:
            root[out] = src
        elif (layer.in_place and src is not None and src not in external and out not in external
              and last.get(src, -1) <= i and last_use.get(layer.inputs[0]) == i
              and (graph.tensors[layer.inputs[0]].nbytes == graph.tensors[out].nbytes
                   or layer.in_place_smaller and graph.tensors[out].nbytes < graph.tensors[layer.inputs[0]].nbytes)):
            root[out] = src
        else:
            for name in layer.outputs:
                root[name] = name
                first[name] = i
        for name in layer.inputs:
            touch(name, i)
        for name in layer.outputs:
            touch(name, i)
    return root, first, last


def plan_arena(graph: Graph) -> ArenaPlan:
    """Place every buffer at the lowest aligned offset free during its lifetime.

    Largest buffers are placed first (a greedy best-offset heuristic).
    """
    external = set(graph.inputs) | set(graph.outputs)
    root, first, last = _roots(graph)
    buffers = [_Buffer(name, graph.tensors[name].nbytes, start, last.get(name, start))
               for name, start in first.items() if name not in external]
    for i, layer in enumerate(graph.layers):
        if layer.scratch_bytes():
            buffers.append(_Buffer(f"scratch:{i}", layer.scratch_bytes(), i, i))
    placed: list[tuple[_Buffer, int]] = []
    plan = ArenaPlan(root=root)
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first)):
        busy = sorted((off, off + _align(b.size)) for b, off in placed
                      if not (b.last < buf.first or buf.last < b.first))
        offset = 0
        for lo, hi in busy:
            if offset + buf.size <= lo:
                break
            offset = max(offset, hi)
        placed.append((buf, offset))
        plan.offsets[buf.key] = offset
        plan.size = max(plan.size, _align(offset + buf.size))
    return plan
