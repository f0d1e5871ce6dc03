"""The trackingbms command, run as a user runs it: real processes, real pseudo-terminals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "hub"]
ADMIN_PASSWORD = "cli-test-admin-password"


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Path]:
    """`trackingbms simulate daly` in its own process, with 13 cells."""
    link = tmp_path / "daly-link"
    process = subprocess.Popen(
        [*CLI, "simulate", "daly", "--link", str(link), "--cells", "13", "--temps", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert wait_until(link.exists, 60), "simulator did not create its link"
    yield link
    process.send_signal(signal.SIGINT)
    process.wait(timeout=20)


def test_read_prints_the_simulators_reading(simulator: Path) -> None:
    result = run_cli("read", "daly", "--port", str(simulator), "--json")
    assert result.returncode == 0, result.stderr
    reading = json.loads(result.stdout)
    assert len(reading["cells"]) == 13
    assert len(reading["temperatures"]) == 3
    assert reading["voltage"] == pytest.approx(sum(reading["cells"]), abs=0.1)


def test_read_with_fixed_address_and_no_device(tmp_path: Path) -> None:
    result = run_cli("read", "daly", "--port", str(tmp_path / "missing"), "--address", "0x80")
    assert result.returncode == 1
    assert "cannot open" in result.stderr


def test_decode_prints_fields() -> None:
    # tomatensaus RS485 capture, daly.md §1.4 0x90: 51.5 V, raw current 30500, SOC 82.4 %.
    result = run_cli("decode", "daly", "A5 01 90 08 02 03 00 00 77 24 03 38 19", "--json")
    assert result.returncode == 0, result.stderr
    decoded = json.loads(result.stdout)[0]
    assert decoded["command"] == "pack_status"
    assert decoded["fields"]["voltage"]["value"] == pytest.approx(51.5)
    bad = run_cli("decode", "daly", "A5 01 90 08 02 03 00 00 77 24 03 38 18")
    assert bad.returncode == 1 and "checksum" in bad.stdout.lower()


def test_plugins_lists_builtins() -> None:
    result = run_cli("plugins", "--json")
    assert result.returncode == 0
    states = {p["name"]: p["state"] for p in json.loads(result.stdout)}
    builtins = (
        "accounts",
        "alerts",
        "banks",
        "clients",
        "daly",
        "derive",
        "energy",
        "foxbms",
        "greenbms",
        "modbus",
        "mqtt",
        "notify",
    )
    assert states == dict.fromkeys((*builtins, "replay", "thingset", "uplink", "webui"), "loaded")


def test_check_config(tmp_path: Path) -> None:
    assert run_cli("check-config").returncode == 0  # the shipped default config
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "batteries:\n  - id: a\n    driver: daly\n    port: /dev/ttyUSB0\n  - id: b\n    driver: daly\n    port: 42\n"
    )
    result = run_cli("check-config", "--config", str(bad))
    assert result.returncode == 1
    assert f"{bad}:7: batteries[1].port: expected a serial device path" in result.stderr


def test_run_serves_a_reading_within_10_s_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`make run` in short: the default config, simulated batteries, live API."""
    port = free_port()
    # The default config requires login; the first start creates `admin` with this password.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRACKINGBMS_ADMIN_PASSWORD": ADMIN_PASSWORD}
    process = subprocess.Popen(
        [*CLI, "run", "--data-dir", str(tmp_path / "data"), "--http-port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    started = time.monotonic()
    assert "starting" in first_line

    token: list[str] = []

    def reading() -> bool:
        try:
            if not token:
                token.append(_login(port))
            data = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/bms/data/garage", headers={"Authorization": f"Bearer {token[0]}"}
            )
            with urllib.request.urlopen(data, timeout=2) as answer:
                return bool(json.load(answer)["data"]["cells"])
        except OSError:
            return False

    assert wait_until(reading, 10.0), "no reading within 10 s of the first log line"
    assert time.monotonic() - started < 10.0
    # Without a token the API refuses.
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/bms/data/garage", timeout=10)
    assert anonymous.value.code == 401
    # The default config keeps control writes off: the hub refuses, and says why.
    url = f"http://127.0.0.1:{port}"
    refused = run_cli("configure", "garage", "charge_mos", "off", "--url", url, "--token", token[0])
    assert refused.returncode == 1
    assert refused.stderr.startswith("403: control writes are disabled for garage")
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "TrackingBMS stopped" in output


def _login(port: int) -> str:
    body = json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode()
    login = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(login, timeout=10) as answer:
        return str(json.load(answer)["data"]["access_token"])


def test_scan_finds_a_d2_board_after_trying_a5(tmp_path: Path) -> None:
    link = tmp_path / "d2"
    process = subprocess.Popen(
        [*CLI, "simulate", "daly_modbus", "--link", str(link), "--protocol", "d2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(link.exists, 60)
        result = run_cli("scan", "--port", str(link), "--no-ble")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    assert result.returncode == 0, result.stderr
    tried = [line.split("trying ")[1] for line in result.stderr.splitlines() if "trying" in line]
    assert tried == ["daly (address=0x40)...", "daly (address=0x80)...", "daly_modbus (protocol=d2)..."]
    assert "driver: daly_modbus" in result.stdout and "protocol: d2" in result.stdout


def test_scan_finds_the_simulator_and_prints_a_snippet(tmp_path: Path) -> None:
    link = tmp_path / "uart"
    process = subprocess.Popen(
        [*CLI, "simulate", "daly", "--link", str(link), "--address", "0x80", "--cells", "5"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(link.exists, 60)
        result = run_cli("scan", "--port", str(link), "--no-ble")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    assert result.returncode == 0, result.stderr
    assert f"{link}: trying daly (address=0x40)" in result.stderr  # RS485 first, then UART (daly.md §0)
    assert "'cells': 5" in result.stderr
    assert "probing 1 serial port(s)" in result.stderr
    snippet = result.stdout.split("\n", 1)[1]
    config = tmp_path / "scanned.yaml"
    config.write_text(snippet)
    assert run_cli("check-config", "--config", str(config)).returncode == 0
    assert "address: '0x80'" in snippet
