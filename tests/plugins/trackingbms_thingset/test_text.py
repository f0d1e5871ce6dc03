"""Text mode: every spec v0.6 example, the device-library v0.4 vectors and the real captures parse as listed."""

from __future__ import annotations

import json

import pytest
from trackingbms_thingset.errors import NotThingSetError, ThingSetError
from trackingbms_thingset.status import TEXT_FUNCTIONS, Function
from trackingbms_thingset.text import (
    TextReport,
    TextRequest,
    TextResponse,
    dumps,
    format_report,
    format_request,
    format_response,
    parse_message,
)

from tests.plugins.trackingbms_thingset.harness import fixture

# Spec v0.6 text_mode.md examples (CC-BY-SA-4.0, thingset.github.io @ 901e8f9).
SPEC = fixture("spec_v0.6_text_examples.json")
# bms-firmware #29, bms-c1 #45, PR #77 captures and thingset-device-library v0.4 test vectors.
CAPTURES = fixture("captured_messages.json")


@pytest.mark.parametrize("example", SPEC["request_response"], ids=lambda e: e["name"])
def test_spec_request_response_pairs(example: dict[str, str]) -> None:
    request = parse_message(example["request"])
    assert isinstance(request, TextRequest)
    assert TEXT_FUNCTIONS[example["request"][0]] is request.function
    response = parse_message(example["response"])
    assert isinstance(response, TextResponse)
    assert f":{response.status:02X}" == example["response"][:3]
    _, _, rest = example["response"].partition(" ")
    if rest:
        assert response.has_payload and response.payload == json.loads(rest)
    else:
        assert not response.has_payload


def test_spec_requests_name_their_functions() -> None:
    names = {e["name"]: parse_message(e["request"]) for e in SPEC["request_response"]}
    assert names["GET group"] == TextRequest(Function.GET, "Bat")
    assert names["FETCH names (discovery)"] == TextRequest(Function.GET, "Bat", None, True)
    assert names["FETCH names (discovery)"].name == "FETCH"
    assert names["FETCH values"] == TextRequest(Function.GET, "Bat", ["rVoltage_V"], True)
    assert names["UPDATE"] == TextRequest(Function.UPDATE, "Load", {"wEnable": False}, True)
    assert names["CREATE"] == TextRequest(Function.CREATE, "mLive_", "Bat/rCurrent_A", True)
    assert names["DELETE"] == TextRequest(Function.DELETE, "mLive_", "Load/rPower_W", True)
    assert names["EXEC"] == TextRequest(Function.EXEC, "Device/xReset")
    assert names["EXEC auth"] == TextRequest(Function.EXEC, "Device/xAuth", "mypass", True)
    assert names["List nodes behind gateway"] == TextRequest(Function.GET, "/", None, True)


def test_spec_gateway_response_and_diagnostics() -> None:
    gateway = parse_message(':85/ ["C001CAFE01234567","DEADC0DEBAADCODE"]')
    assert gateway == TextResponse(0x85, ["C001CAFE01234567", "DEADC0DEBAADCODE"], True, "", None)
    assert parse_message(":C5") == TextResponse(0xC5)
    assert parse_message(':A3 "Item is read-only"') == TextResponse(0xA3, "Item is read-only", True)
    assert parse_message(':84 {"sTargetVoltage_V":14.1}').payload == {"sTargetVoltage_V": 14.1}


def test_spec_report() -> None:
    report = parse_message(SPEC["reports"][0])
    assert isinstance(report, TextReport)
    assert report.path == "mLive_"
    assert report.payload["Bat"] == {"rVoltage_V": 12.9, "rCurrent_A": -3.14}
    assert report.payload["t_s"] == 460677600


def test_device_library_v04_vectors_with_status_text() -> None:
    vectors = CAPTURES["library_test_vectors"][0]
    responses = [parse_message(p["response"]) for p in vectors["pairs"]]
    assert responses[0] == TextResponse(0x85, ["report", "info"], True, None, "Content")
    assert responses[1] == TextResponse(0x84, None, False, None, "Changed")
    assert responses[3] == TextResponse(0x82, None, False, None, "Deleted")
    assert responses[4] == TextResponse(0x81, None, False, None, "Created")
    assert parse_message(vectors["pairs"][1]["request"]) == TextRequest(
        Function.UPDATE, ".pub/report", {"Enable": True}, True
    )
    v03, v04 = (parse_message(r) for r in vectors["reports"])
    assert v03 == TextReport("", {"Timestamp_s": 12345678, "Bat_V": 14.10, "Bat_A": 5.13, "Ambient_degC": 22})
    assert isinstance(v04, TextReport) and v04.path == "info" and v04.payload["DeviceID"] == "ABCD1234"


