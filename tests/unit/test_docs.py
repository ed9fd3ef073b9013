"""What the docs say AWS does: one account of each behaviour across pages, and a source for
each fact no offline check shows (docs/testing.md, "rests on documentation")."""

from __future__ import annotations

import re

from tests.cdk_context import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def _paragraphs(page: str, *words: str) -> list[str]:
    """The paragraphs and table rows of ``page`` that hold every one of ``words``."""
    text = (DOCS / page).read_text()
    return [p for p in re.split(r"\n\s*\n|\n(?=\|)", text) if all(w in p for w in words)]


def test_a_volume_change_within_six_hours_is_told_alike_in_settings_and_operations():
    """CloudFormation waits the EBS cooldown out; it does not roll the update back."""
    for page in ("settings.md", "operations.md"):
        told = _paragraphs(page, "six hours")
        assert told, page
        assert not any("rolls back" in p or "rolled back" in p for p in told), page
        assert any("UPDATE_IN_PROGRESS" in p and "make deploy" in p for p in told), page

