"""How training runs: its options, the engine it takes, the number of updates, and the
notes a run directory keeps about its start.

Everything here decides before the first iteration; nothing trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dlcli import sysinfo
from dlcli.errors import ConfigError
from dlcli.model import network, sizes
from dlcli.model.optimizers import Hyper

if TYPE_CHECKING:
    from dlcli.config import Config


@dataclass(frozen=True)
class Options:
    """Everything beyond the course's plain full-batch gradient descent; all off by default.

    batch_size : examples per update (None: the full batch); reshuffled every epoch
    keep_prob : one keep probability per hidden layer (inverted dropout), () for none
    lr_decay, lr_decay_every : lr = learning_rate / (1 + lr_decay * floor(epoch / lr_decay_every))
    l2 : lambda of the L2 penalty lambda / (2m) sum ||W||^2
    patience : stop after this many validation checks without a lower validation cost
    seed : seeds the generator of shuffles and dropout masks
    shuffle : "examples" (each epoch a permutation of the m examples) or "blocks" (a
        permutation of the blocks of ``batch_size`` consecutive examples: each batch is one
        block, read contiguously, as streaming from disk needs)
    fast : in-memory mini-batches without dropout take the direct engine's preallocated
        path (:mod:`~dlcli.training.fast`), with the same numbers; False runs the course's
        arrays as written (tests compare the two)
    health : collect the health statistics (:mod:`~dlcli.training.health`) at every logged
        row; the benchmarks that log every iteration to compare cost curves turn it off, so
        they time training alone
    """

    optimizer: str = "gd"
    hyper: Hyper = field(default_factory=Hyper)
    batch_size: int | None = None
    keep_prob: tuple[float, ...] = ()
    lr_decay: float = 0.0
    lr_decay_every: int = 1
    l2: float = 0.0
    patience: int | None = None
    restore_best: bool = True
    seed: int = 1
    shuffle: str = "examples"
    fast: bool = True
    health: bool = True

    @property
    def plain(self) -> bool:
        """Plain gradient descent without L2: one pass of network.backward_update steps it."""
        return self.optimizer == "gd" and not self.l2

    def gram_blocker(self, m: int) -> str | None:
        """Why the Gram engine cannot run these options on m examples, or None if it can.

        It needs every update of W1 to be a combination of the same m columns of X:
        true for gradient descent and momentum, with L2 and with dropout on hidden layers
        (dropout never touches X), false for Adam's per-coordinate scaling and for
        mini-batches.
        """
        if self.optimizer == "adam":
            return "train.optimizer adam scales each coordinate of dW1, so W1 leaves the span of X"
        if self.batch_size is not None and self.batch_size < m:
            return "train.batch_size is smaller than m: each update sees other columns of X"
        return None


def resolve_engine(
    engine: str,
    layers: list[int],
    m: int,
    iterations: int,
    opts: Options,
    *,
    streamed: bool = False,
    itemsize: int = 8,
) -> str:
    """The engine training runs: "auto" becomes "gram" where :func:`choose_engine` finds it
    cheaper and nothing blocks it, else "direct".

    Gram is blocked by the options (:meth:`Options.gram_blocker`), by a streamed X (it needs
    all of X in memory), and by K = X.T X not fitting in the memory free now.

    Raises
    ------
    ConfigError
        When ``engine`` is "gram" and something blocks it; the message says what.
    """
    blocker = opts.gram_blocker(m)
    if blocker is None and streamed:
        blocker = "data.stream: true reads X in batches and gram needs all of X in memory"
    if blocker is None and engine != "direct":
        need, free = sizes.gram_bytes(layers[1], m, itemsize), sysinfo.available_memory()
        if need > free:
            blocker = (
                f"K = X.T X for m = {m} examples and its companions need {need / 2**20:,.1f} "
                f"MiB, more than the {free / 2**20:,.1f} MiB free"
            )
    if engine == "auto":
        return choose_engine(layers, m, iterations) if blocker is None else "direct"
    if engine == "gram" and blocker is not None:
        raise ConfigError(
            f"train.engine: gram cannot run this config: {blocker}; use auto or direct"
        )
    return engine


def choose_engine(layers: list[int], m: int, iterations: int) -> str:
    """``"gram"`` where its flop count is lower than the direct path's, else ``"direct"``.

    Direct: W1 @ X and dZ1 @ X.T cost 4 n[1] n_x m flops every iteration. Gram: C @ K costs
    2 n[1] m^2 per iteration, after K = X.T @ X (2 m^2 n_x) and Z1_0, W1 (4 n[1] n_x m) once.
    """
    n_x, n1 = layers[0], layers[1]
    direct = iterations * 4 * n1 * n_x * m
    gram = iterations * 2 * n1 * m * m + 2 * m * m * n_x + 4 * n1 * n_x * m
    return "gram" if gram < direct else "direct"


def options_from(cfg: Config) -> Options:
    """The training options a config sets beyond plain gradient descent."""
    t = cfg.train
    stopping = t.early_stopping
    return Options(
        optimizer=t.optimizer,
        hyper=Hyper(t.beta, t.beta1, t.beta2, t.epsilon),
        batch_size=t.batch_size,
        keep_prob=cfg.model.keep_probs(),
        lr_decay=t.lr_decay,
        lr_decay_every=t.lr_decay_every,
        l2=t.l2,
        patience=None if stopping is None else stopping.patience,
        restore_best=True if stopping is None else stopping.restore_best,
        seed=t.seed,
        shuffle="blocks" if cfg.data.stream else t.shuffle,
    )


def init_note(cfg: Config) -> str:
    """The initialisation each layer got, for the run's config.yaml (as comments)."""
    if cfg.init.from_ is not None:
        return f"init: every W and b read from {cfg.init.from_}"
    layers = cfg.model.layers
    lines = [
        f"init: weights = randn * multiplier (legacy RandomState({cfg.init.seed}), drawn W1, W2, ...), biases 0"
    ]
    for l in range(1, len(layers)):
        scale = cfg.init.per_layer.get(l, cfg.init.scale)
        multiplier = network.init_multiplier(scale, layers[l - 1])
        rule = f"{scale}, n[l-1] = {layers[l - 1]}" if isinstance(scale, str) else "a number"
        lines.append(f"  W{l} {layers[l]}x{layers[l - 1]}: multiplier {multiplier:.6g} ({rule})")
    return "\n".join(lines)


def iterations_of(cfg: Config, m: int) -> int:
    """Updates to run: ``train.epochs`` times the batches per epoch where epochs is set
    (it takes precedence), else ``train.iterations``."""
    if cfg.train.epochs is None:
        return cfg.train.iterations
    batch = min(cfg.train.batch_size or m, m)
    return cfg.train.epochs * -(-m // batch)
