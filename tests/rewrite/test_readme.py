"""The README's site table is generated from the seed profile's declarations; a test keeps it in step.

Regenerate with the expected diffs: `CONTIGUIFY_UPDATE_EXPECTED=1 python -m pytest tests/rewrite`.
"""

from __future__ import annotations

import os
from pathlib import Path

from codemod.rewrite.profiles.seed import ROLES, SITES

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- site table: generated from codemod/rewrite/profiles/seed.py (see tests/rewrite/test_readme.py) -->\n"
END = "<!-- end of site table -->\n"
CLASS_OF_ROLE = {role: name for name, role in reversed(ROLES.items())}


def site_table() -> str:
    rows = [
        f"| `{site.id}` | `{CLASS_OF_ROLE[site.info.role]}.forward` | `{site.info.before}` | {site.summary} |\n"
        for site in SITES
    ]
    return "| site id | method | statement | `.contiguous()` goes |\n|---|---|---|---|\n" + "".join(rows)


def test_readme_site_table_is_generated_from_the_declarations() -> None:
    text = README.read_text(encoding="utf-8")
    head, begin, rest = text.partition(BEGIN)
    table, end, tail = rest.partition(END)
    assert begin and end, "README.md lacks the site table markers"
    if os.environ.get("CONTIGUIFY_UPDATE_EXPECTED") == "1":
        README.write_text(head + BEGIN + site_table() + END + tail, encoding="utf-8")
        table = site_table()
    assert table == site_table()
