"""The shape audit behind ``dlcli train --dry-run``: the course's "getting your matrix
dimensions right", worked out for a config and its data without training.

For every layer l = 1..L it lists the shapes of ``W{l}``, ``b{l}``, ``Z{l}``, ``A{l}``,
``dZ{l}``, ``dW{l}`` and ``db{l}``, then the parameter count, the floating-point operations
and the memory of one iteration, and whether the data fit the network's two ends. The
memory figure is the one :func:`dlcli.runs.initial_params` checks against free memory, and
the data check is the one it raises, so the audit and training cannot disagree (both take
them from :mod:`dlcli.model.sizes`).
Nothing here prints; the CLI renders an :class:`Audit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcli.data.encode import breakdown as table_inputs
from dlcli.data.load import load as load_data
from dlcli.model.sizes import (
    Flops,
    Memory,
    data_mismatch,
    flops,
    gram_flops,
    memory,
    parameter_count,
)
from dlcli.training.plan import iterations_of, options_from, resolve_engine
from dlcli.training.weights import effective_weights

if TYPE_CHECKING:
    from dlcli.config import Config

Shape = tuple[int, int]

FLOPS_COUNTED = (
    "FLOPs count the matrix products only, 2*n[l]*n[l-1]*m each (one multiply and one add "
    "per term): forward Z[l] = W[l] A[l-1] for l = 1..L; backward dW[l] = dZ[l] A[l-1].T for "
    "l = 1..L and dA[l-1] = W[l].T dZ[l] for l = 2..L (dA[0] is never computed). Bias adds, "
    "activations and their derivatives, db sums, the cost and the update grow as "
    "m*sum(n[l]) or as the parameter count and are left out."
)
GRAM_COUNTED = (
    "The gram engine (chosen by train.engine auto when cheaper) keeps W1 = W1_0 + C X.T: each "
    "iteration forms Z1 as C K (2*n[1]*m*m) instead of W1 X and skips dZ1 X.T, after "
    "K = X.T X (2*m*m*n[0]) and W1_0 X (2*n[1]*n[0]*m) once, and W1 itself (2*n[1]*n[0]*m) at "
    "the end."
)
MEMORY_COUNTED = (
    "Memory counts X (n[0], m), Y (n[L], m), the parameters, their gradients, and Z[l], A[l] "
    "and dZ[l] (n[l], m) for l = 1..L, in the configured dtype, and when the gram engine runs "
    "its K (m, m) and three (n[1], m) arrays (Z1_0, C, momentum's V); NumPy's short-lived "
    "temporaries come on top."
)
STREAM_COUNTED = (
    "data.stream: true reads X from disk one batch of train.batch_size examples at a time, so "
    "memory counts one batch, m = {batch}, not the file's {m} examples, for X, Y, Z[l], A[l] and "
    "dZ[l]: the figure training checks against free memory. Shapes and FLOPs are of all {m} "
    "examples: one epoch, not one batch."
)


@dataclass(frozen=True)
class LayerShapes:
    """The arrays of layer l in one iteration; columns are examples.

    l : layer index, 1..L
    activation : g[l], the hidden activation for l < L and the output one for l = L
    W, dW : (n[l], n[l-1])
    b, db : (n[l], 1)
    Z, A, dZ : (n[l], m)
    """

    l: int
    activation: str
    W: Shape
    b: Shape
    Z: Shape
    A: Shape
    dZ: Shape
    dW: Shape
    db: Shape


@dataclass(frozen=True)
class Audit:
    """Everything ``--dry-run`` reports.

    layers : model.layers as configured, [n[0], ..., n[L]]
    X : shape of the data's X, (n_x, m)
    Y : shape of the data's Y, (n_y, m)
    dtype : the configured float dtype
    rows : one :class:`LayerShapes` per layer l = 1..L, from ``layers`` and m
    parameters : number of weights and biases
    flops, memory : per iteration; ``flops`` of the course's algorithm (engine "direct")
    engine : the engine training would use, "direct" or "gram"
    gram_flops : per iteration with the gram engine, and ``gram_setup_flops`` once
    mismatch : None when the data fit ``layers``, else the one-line error naming the fix
    stream_batch : with ``data.stream: true``, train.batch_size: ``memory`` counts one batch
        of ``memory_m`` columns, not all m; None when X is loaded
    inputs : for a table, how its columns give the n_x inputs ("a 1, colour 3 (blue, green,
        red)"); "" for other data
    class_weight : the effective weight of each class (``train.class_weight``), or None
    weight_column : ``data.weight`` and the sum of its training weights, or None
    """

    layers: list[int]
    X: Shape
    Y: Shape
    dtype: str
    rows: list[LayerShapes]
    parameters: int
    flops: Flops
    memory: Memory
    mismatch: str | None
    engine: str = "direct"
    gram_flops: Flops | None = None
    gram_setup_flops: int = 0
    stream_batch: int | None = None
    inputs: str = ""
    class_weight: dict[str, float] | None = None
    weight_column: tuple[str, float] | None = None

    @property
    def m(self) -> int:
        return self.X[1]

    @property
    def memory_m(self) -> int:
        """The columns of X ``memory`` counts: all m, or one streamed batch."""
        return self.m if self.stream_batch is None else min(self.stream_batch, self.m)

    @property
    def memory_counted(self) -> str:
        """What ``memory`` counts, in words (``MEMORY_COUNTED``, and the batch when streamed)."""
        if self.stream_batch is None:
            return MEMORY_COUNTED
        return f"{MEMORY_COUNTED} {STREAM_COUNTED.format(batch=self.memory_m, m=self.m)}"

    @property
    def data_match(self) -> bool:
        return self.mismatch is None

    def to_dict(self) -> dict[str, Any]:
        """The audit as JSON-able values (shapes as lists); a table's ``inputs`` too."""
        table = {"inputs": self.inputs} if self.inputs else {}
        if self.class_weight is not None:
            table["class_weight"] = self.class_weight
        if self.weight_column is not None:
            table["weight_column"] = {"name": self.weight_column[0], "sum": self.weight_column[1]}
        return {
            **table,
            "layers": list(self.layers),
            "m": self.m,
            "X": list(self.X),
            "Y": list(self.Y),
            "dtype": self.dtype,
            "engine": self.engine,
            "data_match": self.data_match,
            "mismatch": self.mismatch,
            "shapes": [
                {
                    "layer": row.l,
                    "activation": row.activation,
                    **{
                        name: list(getattr(row, name))
                        for name in ("W", "b", "Z", "A", "dZ", "dW", "db")
                    },
                }
                for row in self.rows
            ],
            "parameters": self.parameters,
            "flops": {
                "forward": self.flops.forward,
                "backward": self.flops.backward,
                "total": self.flops.total,
                "counted": FLOPS_COUNTED,
            },
            "gram_flops": None
            if self.gram_flops is None
            else {
                "forward": self.gram_flops.forward,
                "backward": self.gram_flops.backward,
                "total": self.gram_flops.total,
                "setup": self.gram_setup_flops,
                "counted": GRAM_COUNTED,
            },
            "memory_m": self.memory_m,
            "memory_bytes": {
                "X": self.memory.X,
                "Y": self.memory.Y,
                "params": self.memory.params,
                "grads": self.memory.grads,
                "caches": self.memory.caches,
                "gram": self.memory.gram,
                "total": self.memory.total,
                "counted": self.memory_counted,
            },
        }


