"""A trained model as an ONNX graph that takes inputs as the user has them.

The graph is the model's preprocessing, then the course's forward pass with examples as
rows (ONNX's convention): A[l] = g(A[l-1] W[l].T + b[l].T), i.e. ``Gemm(A, W, b, transB=1)``.

Inputs, by the model's preprocessing kind:

- ``image``: ``pictures``, uint8 (N, h, w, c) (or (N, h, w) for grey), cast, divided by 255
  and flattened row by row, as training did;
- ``none``: ``features``, (N, n_x), as they are;
- ``table``: ``features``, (N, k), the k numeric feature columns in their own units, in the
  model's order, standardized with the stored mean and std (a NaN filled with the stored
  training mean where the model fills missing cells); and one string input (N, 1) per word
  column, named after it, one-hot encoded by ONNX-ML's OneHotEncoder over the stored
  categories (a missing token, "", "NA", "nan", "null" in any case, is the "missing"
  category where the model has it).

Outputs: ``probabilities`` (N, 1) for sigmoid (the probability of the second class) or
(N, K) for softmax, and ``label`` (N,) int64; or ``prediction`` (N, n[L]) for a linear
output, in the target's units for a table model.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np

from dlcli import __version__
from dlcli.data import encode
from dlcli.data.csvread import MISSING
from dlcli.errors import DlcliError
from dlcli.model import network
from dlcli.model.activations import LEAKY_SLOPE

#: Opsets this exporter writes: 13 gives Softmax over one axis; the newest onnx knows.
MIN_OPSET = 13
DEFAULT_OPSET = 17
#: The ONNX-ML domain's opset (OneHotEncoder).
ML_OPSET = 1
#: Every way of writing a missing token, as the reader matches them (any case).
MISSING_TOKENS = sorted(
    {"".join(c) for w in MISSING for c in itertools.product(*((x.lower(), x.upper()) for x in w))}
)
_UNARY = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}


class _Graph:
    """Nodes and initializers as they are added, with fresh names."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx, self.dtype, self.nodes, self.inits, self.count = onnx, dtype, [], [], 0
        self.elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.inits.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, domain: str = "", **attrs: Any) -> str:
        out = self.name(stem)
        self.nodes.append(
            self.onnx.helper.make_node(op, inputs, [out], domain=domain or None, **attrs)
        )
        return out


def _activation(g: _Graph, name: str, x: str) -> str:
    if name == "linear":
        return x
    if name == "leaky_relu":  # max(Z, 0.01 Z): LeakyRelu's alpha attribute is a float32
        slope = g.const("slope", np.array(LEAKY_SLOPE, g.dtype))
        return g.node("Max", [x, g.node("Mul", [x, slope], "sloped")], "leaky_relu")
    return g.node(_UNARY[name], [x], name)


def _picture_input(g: _Graph, prep: dict[str, Any]) -> tuple[list[Any], str]:
    shape = ["N", *prep["example_shape"]]
    value = g.onnx.helper.make_tensor_value_info("pictures", g.onnx.TensorProto.UINT8, shape)
    x = g.node("Cast", ["pictures"], "cast", to=g.elem)
    x = g.node("Div", [x, g.const("divide_by", np.array(prep["divide_by"], g.dtype))], "scaled")
    flat = g.const("flat_shape", np.array([0, -1], np.int64))  # (N, h*w*c), row by row
    return [value], g.node("Reshape", [x, flat], "flat")


def _table_input(g: _Graph, prep: dict[str, Any]) -> tuple[list[Any], str]:
    """The feature columns as inputs, standardized / one-hot encoded, concatenated in the
    model's column order into (N, n_x)."""
    helper, columns = g.onnx.helper, encode.columns_of(prep)
    numeric = [e for e in columns if e["type"] == "numeric"]
    inputs, parts = [], {}
    if numeric:
        inputs.append(helper.make_tensor_value_info("features", g.elem, ["N", len(numeric)]))
        x = "features"
        fill = [e.get("fill", np.nan) for e in numeric]
        if not np.isnan(fill).all():  # data.missing: mean fills a NaN with the training mean
            nan = g.node("IsNaN", [x], "is_nan")
            x = g.node("Where", [nan, g.const("fill", np.array([fill], g.dtype)), x], "filled")
        mean = g.const("mean", np.array([[e["mean"] for e in numeric]], g.dtype))
        std = g.const("std", np.array([[e["std"] for e in numeric]], g.dtype))
        x = g.node("Div", [g.node("Sub", [x, mean], "centered"), std], "standardized")
        for j, e in enumerate(numeric):
            index = g.const("column", np.array([j], np.int64))
            parts[e["name"]] = g.node("Gather", [x, index], "column", axis=1)  # (N, 1)
    for e in columns:
        if e["type"] == "categorical":
            inputs.append(
                helper.make_tensor_value_info(e["name"], g.onnx.TensorProto.STRING, ["N", 1])
            )
            parts[e["name"]] = _one_hot(g, e, prep.get("unknown_category", "error"))
    blocks = [parts[e["name"]] for e in columns]
    return inputs, blocks[0] if len(blocks) == 1 else g.node("Concat", blocks, "X", axis=1)


