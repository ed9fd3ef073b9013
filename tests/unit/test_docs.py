"""What the docs say AWS does: one account of each behaviour across pages, and a source for
each fact no offline check shows (docs/testing.md, "rests on documentation")."""

from __future__ import annotations

import re

from tests.cdk_context import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def _section(page: str, heading: str) -> str:
    """The text under ``## heading`` of ``page``, up to the next such heading."""
    return (DOCS / page).read_text().split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]


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


def test_operations_says_how_long_a_first_deploy_and_a_replacement_take_and_on_what_it_rests():
    section = _section("operations.md", "How long")
    assert "first deploy" in section
    assert "replacement" in section
    assert "15 minutes or more" in section
    assert "rest on documentation" in section
    assert "https://github.com/" in section


def test_every_fact_that_rests_on_documentation_names_its_source():
    table = _section("testing.md", "What rests on documentation")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| fact")]
    assert len(rows) >= 8
    assert all("https://" in row for row in rows), [row for row in rows if "https://" not in row]
    for fact in (
        "ssmmessages",
        "ec2messages",
        "cloudfront.global.api.aws",
        "origin group",
        "use1-az3",
        "usw1-az2",
        "apne1-az3",
        "cac1-az3",
        "55",
    ):
        assert fact in table, fact
