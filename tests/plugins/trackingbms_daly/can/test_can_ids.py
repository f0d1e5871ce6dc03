"""Daly CAN identifiers: the captured IDs of the corpus, round trips and classification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trackingbms_daly.can import ids
from trackingbms_daly.errors import DalyProtocolError

FIXTURES = json.loads((Path(__file__).parents[3] / "fixtures/daly/frames.json").read_text())
CAN = [e for e in FIXTURES if e["protocol"] == "can"]
bytes_ = st.integers(0, 0xFF)


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['can_id']}|{entry['hex'][:8]}|{entry['source'][-30:]}"


def test_the_corpus_has_can_requests_and_answers() -> None:
    assert {e["direction"] for e in CAN} == {"request", "response"}
    assert all(e["extended_id"] for e in CAN)


@pytest.mark.parametrize("entry", CAN, ids=_id)
def test_fixture_ids_split_into_the_listed_fields(entry: dict[str, Any]) -> None:
    # Sources: mr-manuel/venus-os_dbus-serialbattery#249 and ai-republic/bms-to-inverter#34/#81 (entry["source"]).
    decoded = entry["decoded"]
    parts = ids.parse_id(int(entry["can_id"], 16))
    assert f"0x{parts.priority:02X}" == decoded["priority"], entry["source"]
    assert f"0x{parts.data_id:02X}" == decoded["data_id"], entry["source"]
    assert f"0x{parts.destination:02X}" == decoded["target"], entry["source"]
    assert f"0x{parts.source:02X}" == decoded["source"], entry["source"]
    assert parts.value == int(entry["can_id"], 16)


@pytest.mark.parametrize("entry", CAN, ids=_id)
def test_fixture_ids_classify_by_direction(entry: dict[str, Any]) -> None:
    can_id = int(entry["can_id"], 16)
    parts = ids.parse_id(can_id)
    if entry["direction"] == "request":
        assert ids.is_request(can_id) and not ids.is_reply(can_id), entry["source"]
        assert ids.request_id(parts.data_id, parts.destination) == can_id
    else:
        assert ids.is_reply(can_id) and not ids.is_request(can_id), entry["source"]
        assert ids.reply_id(parts.data_id, parts.source) == can_id


def test_documented_examples() -> None:
    # daly.md §2.1: 0x18900140 = 0x90 to BMS 1; the answer is 0x18904001.
    assert ids.request_id(0x90, 1) == 0x18900140
    assert ids.reply_id(0x90, 1) == 0x18904001


@pytest.mark.parametrize("entry", [e for e in CAN if "logged_id_in_source" in e], ids=_id)
def test_mr_manuel_logged_ids_are_his_cache_rewrite(entry: dict[str, Any]) -> None:
    # https://github.com/mr-manuel/venus-os_dbus-serialbattery/issues/249: frame n of 0x95 is logged
    # as id + 0x100000 + (n << 16); the bus ID itself is the plain answer ID.
    frame = bytes.fromhex(entry["hex"])[0]
    logged = int(entry["logged_id_in_source"], 16)
    assert ids.mr_manuel_cache_id(int(entry["can_id"], 16), frame) == logged
    # It reads as an answer with data id 0xA6/0xA7, so a driver waiting for 0x95 never takes it.
    assert ids.parse_id(logged).data_id == 0x95 + 0x10 + frame


@given(data_id=bytes_, board=bytes_.filter(lambda b: b != ids.HOST), host=bytes_)
def test_request_and_reply_ids_round_trip(data_id: int, board: int, host: int) -> None:
    request = ids.request_id(data_id, board, host)
    reply = ids.reply_id(data_id, board, host)
    assert ids.parse_id(request) == ids.DalyCanId(ids.PRIORITY, data_id, board, host)
    assert ids.parse_id(reply) == ids.DalyCanId(ids.PRIORITY, data_id, host, board)
    assert request <= ids.MAX_ID and reply <= ids.MAX_ID
    if board != host:
        assert ids.is_request(request, host) and ids.is_reply(reply, host)
        assert not ids.is_reply(request, host) and not ids.is_request(reply, host)


@given(can_id=st.integers(0, ids.MAX_ID))
def test_parse_then_build_is_the_identity(can_id: int) -> None:
    parts = ids.parse_id(can_id)
    assert ids.build_id(parts.data_id, parts.destination, parts.source, parts.priority) == can_id


@given(can_id=st.integers(-(2**40), 2**40))
def test_classifiers_never_raise(can_id: int) -> None:
    assert isinstance(ids.is_reply(can_id), bool)
    assert isinstance(ids.is_request(can_id), bool)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ids.parse_id(1 << 29), "29-bit"),
        (lambda: ids.parse_id(-1), "29-bit"),
        (lambda: ids.request_id(0x100, 1), "data id"),
        (lambda: ids.request_id(0x90, 256), "destination"),
        (lambda: ids.build_id(0x90, 1, 0x40, priority=0x20), "priority"),
    ],
)
def test_out_of_range_values_are_protocol_errors(call: Any, match: str) -> None:
    with pytest.raises(DalyProtocolError, match=match):
        call()


def test_other_traffic_is_not_a_reply() -> None:
    # The "new" H/K/M/S register IDs (daly.md §2.4) and our own requests are not answers.
    assert not ids.is_reply(0x0400_4001)
    assert not ids.is_reply(ids.request_id(0x90, 1))
    assert not ids.is_reply(ids.build_id(0x90, 0x40, 0x40))
