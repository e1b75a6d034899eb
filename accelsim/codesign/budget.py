"""Spend the search's budget where the dense run's cycles and energy are (``CodesignConfig.cost_priorities``).

Each searched layer's priority is its share of the run's objective in the dense simulation
(`accelsim.timing.bottleneck.budget_weights`: cycle share, energy share, or for EDP their mean,
the first-order sensitivity of ``E * T`` to the layer), renormalised over the searched layers. The
strategy then uses it (`pruning.search_strategies`):

- greedy visits the layers in descending priority, so when two proposals score the same, or an
  evaluation budget runs out mid-step, the layer carrying more of the cost comes first;
- evolutionary mutates layer ``i`` with probability ``rate * n * p_i`` instead of ``rate``: the
  same mean number of mutations per child, concentrated on the expensive layers.

The uniform baseline has no per-layer choice and is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from accelsim.timing.bottleneck import bottlenecks, budget_weights
from accelsim.timing.report import Report
from pruning.search_strategies import STRATEGIES, Strategy


def layer_priorities(dense_report: Report, *, objective: str, layers: Sequence[str]) -> dict[str, float]:
    """Each of ``layers``' share of ``objective`` in ``dense_report``, summing to 1."""
    return budget_weights(bottlenecks(dense_report), objective=objective, layers=layers)


def prioritised(strategy: str, priorities: dict[str, float]) -> str | Strategy:
    """The named strategy with ``priorities`` (the uniform baseline by name: it has no use for them)."""
    if strategy == "uniform":
        return strategy
    return STRATEGIES[strategy](priorities=tuple(priorities.items()))


__all__ = ["layer_priorities", "prioritised"]
