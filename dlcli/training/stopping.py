"""Early stopping, Keras-style: watch the validation cost at each log row, remember the best
parameters, and ask the loop to stop after ``patience`` rows without a lower cost."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcli.model import network

_COUNTERS = ("best_cost", "best_row", "bad_checks")


class EarlyStopping:
    """The bookkeeping of ``train.early_stopping``.

    A row checks the parameters before its update. ``best`` holds those of the row with the
    lowest validation cost so far (``best_row`` indexes the log; -1 before any check) and
    ``bad_checks`` counts the rows since. Its checkpoint arrays are ``best_cost``,
    ``best_row``, ``bad_checks`` and ``best_W1``, ``best_b1``, ...

    Parameters
    ----------
    patience : rows without a lower validation cost after which training stops
    restore_best : return the best parameters instead of the last ones
    arrays : a checkpoint's arrays to continue from (the keys above), or None to start
    """

    def __init__(
        self, patience: int, restore_best: bool, arrays: dict[str, np.ndarray] | None = None
    ) -> None:
        self.patience, self.restore_best = patience, restore_best
        self.best_cost, self.best_row, self.bad_checks = float("inf"), -1, 0
        self.best: network.Params = {}
        if arrays is not None and "best_cost" in arrays:
            self.best_cost = float(arrays["best_cost"])
            self.best_row, self.bad_checks = int(arrays["best_row"]), int(arrays["bad_checks"])
            self.best = {
                k[5:]: v for k, v in arrays.items() if k.startswith("best_") and k not in _COUNTERS
            }

    def check(self, validation_cost: float, params: network.Params, row: int) -> bool:
        """Record the row ``row`` of the log, whose parameters (before its update) are
        ``params``; True when training should stop here."""
        if validation_cost < self.best_cost:
            # The engines make new arrays at each step, so these stay as they are: no copy.
            self.best = dict(params)
            self.best_cost, self.best_row, self.bad_checks = validation_cost, row, 0
        else:
            self.bad_checks += 1
        return self.bad_checks >= self.patience

    def restore(
        self,
        last: network.Params,
        log: list[dict[str, float]],
        iterations: int,
        last_cost: Callable[[], float] | None,
    ) -> tuple[network.Params, int | None, bool]:
        """The parameters training returns, the iteration whose parameters they are, and
        whether they are the best row's rather than ``last``.

        Parameters
        ----------
        last : the parameters after the last update
        log : the cost log, whose row ``best_row`` is the best
        iterations : the iterations asked for; the iteration of ``last`` when they all ran
        last_cost : the validation cost of ``last`` when training ran to the end; None when
            it stopped early at a row

        Returns
        -------
        params, best_iteration, restored : ``last``, None, False without ``restore_best`` or
            before any check
        """
        if not self.restore_best or self.best_row < 0:
            return last, None, False
        # A row checks the parameters before its update, so those after the last update
        # were never checked, unless training stopped early at a row: check them too.
        if last_cost is not None and last_cost() < self.best_cost:
            return last, iterations, False
        best = {k: self.best[k] for k in last}
        return best, int(log[self.best_row]["iteration"]), True

    def arrays(self) -> dict[str, np.ndarray]:
        """What a checkpoint keeps of it."""
        return {f"best_{k}": v for k, v in self.best.items()} | {
            "best_cost": np.array(self.best_cost),
            "best_row": np.array(self.best_row),
            "bad_checks": np.array(self.bad_checks),
        }

    @staticmethod
    def owns(key: str) -> bool:
        """Whether a checkpoint array is early stopping's (not the engine's)."""
        return key.startswith("best_") or key == "bad_checks"