def audit(
    layers: Sequence[int],
    X_shape: Shape,
    Y_shape: Shape,
    hidden: str,
    output: str,
    dtype: str = "float64",
    engine: str = "direct",
    stream_batch: int | None = None,
    inputs: str = "",
    mismatch_inputs: str = "",
) -> Audit:
    """The audit of a network of ``layers`` trained on data of the given shapes.

    Parameters
    ----------
    layers : sequence of int, [n[0], ..., n[L]]
    X_shape : (n_x, m), the data's X
    Y_shape : (n_y, m), the data's Y
    hidden, output : activation names of layers 1..L-1 and of layer L
    dtype : "float64" or "float32"
    engine : "direct" or "gram", the engine training would use
    stream_batch : train.batch_size when X is streamed from disk (``data.stream: true``):
        memory then counts one batch, min(stream_batch, m) columns, as training's check
        does; None (X loaded) counts all m
    inputs : how a table's columns give the n_x inputs, shown as they are
    mismatch_inputs : the same for the layer-mismatch message (see
        :func:`dlcli.model.sizes.data_mismatch`); "" leaves it as for other data

    Returns
    -------
    Audit
        Shapes follow ``layers`` even when the data do not; ``mismatch`` then says so.
        Shapes and FLOPs are of all m examples, streamed or not.
    """
    layers = [int(n) for n in layers]
    m = int(X_shape[1])
    L = len(layers) - 1
    gram = gram_flops(layers, m) if engine == "gram" else (None, 0)
    # Streamed, one batch of X is in memory at a time (training checks the same figure).
    memory_m = m if stream_batch is None else min(int(stream_batch), m)
    rows = [
        LayerShapes(
            l=l,
            activation=hidden if l < L else output,
            W=(layers[l], layers[l - 1]),
            b=(layers[l], 1),
            Z=(layers[l], m),
            A=(layers[l], m),
            dZ=(layers[l], m),
            dW=(layers[l], layers[l - 1]),
            db=(layers[l], 1),
        )
        for l in range(1, L + 1)
    ]
    return Audit(
        layers=layers,
        X=(int(X_shape[0]), m),
        Y=(int(Y_shape[0]), int(Y_shape[1])),
        dtype=dtype,
        rows=rows,
        parameters=parameter_count(layers),
        flops=flops(layers, m),
        memory=memory(layers, memory_m, np.dtype(dtype).itemsize, engine),
        mismatch=data_mismatch(layers, int(X_shape[0]), int(Y_shape[0]), mismatch_inputs),
        engine=engine,
        gram_flops=gram[0],
        gram_setup_flops=gram[1],
        stream_batch=stream_batch,
        inputs=inputs,
    )


def audit_config(cfg: Config) -> Audit:
    """Load the data a config names (to know n_x and m) and audit its network.

    Raises
    ------
    DataError
        When the data cannot be loaded; a shape mismatch is not raised but reported in
        ``Audit.mismatch``.
    """
    dataset = load_data(cfg.data, cfg.model.output_activation)
    layers, m = list(cfg.model.layers), dataset.X_train.shape[1]
    # What training would run (as train() decides it); an engine that cannot run is an error.
    engine = resolve_engine(
        cfg.train.engine,
        layers,
        m,
        iterations_of(cfg, m),
        options_from(cfg),
        streamed=cfg.data.stream,
        itemsize=np.dtype(cfg.train.dtype).itemsize,
    )
    class_weight, _ = effective_weights(cfg, dataset)
    column = None
    if dataset.weights is not None:
        column = (cfg.data.weight, float(dataset.weights.sum()))
    report = audit(
        layers,
        dataset.X_train.shape,
        dataset.Y_train.shape,
        cfg.model.hidden_activation,
        cfg.model.output_activation,
        cfg.train.dtype,
        engine,
        stream_batch=cfg.train.batch_size if cfg.data.stream else None,
        inputs=table_inputs(dataset.preprocessing),
        mismatch_inputs=dataset.inputs,
    )
    return replace(report, class_weight=class_weight, weight_column=column)
