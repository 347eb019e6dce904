"""Static activation-arena planning by liveness.

Every intermediate tensor and every kernel scratch buffer gets a fixed offset in one
arena. Buffers whose lifetimes overlap never overlap in memory; elementwise layers that
read each element before writing it run in place when their input dies with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ops

__all__ = ["ArenaPlan", "plan_arena"]

ALIGN = 8


@dataclass(frozen=True)
class _Buffer:
    key: str  # tensor name, or "scratch:<layer index>"
    size: int
    first: int  # layer index that writes it
    last: int  # last layer index that reads it


@dataclass
class ArenaPlan:
    """Offsets (bytes) into the arena for tensors and per-layer scratch."""

    offsets: dict[str, int] = field(default_factory=dict)
    size: int = 0

    def scratch(self, layer_index: int) -> int | None:
        """Offset of a layer's scratch buffer, if it has one."""
        return self.offsets.get(f"scratch:{layer_index}")


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _lifetimes(graph: ops.Graph) -> tuple[list[_Buffer], dict[str, str]]:
    """Buffers to place, and tensors that alias another buffer (in place)."""
    external = {graph.input, graph.output}
    last_use: dict[str, int] = {}
    for i, layer in enumerate(graph.layers):
        for name in layer.inputs:
            last_use[name] = i
    first: dict[str, int] = {}
    alias: dict[str, str] = {}
    for i, layer in enumerate(graph.layers):
        src = layer.inputs[0]
        if (layer.in_place_ok and src not in external and layer.output not in external
                and last_use.get(src) == i
                and graph.tensors[src].nbytes == graph.tensors[layer.output].nbytes):
            alias[layer.output] = alias.get(src, src)
        elif layer.output not in external:
            first[layer.output] = i
    buffers = []
    for name, start in first.items():
        end = max([last_use.get(name, start)] + [last_use.get(t, start) for t, a in alias.items()
                                                  if a == name])
        buffers.append(_Buffer(name, graph.tensors[name].nbytes, start, end))
    for i, layer in enumerate(graph.layers):
        if layer.scratch_bytes():
            buffers.append(_Buffer(f"scratch:{i}", layer.scratch_bytes(), i, i))
    return buffers, alias


def plan_arena(graph: ops.Graph) -> ArenaPlan:
    """Place every buffer at the lowest aligned offset free during its lifetime.

    Largest buffers are placed first (a greedy best-offset heuristic).
    """
    buffers, alias = _lifetimes(graph)
    placed: list[tuple[_Buffer, int]] = []
    plan = ArenaPlan()
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
    for name, target in alias.items():
        plan.offsets[name] = plan.offsets[target]
    return plan
