"""Keras model -> ONNX ``ModelProto``: tf2onnx with a fixed input signature, named inputs and outputs,
the exact layout rewrites of :mod:`toolkit.training.export.rewrites`, and ``onnx.checker``."""

from __future__ import annotations

from typing import Any

from toolkit.core.errors import ExportError
from toolkit.core.bundle import INPUT_NAME, OUTPUT_NAME
from toolkit.training.keras_io import import_tf, quiet_logs

MIN_OPSET = 17


def convert_to_onnx(model: Any, length_policy: str, max_len: int, opset: int = MIN_OPSET):
    """The Keras ``model`` as an ONNX ``ModelProto``: input ``token_ids``, output ``probabilities``."""
    tf, _ = import_tf()
    try:
        import tf2onnx
    except ImportError as exc:
        raise ExportError(f"export needs tf2onnx and onnx: pip install \"toolkit[train]\" ({exc})") from exc
    length = None if length_policy == "dynamic" else max_len
    signature = [tf.TensorSpec([None, length], tf.int32, name=INPUT_NAME)]
    with quiet_logs():
        try:
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
        except Exception as exc:
            raise ExportError(f"tf2onnx could not convert the model (opset {opset}): {type(exc).__name__}: {exc}") from exc
    _name_io(proto, length_policy)
    return proto

def _rename_value(graph: Any, old: str, new: str) -> None:
    """Rename value ``old`` to ``new`` everywhere in ``graph``, subgraphs (Loop/If/Scan bodies) included."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
        for attr in node.attribute:
            if attr.HasField("g"):
                _rename_value(attr.g, old, new)
            for sub in attr.graphs:
                _rename_value(sub, old, new)
    for coll in (graph.input, graph.output, graph.value_info):
        for value in coll:
            if value.name == old:
                value.name = new

def _name_io(proto: Any, length_policy: str) -> None:
    """Make the graph's input ``token_ids`` [batch, length] and output ``probabilities`` [batch, n]."""
    graph = proto.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ExportError(
            f"the converted model has inputs ({', '.join(v.name for v in inputs)}) and outputs "
            f"({', '.join(v.name for v in graph.output)}); a toolkit model has one input and one output"
        )
    if inputs[0].name != INPUT_NAME:
        _rename_value(graph, inputs[0].name, INPUT_NAME)
    if graph.output[0].name != OUTPUT_NAME:
        _rename_value(graph, graph.output[0].name, OUTPUT_NAME)
    dims = inputs[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    if length_policy == "dynamic":
        dims[1].dim_param = "length"
    out_dims = graph.output[0].type.tensor_type.shape.dim
    if len(out_dims):
        out_dims[0].dim_param = "batch"

def rewrite_graph(proto: Any) -> dict[str, int]:
    """Apply :mod:`toolkit.training.export.rewrites` (exact layout rewrites); ``{name: matches}`` of those applied."""
    from toolkit.training.export.rewrites import rewrite

    try:
        return rewrite(proto)
    except Exception as exc:
        raise ExportError(f"rewriting the converted ONNX graph failed: {type(exc).__name__}: {exc}") from exc

def check_onnx(proto: Any) -> None:
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected the converted model: {type(exc).__name__}: {exc}") from exc
