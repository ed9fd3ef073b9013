"""ISO 3166-1 alpha-2 country codes, the codes CloudFront geo restriction takes.

The list is country_codes.txt next to this file, generated from the iso-codes project's
iso_3166-1.json (https://salsa.debian.org/iso-codes-team/iso-codes, which follows the ISO 3166
Maintenance Agency), as installed by the Debian/Ubuntu package ``iso-codes``. Refresh with:

    .venv/bin/python -m settings.country_codes --write [/usr/share/iso-codes/json/iso_3166-1.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATA_FILE = Path(__file__).with_name("country_codes.txt")
DEFAULT_SOURCE = Path("/usr/share/iso-codes/json/iso_3166-1.json")
_HEADER = """\
# ISO 3166-1 alpha-2 codes and English names, from iso-codes {version}
# (https://salsa.debian.org/iso-codes-team/iso-codes, file iso_3166-1.json).
# Refresh: .venv/bin/python -m settings.country_codes --write [path to iso_3166-1.json]
"""


def _load(path: Path = DATA_FILE) -> dict[str, str]:
    rows = (line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines())
    return {row[0]: row[1] for row in rows if row[0] and not row[0].startswith("#")}


# Code -> English name. (Empty only while --write creates the file for the first time.)
COUNTRIES: dict[str, str] = _load() if DATA_FILE.exists() else {}


def render(source: Path) -> str:
    entries = json.loads(source.read_text(encoding="utf-8"))["3166-1"]
    version = "(unknown version)"
    changelog = Path("/usr/share/doc/iso-codes/changelog.Debian.gz")
    if source == DEFAULT_SOURCE and changelog.exists():
        import gzip

        with gzip.open(changelog, "rt") as log:
            version = log.readline().split()[1].strip("()")
    lines = sorted(f"{entry['alpha_2']} {entry['name']}\n" for entry in entries)
    return _HEADER.format(version=version) + "".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--write"] or len(sys.argv) > 3:
        sys.exit("usage: python -m settings.country_codes --write [iso_3166-1.json]")
    source = Path(sys.argv[2]) if len(sys.argv) == 3 else DEFAULT_SOURCE
    DATA_FILE.write_text(render(source), encoding="utf-8")
    print(f"wrote {DATA_FILE}", file=sys.stderr)
