"""Binary mode: every spec v0.6 example decodes to its listed values; the five errata are negative vectors."""

from __future__ import annotations

from typing import Any

import pytest
from trackingbms_thingset import cbor
from trackingbms_thingset.binary import (
    BinaryReport,
    BinaryRequest,
    BinaryResponse,
    decode_binary,
    encode_report,
    encode_request,
    encode_response,
)
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.status import Function

from tests.plugins.trackingbms_thingset.harness import fixture, generated

# thingset.github.io binary_mode.md @ 901e8f9 (CC-BY-SA-4.0), decoded with cbor2 by the fixture's author.
EXAMPLES = {e["name"]: e for e in fixture("spec_v0.6_binary_examples.json")["examples"]}
# Errata 3-5 of legacy.md §2.4: malformed or off-grammar messages printed in the spec.
NEGATIVE = {
    ("FETCH record item by ID (not allowed)", "request_hex"),  # 0x82 announces 2 items, 1 follows
    ("FETCH names of a subset", "response_hex"),  # 0x84 announces 4 strings, 5 follow
    ("FETCH single item by name", "request_hex"),  # a bare string where an array is required
}
POSITIVE = [
    (name, key)
    for name, example in EXAMPLES.items()
    for key in ("request_hex", "response_hex")
    if key in example and (name, key) not in NEGATIVE
]


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def _listed(decoded: dict[str, Any]) -> tuple[int, list[Any]]:
    """The fixture's decoding: code and CBOR items (map keys were written as JSON strings)."""
    items = [_keys(item) for item in decoded["cbor_items"]]
    return int(decoded["code"], 16), items


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {int(k) if k.isdigit() else k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(v) for v in value]
    return value


@pytest.mark.parametrize(("name", "key"), POSITIVE, ids=[f"{n}:{k[:3]}" for n, k in POSITIVE])
def test_spec_example_decodes_to_listed_values(name: str, key: str) -> None:
    example = EXAMPLES[name]
    code, items = _listed(example[key.replace("_hex", "_decoded")])
    message = decode_binary(_bytes(example[key]))
    if isinstance(message, BinaryResponse):
        assert message.status == code
        assert [message.node, message.payload] == items
    else:
        assert isinstance(message, BinaryRequest | BinaryReport)
        endpoint = list(message.endpoint) if isinstance(message.endpoint, tuple) else message.endpoint
        assert [endpoint, *([message.payload] if len(items) == 2 else [])] == items
        assert (message.function if isinstance(message, BinaryRequest) else Function.REPORT) == code


@pytest.mark.parametrize(("name", "key"), sorted(NEGATIVE))
def test_spec_errata_are_rejected(name: str, key: str) -> None:
    with pytest.raises(ThingSetError):
        decode_binary(_bytes(EXAMPLES[name][key]))


def test_erratum_1_ids_endpoint_is_0x16() -> None:
    # The spec comments byte 0x16 as 0x17; _Ids is 0x16 and _Paths 0x17 (legacy.md §2.4 erratum 1).
    ids = decode_binary(_bytes(EXAMPLES["_Ids: request IDs of paths"]["request_hex"]))
    paths = decode_binary(_bytes(EXAMPLES["_Paths: request paths of IDs"]["request_hex"]))
    assert (
        isinstance(ids, BinaryRequest) and ids.endpoint == 0x16 and ids.payload == ["Bat/rVoltage_V", "Bat/rCurrent_A"]
    )
    assert isinstance(paths, BinaryRequest) and paths.endpoint == 0x17 and paths.payload == [0x40, 0x41]


def test_values_are_float32_not_rounded() -> None:
    response = decode_binary(_bytes(EXAMPLES["GET single item by ID"]["response_hex"]))
    assert isinstance(response, BinaryResponse)
    assert response.payload != 12.9 and response.payload == pytest.approx(12.9, abs=1e-6)


def test_encoder_reproduces_the_spec_bytes() -> None:
    assert encode_request(Function.GET, 0x40) == _bytes(EXAMPLES["GET single item by ID"]["request_hex"])
    assert encode_request(Function.UPDATE, 4, {0x60: False}, True) == _bytes(EXAMPLES["UPDATE"]["request_hex"])
    assert encode_request(Function.EXEC, 0x34, [], True) == _bytes(EXAMPLES["EXEC Device/xReset"]["request_hex"])
    assert encode_request(Function.GET, (8, 0)) == _bytes(EXAMPLES["GET record [parent, index]"]["request_hex"])
    assert encode_response(0x84) == _bytes(EXAMPLES["UPDATE"]["response_hex"])
    group = {0x40: 12.9, 0x41: -3.14, 0x42: 14.4}
    assert encode_response(0x85, group) == _bytes(EXAMPLES["GET group by ID"]["response_hex"])


def test_encoder_reproduces_the_generated_mlive_report() -> None:
    example = generated("can_mf_report_mLive_ids_values")
    values = {int(k, 16): v for k, v in example["decoded"]["values_by_id"].items()}
    assert encode_report(0x31, values) == _bytes(example["thingset_message_hex"])


def test_v04_deprecated_pub_message_decodes() -> None:
    # thingset-device-library v0.4 test_bin.c: a pub message whose map has no endpoint item.
    vectors = fixture("captured_messages.json")["library_test_vectors"][1]
    items = cbor.decode_items(_bytes(vectors["binary_pub_deprecated_hex"])[1:])
    assert items[0] == {0x1A: 12345678, 0x71: pytest.approx(14.1), 0x72: pytest.approx(5.13), 0x73: 22}


@pytest.mark.parametrize(
    "data",
    [b"", b"?Meas", b"\x03\x07", b"\x01", b"\x01\x07\x07\x07", b"\x05\x07", b"\x07\x09\x05", b"\x85\x07\xf6"],
    ids=["empty", "text", "unknown-code", "no-endpoint", "trailing", "fetch-without-payload", "update-int", "node-int"],
)
def test_malformed_messages_raise_the_protocol_error(data: bytes) -> None:
    with pytest.raises(ThingSetError):
        decode_binary(data)


def test_cbor_values_become_plain_python() -> None:
    # Undefined (v0.5 discovery), a decimal fraction (tag 4) and a bignum are plain values.
    assert cbor.decode_items(bytes.fromhex("f7c482211903e8c249010000000000000000")) == [None, 10.0, 2**64]
    with pytest.raises(ThingSetError):
        cbor.decode_items(bytes.fromhex("d86300"))  # an unknown tag (99)
    with pytest.raises(ThingSetError):
        cbor.decode_items(bytes.fromhex("a1f401"))  # a map key that is neither ID nor name


def test_cbor_encoder_uses_float32_and_short_integers() -> None:
    assert cbor.encode(24.5) == bytes.fromhex("fa41c40000")  # cbor2 would pick a half float
    assert cbor.encode(-1) == b"\x20" and cbor.encode(500) == b"\x19\x01\xf4" and cbor.encode(-500) == b"\x39\x01\xf3"
    assert cbor.encode({"a": [True, None]}) == bytes.fromhex("a1616182f5f6")
    assert cbor.decode_items(cbor.encode([1.5, "x", b"\x01", 2**40])) == [[1.5, "x", b"\x01", 2**40]]
    with pytest.raises(ThingSetError):
        cbor.encode(1e300)
    with pytest.raises(ThingSetError):
        cbor.encode(object())
