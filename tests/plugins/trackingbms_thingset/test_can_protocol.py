"""CAN: identifiers, the generated multi-frame mLive report, single-frame and legacy reports, ISO-TP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from trackingbms_thingset.binary import BinaryReport, decode_binary
from trackingbms_thingset.can.ids import (
    CanKind,
    MfType,
    legacy_pub_id,
    legacy_reqresp_id,
    mf_report_id,
    parse_id,
    reqresp_id,
    sf_report_id,
)
from trackingbms_thingset.can.isotp import FlowControl, IsoTpChannel, IsoTpReceiver, flow_control, segment
from trackingbms_thingset.can.reports import MultiFrameAssembler, decode_single, split_report
from trackingbms_thingset.eras import ERAS
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.values import build_reading, measures_from_ids

from tests.plugins.trackingbms_thingset.harness import fixture, generated

# Generated from thingset-zephyr-sdk can.c rules (fixture README); device-library v0.4 test_bin.c vectors.
MF = generated("can_mf_report_mLive_ids_values")
SF = generated("can_sf_reports_legacy_v23")
LEGACY = generated("can_pub_legacy_2021")
ISOTP = generated("can_isotp_get_meas_request")
LIBRARY = fixture("captured_messages.json")["library_test_vectors"][1]["can_pub"]


def _frames(example: dict[str, Any]) -> list[tuple[int, bytes]]:
    return [(int(f["id_hex"], 16), bytes.fromhex(f["data_hex"].replace(" ", ""))) for f in example["frames"]]


def test_mf_identifiers_parse_as_listed() -> None:
    for frame in MF["frames"]:
        parts = parse_id(int(frame["id_hex"], 16))
        assert parts.kind is CanKind.MULTI_FRAME_REPORT
        assert (parts.priority, parts.msg_no, parts.seq, parts.source) == (
            frame["prio"],
            frame["msg_no"],
            frame["seq_no"],
            frame["source_addr"],
        )
        assert parts.mf_type is not None and parts.mf_type.name.lower() == frame["mf_type"]


def test_mf_report_reassembles_to_the_listed_values() -> None:
    assembler = MultiFrameAssembler()
    results = [assembler.feed(can_id, data) for can_id, data in _frames(MF)]
    assert results[:-1] == [None] * 15
    assert results[-1] is not None
    source, message = results[-1]
    assert source == 1 and message.hex(" ").upper() == MF["thingset_message_hex"]
    report = decode_binary(message)
    assert isinstance(report, BinaryReport) and report.endpoint == MF["decoded"]["endpoint_id"]
    assert report.payload == {int(k, 16): v for k, v in MF["decoded"]["values_by_id"].items()}
    reading = build_reading("pack", measures_from_ids(ERAS["2024"], report.payload))
    assert (reading.voltage, reading.current, reading.soc, len(reading.cells)) == (26.15, -1.23, 67.5, 8)


def test_split_reproduces_the_frames() -> None:
    assert split_report(bytes.fromhex(MF["thingset_message_hex"].replace(" ", "")), source=1) == _frames(MF)
    assert split_report(b"\x1f\x18\x31\xa0", source=5) == [(mf_report_id(0, MfType.SINGLE, 0, 5), b"\x1f\x18\x31\xa0")]


def test_sequence_number_wraps_past_16_frames() -> None:
    message = bytes(range(200))  # 25 frames, like a 16-cell report
    frames = split_report(message, source=7, msg_no=2)
    assert len(frames) == 25 and parse_id(frames[16][0]).seq == 0
    assembler = MultiFrameAssembler()
    assert [r for r in (assembler.feed(*f) for f in frames) if r] == [(7, message)]


def test_gaps_and_missing_first_frames_drop_the_message() -> None:
    frames = _frames(MF)
    assembler = MultiFrameAssembler()
    assert [assembler.feed(*f) for f in frames[:5] + frames[6:]] == [None] * 15
    assert [assembler.feed(*f) for f in frames[1:]] == [None] * 15
    assert assembler.dropped >= 2
    # Two nodes interleaved are reassembled separately.
    other = [(can_id & ~0xFF | 0x02, data) for can_id, data in frames]
    done = [
        r for pair in zip(frames, other, strict=True) for r in (assembler.feed(*pair[0]), assembler.feed(*pair[1])) if r
    ]
    assert [source for source, _ in done] == [1, 2]


@pytest.mark.parametrize("frame", SF["frames"], ids=lambda f: f["item"])
def test_v23_single_frame_reports(frame: dict[str, Any]) -> None:
    can_id = int(frame["id_hex"], 16)
    parts = parse_id(can_id)
    assert parts.kind is CanKind.SINGLE_FRAME_REPORT and parts.data_id == int(frame["item_id_hex"], 16)
    assert sf_report_id(parts.data_id, 1) == can_id
    if not frame["sent"]:
        return  # rCellVoltages_V never fits one classic frame (legacy.md §2.6)
    value = decode_single(can_id, bytes.fromhex(frame["data_hex"].replace(" ", "")))
    assert (value.source, value.value) == (1, frame["value"])
    assert ERAS["2023"].by_id(value.data_id).name == frame["item"]  # type: ignore[union-attr]


@pytest.mark.parametrize("frame", LEGACY["frames"], ids=lambda f: f["item"])
def test_2021_legacy_reports(frame: dict[str, Any]) -> None:
    can_id = int(frame["id_hex"], 16)
    value = decode_single(can_id, bytes.fromhex(frame["data_hex"].replace(" ", "")))
    assert parse_id(can_id).kind is CanKind.LEGACY_REPORT and legacy_pub_id(value.data_id, 10) == can_id
    assert (value.source, value.value) == (LEGACY["default_node_addr"], frame["value"])
    assert ERAS["2021-05"].by_id(value.data_id).name == frame["item"]  # type: ignore[union-attr]


@pytest.mark.parametrize("vector", LIBRARY, ids=lambda v: v["id_hex"])
def test_device_library_can_vectors(vector: dict[str, str]) -> None:
    value = decode_single(int(vector["id_hex"], 16), bytes.fromhex(vector["data_hex"].replace(" ", "")))
    assert value.source == 123
    expected = {0x71: 14.10, 0x72: 5.13}[value.data_id]
    assert value.value == pytest.approx(expected, abs=1e-6)


def test_single_value_keeps_extra_bytes() -> None:
    value = decode_single(sf_report_id(0x7C, 1), bytes.fromhex("fa42870000 1234".replace(" ", "")))
    assert value.value == 67.5 and value.extra == b"\x12\x34"
    with pytest.raises(ThingSetError):
        decode_single(sf_report_id(0x7C, 1), b"")
    with pytest.raises(ThingSetError):
        decode_single(reqresp_id(1, 0), b"\x00")


def test_request_response_identifiers() -> None:
    frame = ISOTP["frames"][0]
    assert reqresp_id(target=1, source=0) == int(frame["id_hex"], 16)
    assert reqresp_id(target=0, source=1) == int(ISOTP["response_id_hex"], 16)
    assert segment(bytes.fromhex(ISOTP["thingset_message_hex"].replace(" ", ""))) == [bytes.fromhex("020107")]
    parts = parse_id(legacy_reqresp_id(10, 0))
    assert (parts.kind, parts.target, parts.source) == (CanKind.LEGACY_REQUEST_RESPONSE, 10, 0)
    network = parse_id(0x1312ABFE)
    assert (network.kind, network.priority, network.target, network.source) == (CanKind.NETWORK, 4, 0xAB, 0xFE)


def test_isotp_segmentation_and_reassembly() -> None:
    message = bytes(range(200))
    frames = segment(message)
    assert (
        len(frames) == 1 + 28
        and frames[0][:2] == b"\x10\xc8"
        and frames[1][0] == 0x21
        and frames[15][0] == 0x2F
        and frames[16][0] == 0x20
    )
    receiver = IsoTpReceiver()
    assert receiver.feed(frames[0]) == (None, True)
    results = [receiver.feed(frame) for frame in frames[1:]]
    assert results[-1] == (message, False) and all(r == (None, False) for r in results[:-1])
    with pytest.raises(ThingSetError):
        receiver.feed(frames[2])  # a consecutive frame with no transfer going on
    assert FlowControl.parse(flow_control(8, 1)) == FlowControl(0, 8, 0.001)
    with pytest.raises(ThingSetError):
        segment(b"")


async def test_isotp_channels_talk_with_flow_control() -> None:
    # Two channels wired back to back, as host and node on a bus: 300 bytes in blocks of 8 frames.
    host_to_node: list[bytes] = []
    node_to_host: list[bytes] = []
    node: IsoTpChannel
    host: IsoTpChannel

    async def host_write(data: bytes) -> None:
        host_to_node.append(data)
        node.on_frame(data)

    async def node_write(data: bytes) -> None:
        node_to_host.append(data)
        host.on_frame(data)

    host = IsoTpChannel(host_write)
    node = IsoTpChannel(node_write, block_size=8, st_min_ms=1)
    message = bytes(i % 256 for i in range(300))
    await host.send(message)
    assert await node.receive(5.0) == message
    flow = [f for f in node_to_host if f[0] >> 4 == 3]
    assert len(flow) == 1 + (len(segment(message)) - 2) // 8  # one per block of 8 consecutive frames
    await node.send(b"\x85\xf6\xf5")
    assert await host.receive(5.0) == b"\x85\xf6\xf5"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(host.receive(0.05), 1.0)
