"""The uplink section: defaults, validation and what a central subscribes to."""

from __future__ import annotations

import pytest
import voluptuous as vol
from trackingbms_uplink.settings import UplinkSettings


def test_defaults_and_the_shared_subscription() -> None:
    settings = UplinkSettings.from_config({"host": "broker"})
    assert (settings.port, settings.base_topic, settings.edges, settings.batch) == (
        1883,
        "trackingbms/uplink",
        None,
        200,
    )
    assert settings.edge_id  # the host name when not given
    assert settings.subscriptions() == [
        "trackingbms/uplink/+/batteries",
        "trackingbms/uplink/+/status",
        "trackingbms/uplink/+/link/+",
        "$share/trackingbms-central/trackingbms/uplink/+/readings",
    ]


def test_a_central_with_its_own_edges_subscribes_to_theirs_only() -> None:
    settings = UplinkSettings.from_config({"host": "b", "base_topic": "site/up", "edges": ["n1"]})
    assert settings.subscriptions() == [
        "site/up/n1/batteries",
        "site/up/n1/status",
        "site/up/n1/link/+",
        "site/up/n1/readings",
    ]


@pytest.mark.parametrize(
    "bad",
    [{"edge_id": "a/b"}, {"edge_id": "+"}, {"base_topic": "x/#"}, {"base_topic": "$SYS"}, {"edges": []}, {"batch": 0}],
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(vol.Invalid):
        UplinkSettings.from_config({"host": "b", **bad})
