"""Static activation-arena planning by liveness, for any DAG of layers.

Every intermediate tensor and every kernel scratch buffer gets a fixed offset in one arena.
Buffers whose lifetimes overlap never overlap in memory, with two exceptions at the layer where one
dies and the other is born. A RESHAPE-like layer's output is its input (an alias); an elementwise
layer that reads each element before writing it runs in place when its input dies with it, and so
does a depthwise layer on ``zoo_dwconv_s8_rows`` in one pass (it reads each input row once, into its
row buffer, before it writes the output rows over it). And a regular convolution whose input dies
with it may write its output over that input from D bytes before it
(:meth:`~.operators.base.Layer.output_before_input`): the input is placed inside the output's
group at D, each keeping its own lifetime. Model inputs and outputs are the caller's buffers; the
logits stay alive to the end so they can be read after the SOFTMAX.
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
    rel: int = 0  # offset from its group's base (a group is placed as one: see `_groups`)


@dataclass
class ArenaPlan:
    """Offsets (bytes) into the arena for tensors and per-layer scratch, and what aliases what."""

    offsets: dict[str, int] = field(default_factory=dict)
    root: dict[str, str] = field(default_factory=dict)  # tensor -> the tensor whose memory it uses
    size: int = 0

    def scratch(self, layer_index: int) -> int | None:
        """Offset of a layer's scratch buffer, if it has one."""
        return self.offsets.get(f"scratch:{layer_index}")

    def address(self, name: str) -> int:
        """Offset of a tensor (through the tensor whose memory it uses)."""
        return self.offsets[self.root.get(name, name)]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _roots(graph: Graph, overlap: dict[int, int]) -> tuple[dict[str, str], dict[str, int], dict[str, int],
                                                           dict[str, tuple[str, int]]]:
    """(tensor -> memory root, root -> first writer, root -> last reader, root -> (the root whose group
    it is placed in, its offset from that root)); `overlap`: layer index -> the D it writes its output
    over its input from (:meth:`~.operators.base.Layer.output_before_input`), for the layers that do."""
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
    within: dict[str, tuple[str, int]] = {}

    def touch(name: str, i: int) -> None:
        r = root[name]
        last[r] = max(last.get(r, i), last_use.get(name, i))

    for i, layer in enumerate(graph.layers):
        src = root.get(layer.inputs[0]) if layer.inputs else None
        out = layer.outputs[0]
        dies = (src is not None and src not in external and out not in external and last.get(src, -1) <= i
                and last_use.get(layer.inputs[0]) == i)
        size_in = graph.tensors[layer.inputs[0]].nbytes if layer.inputs else 0
        size_out = graph.tensors[out].nbytes
        if layer.alias and out not in external:
            root[out] = src
        elif dies and layer.in_place and size_in == size_out:
            root[out] = src
        else:
            for name in layer.outputs:
                root[name] = name
                first[name] = i
            if dies and src not in within:
                rel = (0 if layer.in_place and layer.in_place_smaller and size_out < size_in
                       else overlap.get(i))
                if rel is not None:  # rounded up to the arena's alignment: a larger D is as safe
                    within[src] = (out, _align(rel))
        for name in layer.inputs:
            touch(name, i)
        for name in layer.outputs:
            touch(name, i)
    return root, first, last, within


def _groups(buffers: list[_Buffer], within: dict[str, tuple[str, int]]) -> list[list[_Buffer]]:
    """The buffers in groups placed as one: a root with the roots placed inside it (`within`), each at
    its offset from the group's outermost root."""
    by_key = {b.key: b for b in buffers}
    groups: dict[str, list[_Buffer]] = {}
    for b in buffers:
        key, rel = b.key, 0
        while key in within and within[key][0] in by_key:
            key, step = within[key]
            rel += step
        groups.setdefault(key, []).append(_Buffer(b.key, b.size, b.first, b.last, rel))
    return list(groups.values())


def _clash(a: _Buffer, a_off: int, b: _Buffer, b_off: int) -> bool:
    """Whether two placed buffers are alive at once and share bytes."""
    return (not (a.last < b.first or b.last < a.first)
            and a_off < b_off + _align(b.size) and b_off < a_off + _align(a.size))


def plan_arena(graph: Graph, overlap: bool = True) -> ArenaPlan:
    """Place every buffer at the lowest aligned offset free during its lifetime (largest first, or
    earliest first: the smaller plan); with `overlap`, the convolutions that can write their output over
    their input do so where that makes the arena smaller. One group per chain of such layers is not
    always the best fit, so two greedy passes choose them: from none, each layer in turn where it
    lowers the arena; from all, each left out in turn where the arena does not grow. The smallest
    plan; the plain one on a tie.
    """
    offsets = {i: d for i, layer in enumerate(graph.layers) if (d := layer.output_before_input()) is not None}

    def best(over: frozenset[int]) -> ArenaPlan:
        chosen = {i: offsets[i] for i in over}
        return min((_plan(graph, chosen, order) for order in _ORDERS), key=lambda plan: plan.size)

    plain = best(frozenset())
    if not overlap or not offsets:
        return plain
    found = [plain]
    chosen, plan = frozenset(), plain
    for i in offsets:  # adding
        trial = best(chosen | {i})
        if trial.size < plan.size:
            chosen, plan = chosen | {i}, trial
    found.append(plan)
    chosen, plan = frozenset(offsets), best(frozenset(offsets))
    for i in offsets:  # leaving out
        trial = best(chosen - {i})
        if trial.size <= plan.size:
            chosen, plan = chosen - {i}, trial
    found.append(plan)
    return min(found, key=lambda plan: plan.size)  # the first of the smallest: plain on a tie


#: the orders groups are placed in: largest first (then earliest), earliest first (then largest)
_ORDERS = ((lambda g: (-max(b.size for b in g), min(b.first for b in g))),
           (lambda g: (min(b.first for b in g), -max(b.size for b in g))))


def _plan(graph: Graph, overlap: dict[int, int], order) -> ArenaPlan:  # noqa: ANN001 - one of _ORDERS
    external = set(graph.inputs) | set(graph.outputs)
    root, first, last, within = _roots(graph, overlap)
    buffers = [_Buffer(name, graph.tensors[name].nbytes, start, last.get(name, start))
               for name, start in first.items() if name not in external]
    buffers += [_Buffer(f"scratch:{i}", layer.scratch_bytes(), i, i)
                for i, layer in enumerate(graph.layers) if layer.scratch_bytes()]
    placed: list[tuple[_Buffer, int]] = []
    plan = ArenaPlan(root=root)
    for group in sorted(_groups(buffers, within), key=order):
        bases = sorted({0} | {off + _align(b.size) - part.rel for b, off in placed for part in group})
        base = next(x for x in bases if x >= 0 and not any(
            _clash(part, x + part.rel, b, off) for part in group for b, off in placed))
        for part in group:
            placed.append((part, base + part.rel))
            plan.offsets[part.key] = base + part.rel
            plan.size = max(plan.size, _align(base + part.rel + part.size))
    return plan
