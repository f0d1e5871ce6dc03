"""The client manager's storage on both backends: clients, sites, placement, custom fields, tenants."""

from __future__ import annotations

import pytest

from hub.storage import DEFAULT_TENANT
from hub.storage.base import Storage, TenantStore
from hub.storage.tenancy import MAX_DEPTH, ConflictError, FieldDef, FieldError, ListQuery, NotFoundError
from tests.hub.storage.backends import sql


@pytest.fixture
def store(storage: Storage) -> TenantStore:
    return storage.for_tenant(DEFAULT_TENANT)


async def chain(store: TenantStore, depth: int) -> list[str]:
    """Clients c1 > c2 > ... > c<depth>."""
    ids = [f"c{i}" for i in range(1, depth + 1)]
    for i, cid in enumerate(ids):
        await store.create_client(cid, f"Client {i + 1}", ids[i - 1] if i else None)
    return ids


async def test_clients_nest_move_and_refuse_cycles(store: TenantStore) -> None:
    ids = await chain(store, 5)
    assert (await store.get_client("c5")).parent_id == "c4"  # type: ignore[union-attr]
    with pytest.raises(ConflictError):
        await store.create_client("c3", "again")
    with pytest.raises(NotFoundError):
        await store.create_client("x", "X", "nope")
    for target in ("c1", "c3", "c5"):  # itself and its descendants
        with pytest.raises(ConflictError, match="cycle"):
            await store.move_client("c1", target)
    moved = await store.move_client("c4", None)
    assert moved.parent_id is None
    assert await store.client_parents() == {"c1": None, "c2": "c1", "c3": "c2", "c4": None, "c5": "c4"}
    await store.move_client("c4", "c2")  # with c5 under it
    await store.create_site("s", "Site", ids[-1])
    await store.ensure_battery("pack", "Pack", "daly")
    await store.update_battery("pack", site_id="s")
    assert (await store.battery_scope("pack")).client_path == ("c1", "c2", "c4", "c5")


async def test_delete_refuses_a_client_with_children_unless_cascaded(storage: Storage, store: TenantStore) -> None:
    await chain(store, 3)
    await store.create_site("s1", "Barn", "c3", "Europe/Berlin")
    await store.ensure_battery("pack", "Pack", "daly")
    await store.update_battery("pack", site_id="s1")
    assert (await store.battery_scope("pack")).client_path == ("c1", "c2", "c3")
    await sql(
        storage,
        "INSERT INTO users (id, tenant_id, username, system_admin, disabled, created_at, updated_at) "
        "VALUES ('u1', 'default', 'ann', ?, ?, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
        False, False,
    )  # fmt: skip
    await sql(storage, "INSERT INTO role_grants VALUES ('u1', 'default', 'client', 'c2', 'viewer')")
    with pytest.raises(ConflictError):
        await store.delete_client("c2")
    with pytest.raises(ConflictError):
        await store.delete_site("s1")
    assert sorted(await store.delete_client("c2", cascade=True)) == ["c2", "c3"]
    assert await store.client_parents() == {"c1": None}
    assert await store.get_site("s1") is None
    battery = await store.get_battery("pack")
    assert battery is not None and battery.site_id is None and battery.driver == "daly"
    assert await sql(storage, "SELECT COUNT(*) FROM role_grants") == [(0,)]  # the grant went with its node
    assert await store.delete_client("c1") == ["c1"]
    with pytest.raises(NotFoundError):
        await store.delete_client("c1")


async def test_sites_and_battery_placement(store: TenantStore) -> None:
    await store.create_client("acme", "Acme")
    site = await store.create_site("barn", "Barn", "acme")
    assert site.client_id == "acme" and site.timezone is None
    await store.ensure_battery("pack", "Pack", "daly")
    with pytest.raises(NotFoundError):
        await store.update_battery("pack", site_id="nope")
    with pytest.raises(NotFoundError):
        await store.update_battery("nope", name="x")
    placed = await store.update_battery("pack", site_id="barn", name="Main pack")
    assert placed.site_id == "barn" and placed.name == "Main pack"
    assert await store.battery_sites() == {"pack": "barn"}
    assert (await store.update_site("barn", client_id=None, timezone="UTC")).client_id is None
    assert await store.site_clients() == {"barn": None}
    assert (await store.update_site("barn", name="Big barn")).timezone == "UTC"  # left as it was
    assert (await store.update_site("barn", timezone=None)).timezone is None
    assert await store.delete_site("barn", cascade=True) == 1
    assert (await store.get_battery("pack")).site_id is None  # type: ignore[union-attr]


async def test_custom_fields_are_validated_on_write(store: TenantStore) -> None:
    assert await store.save_field(FieldDef("client", "region", "Region", "choice", True, ("north", "south")))
    assert await store.save_field(FieldDef("client", "capacity", "kWh", "number"))
    assert await store.save_field(FieldDef("client", "since", "Since", "date"))
    with pytest.raises(FieldError) as err:
        await store.save_field(FieldDef("client", "Bad-name", "x", "choice"))
    assert {e["path"] for e in err.value.errors} == {"name", "choices"}
    with pytest.raises(FieldError) as err:
        await store.create_client("a", "A")
    assert err.value.errors == [{"path": "custom.region", "message": "required field missing"}]
    bad = {"region": "east", "capacity": "12", "since": "2026-13-01", "colour": "red"}
    with pytest.raises(FieldError) as err:
        await store.create_client("a", "A", custom=bad)
    assert [e["path"] for e in err.value.errors] == [
        "custom.region",
        "custom.capacity",
        "custom.since",
        "custom.colour",
    ]
    created = await store.create_client("a", "A", custom={"region": "north", "capacity": 12.5, "since": "2026-01-31"})
    assert created.custom == {"capacity": 12.5, "region": "north", "since": "2026-01-31"}
    updated = await store.update_client("a", custom={"capacity": None}, name="A2")
    assert updated.custom == {"region": "north", "since": "2026-01-31"} and updated.name == "A2"
    with pytest.raises(FieldError):
        await store.update_client("a", custom={"region": None})
    assert not await store.save_field(FieldDef("client", "region", "Area", "choice", False, ("north",)))
    assert [f.label for f in await store.fields("client")] == ["kWh", "Area", "Since"]
    await store.delete_field("client", "since")
    assert (await store.get_client("a")).custom == {"region": "north"}  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        await store.delete_field("client", "since")


