"""What is kept: masks, importance scores, granularities, mask selection, schedules and mask search.

Imports only ``workloads`` (see DESIGN.md section 1); searches get cost and accuracy injected.
"""

from pruning.candidates import (
    DEFAULT_GRANULARITIES,
    DEFAULT_LADDER,
    DENSE,
    Option,
    SearchSpace,
    parse_granularity_label,
)
from pruning.channels import (
    ChannelGroup,
    Consumer,
    channel_consistency_problems,
    channel_groups,
    check_channel_consistency,
    group_masks,
)
from pruning.finetuned_accuracy import FinetunedAccuracy
from pruning.granularity import NM, Block, Channel, Granularity, Unstructured, as_granularity
from pruning.importance import (
    IMPORTANCES,
    APoZ,
    Entropy,
    FixedScores,
    Gradient,
    Importance,
    Magnitude,
    MeanActivation,
    RandomImportance,
    Taylor,
    apoz,
    entropy,
    get_importance,
    gradient,
    magnitude_l1,
    magnitude_l2,
    mean_activation,
    random_importance,
    taylor,
)
from pruning.layer_option import LayerOption
from pruning.masks import Masks
from pruning.methods import LayerPlan, plan_layers, prune
from pruning.objectives import (
    REQUIRED_COST_KEYS,
    CostBreakdown,
    MaxDrop,
    Metric,
    MinAccuracy,
    Weighted,
    as_cost,
    make_objective,
    weighted,
)
from pruning.schedules import IterativeLinear, OneShot, PolynomialDecay, Schedule
from pruning.search import search_masks
from pruning.search_records import CandidateRecord, SearchResult, format_plan, pareto_front
from pruning.search_strategies import STRATEGIES, Evolutionary, Greedy, Uniform, make_strategy
from pruning.selection import compute_global_masks, compute_mask, select_units

__all__ = [
    "Masks",
    # importance
    "Importance",
    "IMPORTANCES",
    "get_importance",
    "Magnitude",
    "Gradient",
    "Taylor",
    "MeanActivation",
    "APoZ",
    "Entropy",
    "FixedScores",
    "RandomImportance",
    "magnitude_l1",
    "magnitude_l2",
    "gradient",
    "taylor",
    "mean_activation",
    "apoz",
    "entropy",
    "random_importance",
    # granularity and selection
    "Granularity",
    "Unstructured",
    "Block",
    "NM",
    "Channel",
    "as_granularity",
    "LayerOption",
    "compute_mask",
    "compute_global_masks",
    "select_units",
    "LayerPlan",
    "plan_layers",
    "prune",
    # channel groups
    "ChannelGroup",
    "Consumer",
    "channel_groups",
    "group_masks",
    "channel_consistency_problems",
    "check_channel_consistency",
    # schedules
    "OneShot",
    "IterativeLinear",
    "PolynomialDecay",
    "Schedule",
    # hardware-aware mask search
    "search_masks",
    "SearchSpace",
    "Option",
    "DENSE",
    "DEFAULT_LADDER",
    "DEFAULT_GRANULARITIES",
    "parse_granularity_label",
    "MinAccuracy",
    "MaxDrop",
    "Metric",
    "Weighted",
    "weighted",
    "make_objective",
    "CostBreakdown",
    "as_cost",
    "REQUIRED_COST_KEYS",
    "STRATEGIES",
    "Uniform",
    "Greedy",
    "Evolutionary",
    "make_strategy",
    "SearchResult",
    "CandidateRecord",
    "format_plan",
    "pareto_front",
    "FinetunedAccuracy",
]
