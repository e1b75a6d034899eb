"""`accelsim export scalesim|network` and the resolution of `--network` / `--hardware` strings.

Part of the CLI shell: notes from importers go to stderr as ``accelsim: note: ...`` lines.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from accelsim.arch.hardware import Hardware, load_hardware
from workloads.network import Network

__all__ = ["HARDWARE_HELP", "NETWORK_HELP", "register", "resolve_hardware", "resolve_network"]

NETWORK_HELP = (
    "zoo network (see `accelsim list networks`), trainable model (lenet_digits, mlp_digits), "
    "a file (.onnx, SCALE-Sim topology .csv, network .yaml) or module:function returning "
    "(nn.Module, example_input)"
)
HARDWARE_HELP = "preset name, hardware YAML file or SCALE-Sim .cfg"


def _note(notes: Any) -> None:
    for note in notes:
        print(f"accelsim: note: {note}", file=sys.stderr)


def resolve_network(spec: str, input_size: int | None) -> Network:
    """The network ``--network`` names; a missing optional dependency becomes a one-line CLI error."""
    from accelsim.cli.main import CliError
    from workloads.importers.errors import MissingExtraError
    from workloads.importers.source import NetworkSpecError, load_network

    try:
        imported = load_network(spec, input_size=input_size)
    except NetworkSpecError as exc:  # names --network and the spec itself
        raise CliError(str(exc)) from None
    except (MissingExtraError, ValueError, KeyError) as exc:
        message = exc.args[0] if type(exc) is KeyError and exc.args else exc
        raise CliError(f"--network: {message}") from None
    _note(imported.notes)
    return imported.network


def resolve_hardware(spec: str) -> Hardware:
    """A preset, a hardware YAML file or a SCALE-Sim ``.cfg``."""
    if spec.lower().endswith(".cfg"):
        from accelsim.arch.scalesim_cfg import read_cfg

        cfg = read_cfg(spec)
        _note(cfg.notes)
        return cfg.hardware
    return load_hardware(spec)


def _cmd_export(args: argparse.Namespace) -> int:
    from accelsim.cli.main import _load_hardware

    network = resolve_network(args.network, args.input_size)
    if args.format == "network":
        from workloads.importers.network_yaml import dump_network

        out = Path(args.out)
        out.write_text(dump_network(network), encoding="utf-8")
        print(f"network {network.name} ({len(network)} layers) written to {out}")
        return 0
    from accelsim.arch.scalesim_cfg import write_scalesim

    hardware = _load_hardware(args.hardware, args.set)
    files = write_scalesim(network, hardware, args.out)
    _note(files.notes)
    print(f"SCALE-Sim files for {network.name} on {hardware.name} written to {args.out}:")
    for path in (files.cfg, files.topology, files.layout):
        print(f"  {path}")
    results = str(Path(args.out) / "results")
    print("run them with SCALE-Sim 3.0.0:\n  " + shlex.join(files.command(results=results)))
    return 0


def register(commands: Any) -> None:
    """Add ``export`` to the CLI's subcommands."""
    cmd = commands.add_parser("export", help="write a network as SCALE-Sim files or as a network YAML file")
    cmd.add_argument(
        "format",
        choices=["scalesim", "network"],
        help="scalesim: topology.csv, layout.csv and scalesim.cfg in --out DIR; "
        "network: the network YAML file --out FILE (what --network reads back)",
    )
    cmd.add_argument("--network", default="resnet50", help=NETWORK_HELP)
    cmd.add_argument("--hardware", default="scalesim_32x32", help=HARDWARE_HELP + " (scalesim only)")
    cmd.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="what-if override of a hardware field, e.g. --set pe.rows=64 (repeatable)",
    )
    cmd.add_argument(
        "--input-size",
        type=int,
        default=None,
        metavar="PIXELS",
        help="square input resolution for zoo convolutional networks",
    )
    cmd.add_argument(
        "--out", required=True, metavar="PATH", help="directory (scalesim) or YAML file (network)"
    )
    cmd.set_defaults(func=_cmd_export)
