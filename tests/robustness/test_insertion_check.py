"""The check every rewrite and cache hit passes looks inside classes and functions statement by statement
(unchanged lines are skipped, at any depth): a change of meaning in a nested statement is still refused."""

from __future__ import annotations

import pytest

from codemod.guards import check_insertions_only

CLASS = "class A:\n    @decorate\n    def forward(self, a, b, c):\n        y = 1\n{body}        return y\n"
MATCH = "match v:\n    case 1:\n{body}    case _:\n        pass\n"
TRY = "try:\n    pass\nexcept E:\n{body}finally:\n    pass\n"

ACCEPTED = [
    (CLASS.format(body="        x = a.view(1)\n"), CLASS.format(body="        x = a.view(1).contiguous()\n")),
    (CLASS.format(body="        x = a * b + c\n"), CLASS.format(body="        x = (a * b + c).contiguous()\n")),
    (MATCH.format(body="        x = a.t()\n"), MATCH.format(body="        x = a.t().contiguous()\n")),
    (TRY.format(body="    x = a.t()\n"), TRY.format(body="    x = a.t().contiguous()\n")),
    (CLASS.format(body=""), CLASS.format(body="").replace("@decorate", "@decorate.contiguous()")),
]
REFUSED = [
    (CLASS.format(body="        x = a * b + c\n"), CLASS.format(body="        x = a * (b + c)\n")),
    (MATCH.format(body="        x = a * b + c\n"), MATCH.format(body="        x = a * (b + c)\n")),
    (TRY.format(body="    x = a * b + c\n"), TRY.format(body="    x = a * (b + c)\n")),
    (CLASS.format(body="        x = a - b - c\n"), CLASS.format(body="        x = a - (b - c)\n")),
]


@pytest.mark.parametrize(("old", "new"), ACCEPTED)
def test_insertions_inside_blocks_pass(old: str, new: str) -> None:
    assert check_insertions_only(old, new) is None


@pytest.mark.parametrize(("old", "new"), REFUSED)
def test_a_change_of_meaning_inside_blocks_is_refused(old: str, new: str) -> None:
    assert check_insertions_only(old, new) == "the rewrite changed the meaning of the code beyond `.contiguous()` calls"
