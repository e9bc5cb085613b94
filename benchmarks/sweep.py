"""Scaling sweep: where the direct path wins and where the Gram engine does.

On seeded synthetic data of the cat model's architecture ([n_x, 20, 7, 5, 1]) it runs a few
iterations of ``dlcli.training.loop.train`` with each engine and asks ``choose_engine`` which it would
pick for a 2500-iteration run.

``train()`` calls ``callback(i, cost)`` once per iteration, so the gaps between successive
calls are whole iterations; their median is the per-iteration time. Whatever else the call
took is the engine's one-off work: for gram ``K = X.T @ X``, ``Z1_0 = W1_0 @ X`` and forming
``W1`` at the end, for both the final cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from common import HIDDEN, ITERATIONS, LEARNING_RATE, OUTPUT, initial_params, synthetic

from dlcli.training.loop import train
from dlcli.training.plan import choose_engine

HIDDEN_LAYERS = [20, 7, 5, 1]
M_POINTS = [100, 209, 500, 1000, 2000, 5000, 10000]  # at n_x = 12288
NX_POINTS = [30, 100, 300, 1000, 3000, 12288]  # at m = 209
QUICK_M_POINTS = [100, 1000]
QUICK_NX_POINTS = [100, 12288]
TIE = 1.1  # engines within 10 % of each other count as a tie


@dataclass
class EngineTiming:
    per_iteration: float  # seconds, median gap between successive iterations
    once: float  # seconds of the call not spent in its iterations
    final_cost: float

    def amortized_ms(self) -> float:
        """Milliseconds per iteration of an ITERATIONS-long run, the one-off work spread."""
        return 1e3 * (self.per_iteration + self.once / ITERATIONS)


@dataclass
class SweepRow:
    n_x: int
    m: int
    picked: str  # choose_engine's answer for ITERATIONS iterations
    direct: EngineTiming
    gram: EngineTiming

    @property
    def ratio(self) -> float:
        """direct / gram, per iteration of a 2500-iteration run."""
        return self.direct.amortized_ms() / self.gram.amortized_ms()

    @property
    def faster(self) -> str:
        """The measured winner; "tie" within 10 %, where the machine's noise decides."""
        if 1 / TIE < self.ratio < TIE:
            return "tie"
        return "gram" if self.ratio > 1 else "direct"


def _one_call(
    engine: str, X: np.ndarray, Y: np.ndarray, params: dict, iterations: int
) -> tuple[list[float], float, float]:
    """One ``train()`` call: (gaps between successive iterations, the call's seconds, the
    final cost)."""
    stamps: list[float] = []
    start = time.perf_counter()
    result = train(
        X,
        Y,
        params,
        hidden=HIDDEN,
        output=OUTPUT,
        learning_rate=LEARNING_RATE,
        iterations=iterations,
        engine=engine,
        callback=lambda i, cost: stamps.append(time.perf_counter()),
    )
    return list(np.diff(stamps)), time.perf_counter() - start, result.final_cost


def sweep_point(n_x: int, m: int, iterations: int, repeats: int) -> SweepRow:
    """``repeats`` interleaved calls per engine; the per-iteration time is the median of all
    their gaps, the one-off time the median over calls of what the iterations leave."""
    X, Y = synthetic(n_x, m)
    params = initial_params([n_x, *HIDDEN_LAYERS])
    calls: dict[str, list[tuple[list[float], float, float]]] = {"direct": [], "gram": []}
    for _ in range(repeats):
        for engine in calls:
            calls[engine].append(_one_call(engine, X, Y, params, iterations))
    timings = {}
    for engine, runs in calls.items():
        per_iteration = float(np.median([gap for gaps, _, _ in runs for gap in gaps]))
        once = float(np.median([total - iterations * per_iteration for _, total, _ in runs]))
        timings[engine] = EngineTiming(per_iteration, once, runs[0][2])
    return SweepRow(
        n_x=n_x,
        m=m,
        picked=choose_engine([n_x, *HIDDEN_LAYERS], m, ITERATIONS),
        direct=timings["direct"],
        gram=timings["gram"],
    )


def run_sweep(
    quick: bool, iterations: int, repeats: int, progress: Callable[[str], None]
) -> list[SweepRow]:
    """The m sweep at n_x = 12288, then the n_x sweep at m = 209."""
    points = [(12288, m) for m in (QUICK_M_POINTS if quick else M_POINTS)]
    points += [(n_x, 209) for n_x in (QUICK_NX_POINTS if quick else NX_POINTS)]
    rows = []
    for n_x, m in points:
        row = sweep_point(n_x, m, iterations, repeats)
        rows.append(row)
        progress(
            f"sweep n_x={n_x:>5} m={m:>5}: direct {row.direct.amortized_ms():9.3f} ms/it, "
            f"gram {row.gram.amortized_ms():9.3f} ms/it"
        )
    return rows


def sweep_table(rows: list[SweepRow]) -> list[str]:
    """Markdown lines."""
    lines = [
        "| n_x | m | direct ms/it | gram ms/it | gram one-off ms | direct, 2500-it run ms/it "
        "| gram, 2500-it run ms/it | direct / gram | faster | choose_engine | pick right "
        "| cost gap |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for r in rows:
        right = "yes" if r.faster in (r.picked, "tie") else "**no**"
        gap = abs(r.direct.final_cost - r.gram.final_cost) / abs(r.direct.final_cost)
        lines.append(
            f"| {r.n_x} | {r.m} | {1e3 * r.direct.per_iteration:.3f} "
            f"| {1e3 * r.gram.per_iteration:.3f} | {1e3 * r.gram.once:.1f} "
            f"| {r.direct.amortized_ms():.3f} | {r.gram.amortized_ms():.3f} | {r.ratio:.2f} "
            f"| {r.faster} | {r.picked} | {right} | {gap:.1e} |"
        )
    return lines
