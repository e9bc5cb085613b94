"""Predict with a dlcli model, NumPy alone:  python predict.py model.npz inputs.npy

inputs.npy: raw pictures, uint8 (N, h, w, c), or features (N, k) in their own units.
Prints a line per example: the class and its probability, or the predicted value.
"""

import sys

import numpy as np

G = {"relu": lambda Z: np.maximum(Z, 0.0), "leaky_relu": lambda Z: np.where(Z > 0, Z, 0.01 * Z),
     "tanh": np.tanh, "sigmoid": lambda Z: 1.0 / (1.0 + np.exp(-Z)), "linear": lambda Z: Z}  # fmt: skip


def prepare(m, raw):
    """Raw inputs (N, ...) -> X (n_x, N): flatten and /255, or fill and standardize."""
    if str(m["kind"]) == "image":
        return raw.reshape(raw.shape[0], -1).T / float(m["divide_by"])
    X = raw.astype(np.float64).T  # (k, N)
    if str(m["kind"]) == "table":  # a NaN takes the training mean where the model fills
        X = np.where(np.isnan(X), m["fill"][:, None], X)
        X = (X - m["mean"][:, None]) / m["std"][:, None]
    return X


def forward(m, X):
    """The course's forward pass, A[l] = g(W[l] A[l-1] + b[l]); returns ZL (n[L], N)."""
    A, L = X, int(m["L"])
    for l in range(1, L + 1):
        Z = m[f"W{l}"] @ A + m[f"b{l}"]  # W (n[l], n[l-1]), b (n[l], 1): Z (n[l], N)
        A = G[str(m["hidden"])](Z)
    return Z


if __name__ == "__main__":
    m, raw = (np.load(path, allow_pickle=False) for path in sys.argv[1:3])
    ZL, out, classes = forward(m, prepare(m, raw)), str(m["output"]), m["classes"]
    if out == "linear":  # in the target's units for a table model
        for v in ZL[0] * float(m["target_std"]) + float(m["target_mean"]):
            print(repr(float(v)))
    else:  # softmax: the largest of K; sigmoid: class 1 when AL > 0.5
        P = np.exp(ZL - ZL.max(axis=0)) if out == "softmax" else G["sigmoid"](ZL[0])
        P = P / P.sum(axis=0) if out == "softmax" else np.stack([1.0 - P, P])
        k = P.argmax(axis=0) if out == "softmax" else (P[1] > 0.5).astype(int)
        for j, label in enumerate(k):
            print(classes[label], repr(float(P[label, j])))
