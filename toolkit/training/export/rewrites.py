"""Exact rewrites of the ONNX graph tf2onnx makes of a Keras ``Conv1D`` model.

Export half (imports ``onnx`` only). tf2onnx lowers a channels-last ``Conv1D``
to a channels-first ONNX ``Conv`` between layout changes, and onnxruntime
leaves two of them costly in our models (measured with its profiler on the
default ``cnn``: the ``Transpose`` back to channels-last ~19% of the model's
time, the bias ``Add`` and ``Relu`` after the ``Squeeze`` ~9%, because they
cannot fuse into the ``Conv`` across it):

``conv_bias_relu``
    ``Conv -> Squeeze(2) -> Add(bias) -> Relu`` becomes
    ``Conv(bias) -> Relu -> Squeeze(2)``: the bias moves into the ``Conv`` and
    the ``Relu`` next to it, where onnxruntime fuses both into the kernel.
``transpose_into_reduce``
    ``Transpose([0, 2, 1]) -> Mul(mask) -> Reduce(axes=[1], keepdims=0)``
    becomes ``Mul(Transpose(mask)) -> Reduce(axes=[2], keepdims=0)``: the
    masked pooling runs in the ``Conv``'s layout and only the small mask is
    transposed.

Both are exact (the same arithmetic, reordered only where it commutes), and
export still compares the rewritten model with Keras (max difference 1e-4,
identical labels) before writing anything. A pattern that does not match
exactly is left as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def rewrite(proto: Any) -> dict[str, int]:
    """Apply the rewrites to ``proto`` in place; returns ``{name: matches}`` of those that applied.

    The caller checks the result (export runs ``onnx.checker`` in full right after).
    """
    graph = proto.graph
    applied = {"conv_bias_relu": _conv_bias_relu(graph)}
    applied["transpose_into_reduce"] = _transpose_into_reduce(graph, _ranks(proto))
    applied = {name: count for name, count in applied.items() if count}
    if applied:
        _drop_unused_initializers(graph)
        del graph.value_info[:]  # stale shapes of renamed values; the checker infers them again
    return applied


# ---------------------------------------------------------------------------
# graph helpers
# ---------------------------------------------------------------------------
def _consumers(graph: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    for value in graph.output:
        out.setdefault(value.name, []).append(None)  # a graph output counts as a consumer
    return out


def _only_consumer(consumers: dict[str, list[Any]], value: str, op_type: str) -> Any | None:
    users = consumers.get(value, [])
    if len(users) == 1 and users[0] is not None and users[0].op_type == op_type:
        return users[0]
    return None


def _initializer(graph: Any, name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    return None


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _axes(graph: Any, node: Any) -> list[int] | None:
    """A Squeeze/Reduce node's axes, from its attribute or its constant second input."""
    axes = _attr(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = _initializer(graph, node.input[1])
        axes = None if value is None else value.tolist()
    return None if axes is None else [int(a) for a in np.atleast_1d(axes)]


def _set_axes(graph: Any, node: Any, axes: list[int]) -> None:
    from onnx import helper, numpy_helper

    for attr in node.attribute:
        if attr.name == "axes":
            node.attribute.remove(attr)
            node.attribute.append(helper.make_attribute("axes", axes))
            return
    name = _fresh(graph, f"{node.name}_axes")
    graph.initializer.append(numpy_helper.from_array(np.asarray(axes, dtype=np.int64), name))
    node.input[1] = name


def _fresh(graph: Any, base: str) -> str:
    taken = {name for node in graph.node for name in (*node.input, *node.output)}
    taken.update(init.name for init in graph.initializer)
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


def _ranks(proto: Any) -> dict[str, int]:
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # no shapes, no rank-dependent rewrite
        return {}
    ranks = {}
    for value in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output):
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            ranks[value.name] = len(tensor.shape.dim)
    return ranks


def _drop_unused_initializers(graph: Any) -> None:
    used = {name for node in graph.node for name in node.input}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


