"""SCALE-Sim 3.0.0 sparse mode (layer-wise N:M) next to accelsim's N:M model (docs/validation.md).

Two halves:

* **Driver** (runs inside a Python that has ``scalesim``; it does not import accelsim). Same
  input as ``scripts/scalesim_run.py`` plus a per-layer ``"sparsity": "N:M"`` (the topology
  file's last column) and a ``"sparse"`` section for the cfg's ``[sparsity]``::

      {"array": [8, 8], "dataflow": "os", "sram_kb": [1024, 1024, 1024], "bandwidth": 64,
       "sparse": {"rep": "ellpack_block", "optimized": false, "block": 8, "seed": 40},
       "layers": [{"name": "fc", "ifmap_h": 3, "ifmap_w": 1, "filter_h": 1, "filter_w": 1,
                   "channels": 16, "num_filter": 8, "stride": 1, "sparsity": "2:4"}]}

  ``run_via`` (accelsim side) adds the cfg, topology and layout texts (``with_sparse_files``:
  the product's writers, then ``[sparsity]`` switched on) and runs the driver on them.

  Output (stdout, JSON): per layer the COMPUTE / DETAILED_ACCESS columns of scalesim_run.py,
  the sparse BANDWIDTH_REPORT columns (with ``avg_filter_metadata_sram_bw``) and the
  SPARSE_REPORT columns ``original_filter_storage``, ``new_storage``, ``metadata_storage``
  (SCALE-Sim's units: words of the filter matrix; metadata in 32-bit words).

* **Helpers** for the accelsim side (numpy only): the mask SCALE-Sim's layer-wise mode
  actually uses (:func:`layerwise_mask`), the reduction length it keeps
  (:func:`kept_reduction`) and the per-filter pattern of its ``OptimizedMapping`` mode
  (:func:`optimized_mapping_mask`).

What SCALE-Sim 3.0.0 models (read from ``compute/operand_matrix.py``,
``compute/systolic_compute_ws.py``, ``compute/compression.py``, ``single_layer_sim.py``):
with ``OptimizedMapping: false`` the pattern is *not* random and not taken from any weights:
reduction row ``j`` of the (window x filters) filter matrix is kept iff ``j % M < N``, for every
filter alike. The filter matrix is condensed to its kept rows and the ifmap matrix loses the
columns of the pruned reduction indices, so every dataflow runs the *dense* GEMM
``(m, k', n)`` with ``k' = kept_reduction(k, N, M)``. Only ws passes N:M to the compute model,
where it scales SRAM ifmap reads by ``M/N``. ``RandomNumberGeneratorSeed`` and ``BlockSize``
are used only by ``OptimizedMapping: true``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import scalesim_run  # noqa: E402  (scripts/scalesim_run.py: file writing, report reader)

SPARSE_BANDWIDTH_KEYS = (
    "avg_ifmap_sram_bw",
    "avg_filter_sram_bw",
    "avg_filter_metadata_sram_bw",
    "avg_ofmap_sram_bw",
    "avg_ifmap_dram_bw",
    "avg_filter_dram_bw",
    "avg_ofmap_dram_bw",
)
SPARSE_KEYS = ("original_filter_storage", "new_storage", "metadata_storage", "avg_filter_metadata_sram_bw")

_DENSE_SPARSITY_SECTION = """[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40
"""


# ------------------------------------------------------------------------------ helpers (accelsim side)


def kept_reduction(k: int, n: int, m: int) -> int:
    """Rows of SCALE-Sim's condensed filter matrix: reduction indices ``j < k`` with ``j % m < n``."""
    return (k // m) * n + min(k % m, n)


def scalesim_reduction_order(layer):
    """accelsim GEMM-view column index (``(cin, kh, kw)`` flattened) of each of SCALE-Sim's
    reduction indices ``j``, which SCALE-Sim orders ``(kh, kw, cin)`` (channel fastest)."""
    import numpy as np

    kind = type(layer).__name__
    if kind == "Conv2d":
        cin = layer.in_channels // layer.groups
        kh, kw = layer.kernel_size
        # accelsim index of (c, r, s) is c*kh*kw + r*kw + s; SCALE-Sim's is (r*kw + s)*cin + c.
        c, r, s = np.meshgrid(np.arange(cin), np.arange(kh), np.arange(kw), indexing="ij")
        acc = (c * kh * kw + r * kw + s).ravel()
        ss = ((r * kw + s) * cin + c).ravel()
        order = np.empty_like(acc)
        order[ss] = acc
        return order
    if kind == "Linear":
        return np.arange(layer.in_features)
    raise ValueError(f"{layer.name}: no weights to mask for {kind}")


def layerwise_mask(layer, n: int, m: int):
    """The weight-shaped bool mask SCALE-Sim's layer-wise ``N:M`` (``OptimizedMapping: false``)
    applies: SCALE-Sim reduction index ``j`` kept iff ``j % m < n``, for every filter."""
    import numpy as np

    shape = layer.weight_shape
    k = int(np.prod(shape[1:]))
    keep_ss = (np.arange(k) % m) < n
    keep = np.zeros(k, dtype=bool)
    keep[scalesim_reduction_order(layer)] = keep_ss
    return np.broadcast_to(keep, (shape[0], k)).reshape(shape).copy()


def optimized_mapping_mask(layer, block: int, seed: int):
    """SCALE-Sim's ``OptimizedMapping: true`` pattern: filter ``f`` keeps the first ``N_f`` of
    every ``block`` reduction indices, ``N_f = randint(1, block//2 + 1)`` drawn per filter from
    numpy's legacy RNG seeded with ``RandomNumberGeneratorSeed`` (reproducible)."""
    import numpy as np

    shape = layer.weight_shape
    k = int(np.prod(shape[1:]))
    state = np.random.RandomState(seed)  # the legacy generator np.random.seed() drives
    ns = [state.randint(1, block // 2 + 1) for _ in range(shape[0])]
    keep_ss = (np.arange(k)[None, :] % block) < np.array(ns)[:, None]
    out = np.zeros((shape[0], k), dtype=bool)
    out[:, scalesim_reduction_order(layer)] = keep_ss
    return out.reshape(shape), ns


# ------------------------------------------------------------------------------ driver (scalesim side)


def with_sparse_files(spec: dict) -> dict:
    """``scalesim_run.with_files`` (accelsim side) with the cfg's ``[sparsity]`` section switched on."""
    spec = scalesim_run.with_files(spec)
    sp = spec.get("sparse", {})
    section = (
        "[sparsity]\n"
        f"SparsitySupport : true\n"
        f"SparseRep : {sp.get('rep', 'ellpack_block')}\n"
        f"OptimizedMapping : {'true' if sp.get('optimized', False) else 'false'}\n"
        f"BlockSize : {sp.get('block', 8)}\n"
        f"RandomNumberGeneratorSeed : {sp.get('seed', 40)}\n"
    )
    cfg = spec["files"]["cfg"]
    if _DENSE_SPARSITY_SECTION not in cfg:
        raise RuntimeError(
            "accelsim.arch.scalesim_cfg.format_cfg changed: update scalesim_sparse._DENSE_SPARSITY_SECTION"
        )
    return dict(spec, files=dict(spec["files"], cfg=cfg.replace(_DENSE_SPARSITY_SECTION, section)))


def _read_sparse(path: str) -> list[dict]:
    import csv

    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh)][1:]
    out = []
    for row in rows:
        vals = [v.strip() for v in row[2:] if v.strip() != ""]  # LayerID, representation, ...
        out.append({"sparse_rep": row[1].strip(), **{k: float(v) for k, v in zip(SPARSE_KEYS, vals)}})
    return out


def run(spec: dict) -> dict:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accelsim_scalesim_sparse_") as tmp:
        cfg, topo, layout = scalesim_run.write_files(spec, tmp)
        rep = scalesim_run.run_scalesim(cfg, topo, layout, tmp)
        compute = scalesim_run._read_report(
            os.path.join(rep, "COMPUTE_REPORT.csv"), scalesim_run.COMPUTE_KEYS
        )
        detail = scalesim_run._read_report(
            os.path.join(rep, "DETAILED_ACCESS_REPORT.csv"), scalesim_run.DETAIL_KEYS
        )
        bandwidth = scalesim_run._read_report(
            os.path.join(rep, "BANDWIDTH_REPORT.csv"), SPARSE_BANDWIDTH_KEYS
        )
        sparse = _read_sparse(os.path.join(rep, "SPARSE_REPORT.csv"))
    layers = []
    for layer, c, d, b, s in zip(spec["layers"], compute, detail, bandwidth, sparse):
        layers.append(
            {"name": layer.get("name", ""), "sparsity": layer.get("sparsity", "1:1"), **c, **d, **b, **s}
        )
    return {
        "scalesim_version": scalesim_run.scalesim_version(),
        "seconds": time.perf_counter() - t0,
        "layers": layers,
    }


def run_via(python: str, spec: dict, timeout: float | None = None) -> dict:
    """Run this script under ``python`` (a scalesim interpreter) and return its JSON."""
    return scalesim_run.run_script(python, __file__, with_sparse_files(spec), "SCALE-Sim sparse run", timeout)


def main(argv: list[str]) -> int:
    return scalesim_run.serve(run, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