async def test_listings_filter_and_sort_on_custom_fields(store: TenantStore) -> None:
    await store.save_field(FieldDef("client", "capacity", "kWh", "number"))
    await store.save_field(FieldDef("client", "region", "Region", "text"))
    await store.create_client("top", "Top")
    values = [("b", 30, "north"), ("a", 5, "south"), ("c", None, "north"), ("d", 100, "north")]
    for cid, cap, region in values:
        await store.create_client(cid, cid.upper() + " 50%", "top", {"capacity": cap, "region": region})
    page, total = await store.list_clients(ListQuery(sort="custom.capacity"))
    assert [c.id for c in page] == ["a", "b", "d", "c", "top"] and total == 5
    page, _ = await store.list_clients(ListQuery(sort="custom.capacity", descending=True))
    assert [c.id for c in page] == ["d", "b", "a", "c", "top"]
    page, total = await store.list_clients(ListQuery(custom={"region": "north"}, sort="name", limit=2, offset=1))
    assert [c.id for c in page] == ["c", "d"] and total == 3
    page, total = await store.list_clients(ListQuery(custom={"capacity": 30.0}))
    assert [c.id for c in page] == ["b"]
    page, total = await store.list_clients(ListQuery(top=True))
    assert [c.id for c in page] == ["top"]
    page, total = await store.list_clients(ListQuery(parent="top", within=frozenset({"a", "top", "d"})))
    assert [c.id for c in page] == ["a", "d"] and total == 2
    assert (await store.list_clients(ListQuery(within=frozenset())))[1] == 0
    page, _ = await store.list_clients(ListQuery(search="b 50%"))
    assert [c.id for c in page] == ["b"]
    assert (await store.list_clients(ListQuery(search="_")))[1] == 0  # wildcards are literal
    with pytest.raises(FieldError):
        await store.list_clients(ListQuery(sort="custom.nope"))
    with pytest.raises(FieldError):
        await store.list_clients(ListQuery(custom={"nope": 1}))


async def test_tenants_are_apart(storage: Storage, store: TenantStore) -> None:
    assert [t.id for t in await storage.tenants()] == [DEFAULT_TENANT]
    other = await storage.create_tenant("acme-installers", "Acme Installers")
    assert other.name == "Acme Installers"
    with pytest.raises(ConflictError):
        await storage.create_tenant("acme-installers", "Again")
    with pytest.raises(FieldError):
        await storage.create_tenant("no spaces", "X")
    assert (await storage.rename_tenant("acme-installers", "Acme GmbH")).name == "Acme GmbH"
    with pytest.raises(NotFoundError):
        await storage.rename_tenant("nope", "X")
    theirs = storage.for_tenant("acme-installers")
    await theirs.create_client("same", "Theirs")
    await store.create_client("same", "Mine")
    await store.save_field(FieldDef("client", "region", "Region", "text"))
    assert (await theirs.get_client("same")).name == "Theirs"  # type: ignore[union-attr]
    assert await theirs.fields() == []
    with pytest.raises(FieldError):
        await theirs.update_client("same", custom={"region": "x"})
    await theirs.delete_client("same")
    assert await store.get_client("same") is not None
    assert [t.id for t in await storage.tenants()] == ["acme-installers", DEFAULT_TENANT]


async def test_nesting_stops_at_the_depth_a_scope_follows(store: TenantStore) -> None:
    ids = await chain(store, MAX_DEPTH)
    with pytest.raises(ConflictError, match="levels deep"):
        await store.create_client("deeper", "Deeper", ids[-1])
    await store.create_client("side", "Side")
    await store.create_client("side-child", "Side child", "side")
    with pytest.raises(ConflictError, match="levels deep"):  # the subtree would end one level too deep
        await store.move_client("side", ids[-2])
    await store.move_client("side-child", ids[-2])
    assert len(await store.client_parents()) == MAX_DEPTH + 2


async def test_values_the_backends_cannot_sort_are_refused(store: TenantStore) -> None:
    await store.save_field(FieldDef("battery", "capacity", "kWh", "number"))
    await store.save_field(FieldDef("battery", "note", "Note", "text"))
    await store.ensure_battery("pack", "Pack", "daly")
    for value, problem in ((10**400, "number out of range"), (float("inf"), "expected a finite number")):
        with pytest.raises(FieldError) as err:
            await store.update_battery("pack", custom={"capacity": value})
        assert err.value.errors == [{"path": "custom.capacity", "message": problem}]
    with pytest.raises(FieldError):
        await store.update_battery("pack", custom={"note": "a\x00b"})
    await store.update_battery("pack", custom={"capacity": 10**20, "note": "ok"})
    page, _ = await store.list_batteries(ListQuery(sort="custom.capacity", custom={"note": "ok"}))
    assert [(b.id, b.custom["capacity"]) for b in page] == [("pack", 10**20)]
