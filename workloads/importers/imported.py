"""What an importer returns: the network, its weights when the source has them, and notes for the user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from workloads.network import Network


@dataclass(frozen=True)
class Imported:
    """A ``Network`` plus weights keyed by layer name (``None`` when the source carries none).

    ``notes`` are things the user should hear once (for example "weights stored externally are
    missing; shapes only"); the library never prints them, the CLI does.
    """

    network: Network
    weights: Mapping[str, np.ndarray] | None = None
    notes: tuple[str, ...] = field(default=())
