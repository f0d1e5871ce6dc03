"""The ``trackingbms`` command: run, check-config, plugins, read, decode, simulate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub import __version__
from hub.batteries import battery_config
from hub.config import ConfigError, load_config
from hub.config.loader import render_entries
from hub.core import DEFAULT_CONFIG, Hub
from hub.export import add_export_command
from hub.plugins import PluginManager
from hub.scan import Found, candidate_ports, discover, scan_ports
from hub.specs import DataError, DriverContext, LinkError
from hub.storage.backup import add_backup_commands
from hub.storage.migrate import add_migrate_command


def _plugins(config: Path | None) -> PluginManager:
    """Discover plugins, honouring ``plugins.disabled`` of the config when it can be read."""
    disabled: list[str] = []
    if config is not None and config.exists():
        with contextlib.suppress(ConfigError):
            section = load_config(config).data.get("plugins") or {}
            disabled = list(section.get("disabled") or []) if isinstance(section, dict) else []
    manager = PluginManager()
    manager.discover(disabled)
    manager.collect()
    return manager


def cmd_run(args: argparse.Namespace) -> int:
    """Run the hub until SIGINT/SIGTERM."""
    hub = Hub(
        args.config, data_dir=args.data_dir, http_host=args.http_host, http_port=args.http_port, plugins=args.manager
    )
    try:
        hub.load(discover=False)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    asyncio.run(hub.run_forever())
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config without starting anything."""
    hub = Hub(args.config, plugins=args.manager)
    for info in args.manager.infos():
        if info.state == "failed":
            print(f"warning: plugin {info.name} failed to load: {info.error}", file=sys.stderr)
    try:
        data = hub.load(discover=False)
    except ConfigError as err:
        print(err, file=sys.stderr)
        print(f"{len(err.issues)} error(s) in {args.config}", file=sys.stderr)
        return 1
    print(f"{args.config}: OK ({len(data['batteries'])} batteries, {len(data['simulators'])} simulators)")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """List plugins with their state and what they provide."""
    manager: PluginManager = args.manager
    rows = []
    for info in manager.infos():
        provides = [
            f"{reg.kind}:{name}"
            for reg in (
                manager.drivers,
                manager.simulators,
                manager.processors,
                manager.notifiers,
                manager.auth_providers,
            )
            for name, owner in reg.owners.items()
            if owner == info.name
        ]
        rows.append({**info.to_dict(), "provides": provides})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']:<16} {row['state']:<9} {row['distribution'] or '-'} {row['version'] or ''}")
        if row["provides"]:
            print(f"{'':<16} provides {', '.join(row['provides'])}")
        if row["error"]:
            print(f"{'':<16} error: {row['error']}")
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    """Read one battery once and print the normalized reading."""
    manager: PluginManager = args.manager
    spec = manager.drivers.get(args.driver)
    assert spec is not None and spec.options_from_args is not None
    try:
        entry = {"id": "cli", "driver": args.driver, **spec.options_from_args(args)}
    except vol.Invalid as err:
        print(f"invalid option: {err}", file=sys.stderr)
        return 2
    config = battery_config(entry)
    driver = spec.factory(config, DriverContext(Path.cwd()))

    async def read_once() -> Any:
        try:
            await driver.connect()
            return await driver.poll()
        finally:
            await driver.close()

    try:
        reading = asyncio.run(read_once())
    except LinkError as err:
        print(f"no answer: {err}", file=sys.stderr)
        return 1
    except DataError as err:
        print(f"the BMS answered, but with unusable data: {err}", file=sys.stderr)
        return 1
    data = reading.with_derived().to_dict()
    print(json.dumps(data, indent=2) if args.json else _human(data))
    return 0


