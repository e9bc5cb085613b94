"""What each iteration draws: its batch of examples, its dropout masks and its learning rate.

Every draw comes from the one generator of :class:`~dlcli.training.plan.Options`' ``seed``,
in a fixed order per iteration (the epoch's shuffle at its first batch, then the masks), so a
run continued from a checkpoint draws what the uninterrupted run would have.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
    """

    def __init__(
        self,
        X: Any,
        Y: np.ndarray,
        opts: Options,
        rng: np.random.Generator,
        perm: np.ndarray | None = None,
    ) -> None:
        self.X, self.Y, self.opts, self.rng, self.perm = X, Y, opts, rng, perm
        self.m = X.shape[1]
        self.size = self.m if opts.batch_size is None else min(opts.batch_size, self.m)
        self.per_epoch = -(-self.m // self.size)
        self.streamed = not isinstance(X, np.ndarray)

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
            return epoch, Xb, Y[:, begin:end]
        if size < m:
            if k == 0:
                self.perm = self.rng.permutation(m)
            idx = self.perm[k * size : (k + 1) * size]
            return epoch, X[:, idx], Y[:, idx]
        return epoch, *((X.columns(0, m), Y) if self.streamed else (X, Y))

    def dropout_masks(self, layers: list[int], m: int) -> dict[int, np.ndarray] | None:
        """Inverted-dropout masks of the hidden layers for a batch of m examples, or None."""
        if not self.opts.keep_prob:
            return None
        return network.dropout_masks(layers, m, self.opts.keep_prob, self.rng, self.X.dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        """What a checkpoint keeps: the epoch's shuffle, once drawn."""
        return {} if self.perm is None else {"perm": self.perm}


def scheduled_lr(learning_rate: float, epoch: int, opts: Options) -> float:
    """The schedule: lr = learning_rate / (1 + lr_decay * floor(epoch / lr_decay_every))."""
    return learning_rate / (1 + opts.lr_decay * (epoch // opts.lr_decay_every))
