"""What collecting the health statistics costs (docs/health.md): each shipped training config
trained with the statistics and without them (the engines' hook replaced by one that does
nothing), interleaved, REPEATS times each; medians of train_seconds, and the median share of
train_seconds spent inside the hook (the steadier figure on a busy machine).

    python benchmarks/health.py [--repeats 5] [--cat-dir DIR] [CONFIG ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import REPO, cat_files, default_cat_dir

from dlcli import runs
from dlcli.config import load_config
from dlcli.job import _training_data
from dlcli.training import loop
from dlcli.training.engines import Engine, _Gram
from dlcli.training.plan import iterations_of, options_from

HOOKS = {engine: engine.__dict__["health"] for engine in (Engine, _Gram)}


def _hooks(on: bool, spent: list[float]) -> None:
    """The engines' health hook: the real one, timed into ``spent``, or one doing nothing."""
    for engine, hook in HOOKS.items():

        def timed(*args, hook=hook):
            begun = time.perf_counter()
            record = hook(*args)
            spent.append(time.perf_counter() - begun)
            return record

        engine.health = timed if on else (lambda *args: {})


def measure(config: Path, cat_dir: Path, repeats: int) -> str:
    """One line: the config's train_seconds without and with the statistics, and the hook's
    share."""
    sets = []
    if config.stem.startswith("cat_"):
        train, test = cat_files(cat_dir)
        sets = [f"data.train={train}", f"data.test={test}"]
    cfg = load_config(config, sets)
    dataset, X, Y, _ = _training_data(cfg)
    params = runs.initial_params(cfg, dataset.n_x, X.shape[1], Y.shape[0], dataset.inputs)
    validation = None if dataset.X_val is None else (dataset.X_val, dataset.Y_val)
    seconds: dict[bool, list[float]] = {False: [], True: []}
    shares = []
    for _ in range(repeats):
        for on in (False, True):
            spent: list[float] = []
            _hooks(on, spent)
            result = loop.train(
                X, Y, params, hidden=cfg.model.hidden_activation,
                output=cfg.model.output_activation, learning_rate=cfg.train.learning_rate,
                iterations=iterations_of(cfg, X.shape[1]), log_every=cfg.train.log_every,
                engine=cfg.train.engine, options=options_from(cfg), validation=validation,
            )  # fmt: skip
            seconds[on].append(result.train_seconds)
            if on:
                shares.append(sum(spent) / result.train_seconds)
    off, on = statistics.median(seconds[False]), statistics.median(seconds[True])
    return (
        f"{config.stem:14} {result.engine:6} rows {len(result.log):3}  without {off:7.3f} s  "
        f"with {on:7.3f} s  ratio {on / off:.3f}  in the hook {100 * statistics.median(shares):.2f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cat-dir", type=Path, default=default_cat_dir())
    args = parser.parse_args()
    configs = args.configs or [
        c for c in sorted((REPO / "configs").glob("*.yaml")) if not c.stem.startswith("sweep")
    ]
    print(f"medians of {args.repeats}, interleaved")
    for config in configs:
        print(measure(config, args.cat_dir, args.repeats), flush=True)


if __name__ == "__main__":
    main()
