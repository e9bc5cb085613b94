"""What each iteration draws: its batch of examples, its dropout masks and its learning rate.

Every draw comes from the one generator of :class:`~dlcli.training.plan.Options`' ``seed``,
in a fixed order per iteration (the epoch's shuffle at its first batch, then the masks), so a
run continued from a checkpoint draws what the uninterrupted run would have.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli import sysinfo
from dlcli.errors import ConfigError
from dlcli.model import network
from dlcli.training.plan import Options


class Batches:
    """The batches of an epoch, one per iteration, as ``options.shuffle`` orders them.

    Parameters
    ----------
    X : ndarray of shape (n_x, m), or a data.CourseStream read in blocks of columns
    Y : ndarray of shape (n[L], m)
    opts : batch_size (None: the full batch), shuffle, keep_prob
    rng : the generator of shuffles and dropout masks
    perm : the epoch's shuffle saved in a checkpoint, or None
    w : ndarray of shape (1, m), the example weights, or None; each pick sets ``wb``, the
        batch's (the same columns as its Yb)
    """

    def __init__(
        self,
        X: Any,
        Y: np.ndarray,
        opts: Options,
        rng: np.random.Generator,
        perm: np.ndarray | None = None,
        w: np.ndarray | None = None,
    ) -> None:
        self.X, self.Y, self.opts, self.rng, self.perm = X, Y, opts, rng, perm
        self.w, self.wb = w, w
        self.m = X.shape[1]
        self.size = self.m if opts.batch_size is None else min(opts.batch_size, self.m)
        self.per_epoch = -(-self.m // self.size)
        self.streamed = not isinstance(X, np.ndarray)
        # Example-major X (m, n_x) and a buffer per batch size, made at the first shuffled
        # batch (see _gather); None where the batch comes from X[:, idx].
        self.rows: np.ndarray | None = None
        self.buffers: dict[int, np.ndarray] = {}

    @property
    def draws(self) -> bool:
        """Whether an iteration draws from the generator (a shuffle or dropout masks)."""
        return self.size < self.m or bool(self.opts.keep_prob)

    def pick(self, i: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(epoch, Xb (n_x, size), Yb (n[L], size)) of iteration i; the epoch's first batch
        draws its shuffle: of the m examples, or of the blocks of ``size`` consecutive ones."""
        epoch, k = divmod(i, self.per_epoch)
        X, Y, m, size = self.X, self.Y, self.m, self.size
        if size < m and self.opts.shuffle == "blocks":
            if k == 0:
                self.perm = self.rng.permutation(self.per_epoch)  # of blocks
            begin = int(self.perm[k]) * size
            end = min(begin + size, m)
            Xb = X.columns(begin, end) if self.streamed else X[:, begin:end].copy()
            self.wb = None if self.w is None else self.w[:, begin:end]
            return epoch, Xb, Y[:, begin:end]
        if size < m:
            if k == 0:
                self.perm = self.rng.permutation(m)
            idx = self.perm[k * size : (k + 1) * size]
            self.wb = None if self.w is None else self.w[:, idx]
            return epoch, self._gather(idx), Y[:, idx]
        return epoch, *((X.columns(0, m), Y) if self.streamed else (X, Y))

    def batch_weights(self, i: int) -> np.ndarray | None:
        """The example weights (1, size) of the batch the last :meth:`pick` (of iteration i)
        returned, or None.

        Raises
        ------
        ConfigError
            When they are all 0: that batch's weighted mean cost would be 0/0.
        """
        if self.wb is not None and not self.wb.any():
            raise ConfigError(
                f"train.batch_size: the batch of iteration {i} holds only examples of weight 0 "
                f"(sum w = 0 over its {self.wb.shape[1]} examples), so its weighted mean cost "
                "is 0/0; use a larger train.batch_size or give fewer examples weight 0"
            )
        return self.wb

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        """X[:, idx], (n_x, len(idx)), as the transpose of a reused (len(idx), n_x) buffer.

        The columns of a C-order X (n_x, m) lie m apart, so gathering them touches n_x cache
        lines per example; the rows of an example-major copy are contiguous, which makes
        the gather several times cheaper than the one transposing copy of X (or none when X
        is already F-ordered). The products of the transposed view are the same to the bit:
        BLAS reads it through its transpose flag. Without memory for the copy, or with
        ``opts.fast`` off, the batch is X[:, idx] as before.
        """
        X = self.X
        if self.rows is None:
            if X.flags.f_contiguous:
                self.rows = X.T  # (m, n_x), C-contiguous: no copy
            elif self.opts.fast and 2 * X.nbytes < sysinfo.available_memory():
                self.rows = _example_major(X)  # (m, n_x)
            else:
                return X[:, idx]
        buffer = self.buffers.get(idx.size)
        if buffer is None:
            buffer = self.buffers[idx.size] = np.empty((idx.size, X.shape[0]), X.dtype)
        np.take(self.rows, idx, axis=0, out=buffer)  # (size, n_x)
        return buffer.T  # (n_x, size); overwritten by the next batch of this size

    def dropout_masks(self, layers: list[int], m: int) -> dict[int, np.ndarray] | None:
        """Inverted-dropout masks of the hidden layers for a batch of m examples, or None."""
        if not self.opts.keep_prob:
            return None
        return network.dropout_masks(layers, m, self.opts.keep_prob, self.rng, self.X.dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        """What a checkpoint keeps: the epoch's shuffle, once drawn."""
        return {} if self.perm is None else {"perm": self.perm}


def _example_major(X: np.ndarray) -> np.ndarray:
    """X.T (m, n_x) C-contiguous, copied 512 examples at a time: a block of X's columns
    and its transpose both stay in cache, which makes the copy about ten times faster
    than ``np.ascontiguousarray(X.T)`` in one go."""
    rows = np.empty(X.shape[::-1], X.dtype)
    for begin in range(0, X.shape[1], 512):
        rows[begin : begin + 512] = X[:, begin : begin + 512].T
    return rows


def scheduled_lr(learning_rate: float, epoch: int, opts: Options) -> float:
    """The schedule: lr = learning_rate / (1 + lr_decay * floor(epoch / lr_decay_every))."""
    return learning_rate / (1 + opts.lr_decay * (epoch // opts.lr_decay_every))
