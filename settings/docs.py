"""docs/settings.md's table of settings, rendered from SiteSettings' declarations.

.venv/bin/python -m settings.docs           # print the table
.venv/bin/python -m settings.docs --write   # rewrite it in docs/settings.md
"""

import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from settings.model import PROJECT_ROOT, SiteSettings, bound, choices

DOC = PROJECT_ROOT / "docs" / "settings.md"
WRITE_COMMAND = ".venv/bin/python -m settings.docs --write"
BEGIN = f"<!-- The table is rendered from settings/model.py: {WRITE_COMMAND} -->\n"
END = "<!-- end of the rendered table -->\n"


def _default(value: Any) -> str:
    if value is None or value in ((), {}):
        return "none"
    if isinstance(value, Path):
        value = value.relative_to(PROJECT_ROOT)
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def _allowed(field: FieldInfo) -> str:
    low, high = bound(field, "ge"), bound(field, "le")
    parts = [
        ", ".join(f"`{value}`" for value in choices(field)),
        f"{low}-{high}" if high else "",
        field.json_schema_extra["allowed"],
    ]
    return "; ".join(part for part in parts if part)


def table() -> str:
    rows = ["| setting | default | allowed | what it does |", "|---|---|---|---|"]
    for name, field in SiteSettings.model_fields.items():
        cells = (f"`{name}`", _default(field.default), _allowed(field), field.description)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def rewritten(text: str) -> str:
    """``text`` (docs/settings.md) with the table between its markers rendered afresh."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not (begin and end):
        raise ValueError(f"{DOC} has no rendered table between {BEGIN.strip()} and {END.strip()}")
    return head + BEGIN + table() + END + tail


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        DOC.write_text(rewritten(DOC.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {DOC}", file=sys.stderr)
    elif sys.argv[1:]:
        sys.exit("usage: python -m settings.docs [--write]")
    else:
        print(table(), end="")