def _one_hot(g: _Graph, entry: dict[str, Any], unknown: str) -> str:
    """A word column (N, 1) as k one-hot inputs (N, k): OneHotEncoder over the categories,
    plus every missing token when "missing" is one of them, folded into its column by a
    0/1 matrix (exact)."""
    cats = list(entry["categories"])
    extra = MISSING_TOKENS if encode.MISSING_CATEGORY in cats else []
    keys = cats + [t for t in extra if t not in cats]
    hot = g.node(
        "OneHotEncoder",
        [entry["name"]],
        "one_hot",
        domain="ai.onnx.ml",
        cats_strings=keys,
        zeros=1 if unknown == "zeros" else 0,
    )  # (N, 1, len(keys)), float
    hot = g.node("Reshape", [hot, g.const("hot_shape", np.array([0, -1], np.int64))], "hot")
    hot = g.node("Cast", [hot], "hot", to=g.elem)
    if len(keys) == len(cats):
        return hot
    fold = np.zeros((len(keys), len(cats)), g.dtype)
    fold[np.arange(len(cats)), np.arange(len(cats))] = 1.0
    fold[len(cats) :, cats.index(encode.MISSING_CATEGORY)] = 1.0
    return g.node("MatMul", [hot, g.const("fold", fold)], "folded")


def _outputs(g: _Graph, model: Any, Z: str) -> list[Any]:
    """The output nodes after ZL (N, n[L])."""
    helper, n_y = g.onnx.helper, model.n_y
    if model.output == "linear":
        out = Z
        prep = model.preprocessing
        if prep["kind"] == "table":  # back in the target's units
            std = g.const("target_std", np.array(prep["target_std"], g.dtype))
            mean = g.const("target_mean", np.array(prep["target_mean"], g.dtype))
            out = g.node("Add", [g.node("Mul", [Z, std], "unscaled"), mean], "prediction")
        g.nodes.append(helper.make_node("Identity", [out], ["prediction"]))
        return [helper.make_tensor_value_info("prediction", g.elem, ["N", n_y])]
    if model.output == "softmax":
        g.nodes.append(helper.make_node("Softmax", [Z], ["probabilities"], axis=1))
        g.nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0))
    else:
        g.nodes.append(helper.make_node("Sigmoid", [Z], ["probabilities"]))
        half = g.const("threshold", np.array(0.5, g.dtype))
        above = g.node("Greater", ["probabilities", half], "above")  # AL > 0.5, as predict
        flat = g.node("Reshape", [above, g.const("label_shape", np.array([-1], np.int64))], "flat")
        g.nodes.append(helper.make_node("Cast", [flat], ["label"], to=g.onnx.TensorProto.INT64))
    return [
        helper.make_tensor_value_info("probabilities", g.elem, ["N", n_y]),
        helper.make_tensor_value_info("label", g.onnx.TensorProto.INT64, ["N"]),
    ]


def build(model: Any, dtype: str = "float64", opset: int = DEFAULT_OPSET) -> Any:
    """The ONNX ModelProto of a loaded model (:class:`dlcli.predict.Model`), checked by
    ``onnx.checker``; weights and arithmetic in ``dtype``."""
    import onnx

    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise DlcliError(
            f"--opset: {opset} is not one this exporter writes; allowed: {MIN_OPSET} to "
            f"{onnx.defs.onnx_opset_version()} (the newest the installed onnx knows)"
        )
    g = _Graph(onnx, np.dtype(dtype))
    prep = model.preprocessing
    if prep["kind"] == "image":
        inputs, A = _picture_input(g, prep)
    elif prep["kind"] == "table":
        inputs, A = _table_input(g, prep)
    else:
        inputs = [onnx.helper.make_tensor_value_info("features", g.elem, ["N", model.n_x])]
        A = "features"
    L = network.n_layers(model.params)
    for l in range(1, L + 1):
        W = g.const(f"W{l}", model.params[f"W{l}"].astype(g.dtype))  # (n[l], n[l-1])
        b = g.const(f"b{l}", model.params[f"b{l}"][:, 0].astype(g.dtype))  # (n[l],)
        Z = g.node("Gemm", [A, W, b], f"Z{l}", transB=1)  # (N, n[l])
        A = _activation(g, model.hidden, Z) if l < L else Z
    outputs = _outputs(g, model, A)
    graph = onnx.helper.make_graph(g.nodes, "dlcli", inputs, outputs, g.inits)
    opsets = [onnx.helper.make_opsetid("", opset)]
    if any(n.domain == "ai.onnx.ml" for n in g.nodes):
        opsets.append(onnx.helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="dlcli")
    proto.producer_version = __version__
    # The oldest IR version the opsets allow, so that older runtimes read the file.
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    meta = {
        "classes": json.dumps(list(model.classes)),
        "output_activation": model.output,
        "hidden_activation": model.hidden,
        "preprocessing": json.dumps(prep),
        "config": json.dumps(model.config),
        "dlcli_version": __version__,
    }
    onnx.helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto
