"""Fuzz suite (issue 17): generated malformed inputs for every loader and the CLI. A loader may
return a valid object or raise one of its named errors; anything else fails.

Each loader is one `Loader` row in `LOADERS`: how to load a file, which named errors it may
raise, and valid seed files that the byte-level strategy mutates. Text loaders (YAML) also get
structured mutations: a seed's data with one field replaced by a random value. To fuzz a new
loader, add a row. Example counts are small (about 1,200 inputs in all) so `make test` stays quick.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hostile_inputs import alias_bomb, deep_nesting
from hypothesis import HealthCheck, given, settings, strategies as st

from accelsim.arch.hardware import HardwareError, load_hardware
from accelsim.arch.scalesim_cfg import format_cfg, read_cfg
from accelsim.cli.main import main
from accelsim.dse.store import Store, StoreError
from accelsim.dse.sweep_config import SweepConfigError, load_sweep
from pruning import Masks
from pruning.masks import MaskFileError
from workloads.datasets import IdxFormatError, load_idx
from workloads.importers import ImportFormatError
from workloads.importers.network_yaml import dump_network, read_network
from workloads.importers.onnx_import import from_onnx
from workloads.importers.scalesim_topology import format_topology, network_rows, read_topology
from workloads.npz import NpzFormatError, read_npz
from workloads.strict_yaml import StrictYAMLError

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HARDWARE_YAML = load_hardware("sparse_edge_16x16").to_yaml()
SWEEP_YAML = """\
hardware: [scalesim_32x32, edge_16x16]
networks: [lenet5, {name: mlp, params: {}}]
modes: [analytical]
pruning: [null, {granularity: unstructured, amount: 0.5}]
grid:
  pe.dataflow: [ws, os]
zip:
  pe.rows: [8, 16]
  pe.cols: [8, 16]
sample: {n: 4, seed: 1}
executor: {kind: serial}
store: s.sqlite
on_error: record
"""


def _masks_npz() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.npz"
        dense = Masks.dense(_lenet5())
        kept = {name: np.arange(mask.size).reshape(mask.shape) % 3 > 0 for name, mask in dense.items()}
        Masks(kept).save(path)
        return path.read_bytes()


def _idx(dtype_code: int, array: np.ndarray) -> bytes:
    header = bytes([0, 0, dtype_code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@cache
def _store_bytes() -> bytes:
    from accelsim.dse import Point

    base = load_hardware("scalesim_32x32")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.sqlite"
        with Store(path) as store:
            for rows in (8, 16):
                point = Point("lenet5", base.replace("pe.rows", rows))
                store.put(point.key, point.to_dict(), {"point_key": point.key, "cycles": rows * 100})
            store.put_error("bad", {"network": "x"}, "ValueError: boom")
        return path.read_bytes()


def _load_store(path: Path) -> object:
    with Store(path) as store:
        return store.tidy(), store.failures(), len(store)


def _load_idx_gz(path: Path) -> object:
    gz = path.with_name(path.name + ".gz")
    path.rename(gz)
    return load_idx(gz)


def _lenet5():
    from workloads.zoo import get_network

    return get_network("lenet5")


def _topology_seeds() -> list[bytes]:
    rows, _ = network_rows(_lenet5())
    return [format_topology(rows).encode(), b"Layer, M, N, K,\nfc1, 1, 120, 400,\nfc2, 1, 84, 120,\n"]


def _cfg_seeds() -> list[bytes]:
    return [format_cfg(load_hardware(name))[0].encode() for name in ("scalesim_32x32", "edge_16x16")]


@cache
def _onnx_seed() -> bytes:
    """A small Conv -> Relu -> Flatten -> Gemm graph with its weights, built with onnx.helper."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((10, 4 * 6 * 6)).astype(np.float32), "fc"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "fuzz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model.SerializeToString()


@dataclass(frozen=True)
class Loader:
    name: str
    load: Callable[[Path], object]  # reads the file at the path
    errors: tuple[type[BaseException], ...]  # the named errors it may raise
    seeds: Callable[[], list[bytes]]  # valid files to mutate
    suffix: str = ""
    yaml_text: bool = False  # also fuzz it with structured YAML mutations


def _idx_seeds() -> list[bytes]:
    return [
        _idx(0x08, np.arange(24, dtype=np.uint8).reshape(2, 3, 4)),
        _idx(0x0D, np.linspace(0, 1, 5, dtype=">f4")),
    ]


LOADERS = [
    Loader("hardware YAML", load_hardware, (HardwareError,), lambda: [HARDWARE_YAML.encode()], ".yaml", True),
    Loader(
        "sweep YAML",
        lambda p: load_sweep(p, max_points=64),
        (SweepConfigError,),
        lambda: [SWEEP_YAML.encode()],
        ".yaml",
        True,
    ),
    Loader("masks npz", Masks.load, (MaskFileError,), lambda: [_masks_npz()], ".npz"),
    Loader("npz", lambda p: read_npz(p, where=str(p)), (NpzFormatError,), lambda: [_masks_npz()], ".npz"),
    Loader("IDX", load_idx, (IdxFormatError,), _idx_seeds),
    Loader(
        "IDX gzip",
        _load_idx_gz,
        (IdxFormatError,),
        lambda: [gzip.compress(seed, mtime=0) for seed in _idx_seeds()],
    ),
    Loader("results store", _load_store, (StoreError,), lambda: [_store_bytes()], ".sqlite"),
    Loader("SCALE-Sim topology", read_topology, (ImportFormatError,), _topology_seeds, ".csv"),
    Loader("SCALE-Sim cfg", read_cfg, (HardwareError,), _cfg_seeds, ".cfg"),
    Loader(
        "network YAML",
        read_network,
        (ImportFormatError, StrictYAMLError),
        lambda: [dump_network(_lenet5()).encode()],
        ".yaml",
        True,
    ),
    Loader("ONNX", from_onnx, (ImportFormatError,), lambda: [_onnx_seed()], ".onnx"),
]


