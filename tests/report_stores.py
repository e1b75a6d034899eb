"""A small results store shared by the figure tests: two networks x three array heights x two dataflows."""

from pathlib import Path

from accelsim.arch.hardware import Hardware
from accelsim.dse import Point, explore, grid, serial


def small_grid_store(path: Path, hardware: Hardware) -> Path:
    """Twelve analytical points (lenet5, mlp; pe.rows 8/16/32; ws/os) explored into `path`."""
    points = [
        Point(n, hw)
        for n in ("lenet5", "mlp")
        for hw in grid(hardware, {"pe.rows": [8, 16, 32], "pe.dataflow": ["ws", "os"]})
    ]
    explore(points, executor=serial(), store=path)
    return path
