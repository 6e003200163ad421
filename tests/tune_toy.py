"""A cheap, deterministic stand-in for training, for tests/test_tune.py.

Worker processes load it with ``python -m islr tune --objective tune_toy:ToyObjective`` (tests/ on PYTHONPATH).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from islr import tune


def normalized(p: tune.Param, value: Any) -> float:
    """Position of ``value`` in ``p``'s unscaled range, 0..1 (log scale for ``log`` parameters)."""
    if p.kind == "categorical":
        return p.choices.index(value) / max(1, len(p.choices) - 1)
    low, high, value = (math.log(v) if p.log else v for v in (p.low, p.high, value))
    return (value - low) / (high - low)


class ToyObjective:
    """A quadratic bowl over the normalised parameters (epochs excluded), with a training-like curve.

    Final "accuracy" = ``1 − mean_p (u_p − 0.3)²``; epoch ``e`` reports ``final · (1 − 2^−(e+1))`` after
    sleeping
    ``step_seconds``, so trials take time (kill tests) and worse trials report lower curves (pruning).
    """

    OPTIMUM = 0.3

    def __init__(self, model_family: str, profile: str = "smoke", step_seconds: float = 0.1) -> None:
        self.params = [p for p in tune.SPACES[model_family] if not p.epochs]
        self.epochs_key = next(p.key for p in tune.SPACES[model_family] if p.epochs)
        self.step_seconds = step_seconds

    def score(self, overrides: dict[str, Any]) -> float:
        """The final accuracy of ``overrides`` (dotted keys)."""
        sq = [(normalized(p, overrides[p.key]) - self.OPTIMUM) ** 2 for p in self.params]
        return 1.0 - sum(sq) / len(sq)

    def __call__(self, overrides: dict[str, Any], report: Callable[[int, float], None], run_name: str = ""
                 ) -> float:
        final, best = self.score(overrides), -math.inf
        for epoch in range(int(overrides[self.epochs_key])):
            time.sleep(self.step_seconds)
            top1 = final * (1.0 - 0.5 ** (epoch + 1))
            best = max(best, top1)
            report(epoch, top1)
        return best