# ---- strategies ---------------------------------------------------------------------------------
def _mutate(data: bytes, edits: list[tuple[int, int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, position, length, payload in edits:
        at = position % (len(out) + 1)
        if kind == 0 and out:  # overwrite bytes
            out[at : at + len(payload)] = payload
        elif kind == 1:  # delete a span
            del out[at : at + length]
        elif kind == 2:  # insert bytes
            out[at:at] = payload
        elif kind == 3:  # duplicate a span
            out[at:at] = out[at : at + length]
        else:  # truncate
            del out[at:]
    return bytes(out)


_edit = st.tuples(
    st.integers(0, 4), st.integers(0, 1 << 20), st.integers(1, 64), st.binary(min_size=1, max_size=8)
)


def _mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.builds(_mutate, st.sampled_from(seeds), st.lists(_edit, min_size=1, max_size=4)),
        st.binary(max_size=300),
    )


_words = st.sampled_from(["ws", "os", "int8", "skipping", "bsr", ".inf", "lenet5"])
_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(), st.text(max_size=12), _words
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _replaced(copy[path[0]], path[1:], value)
    return copy


@st.composite
def _structured(draw: st.DrawFn, seed_text: str) -> bytes:
    data = yaml.safe_load(seed_text)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        data = _replaced(data, path, draw(_value))
    return yaml.safe_dump(data, allow_unicode=True).encode()


def _check(loader: Loader, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{loader.suffix}"
        path.write_bytes(data)
        try:
            loader.load(path)
        except loader.errors as exc:
            message = str(exc)
            assert message and "\n" not in message.strip(), message
            assert len(message) < 2000, message[:200]


# ---- the tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.name)
def test_seeds_load(loader: Loader) -> None:
    for seed in loader.seeds():
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"input{loader.suffix}"
            path.write_bytes(seed)
            assert loader.load(path) is not None


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.name)
def test_mutated_bytes_give_a_value_or_a_named_error(loader: Loader) -> None:
    @settings(FUZZ, max_examples=100)
    @given(data=_mutated(loader.seeds()))
    def run(data: bytes) -> None:
        _check(loader, data)

    run()


@pytest.mark.parametrize("loader", [row for row in LOADERS if row.yaml_text], ids=lambda loader: loader.name)
def test_structured_yaml_mutations_give_a_value_or_a_named_error(loader: Loader) -> None:
    @settings(FUZZ, max_examples=80)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        _check(loader, data.draw(_structured(loader.seeds()[0].decode())))

    run()


def test_weight_cache_entries_are_used_or_rebuilt_never_raised() -> None:
    import hashlib

    from workloads import weight_cache
    from workloads.models import mlp_digits
    from workloads.training import TrainResult

    model = mlp_digits()
    with tempfile.TemporaryDirectory() as folder:
        seed_path = Path(folder) / "seed.npz"
        weight_cache._write_entry(seed_path, TrainResult(model, (1.0, 0.5), (0.5, 0.9)))
        seed = seed_path.read_bytes()

    @settings(FUZZ, max_examples=100)
    @given(data=_mutated([seed]), matching_checksum=st.booleans())
    def run(data: bytes, matching_checksum: bool) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "entry.npz"
            path.write_bytes(data)
            checksum = hashlib.sha256(data).hexdigest() if matching_checksum else data[:64].hex()
            Path(f"{path}.sha256").write_bytes(checksum.encode())
            result = weight_cache._read_entry(path, model)
            assert result is None or set(result.model.weights) == set(model.weights)

    run()


# ---- the CLI ------------------------------------------------------------------------------------
_junk = st.text(max_size=12)  # any code points but surrogates
_set_value = st.one_of(
    st.sampled_from(
        [
            "pe.rows=0",
            "pe.rows=99999999999",
            "pe.dataflow=rs",
            "pe=[1]",
            "clock_mhz=.nan",
            "dram.bandwidth_bytes_per_cycle=-.inf",
            "name=",
            "buffers.glb.size_bytes=4",
            "sparsity.weights.mode=skipping",
            "pe.rows=[[[[[[1]]]]]]",
            "=",
            "pe.rows",
            "a.b.c=1",
        ]
    ),
    st.builds(
        lambda p, v: f"{p}={v}",
        st.sampled_from(["pe.rows", "pe.cols", "clock_mhz", "dram.latency_cycles", "power"]),
        _junk,
    ),
)


@st.composite
def _argv(draw: st.DrawFn, folder: Path) -> list[str]:
    existing = draw(
        st.sampled_from(
            [
                "s.sqlite",
                "foreign.sqlite",
                "garbage.bin",
                "dir",
                "missing/x",
                "bomb.yaml",
                "deep.yaml",
                "sweep.yaml",
            ]
        )
    )
    target = str(folder / existing)
    command = draw(st.sampled_from(["simulate", "simulate", "simulate", "sweep", "plot", "list", "codesign"]))
    if command == "simulate":
        argv = [
            "simulate",
            "--mode",
            "analytical",
            "--network",
            draw(st.sampled_from(["lenet5", "mlp", "lenet_digits", "nonet", ""])),
        ]
        for _ in range(draw(st.integers(0, 3))):
            argv += draw(
                st.sampled_from(
                    [
                        ["--set", draw(_set_value)],
                        ["--hardware", draw(st.sampled_from(["edge_16x16", target, "x.yaml"]))],
                        ["--input-size", str(draw(st.one_of(st.integers(-3, 40), _junk)))],
                        ["--masks", target],
                        ["--json", draw(st.sampled_from([target, str(folder / "out.json")]))],
                        ["--bogus"],
                    ]
                )
            )
        return argv
    if command == "sweep":
        store = draw(st.sampled_from(["s.sqlite", "new.sqlite", "dir"]))
        limit = str(draw(st.integers(-1, 8)))
        return ["sweep", target, "--store", str(folder / store), "--max-points", limit]
    if command == "plot":
        return [
            "plot",
            target,
            "--kind",
            draw(st.sampled_from(["pareto", "heatmap", "scatter", "energy", "speedup"])),
            "--x",
            draw(st.sampled_from(["cycles", "pe.rows", "nope"])),
            "--y",
            "energy_pj",
            "--out",
            str(folder / draw(st.sampled_from(["fig", "dir/x", "garbage.bin"]))),
        ]
    if command == "list":
        return [
            "list",
            draw(st.sampled_from(["networks", "presets", "energy-tables", "nothing"])),
            "--hardware",
            draw(st.sampled_from(["edge_16x16", target])),
        ]
    return [
        "codesign",
        "--out",
        str(folder / draw(st.sampled_from(["dir", "garbage.bin", "garbage.bin/x"]))),
        "--network",
        draw(st.sampled_from(["lenet_digits", "resnet50"])),
        "--no-progress",
    ]


def _cli_folder(folder: Path) -> None:
    (folder / "s.sqlite").write_bytes(_store_bytes())
    with sqlite3.connect(folder / "foreign.sqlite") as db:
        db.execute("CREATE TABLE t (x)")
    (folder / "garbage.bin").write_bytes(os.urandom(512))
    (folder / "dir").mkdir()
    (folder / "dir" / "thesis.tex").write_text("precious")
    (folder / "bomb.yaml").write_text(alias_bomb())
    (folder / "deep.yaml").write_text(deep_nesting(5000))
    (folder / "sweep.yaml").write_text(SWEEP_YAML.replace("store: s.sqlite\n", ""))


def test_cli_never_raises_a_traceback(tmp_path: Path) -> None:
    _cli_folder(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".sqlite"}

    @settings(FUZZ, max_examples=160)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        argv = data.draw(_argv(tmp_path))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status: object
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse: usage mistakes
                status = exc.code
        assert status in (0, 2), (argv, status, err.getvalue())
        if status == 2:
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in lines[0], (argv, err.getvalue())
        (tmp_path / "out.json").unlink(missing_ok=True)

    run()
    # Nothing the user had was replaced: the fuzzed commands could only add files.
    assert all(path.read_bytes() == data for path, data in before.items())
