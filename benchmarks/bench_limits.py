"""Refusal speed of the input limits (issue 17): each hostile input must be refused in under 1 s.

Run: PYTHONPATH=. python benchmarks/bench_limits.py [--repeat 3]
Each case runs the full command line (`accelsim.cli.main`, in process, so interpreter start-up
is not counted) on a file written to a temporary directory, and must exit with status 2:
- a sweep file whose grid is 100 x 100 x 100 x 100 = 10^8 points,
- a hardware file holding a 9-level YAML alias bomb (9^9 = 387 M scalars if expanded),
- a hardware file of 100,000 nested brackets,
- a sweep file of 100,000 nested brackets.
Reports the slowest of `--repeat` runs per case. Target: every case < 1.0 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

from accelsim.cli.main import main

TARGET_S = 1.0


def _alias_bomb(levels: int = 9) -> str:
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, levels):
        text += f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]\n"
    return text


def _cases(folder: Path) -> dict[str, list[str]]:
    values = "[" + ", ".join(str(v) for v in range(1, 101)) + "]"
    big = folder / "big_sweep.yaml"
    big.write_text(
        "hardware: scalesim_32x32\nnetworks: [resnet50]\ngrid:\n"
        + "".join(
            f"  {path}: {values}\n"
            for path in ("pe.rows", "pe.cols", "buffers.ifmap.size_bytes", "buffers.filter.size_bytes")
        )
    )
    bomb = folder / "bomb.yaml"
    bomb.write_text(_alias_bomb())
    deep = folder / "deep.yaml"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    store = str(folder / "never.sqlite")
    return {
        "sweep of 10^8 points": ["sweep", str(big), "--store", store],
        "alias bomb (hardware)": ["simulate", "--network", "lenet5", "--hardware", str(bomb)],
        "100k nested brackets (hardware)": ["simulate", "--network", "lenet5", "--hardware", str(deep)],
        "100k nested brackets (sweep)": ["sweep", str(deep), "--store", store],
    }


def run(repeat: int) -> bool:
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        for name, argv in _cases(Path(folder)).items():
            times = []
            for _ in range(repeat):
                err = io.StringIO()
                start = time.perf_counter()
                with contextlib.redirect_stderr(err):
                    status = main(argv)
                times.append(time.perf_counter() - start)
                assert status == 2, (name, status, err.getvalue())
            worst = max(times)
            ok &= worst < TARGET_S
            print(
                f"{name:34s} refused in {worst * 1e3:7.1f} ms (worst of {repeat})  "
                f"{'ok' if worst < TARGET_S else 'TOO SLOW'}  {err.getvalue().strip()[:90]}"
            )
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    sys.exit(0 if run(parser.parse_args().repeat) else 1)