@pytest.mark.parametrize(
    ("line", "status", "text", "payload"),
    [
        (":A4 Not Found.", 0xA4, "Not Found", None),
        (":85. [1,2]", 0x85, "", [1, 2]),
        (':85 Content. {"a":1}', 0x85, "Content", {"a": 1}),
        (":85 12.9", 0x85, None, 12.9),
        (":85 true", 0x85, None, True),
        (":85 null", 0x85, None, None),
    ],
)
def test_response_variants(line: str, status: int, text: str | None, payload: object) -> None:
    response = parse_message(line)
    assert isinstance(response, TextResponse)
    assert (response.status, response.status_text, response.payload) == (status, text, payload)


def test_real_bms_c1_response_reassembled() -> None:
    # bms-c1 #45: the user spread the ?Meas response over lines; the device sends one line.
    capture = CAPTURES["captures"][1]
    line = ":85 " + json.dumps(capture["response_json"], separators=(",", ":"))
    response = parse_message(line)
    assert isinstance(response, TextResponse) and response.payload == capture["response_json"]


def test_shell_lines_of_pr_77_parse_without_their_prefix() -> None:
    preset, ocv = (line.removeprefix("thingset ") for line in CAPTURES["captures"][2]["lines"])
    assert parse_message(preset) == TextRequest(Function.EXEC, "Conf/xPresetLFP", [45], True)
    update = parse_message(ocv)
    assert isinstance(update, TextRequest) and len(update.payload["sOcvPoints_V"]) == 21


@pytest.mark.parametrize("line", ["E: BMS hardware initialization failed, retrying in 10s", "", "thingset ?Meas", "*"])
def test_foreign_lines_are_not_thingset(line: str) -> None:
    with pytest.raises(NotThingSetError):
        parse_message(line)


@pytest.mark.parametrize(
    "line",
    [
        "?Meas {bad",
        ":8",
        ":ZZ",
        ":05 {}",
        "#mLive 5",
        "=Input 3",
        '?Meas "x"',
        "#mLive",
        "?Meas " + "[" * 5000 + "]" * 5000,
        ":85 {",
    ],
)
def test_malformed_messages_raise_the_protocol_error(line: str) -> None:
    with pytest.raises(ThingSetError):
        parse_message(line)


def test_dumps_prints_the_items_decimals() -> None:
    payload = {"Meas": {"rPackVoltage_V": 26.1, "rCellVoltages_V": [3.27, 3.2], "rErrorFlags": 0, "ok": True}}
    decimals = {"rPackVoltage_V": 2, "rCellVoltages_V": 3}
    text = dumps(payload, decimals)
    assert text == '{"Meas":{"rPackVoltage_V":26.10,"rCellVoltages_V":[3.270,3.200],"rErrorFlags":0,"ok":true}}'
    assert json.loads(text)["Meas"]["rCellVoltages_V"] == [3.27, 3.2]
    assert dumps(float("nan")) == "null"


def test_formatting_round_trips() -> None:
    assert format_request("?", "Meas") == "?Meas"
    assert format_request("=", "Input", '{"wChgEnable":false}') == '=Input {"wChgEnable":false}'
    assert format_response(0x85, "[1]") == ":85 [1]"
    assert format_response(0x84, None, "Changed") == ":84 Changed."
    assert format_report("", '{"a":1}') == '# {"a":1}'
    request = parse_message(format_request("=", "Input", dumps({"wChgEnable": False})))
    assert request == TextRequest(Function.UPDATE, "Input", {"wChgEnable": False}, True)
    response = parse_message(format_response(0x85, dumps([1.5]), "Content"))
    assert response == TextResponse(0x85, [1.5], True, None, "Content")
    with pytest.raises(ThingSetError):
        format_request("#", "mLive")