def _human(data: dict[str, Any]) -> str:
    lines = [f"{key}: {value}" for key, value in data.items() if value not in (None, [], {})]
    return "\n".join(lines)


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode captured frames and print their fields."""
    manager: PluginManager = args.manager
    spec = manager.drivers.get(args.driver)
    assert spec is not None and spec.decode is not None
    results = spec.decode(args.frames)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print(json.dumps(result))
    return 0 if all("error" not in r for r in results) else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    """Serve a simulated device until interrupted."""
    manager: PluginManager = args.manager
    spec = manager.simulators.get(args.kind)
    assert spec is not None and spec.options_from_args is not None
    try:
        options = spec.options_from_args(args)
    except vol.Invalid as err:
        print(f"invalid option: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        simulator = spec.factory(options, Path.cwd())
        await simulator.start()
        print(f"simulating {args.kind} on {simulator.link} (Ctrl-C to stop)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await simulator.stop()

    asyncio.run(serve())
    return 0


def cmd_configure(args: argparse.Namespace) -> int:
    """Send a control write to a running hub (so it is checked, confirmed and audited there)."""
    value: Any = args.value
    try:
        if args.action == "soc":
            value = float(args.value)
        elif args.action == "restart":
            value = None
        elif str(args.value).lower() not in ("on", "off"):
            raise ValueError(f"{args.action} takes on or off")
    except (TypeError, ValueError) as err:
        print(f"invalid value: {err}" if args.value is not None else f"{args.action} needs a value", file=sys.stderr)
        return 2
    body = json.dumps({"action": args.action, "value": value}).encode()
    url = f"{args.url.rstrip('/')}/api/v1/bms/configure/{args.battery}"
    headers = {"Content-Type": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"  # an API token or an access token (docs/auth.md)
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            print(json.dumps(json.load(answer)["data"], indent=2))
            return 0
    except urllib.error.HTTPError as err:
        print(f"{err.code}: {json.load(err).get('message')}", file=sys.stderr)
    except OSError as err:
        print(f"cannot reach the hub at {args.url}: {err}", file=sys.stderr)
    return 1


def cmd_scan(args: argparse.Namespace) -> int:
    """Probe serial ports and Bluetooth, then print a config snippet for what answered."""
    manager: PluginManager = args.manager
    # Named ports replace the automatic list, so a scan never touches other devices unasked.
    ports = [] if args.no_serial else (candidate_ports(args.port) if args.port else candidate_ports())

    async def run() -> list[Found]:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"probing {len(ports)} serial port(s)", file=sys.stderr, flush=True)
            found = await scan_ports(manager, ports, Path(tmp))
            if not args.no_ble:
                found += await discover(manager, args.ble_seconds)
            return found

    found = asyncio.run(run())
    if not found:
        print("nothing found", file=sys.stderr)
        return 1
    for number, item in enumerate(found, start=1):
        item.entry["id"] = f"battery{number}"  # serial and Bluetooth finds numbered as one list
    print("# Paste into config/trackingbms.yaml:")
    print(render_entries([f.entry for f in found]), end="")
    return 0


def build_parser(manager: PluginManager) -> argparse.ArgumentParser:
    """The argument parser; read/decode/simulate get one sub-command per registered plugin."""
    parser = argparse.ArgumentParser(prog="trackingbms", description="TrackingBMS battery monitoring hub")
    parser.add_argument("--version", action="version", version=f"trackingbms {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the hub")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    run.add_argument("--http-host")
    run.add_argument("--http-port", type=int)
    run.add_argument("--data-dir", type=Path)
    run.set_defaults(func=cmd_run)
    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    check.set_defaults(func=cmd_check_config)
    plugins = commands.add_parser("plugins", help="list plugins and their state")
    plugins.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)
    scan = commands.add_parser("scan", help="find BMS on serial ports and Bluetooth, print a config snippet")
    scan.add_argument(
        "--port", action="append", default=[], help="probe this port instead of the usual ones (repeatable)"
    )
    scan.add_argument("--no-serial", action="store_true", help="do not probe serial ports")
    scan.add_argument("--no-ble", action="store_true", help="do not scan for Bluetooth devices")
    scan.add_argument("--ble-seconds", type=float, default=8.0, help="how long to scan Bluetooth")
    scan.set_defaults(func=cmd_scan)
    configure = commands.add_parser("configure", help="switch MOSFETs, set SOC or restart a BMS via the hub")
    configure.add_argument("battery", help="battery id")
    configure.add_argument("action", choices=["charge_mos", "discharge_mos", "soc", "restart"])
    configure.add_argument("value", nargs="?", default=None, help="on/off for MOSFETs, 0-100 for soc")
    configure.add_argument("--url", default="http://127.0.0.1:8080", help="the running hub")
    configure.add_argument(
        "--token",
        default=os.environ.get("TRACKINGBMS_TOKEN"),
        help="API token when the hub requires login (default: $TRACKINGBMS_TOKEN)",
    )
    configure.set_defaults(func=cmd_configure)
    add_backup_commands(commands)
    add_migrate_command(commands)
    add_export_command(commands)
    _driver_commands(commands, manager)
    return parser


def _driver_commands(commands: Any, manager: PluginManager) -> None:
    read = commands.add_parser("read", help="read a battery once").add_subparsers(dest="driver", required=True)
    decode = commands.add_parser("decode", help="decode captured frames").add_subparsers(dest="driver", required=True)
    simulate = commands.add_parser("simulate", help="run a device simulator").add_subparsers(dest="kind", required=True)
    for spec in manager.drivers:
        if spec.add_read_arguments and spec.options_from_args:
            sub = read.add_parser(spec.name, help=spec.description)
            spec.add_read_arguments(sub)
            sub.add_argument("--json", action="store_true", help="print JSON")
            sub.set_defaults(func=cmd_read, manager=manager)
        if spec.decode:
            sub = decode.add_parser(spec.name, help=f"decode {spec.name} frames")
            sub.add_argument("frames", nargs="+", metavar="FRAME", help="a frame as hex")
            sub.add_argument("--json", action="store_true", help="print one JSON document")
            sub.set_defaults(func=cmd_decode, manager=manager)
    for sim in manager.simulators:
        if sim.add_arguments and sim.options_from_args:
            sub = simulate.add_parser(sim.name, help=sim.description)
            sim.add_arguments(sub)
            sub.set_defaults(func=cmd_simulate, manager=manager)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m hub``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config = Path(argv[argv.index("--config") + 1]) if "--config" in argv[:-1] else DEFAULT_CONFIG
    manager = _plugins(config)
    parser = build_parser(manager)
    args = parser.parse_args(argv)
    args.manager = manager
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
