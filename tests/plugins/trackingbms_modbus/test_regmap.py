"""Register maps: the shipped ones load; a broken map is reported as file:line: path: message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from trackingbms_modbus.regmap import Function, MapError, ValueType, load_map, map_reference, shipped_maps
from trackingbms_modbus.regmap.model import Target

from hub.config.loader import ConfigError
from hub.reading import AlarmLevel, TemperatureKind
from tests.helpers import HubFactory

GOOD = """\
name: test_map
function: holding
registers:
  - {name: voltage, address: 0, scale: 0.01, unit: V, field: voltage}
  - {name: cells, address: 1, count: 4, scale: 0.001, unit: V, field: cells}
  - {name: status, address: 5, type: bitfield, field: alarms, bits: {0: Over voltage, 3: {name: hot, level: alarm}}}
"""


def write(tmp_path: Path, text: str, name: str = "map.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def issues_of(path: Path) -> list[str]:
    with pytest.raises(MapError) as caught:
        load_map(path)
    return [str(issue) for issue in caught.value.issues]


def test_every_shipped_map_loads() -> None:
    assert set(shipped_maps()) >= {"seplos_v3", "seplos_v3_ems", "renogy_smart_lfp"}
    for name in shipped_maps():
        regmap = load_map(name)
        assert regmap.name == name
        assert regmap.sources, f"{name} cites no source"
        assert any(r.target is not None and r.target.field == "voltage" for r in regmap.registers)


def test_seplos_map_reads_as_documented() -> None:
    regmap = load_map("seplos_v3")
    cells = regmap.register("cell_voltages")
    assert (cells.function, cells.address, cells.count, cells.scale) == (Function.INPUT, 0x1100, 16, 0.001)
    assert cells.target == Target("cells", 1)
    assert regmap.register("power_temperature").kind == TemperatureKind.MOS
    assert regmap.register("fet_state").bits[1].field == "charge_mos"
    alarms = regmap.alarm_bits()
    assert alarms["cell_over_voltage_protection"].level == "alarm"
    assert alarms["cell3_low_voltage"].text == "Cell 3 low voltage"  # each_bit template
    assert (regmap.defaults.baudrate, regmap.defaults.parity) == (19200, "N")


def test_a_good_map_builds_bits_and_levels(tmp_path: Path) -> None:
    regmap = load_map(write(tmp_path, GOOD))
    status = regmap.register("status")
    assert status.type == ValueType.BITFIELD
    assert status.bits[0].name == "over_voltage" and status.bits[0].level == "warning"
    assert status.bits[3].alarm_level == AlarmLevel.ALARM


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # YAML syntax error
        ("registers:\n  - {name: a, address: 1\n", "map.yaml:3: YAML syntax error"),
        # unknown key, bad type name, bad address
        (GOOD + "  - {name: x, address: 9, colour: red}\n", "map.yaml:7: registers[3].colour: unknown key"),
        (GOOD + "  - {name: x, address: 9, type: u17}\n", "map.yaml:7: registers[3].type: value must be one of"),
        (GOOD + "  - {name: x, address: 0x1FFFF}\n", "map.yaml:7: registers[3].address: address 131071 is outside"),
        # overlapping registers in the same table
        (GOOD + "  - {name: x, address: 3}\n", "map.yaml:7: registers[3].address: x at 0x0003 overlaps cells"),
        # a unit that is not the field's SI unit
        (GOOD + "  - {name: x, address: 9, unit: mA, field: current}\n", "registers[3].unit: current is stored in A"),
        # a bit beyond the entry, an unknown field, a field filled twice
        (
            GOOD + "  - {name: x, address: 9, type: bitfield, bits: {16: oops}}\n",
            "registers[3].bits[16]: bit 16 is beyond",
        ),
        (GOOD + "  - {name: x, address: 9, field: voltag}\n", "registers[3].field: unknown field 'voltag'"),
        (
            GOOD + "  - {name: x, address: 9, field: voltage}\n",
            "registers[3].field: voltage is already filled by voltage",
        ),
        # references and widths
        (GOOD + "  - {name: x, address: 9, count_for: nothing}\n", "registers[3].count_for: no entry named 'nothing'"),
        (GOOD + "  - {name: x, address: 9, type: string}\n", "registers[3].length: a string needs its length"),
        (
            GOOD + "  - {name: x, address: 9, function: coils, type: u16}\n",
            "registers[3].type: function 1 reads single",
        ),
        (GOOD + "  - {name: cells, address: 9}\n", "registers[3].name: duplicate name 'cells'"),
    ],
)
def test_broken_maps_name_file_line_and_path(tmp_path: Path, text: str, expected: str) -> None:
    found = issues_of(write(tmp_path, text))
    assert any(expected in issue for issue in found), found


def test_a_nested_bit_error_points_at_the_bit_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        registers:
          - name: status
            address: 7
            type: bitfield
            bits:
              0: ok
              2: {name: two, level: severe}
        """,
    )
    assert issues_of(path) == [f"{path}:7: registers[0].bits[2].level: expected level warning, alarm or none"]


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        max_registers: 4
        registers:
          - {name: a, address: 0, count: 8}
          - {name: b, address: 2, unit: degF, field: temperatures}
          - {name: c, address: 20, type: bitfield, each_bit: {name: "cell{x}"}}
        """,
    )
    found = issues_of(path)
    assert found[0].startswith(f"{path}:3: registers[0].count: the entry needs 8 registers but one request")
    assert any(":4: registers[1].address: b at 0x0002 overlaps a" in i for i in found)
    assert any(":4: registers[1].unit: temperatures is stored in °C" in i for i in found)
    assert any(":5: registers[2].each_bit.name: only {n}" in i for i in found)


def test_map_references_in_a_battery_entry(tmp_path: Path) -> None:
    assert map_reference("seplos_v3") == "seplos_v3"
    with pytest.raises(Exception, match="no shipped map 'seplos_v9'"):
        map_reference("seplos_v9")
    broken = write(tmp_path, GOOD + "  - {name: x, address: 3}\n")
    with pytest.raises(Exception, match=r"map.yaml:7: registers\[3\].address"):
        map_reference(str(broken))
    assert map_reference("maps/relative.yaml") == "maps/relative.yaml"  # checked when the driver starts


async def test_the_hub_reports_a_broken_map_with_its_line(tmp_path: Path, start_hub: HubFactory) -> None:
    broken = write(tmp_path, GOOD + "  - {name: x, address: 9, type: u17}\n", "broken.yaml")
    config = """
        hub: {{data_dir: {data_dir}}}
        http: {{enabled: false}}
        logging: {{file: null}}
        batteries:
          - {{id: b1, driver: modbus, map: MAP, host: 127.0.0.1}}
    """.replace("MAP", str(broken))
    with pytest.raises(ConfigError) as caught:
        await start_hub(config)
    text = str(caught.value)
    assert "batteries[0].map" in text
    assert "broken.yaml:7: registers[3].type: value must be one of" in text
