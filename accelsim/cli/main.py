"""The `accelsim` command line. The only place that prints; library errors become one line and exit 2."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

from accelsim.dse.outputs import check_output_file, write_text_atomic
from workloads.quoting import short

EXIT_USAGE = 2


class CliError(Exception):
    """A user mistake: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (naming the command and pointing at --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def parse_value(option: str, raw: str) -> object:
    """A command-line value as YAML (``64``, ``ws``, ``[1, 2]``), bounded like any YAML we read."""
    from workloads import strict_yaml

    try:
        return strict_yaml.load(raw, source=option)
    except strict_yaml.StrictYAMLError as exc:
        raise CliError(f"cannot parse value {short(raw)}: {exc}") from None


def _parse_override(text: str) -> tuple[str, object]:
    path, sep, raw = text.partition("=")
    if not sep or not path:
        raise CliError(f"--set: expected PATH=VALUE (e.g. pe.rows=64), got {short(text)}")
    return path, parse_value(f"--set {short(path)}", raw)


def _load_hardware(spec: str, overrides: Sequence[str]):
    from accelsim.cli.export import resolve_hardware

    hardware = resolve_hardware(spec)
    for text in overrides:
        path, value = _parse_override(text)
        hardware = hardware.replace(path, value)
    return hardware


def _format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def render_report(report) -> str:
    headers = [
        "layer",
        "kind",
        "MACs",
        "folds",
        "cycles",
        "stall",
        "util%",
        "map_eff%",
        "DRAM_KiB",
        "energy_uJ",
    ]
    rows = [
        [
            layer.name,
            layer.kind,
            f"{layer.macs:,}",
            f"{layer.folds:,}",
            f"{layer.cycles:,}",
            f"{layer.total_stall_cycles:,}",
            f"{100 * layer.utilisation:.1f}",
            f"{100 * layer.mapping_efficiency:.1f}",
            f"{layer.dram_bytes / 1024:,.1f}",
            f"{layer.energy_pj * 1e-6:,.2f}",
        ]
        for layer in report.layers
    ]
    stalls = ", ".join(f"{cause} {cycles:,}" for cause, cycles in report.stall_cycles.items() if cycles)
    by_component = ", ".join(
        f"{name} {pj * 1e-6:,.1f}"
        for name, pj in sorted(report.energy_by_component_pj().items(), key=lambda kv: -kv[1])
    )
    summary = [
        f"network {report.network} on {report.hardware} ({report.mode} mode, {report.clock_mhz:g} MHz)",
        f"  layers          {len(report.layers)}",
        f"  MACs            {report.macs:,}",
        f"  cycles          {report.cycles:,} (compute {report.compute_cycles:,}; stalls: {stalls or 'none'})",
        f"  time            {report.seconds * 1e3:,.3f} ms",
        f"  energy          {report.energy_uj:,.1f} uJ ({by_component} uJ)",
        f"  utilisation     {100 * report.utilisation:.1f}% of {report.pe_count} PEs",
        f"  area            {report.area_mm2:,.3f} mm2 (PE array, vector unit, SRAM)",
    ]
    return _format_table(headers, rows) + "\n\n" + "\n".join(summary)


def _network(spec: str, input_size: int | None):
    """The network ``--network`` names: zoo, trainable model, file or module:function."""
    from accelsim.cli.export import resolve_network

    return resolve_network(spec, input_size)


def render_sparsity(report) -> str:
    """Ideal against achieved speedup over the dense run, and where the difference went."""
    losses = ", ".join(f"{cause} {cycles:,.0f}" for cause, cycles in report.speedup_losses_cycles().items())
    compacted = [
        layer.name for layer in report.layers if layer.sparse and layer.sparse.compacted_weight_shape
    ]
    lines = [
        f"  dense cycles    {report.dense_cycles:,}",
        f"  speedup         {report.achieved_speedup:.2f}x achieved, {report.ideal_speedup:.2f}x ideal",
        f"  lost cycles     {losses} (channel_compaction: a gain)",
    ]
    if compacted:
        lines.append(
            f"  compacted       {len(compacted)} layer(s) without their pruned channels: {', '.join(compacted)}"
        )
    return "\n".join(lines)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from accelsim.timing.simulate import simulate

    if args.json:
        check_output_file(args.json, force=args.force, what="the JSON report")
    network = _network(args.network, args.input_size)
    hardware = _load_hardware(args.hardware, args.set)
    masks = _load_masks(args.masks, network) if args.masks else None
    report = simulate(network, hardware, mode=args.mode, masks=masks, compact_channels=not args.no_compact)
    print(render_report(report))
    if masks is not None:
        print(render_sparsity(report))
    if args.json:
        write_text_atomic(args.json, report.to_json(indent=1))
        print(f"\nreport written to {args.json}")
    return 0


def _load_masks(path: str, network):
    """A masks file for every weighted layer of ``network``: a file covering only some layers is
    refused, since the rest would silently run dense."""
    from pruning import Masks

    masks = Masks.load(path)
    try:
        masks.check_network(network)
    except ValueError as exc:
        raise CliError(f"--masks {path}: {exc}") from None
    weighted = [layer.name for layer in network if layer.weight_shape]
    missing = [name for name in weighted if name not in masks]
    if missing:
        raise CliError(
            f"--masks {path}: covers {len(weighted) - len(missing)} of the {len(weighted)} weighted "
            f"layers of {network.name}; missing {short(missing)}"
        )
    return masks


def _cmd_list(args: argparse.Namespace) -> int:
    if args.what == "networks":
        from workloads.zoo import get_network, list_networks

        for name in list_networks():
            network = get_network(name)
            print(f"{name:22s} {len(network):4d} layers  {network.total_macs / 1e9:8.3f} GMACs")
    elif args.what == "presets":
        from accelsim.arch.hardware import list_presets, load_hardware

        for name in list_presets():
            hw = load_hardware(name)
            print(
                f"{name:18s} {hw.pe.rows}x{hw.pe.cols} {hw.pe.dataflow}  {hw.clock_mhz:g} MHz  {hw.datatypes.ifmap}"
            )
    else:
        from accelsim.arch.energy import list_energy_tables, load_energy_table
        from accelsim.arch.hardware import load_hardware

        reference = load_hardware(args.hardware)
        for name in list_energy_tables():
            print(f"# {name} (priced for {reference.name})")
            for component, action, value, unit, source in load_energy_table(name, reference).entries():
                print(f"{component:12s} {action:12s} {value:12.4g} {unit:8s} {source}")
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from workloads.weight_cache import cache_dir, clear_cache

    if args.action == "clear":
        removed = clear_cache()
        print(f"removed {removed} cached file(s) from {cache_dir()}")
    else:
        print(cache_dir())
    return 0


MAX_INPUT_PIXELS = 8192


def whole_number(unit: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an int in ``low..high`` (no upper bound if None); errors name ``unit``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number of {unit}, got {text[:40]!r}") from None
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {bound} {unit}, got {value}")
        return value

    return parse


_input_size = whole_number("pixels", 1, MAX_INPUT_PIXELS)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="accelsim", description="Cycle-approximate DNN accelerator simulator.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser("simulate", help="simulate a network on a hardware preset or YAML file")
    from accelsim.cli.export import HARDWARE_HELP, NETWORK_HELP

    sim.add_argument("--network", default="resnet50", help=NETWORK_HELP)
    sim.add_argument("--hardware", default="scalesim_32x32", help=HARDWARE_HELP)
    sim.add_argument(
        "--mode",
        default="event",
        choices=["event", "analytical"],
        help="simulation mode: event (SimPy, default) or analytical (closed form)",
    )
    sim.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="what-if override of a hardware field, e.g. --set pe.rows=64 (repeatable)",
    )
    sim.add_argument(
        "--input-size",
        type=_input_size,
        default=None,
        metavar="PIXELS",
        help="square input resolution for convolutional networks",
    )
    sim.add_argument(
        "--masks",
        metavar="NPZ",
        help="pruning masks to simulate with, e.g. the masks_searched.npz "
        "`accelsim codesign` writes (pruning.Masks.save)",
    )
    sim.add_argument(
        "--no-compact",
        action="store_true",
        help="keep layers at their specified size even where the masks empty whole channels",
    )
    sim.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    sim.add_argument("--force", action="store_true", help="replace an existing --json file")
    sim.set_defaults(func=_cmd_simulate)

    lister = commands.add_parser("list", help="list networks, presets or energy tables")
    lister.add_argument("what", choices=["networks", "presets", "energy-tables"])
    lister.add_argument(
        "--hardware",
        default="scalesim_32x32",
        help="hardware the energy tables are priced for (energy-tables only)",
    )
    lister.set_defaults(func=_cmd_list)

    cache = commands.add_parser("cache", help="manage the trained-weight cache")
    cache.add_argument(
        "action", choices=["clear", "path"], help="clear: delete cached weights; path: print the folder"
    )
    cache.set_defaults(func=_cmd_cache)
    from accelsim.cli.sweep import register

    register(commands)
    from accelsim.cli.codesign import register as register_codesign

    register_codesign(commands)
    from accelsim.cli.export import register as register_export

    register_export(commands)
    return parser


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: unwind (closing stores, removing partial outputs) and exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split())[:2000] or type(exc).__name__


#: What a user's mistake raises: our named errors (all ValueError, KeyError, OSError or ImportError
#: subclasses: HardwareError, SweepConfigError, StoreError, MaskFileError, UnknownNetworkError, ...).
USER_ERRORS = (CliError, ValueError, KeyError, OSError, ImportError)


def main(argv: Sequence[str] | None = None) -> int:
    in_main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    handlers = (
        {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        if in_main_thread
        else {}
    )
    for signum in handlers:
        signal.signal(signum, _raise_interrupted)
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except KeyboardInterrupt as exc:
        number = exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)
        print(
            f"accelsim: interrupted by {signal.Signals(number).name}; finished work is kept "
            "(a sweep resumes where it stopped)",
            file=sys.stderr,
        )
        return 128 + number
    except USER_ERRORS as exc:
        print(f"accelsim: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
