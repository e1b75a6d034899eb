"""Small networks shared by the pruning tests."""

from workloads.layers import Add, Conv2d, Linear, Pool
from workloads.network import NetworkBuilder


def small_residual():
    """stem -> a -> b, b + stem -> pool -> fc: stem and b share channels through the add."""
    builder = NetworkBuilder("residual")
    builder.add(Conv2d("stem", 3, 8, 3, 8, padding=1, activation="relu"), inputs=())
    builder.add(Conv2d("a", 8, 8, 3, 8, padding=1, activation="relu"))
    builder.add(Conv2d("b", 8, 8, 3, 8, padding=1))
    builder.add(Add("add", (8, 8, 8), activation="relu"), inputs=("b", "stem"))
    builder.add(Pool("pool", 8, 8, 2, 2, kind="avg"))
    builder.add(Linear("fc", 8 * 16, 10))
    return builder.build()
