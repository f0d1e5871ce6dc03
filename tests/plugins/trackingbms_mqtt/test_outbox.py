"""The outbox (coalescing, bounded, requeue), the throttle (latest wins), and JSON without NaN."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from trackingbms_mqtt.outbox import Outbox, OutMessage
from trackingbms_mqtt.throttle import Throttle, to_json

from tests.helpers import wait_for


def message(topic: str, payload: str = "x") -> OutMessage:
    return OutMessage(topic, payload)


async def drain(outbox: Outbox) -> list[tuple[str, str]]:
    taken = []
    while len(outbox):
        _, item = await outbox.get()
        taken.append((item.topic, item.payload))
    return taken


async def test_state_topics_coalesce_and_events_do_not() -> None:
    outbox = Outbox(100)
    outbox.put(message("a/state", "1"))
    outbox.put(message("a/event", "e1"), coalesce=False)
    outbox.put(message("b/state", "1"))
    outbox.put(message("a/state", "2"))  # replaces the queued one and moves behind the others
    outbox.put(message("a/event", "e2"), coalesce=False)
    assert await drain(outbox) == [("a/event", "e1"), ("b/state", "1"), ("a/state", "2"), ("a/event", "e2")]
    await asyncio.wait_for(outbox.wait_empty(), 5)


async def test_a_full_outbox_drops_its_oldest_and_counts() -> None:
    outbox = Outbox(3)
    for n in range(5):
        outbox.put(message(f"t/{n}"))
    assert outbox.dropped == 2
    assert [t for t, _ in await drain(outbox)] == ["t/2", "t/3", "t/4"]


async def test_requeue_puts_back_in_front_unless_a_newer_value_came() -> None:
    outbox = Outbox(10)
    outbox.put(message("a", "old"))
    outbox.put(message("b"))
    key, taken = await outbox.get()
    outbox.requeue(key, taken)
    assert (await outbox.get())[1].payload == "old"  # back at the front
    outbox.put(message("a", "new"))
    outbox.requeue(key, taken)  # a newer "a" is queued: the failed old one is not sent again
    assert await drain(outbox) == [("b", "x"), ("a", "new")]


async def test_get_waits_for_a_message() -> None:
    outbox = Outbox(10)
    waiter = asyncio.create_task(outbox.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    outbox.put(message("late"))
    assert (await asyncio.wait_for(waiter, 5))[1].topic == "late"


async def test_the_throttle_sends_the_first_and_then_the_latest_only() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    throttle = Throttle(0.5, lambda topic, payload: sent.append((topic, payload)))
    for n in range(3):  # no await in between: all three fall in the same interval
        throttle.offer("s", {"n": n})
    throttle.offer("other", {"n": 9})
    assert sent == [("s", {"n": 0}), ("other", {"n": 9})]
    await wait_for(lambda: len(sent) == 3)
    assert sent[2] == ("s", {"n": 2})  # n=1 was replaced while held back
    throttle.offer("s", {"n": 3})
    throttle.close()  # stopping sends what is held back
    assert sent[-1] == ("s", {"n": 3})


def test_a_zero_interval_passes_everything() -> None:
    sent: list[dict[str, Any]] = []
    throttle = Throttle(0, lambda _t, payload: sent.append(payload))
    for n in range(3):
        throttle.offer("s", {"n": n})
    assert [p["n"] for p in sent] == [0, 1, 2]


def test_json_is_compact_utf8_and_never_nan() -> None:
    assert to_json({"unit": "°C", "v": 1.5}) == '{"unit":"°C","v":1.5}'
    assert json.loads(to_json({"a": float("nan"), "b": [float("inf"), 2.0], "c": {"d": float("-inf")}})) == {
        "a": None,
        "b": [None, 2.0],
        "c": {"d": None},
    }