# ---------------------------------------------------------------------------
# the rewrites
# ---------------------------------------------------------------------------
def _repeat(rewrite_one: Any, graph: Any, *args: Any) -> int:
    """Apply ``rewrite_one`` (which rewrites the first match, returns False if none) until nothing matches.

    One match at a time, on fresh views of ``graph.node``: rebuilding the node
    list copies the node messages, so references taken before are stale.
    """
    count = 0
    while rewrite_one(graph, *args):
        count += 1
    return count


def _conv_bias_relu(graph: Any) -> int:
    return _repeat(_conv_bias_relu_once, graph)


def _conv_bias_relu_once(graph: Any) -> bool:
    from onnx import helper, numpy_helper

    for conv in list(graph.node):
        if conv.op_type != "Conv" or len(conv.input) != 2:
            continue
        weights = _initializer(graph, conv.input[1])
        if weights is None or weights.ndim != 4:
            continue
        filters = weights.shape[0]
        consumers = _consumers(graph)
        squeeze = _only_consumer(consumers, conv.output[0], "Squeeze")
        if squeeze is None or _axes(graph, squeeze) != [2]:
            continue
        add = _only_consumer(consumers, squeeze.output[0], "Add")
        if add is None:
            continue
        other = add.input[1] if add.input[0] == squeeze.output[0] else add.input[0]
        bias = _initializer(graph, other)
        if bias is None or bias.size != filters or bias.shape[-1:] != (1,) or bias.ndim not in (2, 3):
            continue  # a bias per channel, broadcast over time: [F, 1] or [1, F, 1]
        relu = _only_consumer(consumers, add.output[0], "Relu")
        if relu is None:
            continue
        bias_name = _fresh(graph, f"{conv.name}_bias")
        graph.initializer.append(numpy_helper.from_array(bias.reshape(filters).astype(weights.dtype), bias_name))
        conv.input.append(bias_name)
        activated = _fresh(graph, f"{conv.name}_relu")
        new_relu = helper.make_node("Relu", [conv.output[0]], [activated], name=f"{relu.name}_fused")
        squeeze.input[0] = activated
        squeeze.output[0] = relu.output[0]
        nodes = list(graph.node)
        nodes.insert(next(i for i, n in enumerate(nodes) if n is conv) + 1, new_relu)
        nodes = [n for n in nodes if n is not add and n is not relu]
        del graph.node[:]
        graph.node.extend(nodes)
        return True
    return False


_REDUCE = ("ReduceMax", "ReduceSum", "ReduceMin", "ReduceMean")


def _transpose_into_reduce(graph: Any, ranks: dict[str, int]) -> int:
    return _repeat(_transpose_into_reduce_once, graph, ranks)


def _transpose_into_reduce_once(graph: Any, ranks: dict[str, int]) -> bool:
    from onnx import helper

    for transpose in list(graph.node):
        if transpose.op_type != "Transpose" or list(_attr(transpose, "perm", [])) != [0, 2, 1]:
            continue
        consumers = _consumers(graph)
        mul = _only_consumer(consumers, transpose.output[0], "Mul")
        if mul is None or mul.input[0] == mul.input[1]:
            continue
        mask = mul.input[1] if mul.input[0] == transpose.output[0] else mul.input[0]
        if ranks.get(mask) != 3:
            continue
        users = consumers.get(mul.output[0], [])
        if len(users) != 1 or users[0] is None or users[0].op_type not in _REDUCE:
            continue
        reduce = users[0]
        if _axes(graph, reduce) != [1] or _attr(reduce, "keepdims", 1) != 0:
            continue
        # [b, F, L] -> mask^T [b, 1, L] (or [b, F, L]) -> reduce over L: the same [b, F] as before.
        mask_t = _fresh(graph, f"{mask}_transposed")
        new_t = helper.make_node("Transpose", [mask], [mask_t], perm=[0, 2, 1], name=f"{transpose.name}_mask")
        mul.input[0], mul.input[1] = transpose.input[0], mask_t
        _set_axes(graph, reduce, [2])
        nodes = [n for n in graph.node if n is not transpose]
        nodes.insert(next(i for i, n in enumerate(nodes) if n is mul), new_t)
        del graph.node[:]
        graph.node.extend(nodes)
        return True
    return False
