"""docs/auth.md shows exactly the policy table the code enforces."""

from __future__ import annotations

from pathlib import Path

from hub.auth.policy import policy_table

DOC = Path(__file__).resolve().parents[3] / "docs" / "auth.md"


def test_documented_table_is_the_code_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- policy-table:start -->") + len("<!-- policy-table:start -->")
    end = text.index("<!-- policy-table:end -->")
    assert text[start:end].strip() == policy_table()
