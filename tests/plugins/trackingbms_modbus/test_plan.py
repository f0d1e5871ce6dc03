"""Block planning: as few reads as allowed, never more than the device's maximum, never across a hole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_modbus.plan import plan_reads
from trackingbms_modbus.regmap import Function, Register, RegisterMap, ValueType, load_map


def _map(registers: list[Register], **changes: object) -> RegisterMap:
    return RegisterMap(name="t", registers=tuple(registers), **changes)  # type: ignore[arg-type]


def word(name: str, address: int, count: int = 1, **changes: object) -> Register:
    return Register(name, address, Function.HOLDING, ValueType.U16, count=count, **changes)  # type: ignore[arg-type]


def test_contiguous_registers_make_one_block_until_the_maximum() -> None:
    regmap = _map([word("a", 0, 10), word("b", 10, 10), word("c", 20, 5)], max_registers=20)
    blocks = plan_reads(regmap)
    assert [(b.start, b.count) for b in blocks] == [(0, 20), (20, 5)]
    assert [r.name for r in blocks[0].registers] == ["a", "b"]
    assert [(b.start, b.count) for b in plan_reads(regmap, max_registers=10)] == [(0, 10), (10, 10), (20, 5)]


def test_gaps_are_read_across_only_up_to_max_gap_and_never_across_a_hole() -> None:
    registers = [word("a", 0), word("b", 3), word("c", 10)]
    assert len(plan_reads(_map(registers))) == 3
    assert [(b.start, b.count) for b in plan_reads(_map(registers, max_gap=2))] == [(0, 4), (10, 1)]
    holed = _map(registers, max_gap=10, unreadable=((None, 5, 5),))
    assert [(b.start, b.count) for b in plan_reads(holed)] == [(0, 4), (10, 1)]


def test_tables_cadences_and_optional_entries_stay_apart() -> None:
    registers = [
        word("a", 0),
        word("b", 1, every=60),
        word("c", 2, optional=True),
        Register("d", 0, Function.INPUT, ValueType.U16),
        Register("e", 0, Function.COILS, ValueType.BOOL, count=8),
    ]
    blocks = plan_reads(_map(registers))
    assert {(b.function, b.start, b.every, b.optional) for b in blocks} == {
        (Function.COILS, 0, 1, False),
        (Function.HOLDING, 0, 1, False),
        (Function.HOLDING, 2, 1, True),
        (Function.HOLDING, 1, 60, False),
        (Function.INPUT, 0, 1, False),
    }


def test_shipped_maps_respect_their_limits() -> None:
    seplos = plan_reads(load_map("seplos_v3"))
    assert [(b.function, b.start, b.count) for b in seplos if b.every == 1] == [
        (Function.COILS, 0x1200, 0x90),  # the whole PIC, as §5 of the Seplos document reads it
        (Function.INPUT, 0x1000, 17),
        (Function.INPUT, 0x1100, 0x1A),
    ]
    renogy = plan_reads(load_map("renogy_smart_lfp"))
    assert all(not (b.start <= 0x13AA < b.end) for b in renogy)  # 5034 does not answer
    assert all(b.count <= 34 for b in renogy)


@st.composite
def layouts(draw: st.DrawFn) -> RegisterMap:
    address = draw(st.integers(0, 100))
    registers: list[Register] = []
    for index in range(draw(st.integers(1, 25))):
        value_type = draw(st.sampled_from([ValueType.U16, ValueType.U32, ValueType.FLOAT32]))
        register = Register(
            f"r{index}",
            address,
            draw(st.sampled_from([Function.HOLDING, Function.INPUT])),
            value_type,
            count=draw(st.integers(1, 6)),
            every=draw(st.sampled_from([1, 1, 10])),
        )
        registers.append(register)
        address = register.end + draw(st.integers(0, 6))
    holes = tuple((None, a, a) for a in draw(st.lists(st.integers(0, address), max_size=3)))
    return _map(registers, max_registers=draw(st.integers(12, 40)), max_gap=draw(st.integers(0, 5)), unreadable=holes)


@settings(max_examples=200, deadline=None)
@given(layouts())
def test_any_layout_plans_valid_blocks(regmap: RegisterMap) -> None:
    blocks = plan_reads(regmap)
    planned = [r.name for b in blocks for r in b.registers]
    assert sorted(planned) == sorted(r.name for r in regmap.registers)  # each entry exactly once
    for block in blocks:
        assert block.count <= regmap.max_registers
        assert all(r.function == block.function and r.every == block.every for r in block.registers)
        assert all(block.start <= r.address and r.end <= block.end for r in block.registers)
        for first, last in zip(block.registers, block.registers[1:], strict=False):
            gap = last.address - first.end
            assert gap <= regmap.max_gap
            if gap > 0:
                assert not any(first.end <= low <= last.address - 1 for _, low, _ in regmap.unreadable)
