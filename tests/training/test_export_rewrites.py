"""toolkit.training.export.rewrites: exact layout rewrites of tf2onnx's Conv1D graphs."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import model_factory as mf
from toolkit.training.export.rewrites import rewrite


def _run(proto, feeds):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _conv_pool_graph(keepdims: int = 0, extra_consumer: bool = False, activation: str = "Relu"):
    """The shape of tf2onnx's output for Conv1D(relu) + masked max pooling, on input x [b, L, C]."""
    rng = np.random.default_rng(0)
    channels, filters, width = 4, 5, 3
    inits = [
        numpy_helper.from_array(rng.normal(size=(filters, channels, 1, width)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(size=(1, filters, 1)).astype(np.float32), "bias"),
        numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.asarray([2], dtype=np.int64), "axis2"),
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["x", "axis1"], ["x4"]),
        helper.make_node("Transpose", ["x4"], ["x_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x_nchw", "W"], ["conv"], kernel_shape=[1, width], name="conv"),
        helper.make_node("Squeeze", ["conv", "axis2"], ["sq"]),
        helper.make_node("Add", ["sq", "bias"], ["biased"]),
        helper.make_node(activation, ["biased"], ["act"], name="act"),
        helper.make_node("Transpose", ["act"], ["nwc"], perm=[0, 2, 1], name="back"),
        helper.make_node("Mul", ["nwc", "mask"], ["masked"]),
        helper.make_node("ReduceMax", ["masked"], ["y"], axes=[1], keepdims=keepdims),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 1, filters] if keepdims else ["b", filters])]
    if extra_consumer:
        nodes.append(helper.make_node("Identity", ["nwc"], ["also"]))
        outputs.append(helper.make_tensor_value_info("also", TensorProto.FLOAT, ["b", "M", filters]))
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "L", channels]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["b", "M", 1])],
        outputs, inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _feeds(length: int = 9):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, length, 4)).astype(np.float32)
    mask = (rng.random(size=(3, length - 2, 1)) < 0.7).astype(np.float32)
    return {"x": x, "mask": mask}


def test_both_rewrites_apply_and_give_the_same_outputs():
    proto = _conv_pool_graph()
    before = _run(proto, _feeds())
    assert rewrite(proto) == {"conv_bias_relu": 1, "transpose_into_reduce": 1}
    ops = [n.op_type for n in proto.graph.node]
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    assert len(conv.input) == 3  # the bias moved into the Conv
    assert ops[ops.index("Conv") + 1] == "Relu" and "Add" not in ops
    assert "back" not in [n.name for n in proto.graph.node]  # the big Transpose is gone
    onnx.checker.check_model(proto, full_check=True)
    for length in (3, 9, 40):
        feeds = _feeds(length)
        np.testing.assert_allclose(_run(proto, feeds), _run(_conv_pool_graph(), feeds), rtol=0, atol=1e-6)
    np.testing.assert_allclose(_run(proto, _feeds()), before, rtol=0, atol=1e-6)


@pytest.mark.parametrize("variant, expected", [
    ({"keepdims": 1}, {"conv_bias_relu": 1}),  # a kept axis would come out in another order
    ({"extra_consumer": True}, {"conv_bias_relu": 1}),  # the transposed tensor is needed elsewhere
    ({"activation": "Tanh"}, {"transpose_into_reduce": 1}),  # only Relu is moved next to the Conv
])
def test_partial_matches_are_left_alone(variant, expected):
    proto = _conv_pool_graph(**variant)
    feeds = _feeds()
    before = _run(proto, feeds)
    assert rewrite(proto) == expected
    np.testing.assert_allclose(_run(proto, feeds), before, rtol=0, atol=1e-6)


def test_exported_cnn_bundle_records_the_rewrites():
    bundle = mf.exported_bundle("cnn")
    meta = json.loads((bundle / "bundle.json").read_text())
    # REAL_OPTIONS: two Conv1D branches (kernel widths 1 and 3), each rewritten
    assert meta["onnx"]["rewrites"] == {"conv_bias_relu": 2, "transpose_into_reduce": 2}
    assert meta["parity"]["passed"] and meta["parity"]["max_abs_diff"] <= 1e-4
    model = onnx.load(str(bundle / "model.onnx"))
    produced_by = {out: n for n in model.graph.node for out in n.output}
    for node in model.graph.node:  # no Transpose reads a Relu's output any more
        if node.op_type == "Transpose":
            assert produced_by.get(node.input[0]) is None or produced_by[node.input[0]].op_type != "Relu"
    assert "graph rewrites: conv_bias_relu x2, transpose_into_reduce x2" in (bundle / "README.md").read_text()
